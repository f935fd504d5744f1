#!/usr/bin/env bash
# Builds the demos for the FreeRTOS POSIX simulator and runs one against a
# private Mosquitto that it starts on a free loopback port (and stops after).
# Installs what is missing first.
# Usage: scripts/demo.sh [--tls|--tls-port] [hello_world|multitask|lightbulb|pool_tour]
#        scripts/demo.sh --qemu [hello_world|hello_world_tls|lightbulb|stress]
#   --tls: hello_world and lightbulb over mutual TLS to the broker's TLS
#          listener, with a test PKI generated on the spot
#          (tests/tools/tls_certs.py); TLS by the library (rustls).
#   --tls-port: the same with TLS by the Secure Sockets port (the simulator's
#          mbedTLS variant), the library built without its own TLS.
#   --qemu: the same C on an emulated Cortex-M4F (QEMU's mps2-an386, built
#          with arm-none-eabi-gcc and the board support of c_demo/mps2_an386),
#          reaching the broker through UART1 and the host bridge
#          (tests/tools/uart_bridge.py). Exits 0 only when the demo completed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
if [ "${1:-}" = "--qemu" ]; then
  program="qemu_${2:-hello_world}"
  cmake -S tests/qemu -B build/qemu -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cm4f.cmake" \
        -DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
  cmake --build build/qemu -j 2 --target "$program"
  exec python3 tests/tools/run_with_broker.py --shadow --tls "$root/build/qemu/tls" --timeout 150 -- \
       python3 tests/tools/uart_bridge.py --timeout 150 --kernel "build/qemu/$program"
fi
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
