#!/usr/bin/env bash
# Fuzz smoke test of the MQTT codec: builds fuzz/ (a cargo-fuzz project) and
# runs its `decode` target for a bounded time. Exits non-zero if the build
# fails or the fuzzer finds a crash (the input is left in fuzz/artifacts/).
#
# Environment: FUZZ_SECONDS (default 20), FUZZ_TARGET (default decode).
# Uses the nightly toolchain when rustup has one, else stable with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs unstable -Z flags).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds="${FUZZ_SECONDS:-20}"
target="${FUZZ_TARGET:-decode}"

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

# Seed corpus: one valid frame of several types, so the fuzzer starts past the
# fixed header. libFuzzer adds what it finds to the same (ignored) directory.
corpus="corpus/$target"
mkdir -p "$corpus"
seeds=(
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
for s in "${seeds[@]}"; do
    printf '%b' "$s" >"$corpus/seed-$i"
    i=$((i + 1))
done

"${fuzz[@]}" build --debug-assertions "$target"
"${fuzz[@]}" run --debug-assertions "$target" "$corpus" -- -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1
