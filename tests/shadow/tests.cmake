# Device Shadow tests: the library built with tests/config_shadow (pool buffers
# for 8 KB documents), against Mosquitto and tests/tools/shadow_service.py.
set(SHADOW_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})
set(AFR_SHADOW_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/../config_shadow)
afr_cloud_add_library(afr_cloud_shadow
  CONFIG_DIR ${AFR_SHADOW_CONFIG_DIR}
  FREERTOS_INCLUDE_DIRS ${AFR_SIM_KERNEL_INCLUDE_DIRS})

# A shadow test program: library, kernel, sockets, test kit and agent helpers,
# compiled against tests/config_shadow.
function(afr_shadow_test_program name)
  afr_sim_program(${name} LIB afr_cloud_shadow ${ARGN} ${AGENT_TEST_DIR}/agent_util.c)
  target_include_directories(${name} BEFORE PRIVATE ${AFR_SHADOW_CONFIG_DIR} ${AGENT_TEST_DIR})
  target_link_libraries(${name} PRIVATE test_support)
endfunction()

# The shadow client's C API: every function and return code, against Mosquitto
# (direct and through the freezable relay) and the test shadow service.
afr_shadow_test_program(test_shadow ${SHADOW_TEST_DIR}/test_shadow.c)
afr_broker_test(NAME shadow_client PROGRAM test_shadow RELAY SHADOW TIMEOUT 300)
