#!/usr/bin/env bash
# Footprint of the library on Cortex-M4F: builds minimal FreeRTOS firmware
# images with arm-none-eabi-gcc (-Os, -ffunction-sections, --gc-sections,
# newlib-nano) from benches/footprint/, with and without the library (built
# --release for thumbv7em-none-eabihf through cmake/AfrCloud.cmake), and prints
# the library's share of .text/.rodata/.data/.bss for agent + pool and
# agent + pool + shadow, against the targets and AFR v1.4.7's numbers, and
# with TLS: agent + pool + shadow + TLS (the library built with FEATURES tls,
# trust from pcCertificate only) and + webpki-roots (FEATURES tls;webpki-roots),
# with the marginal cost of TLS and of the root set; no target there, only the
# share of a 1 MB-flash MCU.
#
#   scripts/footprint.sh           all variants, with attribution and top symbols
#   scripts/footprint.sh --smoke   the shipped build only, table only (CI)
#
# Variants (each its own build directory under build/footprint/), and the TLS
# images each builds (every TLS image is one more cargo build of the library
# for thumbv7em, about a minute each on 2 cores when cold):
#   s        Cargo.toml's release profile as cmake/AfrCloud.cmake builds it
#            (headline); TLS: both (fp_tls, fp_tls_roots), --smoke too
#   z        the same with opt-level "z" (CARGO_PROFILE_RELEASE_OPT_LEVEL);
#            TLS: fp_tls only (what opt-level z saves on TLS; the root set is
#            data, the same at any opt-level)
#   s-lto    crate-type staticlib only, so that the profile's LTO happens; no TLS
#   s-nofp   as s, without the frame pointer that rustc's thumbv7em target forces
#            in every function (no stable option lifts it; GCC -Os omits it):
#            nightly cargo with -Zbuild-std for a copy of the target's spec. A
#            measurement, not a build the library ships; no TLS. Only when the
#            nightly toolchain with rust-src is installed (scripts/miri.sh
#            installs both), else skipped with a note
#   z-lto    both; no TLS
# (cmake/AfrCloud.cmake itself now builds with `cargo rustc --crate-type
# staticlib`, so s-lto and z-lto measure the same build as s and z: TLS there
# would only double the runtime.)
# Without --smoke it also runs a heap probe (benches/footprint/heap_probe/, the
# library on the 32-bit POSIX simulator) for the RAM the library takes from the
# FreeRTOS heap, which .data + .bss do not show.
# Writes build/footprint/footprint.csv. Exits 0 whether or not the targets are
# met (it is a measurement); non-zero only when an image does not build.
# Needs what scripts/setup.sh installs (arm-none-eabi-gcc, newlib, cmake, the
# thumbv7em-none-eabihf target) and python3; installs nothing itself.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
smoke=0
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "footprint.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

missing=()
for tool in cmake cargo python3 arm-none-eabi-gcc arm-none-eabi-readelf arm-none-eabi-nm; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
  missing+=("rust target thumbv7em-none-eabihf")
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "footprint.sh: missing ${missing[*]}; run scripts/setup.sh first" >&2
  exit 1
fi

start=$(date +%s)
out="$root/build/footprint"
mkdir -p "$out"

# name | cmake options | TLS images (FOOTPRINT_TLS: all, tls or none) | description
variants=(
  "s||all|Cargo.toml's release profile (opt-level s, lto, 1 codegen unit, panic abort) through cmake/AfrCloud.cmake"
  "z|-DFOOTPRINT_RUST_OPT_LEVEL=z|tls|opt-level z (CARGO_PROFILE_RELEASE_OPT_LEVEL=z), otherwise as shipped"
  "s-lto|-DFOOTPRINT_STATICLIB_ONLY=ON|none|opt-level s, crate-type staticlib only: the profile's LTO applied"
  "z-lto|-DFOOTPRINT_RUST_OPT_LEVEL=z -DFOOTPRINT_STATICLIB_ONLY=ON|none|opt-level z, staticlib only, LTO applied"
)
if rustup component list --toolchain nightly --installed 2>/dev/null | grep -q '^rust-src'; then
  # Before z-lto: report.py attributes the first and the last variant.
  nofp="s-nofp|-DFOOTPRINT_OMIT_FRAME_POINTERS=ON|none|as s without the thumbv7em target's forced frame pointer (nightly, -Zbuild-std; a measurement)"
  variants=("${variants[@]:0:3}" "$nofp" "${variants[3]}")
else
  echo "footprint: variant s-nofp skipped (no nightly toolchain with rust-src; scripts/miri.sh installs them)"
fi
[ $smoke -eq 1 ] && variants=("${variants[0]}")

report_args=()
for v in "${variants[@]}"; do
  IFS='|' read -r name opts tls desc <<<"$v"
  dir="$out/$name"
  echo "footprint: building variant $name ($desc; TLS images: $tls)"
  # Every option is passed each time, so a build directory never keeps a stale
  # one; TLS images are relinked each time (cheap), so that report.py never
  # reads one this configuration no longer builds.
  rm -f "$dir/fp_tls.elf" "$dir/fp_tls_roots.elf"
  defaults=(-DFOOTPRINT_RUST_OPT_LEVEL= -DFOOTPRINT_STATICLIB_ONLY=OFF -DFOOTPRINT_OMIT_FRAME_POINTERS=OFF "-DFOOTPRINT_TLS=$tls")
  # shellcheck disable=SC2086
  if ! cmake -S "$root/benches/footprint" -B "$dir" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cm4f.cmake" \
        "${defaults[@]}" $opts >"$dir.configure.log" 2>&1; then
    tail -30 "$dir.configure.log" >&2
    echo "footprint.sh: configuring $name failed (log: $dir.configure.log)" >&2
    exit 1
  fi
  if ! cmake --build "$dir" -j 2 >"$dir.build.log" 2>&1; then
    tail -40 "$dir.build.log" >&2
    echo "footprint.sh: building $name failed (log: $dir.build.log)" >&2
    exit 1
  fi
  if grep -q "orphan section" "$dir.build.log"; then
    echo "footprint.sh: warning: the linker placed orphan sections (see $dir.build.log);" \
         "benches/footprint/cm4f.ld should name them" >&2
  fi
  report_args+=(--variant "$name: $desc" "$dir")
done

# The heap probe (not with --smoke): the library's FreeRTOS heap use, which
# static .data + .bss cannot show, on the 32-bit POSIX simulator. Supplementary:
# a failure is reported, not fatal.
extra=()
if [ $smoke -eq 1 ]; then
  extra+=(--smoke)
else
  echo "footprint: building the heap probe (POSIX simulator)"
  dir="$out/heap"
  if cmake -S "$root/benches/footprint/heap_probe" -B "$dir" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/posix-sim-i686.cmake" >"$dir.configure.log" 2>&1 &&
     cmake --build "$dir" -j 2 >"$dir.build.log" 2>&1 &&
     heap=$(timeout 60 "$dir/heap_probe" 2>"$dir.run.log" | grep '^heap_probe:'); then
    extra+=(--heap "$heap")
  else
    echo "footprint.sh: warning: the heap probe did not build or run (logs: $dir.*.log); RAM is static only" >&2
  fi
fi
python3 "$root/benches/footprint/report.py" --csv "$out/footprint.csv" "${extra[@]}" "${report_args[@]}"
echo "footprint: done in $(( $(date +%s) - start )) s"
