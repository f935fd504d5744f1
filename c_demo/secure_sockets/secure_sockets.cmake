# The project's AFR Secure Sockets port for the FreeRTOS POSIX simulator.
# Included (OPTIONAL) by c_demo/CMakeLists.txt after freertos_kernel exists.
#
#   sim_secure_sockets           the port, with SOCKETS_SO_WAKEUP_CALLBACK
#   sim_secure_sockets_nowakeup  the same port without it (the option answers
#                                SOCKETS_ENOPROTOOPT), like ports that lack it
set(SIM_SECURE_SOCKETS_DIR ${CMAKE_CURRENT_LIST_DIR})
# aws_lib_init.h, which the header includes as AFR's does.
get_filename_component(SIM_SECURE_SOCKETS_AFR_INCLUDE ${CMAKE_CURRENT_LIST_DIR}/../../include ABSOLUTE)

foreach(variant sim_secure_sockets sim_secure_sockets_nowakeup)
  add_library(${variant} STATIC ${SIM_SECURE_SOCKETS_DIR}/aws_secure_sockets_posix.c)
  target_include_directories(${variant} PUBLIC ${SIM_SECURE_SOCKETS_DIR} ${SIM_SECURE_SOCKETS_AFR_INCLUDE})
  target_link_libraries(${variant} PUBLIC freertos_kernel)
  target_compile_options(${variant} PRIVATE -Wall -Wextra -Werror)
endforeach()
target_compile_definitions(sim_secure_sockets_nowakeup PRIVATE SOCKETS_SIM_NO_WAKEUP_CALLBACK=1)
