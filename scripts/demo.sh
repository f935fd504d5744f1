#!/usr/bin/env bash
# Builds the demos for the FreeRTOS POSIX simulator and runs one against a
# private Mosquitto that it starts on a free loopback port (and stops after).
# Installs what is missing first.   Usage: scripts/demo.sh [hello_world|multitask|lightbulb|pool_tour]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
demo="${1:-hello_world}"
cmake -S c_demo -B build/demo -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/demo -j 2 --target "$demo"
# The test shadow service runs beside the broker (the lightbulb demo needs it).
exec python3 tests/tools/run_with_broker.py --shadow --timeout 120 -- "build/demo/$demo"
