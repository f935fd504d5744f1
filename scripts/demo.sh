#!/usr/bin/env bash
# Builds the demos for the FreeRTOS POSIX simulator and runs one against a
# private Mosquitto that it starts on a free loopback port (and stops after).
# Installs what is missing first.
# Usage: scripts/demo.sh [--tls] [hello_world|multitask|lightbulb|pool_tour]
#   --tls: hello_world over mutual TLS (rustls) to the broker's TLS listener,
#          with a test PKI generated on the spot (tests/tools/tls_certs.py).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
tls=OFF
harness=()
if [ "${1:-}" = "--tls" ]; then
  tls=ON
  harness=(--tls "$root/build/demo/tls")
  shift
fi
demo="${1:-hello_world}"
cmake -S c_demo -B build/demo -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Debug \
      -DAFR_DEMO_TLS=$tls >/dev/null
cmake --build build/demo -j 2 --target "$demo"
# The test shadow service runs beside the broker (the lightbulb demo needs it).
exec python3 tests/tools/run_with_broker.py --shadow "${harness[@]}" --timeout 120 -- "build/demo/$demo"
