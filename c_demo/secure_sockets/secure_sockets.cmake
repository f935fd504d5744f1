# The project's AFR Secure Sockets port for the FreeRTOS POSIX simulator.
# Included (OPTIONAL) by c_demo/CMakeLists.txt after freertos_kernel exists.
#
#   sim_secure_sockets           the port, with SOCKETS_SO_WAKEUP_CALLBACK
#   sim_secure_sockets_nowakeup  the same port without it (the option answers
#                                SOCKETS_ENOPROTOOPT), like ports that lack it
set(SIM_SECURE_SOCKETS_DIR ${CMAKE_CURRENT_LIST_DIR} CACHE INTERNAL "")
# aws_lib_init.h, which the header includes as AFR's does.
get_filename_component(SIM_SECURE_SOCKETS_AFR_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/../../include ABSOLUTE)
set(SIM_SECURE_SOCKETS_AFR_INCLUDE ${SIM_SECURE_SOCKETS_AFR_INCLUDE} CACHE INTERNAL "")

foreach(variant sim_secure_sockets sim_secure_sockets_nowakeup)
  add_library(${variant} STATIC ${SIM_SECURE_SOCKETS_DIR}/aws_secure_sockets_posix.c)
  target_include_directories(${variant} PUBLIC ${SIM_SECURE_SOCKETS_DIR} ${SIM_SECURE_SOCKETS_AFR_INCLUDE})
  target_link_libraries(${variant} PUBLIC freertos_kernel)
  target_compile_options(${variant} PRIVATE -Wall -Wextra -Werror)
endforeach()
target_compile_definitions(sim_secure_sockets_nowakeup PRIVATE SOCKETS_SIM_NO_WAKEUP_CALLBACK=1)

# A variant that does TLS itself, with mbedTLS (Debian's i386 libmbedtls-dev),
# reading the client certificate and key from the aws_clientcredential_keys.h
# in CREDENTIAL_DIRS, as AFR's mbedTLS ports did:
#   sim_secure_sockets_tls(<name> CREDENTIAL_DIRS <dir>...)
function(sim_secure_sockets_tls name)
  cmake_parse_arguments(ARG "" "" "CREDENTIAL_DIRS" ${ARGN})
  add_library(${name} STATIC ${SIM_SECURE_SOCKETS_DIR}/aws_secure_sockets_posix.c ${SIM_SECURE_SOCKETS_DIR}/sim_tls_mbedtls.c)
  target_compile_definitions(${name} PRIVATE SOCKETS_SIM_TLS=1)
  target_include_directories(${name} PUBLIC ${SIM_SECURE_SOCKETS_DIR} ${SIM_SECURE_SOCKETS_AFR_INCLUDE})
  target_include_directories(${name} PRIVATE ${ARG_CREDENTIAL_DIRS})
  # By name: gcc -m32 finds Debian's i386 libraries in its multiarch directory.
  target_link_libraries(${name} PUBLIC freertos_kernel mbedtls mbedx509 mbedcrypto)
  target_compile_options(${name} PRIVATE -Wall -Wextra -Werror)
endfunction()
