# Test support for C integration tests against a real broker (include this from
# tests/CMakeLists.txt after c_demo is added: it needs the freertos_kernel
# target).
#
#   test_support        static library: tests/common/test_support.{h,c}
#                       (ports, harness control channel, assertion kit)
#
#   afr_broker_test(NAME <test name> PROGRAM <executable target>
#                   [RELAY] [FAKE] [SHADOW] [TIMEOUT <seconds, default 300>]
#                   [ARGS <program arguments>...])
#
# runs PROGRAM under tests/tools/run_with_broker.py (a private Mosquitto on
# 127.0.0.1; RELAY adds the freezable relay, FAKE the scripted fake server,
# SHADOW the test Device Shadow service, tests/tools/shadow_service.py) with
# the harness's --timeout; the ctest TIMEOUT is set 30 s above it so that the
# harness, not ctest, kills a stuck program and cleans up.

set(AFR_TEST_SUPPORT_DIR ${CMAKE_CURRENT_LIST_DIR})
set(AFR_RUN_WITH_BROKER ${CMAKE_CURRENT_LIST_DIR}/../tools/run_with_broker.py)
cmake_path(NORMAL_PATH AFR_RUN_WITH_BROKER)

# The interpreter itself, not a wrapper (a pyenv shim would hide the real
# process from ctest's timeout kill, leaving the harness and broker behind).
if(NOT AFR_TEST_PYTHON)
  find_program(python3_launcher NAMES python3 REQUIRED)
  execute_process(COMMAND ${python3_launcher} -c "import sys; print(sys.executable)"
    OUTPUT_VARIABLE python3_real OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0 OR NOT python3_real)
    message(FATAL_ERROR "cannot run ${python3_launcher}")
  endif()
  set(AFR_TEST_PYTHON ${python3_real} CACHE FILEPATH "Python 3 interpreter of the broker harness")
endif()

add_library(test_support STATIC ${AFR_TEST_SUPPORT_DIR}/test_support.c)
target_include_directories(test_support PUBLIC ${AFR_TEST_SUPPORT_DIR})
target_link_libraries(test_support PUBLIC freertos_kernel)
target_compile_options(test_support PRIVATE -Wall -Wextra -Werror)

function(afr_broker_test)
  cmake_parse_arguments(ARG "RELAY;FAKE;SHADOW" "NAME;PROGRAM;TIMEOUT" "ARGS" ${ARGN})
  if(NOT ARG_NAME OR NOT ARG_PROGRAM)
    message(FATAL_ERROR "afr_broker_test: NAME and PROGRAM are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "afr_broker_test(${ARG_NAME}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set(opts)
  if(ARG_RELAY)
    list(APPEND opts --relay)
  endif()
  if(ARG_FAKE)
    list(APPEND opts --fake)
  endif()
  if(ARG_SHADOW)
    list(APPEND opts --shadow)
  endif()
  add_test(NAME ${ARG_NAME}
    COMMAND ${AFR_TEST_PYTHON} ${AFR_RUN_WITH_BROKER} ${opts} --timeout ${ARG_TIMEOUT}
            -- $<TARGET_FILE:${ARG_PROGRAM}> ${ARG_ARGS})
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 30")
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT ${ctest_timeout} LABELS broker)
endfunction()
