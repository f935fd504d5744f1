#!/usr/bin/env bash
# Miri on the pure core's unit tests (host build, no features): mqtt::codec,
# mqtt::topic, pool, agent::session, shadow. Miri interprets the tests and
# stops at undefined behaviour: out-of-bounds or dangling accesses, aliasing
# violations (Stacked Borrows), data races and misuse of atomics between
# threads, invalid values, and here (-Zmiri-strict-provenance) pointers made
# from integers. The point is the pool, the pure core's only `unsafe` code
# (lock-free, raw buffer pointers across the C ABI); the codec forbids
# `unsafe` and the rest has none, but runs cheaply enough to come along.
#
# Not covered: src/ffi, src/platform and the TLS provider (they need the rtos
# feature, i.e. FreeRTOS and C, which Miri cannot call into; the RustCrypto
# arithmetic would take hours interpreted). The sanitizer run
# (scripts/sanitize.sh) covers the C side of that boundary instead.
#
# Bounded to a few minutes (about 2 on two cores, 4 to 5 with the first build):
# property tests run 4 cases each (PROPTEST_CASES), and the slowest tests, which only check
# logic in safe code that `cargo test` already covers natively, are skipped:
#   packet_ids_wrap_without_zero_or_reuse   70,000 packet ids, past the wrap (110 s)
#   prop_table_agrees_with_brute_force      subscription table vs brute force (70 s)
#   split_point_independence                streams decoded in random chunks (30 s)
#   every_topic_error_variant               validates 65,535-byte topics (23 s)
# Installs nightly's miri component when missing (rustup).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "miri: installing the nightly toolchain (minimal, with miri)"
  rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
installed=$(rustup component list --toolchain nightly --installed)
for c in miri rust-src; do
  if ! grep -q "^$c" <<<"$installed"; then
    echo "miri: adding the $c component to nightly"
    rustup component add "$c" --toolchain nightly
  fi
done
# Miri's own build of the standard library (once; cached in ~/.cache/miri).
cargo +nightly miri setup >/dev/null

# Isolation off: proptest reads its regression seeds (proptest-regressions/)
# from the file system; nothing else touches the host.
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation -Zmiri-strict-provenance}"
export PROPTEST_CASES="${PROPTEST_CASES:-4}"
# shadow::core::tests is skipped: the shadow core forbids unsafe code, and its
# test kit leaks the topic strings it hands out as 'static (Box::leak), which
# Miri's leak check would report.
cargo +nightly miri test --locked --lib -- mqtt:: pool:: agent:: shadow:: \
  --skip packet_ids_wrap_without_zero_or_reuse \
  --skip prop_table_agrees_with_brute_force \
  --skip split_point_independence \
  --skip every_topic_error_variant \
  --skip shadow::core::tests
echo "miri: no undefined behaviour found (${SECONDS} s)"
