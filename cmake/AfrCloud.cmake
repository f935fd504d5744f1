# AfrCloud.cmake: builds this Rust library for an Amazon FreeRTOS CMake project.
#
#   include(<path-to-afr-cloud>/cmake/AfrCloud.cmake)
#   afr_cloud_add_library(afr_cloud
#       CONFIG_DIR            ${CMAKE_CURRENT_SOURCE_DIR}/config   # FreeRTOSConfig.h, aws_*_config.h
#       FREERTOS_INCLUDE_DIRS ${KERNEL}/include ${KERNEL}/portable/GCC/ARM_CM4F
#       [RUST_TARGET thumbv7em-none-eabihf]   # default: derived from the C toolchain
#       [FEATURES selftest]                   # extra cargo features
#       [DEFINES FOO=1 BAR]                   # extra -D for reading the config headers
#       [CREDENTIAL_DIRS dir...])             # where aws_clientcredential_keys.h is, when
#                                             # not in CONFIG_DIR (TLS client certificate)
#   target_link_libraries(app PRIVATE "$<LINK_GROUP:RESCAN,afr_cloud,your_freertos_kernel>")
#
# The library is compiled by cargo with the project's own C compiler (for its
# config headers and freertos-rust's shim), so the values of the project's
# config macros are the ones compiled in. The link group is needed because
# the dependencies are circular: the library calls the kernel and the
# project's SOCKETS_* port, and the project calls the library.
#
# The project's aws_clientcredential_keys.h (either AFR naming generation) is
# compiled into a small C object (cmake/afr_credentials.c) that the library
# reads its TLS client certificate and key from. Another credential header for
# the same build of the library:
#   afr_cloud_library_variant(new_name FROM afr_cloud CREDENTIAL_DIRS dir...)

set(AFR_CLOUD_ROOT "${CMAKE_CURRENT_LIST_DIR}/.." CACHE INTERNAL "")
get_filename_component(AFR_CLOUD_ROOT "${AFR_CLOUD_ROOT}" ABSOLUTE)

