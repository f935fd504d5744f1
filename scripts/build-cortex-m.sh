#!/usr/bin/env bash
# Builds the shipped library for Cortex-M4F (thumbv7em-none-eabihf) through the
# CMake integration with arm-none-eabi-gcc, as an AFR MCU project would.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmake -S "$root/tests/cortex_m" -B "$root/build/cortex_m" \
      -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cm4f.cmake" -DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
cmake --build "$root/build/cortex_m" -j 2
lib="$root/build/cortex_m/afr_cloud-cargo/thumbv7em-none-eabihf/release/libafrcloud.a"
arm-none-eabi-size -t "$lib" | tail -1
