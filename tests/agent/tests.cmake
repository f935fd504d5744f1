# MQTT agent tests against Mosquitto (run through tests/tools/run_with_broker.py).
set(AGENT_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

add_library(agent_util STATIC ${AGENT_TEST_DIR}/agent_util.c)
target_include_directories(agent_util PUBLIC ${AGENT_TEST_DIR})
target_link_libraries(agent_util PUBLIC afr_cloud freertos_kernel test_support)
target_compile_options(agent_util PRIVATE -Wall -Wextra -Werror)

# Links an agent test program with the test kit.
function(afr_agent_test_program name)
  afr_sim_program(${name} ${ARGN})
  target_link_libraries(${name} PRIVATE agent_util test_support)
endfunction()

afr_agent_test_program(test_agent_api ${AGENT_TEST_DIR}/test_agent_api.c)
afr_broker_test(NAME agent_api PROGRAM test_agent_api RELAY FAKE TIMEOUT 240)

# Every agent config macro with a non-default value (tests/config_small), and
# a Secure Sockets port without the wake-up callback, so the agent polls.
set(AFR_SMALL_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/../config_small)
# With TLS built in but no time or random hook configured.
afr_cloud_add_library(afr_cloud_small
  CONFIG_DIR ${AFR_SMALL_CONFIG_DIR}
  FREERTOS_INCLUDE_DIRS ${AFR_SIM_KERNEL_INCLUDE_DIRS}
  FEATURES tls)
add_library(agent_util_small STATIC ${AGENT_TEST_DIR}/agent_util.c)
target_include_directories(agent_util_small BEFORE PUBLIC ${AFR_SMALL_CONFIG_DIR})
target_include_directories(agent_util_small PUBLIC ${AGENT_TEST_DIR})
target_link_libraries(agent_util_small PUBLIC afr_cloud_small freertos_kernel test_support)
target_compile_options(agent_util_small PRIVATE -Wall -Wextra -Werror)
afr_sim_program(test_agent_config LIB afr_cloud_small SOCKETS sim_secure_sockets_nowakeup
  ${AGENT_TEST_DIR}/test_agent_config.c)
target_include_directories(test_agent_config BEFORE PRIVATE ${AFR_SMALL_CONFIG_DIR})
target_link_libraries(test_agent_config PRIVATE agent_util_small test_support)
afr_broker_test(NAME agent_config PROGRAM test_agent_config RELAY FAKE TIMEOUT 300)

# The demos run as tests too.
afr_broker_test(NAME demo_hello_world PROGRAM hello_world TIMEOUT 120)
afr_broker_test(NAME demo_multitask PROGRAM multitask TIMEOUT 180)

# Lost connections (broker stopped/killed, relay reset, fake server misbehaving, CONNACK problems).
afr_agent_test_program(test_agent_disconnect ${AGENT_TEST_DIR}/test_agent_disconnect.c)
afr_broker_test(NAME agent_disconnect PROGRAM test_agent_disconnect RELAY FAKE TIMEOUT 300)

# Load: 4 tasks x 2 clients x 1000 QoS 1 publishes, each delivered exactly once.
afr_agent_test_program(test_agent_stress ${AGENT_TEST_DIR}/test_agent_stress.c)
afr_broker_test(NAME agent_stress PROGRAM test_agent_stress TIMEOUT 600)
afr_broker_test(NAME demo_lightbulb PROGRAM lightbulb SHADOW TIMEOUT 120)

# A hostile broker (tests/tools/hostile_broker.py) and a careless application:
# floods, QoS 2 bursts, malformed packets, silence mid-packet, crafted shadow
# responses. Built with tests/config_hostile (short keep-alive).
set(AFR_HOSTILE_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/../config_hostile)
afr_cloud_add_library(afr_cloud_hostile
  CONFIG_DIR ${AFR_HOSTILE_CONFIG_DIR}
  FREERTOS_INCLUDE_DIRS ${AFR_SIM_KERNEL_INCLUDE_DIRS})
afr_sim_program(test_hostile LIB afr_cloud_hostile ${AGENT_TEST_DIR}/test_hostile.c ${AGENT_TEST_DIR}/agent_util.c)
target_include_directories(test_hostile BEFORE PRIVATE ${AFR_HOSTILE_CONFIG_DIR} ${AGENT_TEST_DIR})
target_link_libraries(test_hostile PRIVATE test_support)
afr_broker_test(NAME agent_hostile PROGRAM test_hostile HOSTILE TIMEOUT 400)
