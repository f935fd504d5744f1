#!/usr/bin/env bash
# Builds the demos for the FreeRTOS POSIX simulator and runs the main one.
# Installs what is missing first. Usage: scripts/demo.sh [demo-name]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
demo="${1:-pool_tour}"
cmake -S c_demo -B build/demo -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/demo -j 2 --target "$demo"
exec "build/demo/$demo"
