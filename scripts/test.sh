#!/usr/bin/env bash
# Runs the whole test suite (what .ci/run calls). Installs what is missing first.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh

steps=0
step() { printf '\n=== %s\n' "$*"; steps=$((steps + 1)); }

step "pure core: unit and property tests (host), TLS provider and session included"
cargo test --locked --lib --tests --features tls,webpki-roots,sha384

step "pure core: unit tests under Miri (bounded)"
bash scripts/miri.sh

step "Cortex-M: library build for thumbv7em-none-eabihf"
bash scripts/build-cortex-m.sh

step "Cortex-M4F on QEMU (mps2-an386): the library executed on the emulated board (ctest)"
cmake -S tests/qemu -B build/qemu -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cm4f.cmake" -DCMAKE_BUILD_TYPE=MinSizeRel >/dev/null
cmake --build build/qemu -j 2
(cd build/qemu && ctest --output-on-failure)

step "FreeRTOS POSIX simulator: C tests (ctest)"
cmake -S tests -B build/tests -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build/tests -j 2
# Serially: several tests measure time in ticks, which a loaded host skews.
(cd build/tests && ctest --output-on-failure)

step "FreeRTOS POSIX simulator: C tests under ASan (leaks included) and UBSan"
bash scripts/sanitize.sh

step "fuzzing: decoder, session, agent core, shadow JSON, shadow core, TLS records (bounded smoke runs)"
bash scripts/fuzz-smoke.sh

# Benchmarks are built and run briefly; they print figures and assert nothing about speed.
step "benchmarks (smoke): Cortex-M footprint"
bash scripts/footprint.sh --smoke

step "benchmarks (smoke): MQTT agent vs libmosquitto"
bash scripts/bench-agent.sh --smoke

step "benchmarks (smoke): micro-benchmarks"
bash scripts/bench-micro.sh --smoke

# Every step above stops the script on failure (set -e), so reaching here means all passed.
printf '\nscripts/test.sh: every step passed\n%d passed, 0 failed\n' "$steps"