# Picks the Rust target triple that matches the C toolchain.
function(afr_cloud_rust_target out)
  if(AFR_RUST_TARGET)
    set(${out} "${AFR_RUST_TARGET}" PARENT_SCOPE)
  elseif(CMAKE_C_COMPILER MATCHES "arm-none-eabi")
    # Cortex-M4F/M7 with hard float; set AFR_RUST_TARGET for other cores.
    set(${out} "thumbv7em-none-eabihf" PARENT_SCOPE)
  elseif(CMAKE_SYSTEM_NAME STREQUAL "Linux" AND CMAKE_SIZEOF_VOID_P EQUAL 4)
    set(${out} "i686-unknown-linux-gnu" PARENT_SCOPE)
  elseif(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    # build.rs refuses this with an explanation: the 64-bit POSIX port's types
    # do not match freertos-rust's.
    set(${out} "x86_64-unknown-linux-gnu" PARENT_SCOPE)
  else()
    message(FATAL_ERROR "afr-cloud: cannot derive a Rust target from ${CMAKE_C_COMPILER}; set AFR_RUST_TARGET")
  endif()
endfunction()

# The credential shim for library target `name`, reading the header from `dirs`.
function(afr_cloud_credentials name includes dirs)
  # With the heap probe (cmake/afr_heap.c): both need the project's headers.
  add_library(${name}_credentials STATIC "${AFR_CLOUD_ROOT}/cmake/afr_credentials.c" "${AFR_CLOUD_ROOT}/cmake/afr_heap.c")
  # The credential directories first: they win over a header in the config directory.
  target_include_directories(${name}_credentials PRIVATE ${dirs} ${includes})
endfunction()

function(afr_cloud_add_library name)
  cmake_parse_arguments(ARG "" "CONFIG_DIR;RUST_TARGET;PROFILE" "FREERTOS_INCLUDE_DIRS;FEATURES;DEFINES;CREDENTIAL_DIRS" ${ARGN})
  if(NOT ARG_CONFIG_DIR)
    message(FATAL_ERROR "afr_cloud_add_library: CONFIG_DIR is required")
  endif()
  if(ARG_RUST_TARGET)
    set(triple "${ARG_RUST_TARGET}")
  else()
    afr_cloud_rust_target(triple)
  endif()
  if(NOT ARG_PROFILE)
    set(ARG_PROFILE release)
  endif()
  find_program(CARGO cargo HINTS "$ENV{HOME}/.cargo/bin" REQUIRED)

  string(REPLACE "-" "_" triple_us "${triple}")
  # One cargo target directory per library: each is built with its own config.
  # AFR_CLOUD_CARGO_DIR puts them in another build directory of the same
  # project, whose libraries are then reused as long as cargo finds them fresh
  # (the sanitizer build takes the normal build's: the Rust code is the same).
  if(AFR_CLOUD_CARGO_DIR)
    set(target_dir "${AFR_CLOUD_CARGO_DIR}/${name}-cargo")
  else()
    set(target_dir "${CMAKE_BINARY_DIR}/${name}-cargo")
  endif()
  set(lib "${target_dir}/${triple}/${ARG_PROFILE}/libafrcloud.a")
  set(features rtos ${ARG_FEATURES})
  list(JOIN features "," features)
  set(includes ${ARG_CONFIG_DIR} ${ARG_FREERTOS_INCLUDE_DIRS})
  list(JOIN includes ":" includes)
  list(JOIN ARG_DEFINES ";" defines)
  separate_arguments(cflags NATIVE_COMMAND "${CMAKE_C_FLAGS}")
  list(JOIN cflags " " cflags)

  # On bare-metal GCC toolchains the C library (newlib, picolibc) has memcpy &
  # co. already, much smaller than compiler_builtins' word-copy versions that
  # the Rust archive would otherwise supply first (archive order): make those
  # local so that the C library's serve everyone (about 2.4 KB less flash on
  # Cortex-M4F). AFR_CLOUD_LIBC_MEM=OFF keeps Rust's (a C library without them).
  # __aeabi_memclr stays global: src/platform/kernel.c defines it (weak) as a
  # call of that same memset, since newlib-nano's is a second memset.
  if(CMAKE_C_COMPILER MATCHES "arm-none-eabi")
    set(libc_mem_default ON)
  else()
    set(libc_mem_default OFF)
  endif()
  set(AFR_CLOUD_LIBC_MEM ${libc_mem_default} CACHE BOOL "Use the C library's memcpy/memmove/memset/memcmp (bare metal)")
  set(post_build)
  if(AFR_CLOUD_LIBC_MEM AND CMAKE_OBJCOPY)
    set(localize)
    foreach(sym memcpy memmove memset memcmp bcmp strlen
                __aeabi_memcpy __aeabi_memcpy4 __aeabi_memcpy8 __aeabi_memmove __aeabi_memmove4 __aeabi_memmove8
                __aeabi_memset __aeabi_memset4 __aeabi_memset8)
      list(APPEND localize --localize-symbol=${sym})
    endforeach()
    set(post_build COMMAND ${CMAKE_OBJCOPY} ${localize} "${lib}")
  endif()

  file(GLOB_RECURSE rust_sources CONFIGURE_DEPENDS
       "${AFR_CLOUD_ROOT}/src/*.rs" "${AFR_CLOUD_ROOT}/include/*.h")
  file(GLOB config_headers CONFIGURE_DEPENDS "${ARG_CONFIG_DIR}/*.h")

  add_custom_command(
    OUTPUT "${lib}"
    COMMAND ${CMAKE_COMMAND} -E env
            "AFR_INCLUDE_DIRS=${includes}"
            "AFR_C_DEFINES=${defines}"
            "CC_${triple_us}=${CMAKE_C_COMPILER}"
            "AR_${triple_us}=${CMAKE_AR}"
            "CFLAGS_${triple_us}=${cflags}"
            "CARGO_TARGET_DIR=${target_dir}"
            # `cargo rustc --crate-type staticlib`: with the manifest's two crate
            # types (staticlib, rlib) rustc would skip cross-crate LTO.
            ${CARGO} rustc --quiet --lib --crate-type staticlib --profile ${ARG_PROFILE} --target ${triple}
                     --features "${features}"
                     --manifest-path "${AFR_CLOUD_ROOT}/Cargo.toml"
    ${post_build}
    DEPENDS ${rust_sources} ${config_headers} "${AFR_CLOUD_ROOT}/Cargo.toml" "${AFR_CLOUD_ROOT}/build.rs"
    COMMENT "cargo: building afr-cloud for ${triple}"
    VERBATIM USES_TERMINAL)
  add_custom_target(${name}_cargo DEPENDS "${lib}")

  add_library(${name} STATIC IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${lib}")
  target_include_directories(${name} INTERFACE "${AFR_CLOUD_ROOT}/include")
  add_dependencies(${name} ${name}_cargo)
  set_target_properties(${name} PROPERTIES
    AFR_CLOUD_CARGO_TARGET ${name}_cargo
    AFR_CLOUD_C_INCLUDES "${ARG_CONFIG_DIR};${ARG_FREERTOS_INCLUDE_DIRS}")
  afr_cloud_credentials(${name} "${ARG_CONFIG_DIR};${ARG_FREERTOS_INCLUDE_DIRS}" "${ARG_CREDENTIAL_DIRS}")
  target_link_libraries(${name} INTERFACE ${name}_credentials)
endfunction()

# The same built library with another credential header.
function(afr_cloud_library_variant name)
  cmake_parse_arguments(ARG "" "FROM" "CREDENTIAL_DIRS" ${ARGN})
  get_target_property(lib ${ARG_FROM} IMPORTED_LOCATION)
  get_target_property(cargo_target ${ARG_FROM} AFR_CLOUD_CARGO_TARGET)
  get_target_property(includes ${ARG_FROM} AFR_CLOUD_C_INCLUDES)
  add_library(${name} STATIC IMPORTED GLOBAL)
  set_target_properties(${name} PROPERTIES IMPORTED_LOCATION "${lib}")
  target_include_directories(${name} INTERFACE "${AFR_CLOUD_ROOT}/include")
  add_dependencies(${name} ${cargo_target})
  afr_cloud_credentials(${name} "${includes}" "${ARG_CREDENTIAL_DIRS}")
  target_link_libraries(${name} INTERFACE ${name}_credentials)
endfunction()
