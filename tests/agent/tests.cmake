# MQTT agent tests against Mosquitto (run through tests/tools/run_with_broker.py).
set(AGENT_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(agent_util STATIC ${AGENT_TEST_DIR}/agent_util.c)
target_include_directories(agent_util PUBLIC ${AGENT_TEST_DIR})
target_link_libraries(agent_util PUBLIC afr_cloud freertos_kernel)
target_compile_options(agent_util PRIVATE -Wall -Wextra -Werror)

# Links an agent test program with the test kit.
function(afr_agent_test_program name)
  afr_sim_program(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE agent_util test_support)
endfunction()

afr_agent_test_program(test_agent_api ${AGENT_TEST_DIR}/test_agent_api.c)
afr_broker_test(NAME agent_api PROGRAM test_agent_api RELAY TIMEOUT 240)
