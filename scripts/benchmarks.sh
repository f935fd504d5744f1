#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: runs the three benchmark harnesses in full
# (Cortex-M footprint, agent throughput/latency vs libmosquitto, criterion
# micro-benchmarks, the emulated Cortex-M4F's figures) and writes every figure beside its reference and target.
# Takes about 10 minutes on a 2-core machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
bash scripts/footprint.sh
bash scripts/bench-agent.sh
bash scripts/bench-micro.sh
bash scripts/qemu-figures.sh
# Through a temporary file: the generator reads the current BENCHMARKS.md for
# its hand-written sections, which a redirection would have emptied first.
python3 scripts/benchmarks_md.py > BENCHMARKS.md.new
mv BENCHMARKS.md.new BENCHMARKS.md
echo "BENCHMARKS.md written"
