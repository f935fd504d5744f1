# TLS through the agent (rustls): Mosquitto's TLS listeners and the ClientHello
# recorder, with certificates generated at configure time into
# ${AFR_TEST_TLS_DIR} (tests/tools/tls_certs.py; never committed).
set(TLS_TEST_DIR ${CMAKE_CURRENT_LIST_DIR})

# The same library build, with each generation of AFR's credential header.
afr_cloud_library_variant(afr_cloud_cred_v14 FROM afr_cloud CREDENTIAL_DIRS ${AFR_TEST_TLS_DIR}/v14)
afr_cloud_library_variant(afr_cloud_cred_v10 FROM afr_cloud CREDENTIAL_DIRS ${AFR_TEST_TLS_DIR}/v10)
# A credential header still holding AFR's "Paste ... here." placeholders.
afr_cloud_library_variant(afr_cloud_cred_placeholder FROM afr_cloud CREDENTIAL_DIRS ${TLS_TEST_DIR}/placeholder)

foreach(generation v14 v10 placeholder)
  set(program test_agent_tls_${generation})
  # agent_util.c compiled in: the agent_util library links the default afr_cloud
  # (no credential header), whose shim would compete with this one.
  afr_sim_program(${program} LIB afr_cloud_cred_${generation}
    ${TLS_TEST_DIR}/test_agent_tls.c ${AGENT_TEST_DIR}/agent_util.c)
  target_include_directories(${program} PRIVATE ${AGENT_TEST_DIR} ${CMAKE_CURRENT_LIST_DIR}/../include)
  target_link_libraries(${program} PRIVATE test_support)
endforeach()
target_compile_definitions(test_agent_tls_v10 PRIVATE TLS_TEST_V10)
target_compile_definitions(test_agent_tls_placeholder PRIVATE TLS_TEST_PLACEHOLDER)

afr_broker_test(NAME agent_tls PROGRAM test_agent_tls_v14 TLS ALPN RELAY FAKE TIMEOUT 240)
afr_broker_test(NAME agent_tls_v10_header PROGRAM test_agent_tls_v10 TLS TIMEOUT 120)
afr_broker_test(NAME agent_tls_placeholder_header PROGRAM test_agent_tls_placeholder TLS TIMEOUT 120)

# The hello-world demo with its one TLS switch (what scripts/demo.sh --tls runs).
afr_sim_program(hello_world_tls LIB afr_cloud_cred_v14 ${CMAKE_CURRENT_LIST_DIR}/../../c_demo/hello_world/main.c)
target_compile_definitions(hello_world_tls PRIVATE democonfigUSE_TLS=1)
target_include_directories(hello_world_tls PRIVATE ${AFR_TEST_TLS_DIR})
afr_broker_test(NAME demo_hello_world_tls PROGRAM hello_world_tls TLS TIMEOUT 120)

# The port back-end (mqttconfigTLS_BACKEND mqttagentTLS_BACKEND_SOCKETS_PORT, no
# TLS in the library): the simulator's Secure Sockets port does TLS with
# mbedTLS, its client identity from the credential header, as AFR's ports did.
set(AFR_PORT_TLS_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/../config_port_tls)
afr_cloud_add_library(afr_cloud_port_tls
  CONFIG_DIR ${AFR_PORT_TLS_CONFIG_DIR}
  FREERTOS_INCLUDE_DIRS ${AFR_SIM_KERNEL_INCLUDE_DIRS})
sim_secure_sockets_tls(sim_secure_sockets_tls_v14 CREDENTIAL_DIRS ${AFR_TEST_TLS_DIR}/v14)
afr_sim_program(test_agent_tls_port LIB afr_cloud_port_tls SOCKETS sim_secure_sockets_tls_v14
  ${TLS_TEST_DIR}/test_agent_tls.c ${AGENT_TEST_DIR}/agent_util.c)
target_compile_definitions(test_agent_tls_port PRIVATE TLS_TEST_PORT)
target_include_directories(test_agent_tls_port BEFORE PRIVATE ${AFR_PORT_TLS_CONFIG_DIR})
target_include_directories(test_agent_tls_port PRIVATE ${AGENT_TEST_DIR} ${CMAKE_CURRENT_LIST_DIR}/../include)
target_link_libraries(test_agent_tls_port PRIVATE test_support)
afr_broker_test(NAME agent_tls_port PROGRAM test_agent_tls_port TLS ALPN FAKE TIMEOUT 240)
afr_sim_program(hello_world_tls_port LIB afr_cloud_port_tls SOCKETS sim_secure_sockets_tls_v14
  ${CMAKE_CURRENT_LIST_DIR}/../../c_demo/hello_world/main.c)
target_compile_definitions(hello_world_tls_port PRIVATE democonfigUSE_TLS=1)
target_include_directories(hello_world_tls_port BEFORE PRIVATE ${AFR_PORT_TLS_CONFIG_DIR})
target_include_directories(hello_world_tls_port PRIVATE ${AFR_TEST_TLS_DIR})
afr_broker_test(NAME demo_hello_world_tls_port PROGRAM hello_world_tls_port TLS TIMEOUT 120)

