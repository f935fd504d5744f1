#!/usr/bin/env bash
# The simulator's C tests under AddressSanitizer (with LeakSanitizer) and
# UndefinedBehaviorSanitizer: gcc -m32 -fsanitize=address,undefined,... on the
# FreeRTOS kernel and POSIX port, the Secure Sockets port, the support code and
# the test programs, the FreeRTOS heap on malloc (c_demo/common/heap_malloc.c);
# build directory build/tests-asan (cmake/AfrSanitize.cmake explains the
# options). The Rust library is the normal build's, not instrumented.
#
# About 2 minutes once build/tests exists (scripts/test.sh builds it first),
# a few more from a fresh clone (the Rust libraries). Any sanitizer report
# fails its test, and so this script.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh

build=build/tests-asan
# float-cast-overflow: a float converted to an integer type it does not fit
# (undefined behaviour that -fsanitize=undefined leaves out in gcc).
sanitize=address,undefined,float-cast-overflow

# Can this machine run a 32-bit ASan program, and can LeakSanitizer stop
# threads here (it needs ptrace on its own threads, which some containers
# forbid)? A program that leaks on purpose tells.
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
cat >"$probe/leak.c" <<'EOF'
#include <stdlib.h>
void * volatile pvKept;
int main( void ) { pvKept = malloc( 7 ); pvKept = 0; return 0; }
EOF
if ! gcc -m32 -fsanitize="$sanitize" "$probe/leak.c" -o "$probe/leak" 2>"$probe/cc.log"; then
  cat "$probe/cc.log" >&2
  echo "sanitize: gcc -m32 -fsanitize=$sanitize cannot build (32-bit runtimes lib32asan8, lib32ubsan1: scripts/setup.sh)" >&2
  exit 1
fi
run_probe() { ASAN_OPTIONS=detect_leaks=1 timeout 60 "$@" "$probe/leak" >"$probe/run.log" 2>&1 </dev/null || true; }
# Runs ctest through this (setarch -R, if ASan needs ASLR off on this kernel).
runner=()
run_probe
if ! grep -q "detected memory leaks\|LeakSanitizer has encountered a fatal error\|does not work under ptrace" "$probe/run.log"; then
  # Kernels with many bits of mmap randomisation can place mappings where the
  # ASan runtime of this gcc wants its shadow memory (it dies with
  # DEADLYSIGNAL): without address randomisation it fits.
  runner=(setarch "$(uname -m)" -R)
  run_probe "${runner[@]}"
  if ! grep -q "detected memory leaks\|LeakSanitizer has encountered a fatal error\|does not work under ptrace" "$probe/run.log"; then
    cat "$probe/run.log" >&2
    echo "sanitize: a 32-bit ASan program does not run on this machine" >&2
    exit 1
  fi
  echo "sanitize: ASan needs address randomisation off here; the tests run under ${runner[*]}"
fi
leaks=ON
if ! grep -q "detected memory leaks" "$probe/run.log"; then
  leaks=OFF
  echo "sanitize: LeakSanitizer cannot run here (no ptrace); leak detection off, ASan and UBSan on:"
  grep "LeakSanitizer\|ptrace" "$probe/run.log" | head -n 3
fi

# The Rust libraries come from build/tests (the same cargo build; reused when
# scripts/test.sh built them already).
cmake -S tests -B "$build" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Debug \
  -DAFR_SANITIZE="$sanitize" -DAFR_SANITIZE_LEAKS="$leaks" -DAFR_CLOUD_CARGO_DIR="$root/build/tests" >/dev/null
cmake --build "$build" -j 2

# Every test that runs C code (about 90 s in all, agent_stress included).
# Left out, because they run no C code at all (Python only): the harness's
# own self-check, the shadow service's tests and the ALPN recorder's.
exclude='^(harness_pyselfcheck|shadow_service|alpn_recorder)$'
# Serially, as in scripts/test.sh: several tests measure time in ticks.
"${runner[@]}" ctest --test-dir "$build" --output-on-failure -E "$exclude"
echo "sanitize: every sanitizer test passed in ${SECONDS} s (leak detection $leaks)"
