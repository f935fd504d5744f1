#!/usr/bin/env bash
# Launcher (CMake's RULE_LAUNCH_CUSTOM) of the cargo command that
# cmake/AfrCloud.cmake generates, for the footprint's what-if variants:
#
#   cargo_variant.sh <opt-level|default> <default|staticlib> <default|omit-fp> <command...>
#
# - opt-level: exported as CARGO_PROFILE_RELEASE_OPT_LEVEL (cargo reads profile
#   settings from the environment), so Cargo.toml stays as it is;
# - staticlib: `cargo build --lib` becomes `cargo rustc --lib --crate-type
#   staticlib`. Cargo.toml's crate-type is ["staticlib", "rlib"], and with an
#   rlib among the crate types rustc does not perform the profile's `lto = true`
#   across crates (each dependency stays its own object in libafrcloud.a);
#   this variant shows what the library would weigh with the LTO it asks for;
# - omit-fp: what the forced frame pointer costs. rustc's built-in Thumb targets
#   say "frame-pointer": "always" (to keep LR for debuggers), which no stable
#   option weakens (-C force-frame-pointers only strengthens it); arm-none-eabi-gcc
#   -Os omits it. The library is built by nightly cargo with -Zbuild-std for a
#   copy of the target's own spec with "may-omit" (same name, so the same paths).
#   A measurement only: the shipped build stays on stable.
set -euo pipefail
opt=$1 crate_type=$2 fp=$3
shift 3
# Other commands of the same rule (the objcopy that AfrCloud.cmake runs after
# cargo on bare-metal toolchains) pass through unchanged.
is_cargo=0
for a in "$@"; do
  [ "$(basename "$a")" = cargo ] && is_cargo=1
done
[ $is_cargo -eq 1 ] || exec "$@"
if [ "$opt" != default ]; then
  export CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt"
fi
args=() prev="" found=0 has_crate_type=0
for a in "$@"; do
  if [ "$fp" = omit-fp ] && [ "$prev" = --target ]; then
    spec="$PWD/spec-omit-fp/$a.json"
    mkdir -p "$(dirname "$spec")"
    rustup run nightly rustc -Z unstable-options --print target-spec-json --target "$a" |
      sed 's/"frame-pointer": "always"/"frame-pointer": "may-omit"/' >"$spec"
    grep -q '"frame-pointer": "may-omit"' "$spec" || { echo "cargo_variant.sh: no frame-pointer setting to change in $a's spec" >&2; exit 1; }
    a=$spec
  fi
  if [ "$fp" = omit-fp ] && [ "$(basename "$a")" = cargo ]; then
    args+=("$a" +nightly)
    prev=$a
    continue
  fi
  if [ "$crate_type" = staticlib ] && [ "$(basename "$prev")" = cargo ]; then
    case "$a" in
      build) a=rustc found=1 ;;
      rustc) found=1 ;; # AfrCloud.cmake already uses cargo rustc
    esac
  fi
  [ "$a" = --crate-type ] && has_crate_type=1
  args+=("$a")
  prev=$a
done
if [ "$crate_type" = staticlib ]; then
  if [ $found -eq 0 ]; then
    echo "cargo_variant.sh: no 'cargo build' or 'cargo rustc' in the command: $*" >&2
    exit 1
  fi
  [ $has_crate_type -eq 1 ] || args+=(--crate-type staticlib)
fi
[ "$fp" = omit-fp ] && args+=(-Zbuild-std=core,alloc -Zjson-target-spec)
exec "${args[@]}"
