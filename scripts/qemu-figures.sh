#!/usr/bin/env bash
# Figures from the emulated Cortex-M4F (QEMU mps2-an386 under -icount shift=0,
# one instruction per virtual nanosecond): the stack each AFR API call takes
# from its caller, the agent task's stack and the heap's peak use in each
# program, instructions per QoS 1 round trip and per TLS handshake. Builds
# tests/qemu, runs tests/qemu/figures_main.c and the demos on the board next to
# a private Mosquitto (TLS listeners, shadow service), and prints a Markdown
# section (also left in build/qemu/figures.md for scripts/benchmarks_md.py).
# About 2 minutes after the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >/dev/null
cmake -S tests/qemu -B build/qemu -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cm4f.cmake" -DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
programs=(qemu_figures qemu_hello_world qemu_hello_world_tls qemu_lightbulb qemu_stress)
cmake --build build/qemu -j 2 --target "${programs[@]}" >/dev/null
logs=()
for program in "${programs[@]}"; do
  log="build/qemu/$program.figures.log"
  python3 tests/tools/run_with_broker.py --tls "$root/build/qemu/tls" --shadow --timeout 180 -- \
    python3 tests/tools/uart_bridge.py --icount --timeout 180 --kernel "build/qemu/$program" >"$log" 2>&1 ||
    { echo "$program failed on the board:"; tail -20 "$log"; exit 1; }
  logs+=("$log")
done
python3 scripts/qemu_figures.py "${logs[@]}" | tee build/qemu/figures.md
