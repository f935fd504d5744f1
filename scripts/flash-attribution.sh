#!/usr/bin/env bash
# Flash attribution of the library in the Cortex-M4F footprint images: which
# modules, crates and symbols take the bytes that scripts/footprint.sh reports
# for agent + pool and agent + pool + shadow (see docs/flash-attribution.md).
#
#   scripts/flash-attribution.sh            print the tables (Markdown)
#   scripts/flash-attribution.sh --update   rewrite the generated block of
#                                           docs/flash-attribution.md
#
# Builds benches/footprint/ twice, without the TLS images, in its own build
# directories (each one cargo build of the library for thumbv7em, a few
# minutes cold):
#   build/flash-attribution/shipped  exactly footprint.sh's headline "s" build
#   build/flash-attribution/dwarf    the same with line tables
#                                    (CARGO_PROFILE_RELEASE_DEBUG=line-tables-only),
#                                    relinked with the debug sections kept
#                                    (benches/footprint/cm4f.ld discards them)
#                                    as fp_<image>.dwarf.elf
# and runs scripts/flash_attribution.py on them (arm-none-eabi-nm, -objdump,
# -addr2line; python3). Installs nothing; needs what scripts/setup.sh installs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
update=()
case "${1:-}" in
  "") ;;
  --update) update=(--update "$root/docs/flash-attribution.md") ;;
  *) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac
out="$root/build/flash-attribution"
mkdir -p "$out"

build() { # dir, extra environment...
  local dir=$1
  shift
  if ! env "$@" cmake -S "$root/benches/footprint" -B "$dir" \
        -DCMAKE_TOOLCHAIN_FILE="$root/cmake/arm-none-eabi-cm4f.cmake" \
        -DFOOTPRINT_RUST_OPT_LEVEL= -DFOOTPRINT_STATICLIB_ONLY=OFF -DFOOTPRINT_TLS=none >"$dir.configure.log" 2>&1 ||
     ! env "$@" cmake --build "$dir" -j "${CMAKE_BUILD_PARALLEL_LEVEL:-1}" >"$dir.build.log" 2>&1; then
    tail -30 "$dir.build.log" "$dir.configure.log" 2>/dev/null >&2 || true
    echo "flash-attribution: building $dir failed" >&2
    exit 1
  fi
}

echo "flash-attribution: building the shipped images" >&2
build "$out/shipped"
echo "flash-attribution: building the images with line tables" >&2
# The cargo command line is the same, so the variable must reach cargo
# through the environment of the build; a changed value means a rebuild.
build "$out/dwarf" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only

# Relink the line-table images with the debug sections kept: the same link
# command, a copy of the linker script without the /DISCARD/ of .debug*.
sed 's/\*(\.debug\*) //' "$root/benches/footprint/cm4f.ld" >"$out/cm4f-dwarf.ld"
for image in base agent shadow; do
  link="$out/dwarf/CMakeFiles/fp_$image.dir/link.txt"
  cmd=$(sed -e "s#-T[^ ]*cm4f\.ld#-T$out/cm4f-dwarf.ld#" -e "s#-Wl,-Map=[^ ]*##" \
            -e "s#-Wl,--orphan-handling=warn##" -e "s#-o fp_$image\.elf#-o fp_$image.dwarf.elf#" "$link")
  (cd "$out/dwarf" && eval "$cmd")
done

python3 "$root/scripts/flash_attribution.py" --shipped "$out/shipped" --dwarf "$out/dwarf" "${update[@]}"
