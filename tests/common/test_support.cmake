# Test support for C integration tests against a real broker (include this from
# tests/CMakeLists.txt after c_demo is added: it needs the freertos_kernel
# target).
#
#   test_support        static library: tests/common/test_support.{h,c}
#                       (ports, harness control channel, assertion kit)
#
#   afr_broker_test(NAME <test name> PROGRAM <executable target>
#                   [RELAY] [FAKE] [HOSTILE] [SHADOW] [TLS] [ALPN]
#                   [TIMEOUT <seconds, default 300>]
#                   [ARGS <program arguments>...])
#
# runs PROGRAM under tests/tools/run_with_broker.py (a private Mosquitto on
# 127.0.0.1; RELAY adds the freezable relay, FAKE the scripted fake server,
# HOSTILE the hostile server (tests/tools/hostile_broker.py, AFR_TEST_HOSTILE_PORT),
# SHADOW the test Device Shadow service, tests/tools/shadow_service.py; TLS the
# broker's TLS listeners, --tls ${AFR_TEST_TLS_DIR}: AFR_TEST_TLS_PORT,
# ..._EC, ..._WRONGHOST, ..._EXPIRED, ..._UNKNOWNCA, ..._TLS12, AFR_TEST_TLS_DIR;
# ALPN the ALPN/SNI recorder, --alpn, which implies TLS: AFR_TEST_ALPN_PORT and
# AFR_SIM_SOCKETS_PORT_443, control command alpn-last) with the harness's
# --timeout; the ctest TIMEOUT is set 30 s above it so that the harness, not
# ctest, kills a stuck program and cleans up.
#
#   AFR_TEST_TLS_DIR    (variable) ${CMAKE_BINARY_DIR}/tls: the test PKI,
#                       generated at configure time by tests/tools/tls_certs.py
#                       (only what is missing; configure fails if it cannot).
#                       Besides the PEM files it holds C headers for test
#                       programs: ${AFR_TEST_TLS_DIR}/v14 and .../v10 (each an
#                       aws_clientcredential_keys.h, AFR v1.4 / v1.0 naming)
#                       and ${AFR_TEST_TLS_DIR}/ca_pem.h (AFR_TEST_CA_PEM), e.g.
#                       target_include_directories(t PRIVATE ${AFR_TEST_TLS_DIR}/v14)
#                       Needs the Python package cryptography (scripts/setup.sh).

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

# Test PKI for the TLS tests (no key material is committed: each build dir
# makes its own; the harness reuses it, so the headers compiled into the test
# programs match the brokers' certificates).
set(AFR_TLS_CERTS ${CMAKE_CURRENT_LIST_DIR}/../tools/tls_certs.py)
cmake_path(NORMAL_PATH AFR_TLS_CERTS)
set(AFR_TEST_TLS_DIR ${CMAKE_BINARY_DIR}/tls)
execute_process(COMMAND ${AFR_TEST_PYTHON} -B ${AFR_TLS_CERTS} ${AFR_TEST_TLS_DIR}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "cannot generate the test PKI in ${AFR_TEST_TLS_DIR} "
    "(${AFR_TEST_PYTHON} ${AFR_TLS_CERTS}): ${out}"
    "Run scripts/setup.sh (it installs the Python package cryptography).")
endif()

add_library(test_support STATIC ${AFR_TEST_SUPPORT_DIR}/test_support.c)
target_include_directories(test_support PUBLIC ${AFR_TEST_SUPPORT_DIR})
target_link_libraries(test_support PUBLIC freertos_kernel)
target_compile_options(test_support PRIVATE -Wall -Wextra -Werror)

function(afr_broker_test)
  cmake_parse_arguments(ARG "RELAY;FAKE;HOSTILE;SHADOW;TLS;ALPN" "NAME;PROGRAM;TIMEOUT" "ARGS" ${ARGN})
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
  if(ARG_HOSTILE)
    list(APPEND opts --hostile)
  endif()
  if(ARG_SHADOW)
    list(APPEND opts --shadow)
  endif()
  if(ARG_TLS OR ARG_ALPN)
    list(APPEND opts --tls ${AFR_TEST_TLS_DIR})
  endif()
  if(ARG_ALPN)
    list(APPEND opts --alpn)
  endif()
  add_test(NAME ${ARG_NAME}
    COMMAND ${AFR_TEST_PYTHON} ${AFR_RUN_WITH_BROKER} ${opts} --timeout ${ARG_TIMEOUT}
            -- $<TARGET_FILE:${ARG_PROGRAM}> ${ARG_ARGS})
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 30")
  set_tests_properties(${ARG_NAME} PROPERTIES TIMEOUT ${ctest_timeout} LABELS broker)
endfunction()
