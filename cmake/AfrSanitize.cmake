# AfrSanitize.cmake: the sanitizer build of the simulator's C code.
#
#   cmake -S tests -B build/tests-asan -DCMAKE_TOOLCHAIN_FILE=cmake/posix-sim-i686.cmake \
#         -DAFR_SANITIZE=address,undefined            (scripts/sanitize.sh does this)
#
# AFR_SANITIZE (a -fsanitize= list, empty by default) instruments every C
# target created after this file is included: the FreeRTOS kernel and POSIX
# port, the simulator's Secure Sockets port and support code, the credential
# shim, the test kit and the test programs. UBSan findings abort the program
# (-fno-sanitize-recover) so that a test cannot pass with one.
#
# Not instrumented: the Rust library. cargo gets CMAKE_C_FLAGS only (left
# alone here), so its build is the normal one, reusable from a normal build
# directory (AFR_CLOUD_CARGO_DIR); -Zsanitizer would need nightly Rust. ASan
# still checks the C side of the boundary: C code reading or writing memory
# the library handed out (pool buffers, anything from pvPortMalloc), and the
# library's own memcpy/memset/memmove calls, which go to ASan's interceptors.
#
# With address in the list the kernel's heap is c_demo/common/heap_malloc.c
# (one malloc block per pvPortMalloc, with ASan's redzones and quarantine)
# instead of heap_4's single static array, inside which ASan could see no
# overrun between blocks. AFR_SIM_HEAP overrides the choice.
include_guard(GLOBAL)

set(AFR_SANITIZE "" CACHE STRING "Sanitizers for the simulator's C code (-fsanitize= list, e.g. address,undefined)")

if(AFR_SANITIZE)
  add_compile_options(-fsanitize=${AFR_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  add_link_options(-fsanitize=${AFR_SANITIZE})
endif()

# Runtime options of the tests (afr_sanitize_tests below).
#
# The FreeRTOS V11 POSIX port needs no ASan option: each task is a pthread on
# a stack of its own from pthread_create (the task's FreeRTOS stack only holds
# the port's thread record), so ASan's stack bookkeeping holds; the tick is
# SIGALRM sent to the running task's thread and a task switch is a
# condition-variable handoff between threads, never a longjmp or swapcontext,
# and ASan claims neither SIGALRM nor SIGUSR1. Hence the defaults, plus:
#   detect_leaks                    LeakSanitizer at exit (the test programs
#                                   end with exit()). Meaningful here because
#                                   heap_malloc.c makes every FreeRTOS
#                                   allocation a malloc block: a block no
#                                   pointer reaches any more is reported. Blocks
#                                   still referenced at exit (running tasks, a
#                                   client the program never deleted) are not
#                                   leaks to it; the tests' heap-balance checks
#                                   cover those. AFR_SANITIZE_LEAKS=OFF where
#                                   LSan cannot stop the threads (no ptrace).
#   detect_stack_use_after_return   a pointer to a returned frame's locals
#                                   used later (callbacks, queued pointers).
#   strict_string_checks            C strings passed to libc must end in
#                                   their NUL within the object.
option(AFR_SANITIZE_LEAKS "LeakSanitizer in the sanitizer build's tests" ON)
if(AFR_SANITIZE_LEAKS)
  set(leaks 1)
else()
  set(leaks 0)
endif()
set(AFR_ASAN_OPTIONS "detect_leaks=${leaks}:detect_stack_use_after_return=1:strict_string_checks=1")
set(AFR_UBSAN_OPTIONS "print_stacktrace=1:halt_on_error=1")

if(NOT AFR_SIM_HEAP)
  if(AFR_SANITIZE MATCHES "(^|,)address(,|$)")
    set(AFR_SIM_HEAP "${CMAKE_CURRENT_LIST_DIR}/../c_demo/common/heap_malloc.c")
    cmake_path(NORMAL_PATH AFR_SIM_HEAP)
  else()
    set(AFR_SIM_HEAP heap_4)
  endif()
endif()

# The sanitizer runtimes' options for every test of the calling directory
# (call it after the last add_test). Appended to each test's ENVIRONMENT, so
# the run's options are the build's whichever way ctest is started.
function(afr_sanitize_tests)
  if(NOT AFR_SANITIZE)
    return()
  endif()
  get_directory_property(tests TESTS)
  if(tests)
    set_property(TEST ${tests} APPEND PROPERTY ENVIRONMENT
      "ASAN_OPTIONS=${AFR_ASAN_OPTIONS}" "UBSAN_OPTIONS=${AFR_UBSAN_OPTIONS}")
  endif()
endfunction()
