# Tests of the simulator's Secure Sockets port (c_demo/secure_sockets).
# Included (OPTIONAL) by tests/CMakeLists.txt after c_demo, whose
# afr_sim_program(<name> SOCKETS <lib> ...) puts the port in the link group.
if(TARGET sim_secure_sockets)
  set(SOCKETS_TEST_SRC ${CMAKE_CURRENT_LIST_DIR}/test_secure_sockets.c)

  # The port with wake-up callbacks.
  afr_sim_program(test_secure_sockets SOCKETS sim_secure_sockets ${SOCKETS_TEST_SRC})
  add_test(NAME sockets_port COMMAND test_secure_sockets)
  set_tests_properties(sockets_port PROPERTIES TIMEOUT 180)

  # The same tests against the variant without them.
  afr_sim_program(test_secure_sockets_nowakeup SOCKETS sim_secure_sockets_nowakeup ${SOCKETS_TEST_SRC})
  target_compile_definitions(test_secure_sockets_nowakeup PRIVATE TEST_NOWAKEUP)
  add_test(NAME sockets_port_nowakeup COMMAND test_secure_sockets_nowakeup)
  set_tests_properties(sockets_port_nowakeup PROPERTIES TIMEOUT 180)
endif()
