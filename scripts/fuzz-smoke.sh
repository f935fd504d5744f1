#!/usr/bin/env bash
# Fuzz smoke test: builds fuzz/ (a cargo-fuzz project) and runs each target for
# a bounded time: `decode` (MQTT codec), `session` (the agent's per-connection
# state), `agent_core` (the agent core with its callers, the platform's reports
# and a hostile broker), `shadow_json` (the shadow JSON reader), `shadow_core`
# (the shadow core with its callers and a hostile broker), `tls_records` (the
# TLS record stream). Exits non-zero if the build fails or the fuzzer finds a crash (the
# input is left in fuzz/artifacts/<target>/); the other targets still run.
#
# Environment:
#   FUZZ_SECONDS  seconds per target (default 15)
#   FUZZ_TARGET   the targets to run, space-separated (default: all six)
#   FUZZ_RUNS     also stop a target after this many executions (default: no limit)
#   FUZZ_ARGS     more libFuzzer options, for every target
# A long run, as recorded in fuzz/README.md:
#   FUZZ_SECONDS=1200 FUZZ_RUNS=10000000 FUZZ_TARGET=session scripts/fuzz-smoke.sh
#
# Corpora grow in fuzz/corpus/<target> (git-ignored); committed seeds are read
# from fuzz/seeds/<target>. Uses the nightly toolchain when rustup has one,
# else stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz needs unstable -Z flags).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-15}"
all_targets="decode session agent_core shadow_json shadow_core tls_records"
read -r -a targets <<<"${FUZZ_TARGET:-$all_targets}"
runs=()
if [ -n "${FUZZ_RUNS:-}" ]; then
    runs=("-runs=$FUZZ_RUNS")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi

if command -v rustup >/dev/null 2>&1 && rustup toolchain list | grep -q '^nightly'; then
    fuzz=(cargo +nightly fuzz)
else
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

cd "$root/fuzz"

# Seeds of the decoder: one valid frame of several types, so the fuzzer starts
# past the fixed header. (The other targets' seeds are files in seeds/.)
mkdir -p corpus/decode
decode_seeds=(
    # CONNECT with will, user name and password
    '\x10\x1f\x00\x04MQTT\x04\xce\x00\x0a\x00\x03cid\x00\x03w/t\x00\x03bye\x00\x01u\x00\x01p'
    '\x20\x02\x01\x00'                                   # CONNACK, session present
    '\x32\x09\x00\x03a/b\x00\x0ahi'                      # PUBLISH QoS 1
    '\x3d\x06\x00\x01x\xbe\xefz'                         # PUBLISH QoS 2, DUP, RETAIN
    '\x40\x02\x00\x01\x50\x02\x00\x02\x62\x02\x00\x03\x70\x02\x00\x04' # PUBACK..PUBCOMP
    '\x82\x0e\x00\x0a\x00\x03a/b\x01\x00\x03c/d\x02'     # SUBSCRIBE
    '\x90\x05\x00\x0a\x00\x02\x80'                       # SUBACK
    '\xa2\x0c\x00\x0a\x00\x03a/b\x00\x03c/d'             # UNSUBSCRIBE
    '\xb0\x02\x00\x0a\xc0\x00\xd0\x00\xe0\x00'           # UNSUBACK, PINGREQ, PINGRESP, DISCONNECT
)
i=0
for s in "${decode_seeds[@]}"; do
    printf '%b' "$s" >"corpus/decode/seed-$i"
    i=$((i + 1))
done

# Build every selected target first, so that a build failure stops before any run.
if [ "${targets[*]}" = "$all_targets" ]; then
    "${fuzz[@]}" build --debug-assertions
else
    for t in "${targets[@]}"; do
        "${fuzz[@]}" build --debug-assertions "$t"
    done
fi

failed=()
summary=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    dirs=("corpus/$t")
    if [ -d "seeds/$t" ]; then
        dirs+=("seeds/$t") # Read, never written: new inputs go to the first directory.
    fi
    extra=()
    if [ "$t" = tls_records ]; then
        # Inputs as long as a full record (2^14 + 2048 + header) and more: without
        # this, libFuzzer keeps to the size of the largest seed (about 3 KB).
        extra+=(-max_len=20000)
    fi
    read -r -a user_args <<<"${FUZZ_ARGS:-}"
    extra+=("${user_args[@]}")
    echo "=== fuzz-smoke: $t for ${seconds}s${FUZZ_RUNS:+ (at most $FUZZ_RUNS runs)}" >&2
    log="$(mktemp)"
    start=$(date +%s)
    status=0
    "${fuzz[@]}" run --debug-assertions "$t" "${dirs[@]}" -- \
        -max_total_time="$seconds" "${runs[@]}" -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" 2>&1 |
        tee "$log" >&2 ||
        status=$?
    elapsed=$(( $(date +%s) - start ))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    corp=$(grep -o 'corp: [0-9]*/[0-9.]*[a-zA-Z]*' "$log" | tail -1 | sed 's/corp: //')
    rm -f "$log"
    line="$t: ${execs:-?} execs in ${elapsed}s (${rate:-?}/s), corpus ${corp:-?}"
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        line="$line, FAILED (exit $status; see fuzz/artifacts/$t/)"
    fi
    summary+=("$line")
done

echo "=== fuzz-smoke summary" >&2
printf '  %s\n' "${summary[@]}" >&2
if [ "${#failed[@]}" -gt 0 ]; then
    echo "fuzz-smoke: crash or failure in: ${failed[*]}" >&2
    exit 1
fi
