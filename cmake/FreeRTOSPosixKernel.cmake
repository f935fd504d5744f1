# FreeRTOSPosixKernel.cmake: the FreeRTOS kernel on the POSIX port, as a static
# library for the simulator builds of c_demo/ and tests/.
#
#   freertos_posix_kernel(<name> CONFIG_DIR <dir with FreeRTOSConfig.h> [HEAP heap_4])
#
# HEAP is one of the kernel's portable/MemMang files by name (heap_1 ... heap_5)
# or the path of a C file of one's own (the sanitizer build's
# c_demo/common/heap_malloc.c).
#
# The kernel sources are not in this repository: FREERTOS_KERNEL_PATH, if set,
# names them; otherwise scripts/fetch-freertos-kernel.sh fetches them through
# cargo (crates.io crate freertos-next, FreeRTOS-Kernel V11.2.0).

function(afr_find_freertos_kernel out)
  if(NOT FREERTOS_KERNEL_PATH)
    execute_process(
      COMMAND bash "${CMAKE_CURRENT_FUNCTION_LIST_DIR}/../scripts/fetch-freertos-kernel.sh"
      OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "could not fetch the FreeRTOS kernel sources")
    endif()
    set(FREERTOS_KERNEL_PATH "${path}" CACHE PATH "FreeRTOS-Kernel source tree")
  endif()
  set(${out} "${FREERTOS_KERNEL_PATH}" PARENT_SCOPE)
endfunction()

function(freertos_posix_kernel name)
  cmake_parse_arguments(ARG "" "CONFIG_DIR;HEAP" "" ${ARGN})
  if(NOT ARG_HEAP)
    set(ARG_HEAP heap_4)
  endif()
  afr_find_freertos_kernel(k)
  set(port "${k}/portable/ThirdParty/GCC/Posix")
  if(IS_ABSOLUTE "${ARG_HEAP}")
    set(heap_source "${ARG_HEAP}")
  else()
    set(heap_source "${k}/portable/MemMang/${ARG_HEAP}.c")
  endif()
  add_library(${name} STATIC
    ${k}/tasks.c ${k}/queue.c ${k}/list.c ${k}/timers.c
    ${k}/event_groups.c ${k}/stream_buffer.c
    ${heap_source}
    ${port}/port.c ${port}/utils/wait_for_event.c)
  target_include_directories(${name} PUBLIC ${ARG_CONFIG_DIR} ${k}/include ${port} ${port}/utils)
  find_package(Threads REQUIRED)
  target_link_libraries(${name} PUBLIC Threads::Threads)
  # Kernel sources are third-party: keep their warnings out of ours.
  target_compile_options(${name} PRIVATE -w)
  set(${name}_INCLUDE_DIRS ${k}/include ${port} ${port}/utils PARENT_SCOPE)
endfunction()
