# Toolchain file: the 32-bit FreeRTOS POSIX simulator. freertos-rust assumes
# 32-bit BaseType_t/TickType_t, which the POSIX port only has when built -m32.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR i686)
set(CMAKE_C_COMPILER gcc)
set(CMAKE_C_FLAGS_INIT "-m32")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-m32")
set(AFR_RUST_TARGET i686-unknown-linux-gnu CACHE STRING "")
