#!/usr/bin/env bash
# Agent benchmark: afr-cloud's MQTT agent (AFR v1 API) under the 32-bit
# FreeRTOS POSIX simulator and libmosquitto (native) as a reference: the same
# workloads, group by group in turn, against one private Mosquitto on loopback.
# Prints a table and writes build/bench-agent/agent.csv (and agent-raw.csv).
# See benches/agent/README.md.
#
#   scripts/bench-agent.sh            full run (about 70 s once built)
#   scripts/bench-agent.sh --smoke    tiny counts: checks that it runs (a few seconds
#                                     once built; ~25 s with the build)
#
# A benchmark, not a timed test: it asserts nothing about speed. It fails only
# when a program fails or an operation in a workload fails.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

mode=()
case "${1:-}" in
  "") ;;
  --smoke) mode=(--smoke) ;;
  *) echo "usage: $0 [--smoke]" >&2; exit 2 ;;
esac

bash scripts/setup.sh
# The reference client's headers and library (Debian's libmosquitto-dev).
if ! dpkg-query -W -f='${Status}' libmosquitto-dev 2>/dev/null | grep -q "install ok installed"; then
  echo "bench-agent: installing libmosquitto-dev"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends libmosquitto-dev >/dev/null
fi

out=build/bench-agent
cmake -S benches/agent -B "$out" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$out" -j 2 --target bench_agent_afr bench_agent_afr_nowakeup bench_agent_afr_tickwatch \
  bench_agent_mosquitto_ref

# One broker for all the programs; report.py runs them in turn and prints the table.
exec python3 tests/tools/run_with_broker.py --broker-conf-extra benches/agent/mosquitto-bench.conf --timeout 900 -- \
  python3 benches/agent/report.py --afr "$out/bench_agent_afr" --afr-nowakeup "$out/bench_agent_afr_nowakeup" \
  --afr-tickwatch "$out/bench_agent_afr_tickwatch" --mosquitto "$out/bench_agent_mosquitto" \
  --out "$out" "${mode[@]}"
