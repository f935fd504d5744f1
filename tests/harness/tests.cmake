# Self-test of the broker harness (tests/tools/run_with_broker.py) and of
# tests/common/test_support. Included by tests/CMakeLists.txt after
# common/test_support.cmake.

# The harness alone, from Python (no C): broker, control channel, relay, every
# fake-server script, exit codes, --timeout, clean-up.
add_test(NAME harness_pyselfcheck
  COMMAND ${AFR_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/selfcheck.py)
set_tests_properties(harness_pyselfcheck PROPERTIES TIMEOUT 180 LABELS broker)

# The same from a FreeRTOS simulator program through test_support.
afr_sim_program(harness_selftest ${CMAKE_CURRENT_LIST_DIR}/harness_selftest.c)
target_link_libraries(harness_selftest PRIVATE test_support)
afr_broker_test(NAME harness_selftest PROGRAM harness_selftest RELAY FAKE TIMEOUT 120)

# The assertion kit and the watchdog (no broker needed).
add_test(NAME harness_test_kit
  COMMAND ${AFR_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/check_kit.py $<TARGET_FILE:harness_selftest>)
set_tests_properties(harness_test_kit PROPERTIES TIMEOUT 120)

# The host side of the board's UART link (tests/tools/uart_bridge.py) against a
# fake board in Python: no QEMU needed.
add_test(NAME uart_bridge
  COMMAND ${AFR_TEST_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/../tools/test_uart_bridge.py)
set_tests_properties(uart_bridge PROPERTIES TIMEOUT 120)
