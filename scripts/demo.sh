#!/usr/bin/env bash
# Builds the demos for the FreeRTOS POSIX simulator and runs one against a
# private Mosquitto that it starts on a free loopback port (and stops after).
# Installs what is missing first.
# Usage: scripts/demo.sh [--tls|--tls-port] [hello_world|multitask|lightbulb|pool_tour]
#   --tls: hello_world and lightbulb over mutual TLS to the broker's TLS
#          listener, with a test PKI generated on the spot
#          (tests/tools/tls_certs.py); TLS by the library (rustls).
#   --tls-port: the same with TLS by the Secure Sockets port (the simulator's
#          mbedTLS variant), the library built without its own TLS.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
tls=OFF
backend=library
harness=()
case "${1:-}" in
  --tls | --tls-port)
    tls=ON
    [ "$1" = "--tls-port" ] && backend=port
    harness=(--tls "$root/build/demo/tls")
    shift
    ;;
esac
demo="${1:-hello_world}"
cmake -S c_demo -B build/demo -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Debug \
      -DAFR_DEMO_TLS=$tls -DAFR_DEMO_TLS_BACKEND=$backend >/dev/null
cmake --build build/demo -j 2 --target "$demo"
# The test shadow service runs beside the broker (the lightbulb demo needs it).
exec python3 tests/tools/run_with_broker.py --shadow "${harness[@]}" --timeout 120 -- "build/demo/$demo"