# An AFR-style project on the library's TLS (tests/config_afr_style): no clock
# or random hook, the device key in a PKCS#11 token (SoftHSM2, i386, made by
# tests/tools/softhsm_token.sh; the library signs through C_Sign and never
# sees the key), C_GenerateRandom for randomness, the certificate alone in the
# credential header, the project's default roots.
set(AFR_AFR_STYLE_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/../config_afr_style)
afr_cloud_add_library(afr_cloud_afr_style
  CONFIG_DIR ${AFR_AFR_STYLE_CONFIG_DIR}
  FREERTOS_INCLUDE_DIRS ${AFR_SIM_KERNEL_INCLUDE_DIRS}
  FEATURES tls
  CREDENTIAL_DIRS ${AFR_TEST_TLS_DIR}/pkcs11)
set(AFR_SOFTHSM_LIB /usr/lib/i386-linux-gnu/softhsm/libsofthsm2.so)
afr_sim_program(test_agent_tls_pkcs11 LIB afr_cloud_afr_style
  ${TLS_TEST_DIR}/test_agent_tls.c ${AGENT_TEST_DIR}/agent_util.c)
target_compile_definitions(test_agent_tls_pkcs11 PRIVATE TLS_TEST_AFR_STYLE)
target_include_directories(test_agent_tls_pkcs11 BEFORE PRIVATE ${AFR_AFR_STYLE_CONFIG_DIR})
target_include_directories(test_agent_tls_pkcs11 PRIVATE ${AGENT_TEST_DIR} ${CMAKE_CURRENT_LIST_DIR}/../include)
target_link_libraries(test_agent_tls_pkcs11 PRIVATE test_support ${AFR_SOFTHSM_LIB})
set_target_properties(test_agent_tls_pkcs11 PROPERTIES BUILD_RPATH /usr/lib/i386-linux-gnu/softhsm)
set(AFR_SOFTHSM_DIR ${CMAKE_BINARY_DIR}/softhsm)
add_test(NAME softhsm_token COMMAND ${CMAKE_CURRENT_LIST_DIR}/../tools/softhsm_token.sh ${AFR_SOFTHSM_DIR} ${AFR_TEST_TLS_DIR}/client-ec.key)
set_tests_properties(softhsm_token PROPERTIES FIXTURES_SETUP softhsm TIMEOUT 60)
afr_broker_test(NAME agent_tls_pkcs11 PROGRAM test_agent_tls_pkcs11 TLS TIMEOUT 180)
set_tests_properties(agent_tls_pkcs11 PROPERTIES FIXTURES_REQUIRED softhsm ENVIRONMENT SOFTHSM2_CONF=${AFR_SOFTHSM_DIR}/softhsm2.conf)

# The library's TLS with the device key behind the project's signing hook
# (tests/config_sign_hook): the test program signs with a key it loads itself
# (mbedTLS), the library gets only digests.
set(AFR_SIGN_HOOK_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/../config_sign_hook)
afr_cloud_add_library(afr_cloud_sign_hook
  CONFIG_DIR ${AFR_SIGN_HOOK_CONFIG_DIR}
  FREERTOS_INCLUDE_DIRS ${AFR_SIM_KERNEL_INCLUDE_DIRS}
  FEATURES tls
  CREDENTIAL_DIRS ${AFR_TEST_TLS_DIR}/pkcs11)
afr_sim_program(test_agent_tls_sign_hook LIB afr_cloud_sign_hook
  ${TLS_TEST_DIR}/test_agent_tls.c ${AGENT_TEST_DIR}/agent_util.c)
target_compile_definitions(test_agent_tls_sign_hook PRIVATE TLS_TEST_SIGN_HOOK)
target_include_directories(test_agent_tls_sign_hook BEFORE PRIVATE ${AFR_SIGN_HOOK_CONFIG_DIR})
target_include_directories(test_agent_tls_sign_hook PRIVATE ${AGENT_TEST_DIR} ${CMAKE_CURRENT_LIST_DIR}/../include)
target_link_libraries(test_agent_tls_sign_hook PRIVATE test_support mbedtls mbedx509 mbedcrypto)
afr_broker_test(NAME agent_tls_sign_hook PROGRAM test_agent_tls_sign_hook TLS TIMEOUT 120)

# The shadow over TLS with each back-end: the lightbulb demo with its TLS
# switch (pcCertificate NULL: the project's default roots).
afr_sim_program(lightbulb_tls LIB afr_cloud_cred_v14 ${CMAKE_CURRENT_LIST_DIR}/../../c_demo/lightbulb/main.c)
afr_sim_program(lightbulb_tls_port LIB afr_cloud_port_tls SOCKETS sim_secure_sockets_tls_v14
  ${CMAKE_CURRENT_LIST_DIR}/../../c_demo/lightbulb/main.c)
target_include_directories(lightbulb_tls_port BEFORE PRIVATE ${AFR_PORT_TLS_CONFIG_DIR})
foreach(program lightbulb_tls lightbulb_tls_port)
  target_compile_definitions(${program} PRIVATE democonfigUSE_TLS=1 _GNU_SOURCE)
  target_include_directories(${program} PRIVATE ${AFR_TEST_TLS_DIR})
  afr_broker_test(NAME demo_${program} PROGRAM ${program} SHADOW TLS TIMEOUT 120)
endforeach()

# The harness's ClientHello recorder and its --alpn mode (Python only).
add_test(NAME alpn_recorder
  COMMAND ${AFR_TEST_PYTHON} -B -m unittest -v test_alpn_recorder
  WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/../tools)
set_tests_properties(alpn_recorder PROPERTIES TIMEOUT 120 LABELS broker ENVIRONMENT PYTHONDONTWRITEBYTECODE=1)
