#!/usr/bin/env bash
# Micro-benchmarks of the pure core (benches/micro.rs): MQTT codec, topic
# matching, shadow JSON.
#
#   scripts/bench-micro.sh            full criterion run, then a summary table
#                                     (benchmark, median time, throughput), also
#                                     written to target/bench/micro.csv
#   scripts/bench-micro.sh --smoke    only checks that every benchmark runs
#                                     (tiny warm-up and measurement; figures
#                                     are meaningless), table in micro-smoke.csv
#
# Any further arguments go to criterion, e.g. a filter: `... -- topic_`.
# The summary is read from target/criterion/**/new/{estimates,benchmark}.json,
# keeping only the benchmarks this run produced, in the order they ran.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

smoke=0
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
fi
[ "${1:-}" = "--" ] && shift

target_dir=${CARGO_TARGET_DIR:-$root/target}
out_dir="$target_dir/bench"
mkdir -p "$out_dir"
stamp="$out_dir/.run-start"
touch "$stamp"

crit_args=()
if [ "$smoke" -eq 1 ]; then
  crit_args=(--warm-up-time 0.05 --measurement-time 0.1 --sample-size 10 --noplot)
  csv="$out_dir/micro-smoke.csv"
else
  csv="$out_dir/micro.csv"
fi

start=$(date +%s)
cargo bench --locked --bench micro -- "${crit_args[@]}" "$@"
elapsed=$(($(date +%s) - start))

# Benchmarks the binary defines (after the same filter), to check all ran.
expected=$(cargo bench --locked --bench micro -q -- --list "$@" 2>/dev/null | grep -c ': benchmark$' || true)

python3 - "$target_dir/criterion" "$stamp" "$csv" "$expected" "$smoke" <<'EOF'
import csv, json, os, sys

crit_dir, stamp, csv_path, expected, smoke = sys.argv[1:6]
expected, smoke = int(expected), smoke == "1"
since = os.stat(stamp).st_mtime_ns

rows = []
for dirpath, _, files in os.walk(crit_dir):
    if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
        continue
    est_path = os.path.join(dirpath, "estimates.json")
    mtime = os.stat(est_path).st_mtime_ns
    if mtime < since:
        continue  # left over from an earlier run
    with open(est_path) as f:
        est = json.load(f)
    with open(os.path.join(dirpath, "benchmark.json")) as f:
        meta = json.load(f)
    med = est["median"]
    tp = meta.get("throughput") or {}
    kind, per_iter = next(iter(tp.items()), ("", 0))
    ns = med["point_estimate"]
    per_s = per_iter * 1e9 / ns if per_iter else 0.0
    rows.append((mtime, meta["full_id"], ns, med["confidence_interval"]["lower_bound"],
                 med["confidence_interval"]["upper_bound"], kind, per_iter, per_s))
rows.sort()

def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.2f} ns"

def fmt_tp(kind, per_s):
    if kind in ("Bytes", "BytesDecimal"):
        for unit, scale in (("GiB/s", 2**30), ("MiB/s", 2**20), ("KiB/s", 2**10)):
            if per_s >= scale:
                return f"{per_s / scale:.2f} {unit}"
        return f"{per_s:.0f} B/s"
    if kind == "Elements":
        for unit, scale in (("Gelem/s", 1e9), ("Melem/s", 1e6), ("Kelem/s", 1e3)):
            if per_s >= scale:
                return f"{per_s / scale:.2f} {unit}"
        return f"{per_s:.0f} elem/s"
    return "-"

with open(csv_path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["benchmark", "median_ns", "median_lower_ns", "median_upper_ns",
                "throughput_kind", "throughput_per_iter", "throughput_per_s"])
    for _, name, ns, lo, hi, kind, per_iter, per_s in rows:
        w.writerow([name, f"{ns:.3f}", f"{lo:.3f}", f"{hi:.3f}", kind, per_iter, f"{per_s:.1f}"])

width = max([len(r[1]) for r in rows] + [9])
title = "micro-benchmarks" + (" (SMOKE: short runs, figures not meaningful)" if smoke else "")
print(f"\n{title}")
print(f"{'benchmark':<{width}}  {'median':>12}  {'throughput':>14}")
print(f"{'-' * width}  {'-' * 12}  {'-' * 14}")
for _, name, ns, lo, hi, kind, per_iter, per_s in rows:
    print(f"{name:<{width}}  {fmt_time(ns):>12}  {fmt_tp(kind, per_s):>14}")
print(f"\n{len(rows)} benchmarks; table written to {csv_path}")

if not rows or (expected and len(rows) != expected):
    print(f"bench-micro: {len(rows)} benchmarks produced results, expected {expected}", file=sys.stderr)
    sys.exit(1)
EOF
echo "bench-micro: criterion run took ${elapsed}s"
