# The MPS2 AN386 board (QEMU mps2-an386): the FreeRTOS ARM_CM4F kernel with the
# board's config, the UART Secure Sockets port, and mps2_an386_program() to
# link a firmware image the way a user's firmware links the library. Needs the
# arm-none-eabi toolchain (cmake/arm-none-eabi-cm4f.cmake). See README.md.
#
#   include(<afr-cloud>/c_demo/mps2_an386/board.cmake)
#   afr_cloud_add_library(afr_cloud CONFIG_DIR ${MPS2_AN386_CONFIG_DIR}
#       FREERTOS_INCLUDE_DIRS ${MPS2_AN386_KERNEL_INCLUDE_DIRS} FEATURES tls)
#   mps2_an386_program(app LIB afr_cloud [SOCKETS <port library>] main.c ...)
include_guard(GLOBAL)
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/FreeRTOSPosixKernel.cmake) # afr_find_freertos_kernel
include(${CMAKE_CURRENT_LIST_DIR}/../../cmake/AfrCloud.cmake)

set(MPS2_AN386_DIR ${CMAKE_CURRENT_LIST_DIR})
set(MPS2_AN386_CONFIG_DIR ${CMAKE_CURRENT_LIST_DIR}/config)
afr_find_freertos_kernel(mps2_an386_k)
set(MPS2_AN386_KERNEL_INCLUDE_DIRS ${mps2_an386_k}/include ${mps2_an386_k}/portable/GCC/ARM_CM4F)

add_library(mps2_an386_kernel STATIC
  ${mps2_an386_k}/tasks.c ${mps2_an386_k}/queue.c ${mps2_an386_k}/list.c ${mps2_an386_k}/timers.c
  ${mps2_an386_k}/event_groups.c ${mps2_an386_k}/stream_buffer.c
  ${mps2_an386_k}/portable/MemMang/heap_4.c ${mps2_an386_k}/portable/GCC/ARM_CM4F/port.c)
target_include_directories(mps2_an386_kernel PUBLIC ${MPS2_AN386_CONFIG_DIR} ${MPS2_AN386_KERNEL_INCLUDE_DIRS})
target_compile_options(mps2_an386_kernel PRIVATE -w)

# The Secure Sockets port over UART1 (the AFR header is the simulator's: the
# same API, names and values).
add_library(mps2_an386_sockets STATIC ${MPS2_AN386_DIR}/uart.c ${MPS2_AN386_DIR}/secure_sockets_uart.c)
target_include_directories(mps2_an386_sockets PUBLIC ${MPS2_AN386_DIR}
  ${MPS2_AN386_DIR}/../secure_sockets ${MPS2_AN386_DIR}/../../include)
target_link_libraries(mps2_an386_sockets PUBLIC mps2_an386_kernel)
target_compile_options(mps2_an386_sockets PRIVATE -Wall -Wextra -Werror)

# mps2_an386_program(<name> LIB <afr-cloud library> [SOCKETS <port library>] sources...)
# Start-up and board support are objects of the image (the vector table and
# the printf/exit overrides must win over the C library). The library, the
# port and the kernel refer to each other: one link group. A map file is left
# beside the image.
function(mps2_an386_program name)
  cmake_parse_arguments(ARG "" "LIB;SOCKETS" "" ${ARGN})
  if(NOT ARG_SOCKETS)
    set(ARG_SOCKETS mps2_an386_sockets)
  endif()
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS} ${MPS2_AN386_DIR}/startup.c ${MPS2_AN386_DIR}/board.c)
  target_include_directories(${name} PRIVATE ${MPS2_AN386_DIR} ${MPS2_AN386_DIR}/../secure_sockets ${MPS2_AN386_DIR}/../../include)
  target_compile_options(${name} PRIVATE -Wall -Wextra -Werror)
  target_link_options(${name} PRIVATE -T${MPS2_AN386_DIR}/mps2_an386.ld -Wl,--gc-sections
    --specs=nano.specs --specs=nosys.specs -Wl,-Map=$<TARGET_FILE:${name}>.map)
  target_link_libraries(${name} PRIVATE mps2_an386_kernel
    -Wl,--start-group ${ARG_LIB} ${ARG_SOCKETS} mps2_an386_kernel -Wl,--end-group)
endfunction()
