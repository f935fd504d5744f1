#!/usr/bin/env bash
# Locates (downloading once, through cargo) the FreeRTOS-Kernel V11.2.0 sources
# bundled in the crates.io crate `freertos-next`, and prints the kernel directory.
#
# freertos-next declares `links = "freertos"`, as freertos-rust does, so it cannot
# be a dependency of the product: it gets a throwaway manifest of its own, with its
# own [workspace] table so cargo does not attach it to ours. Nothing is committed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work="${AFR_KERNEL_CACHE:-$here/target/freertos-kernel}"
kernel="$work/vendor/freertos-next-0.12.0/FreeRTOS-Kernel"
if [ ! -f "$kernel/tasks.c" ]; then
  mkdir -p "$work/fetch/src"
  cat > "$work/fetch/Cargo.toml" <<'TOML'
[package]
name = "kernel-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
freertos-next = { version = "=0.12.0", default-features = false }

[workspace]
TOML
  : > "$work/fetch/src/lib.rs"
  rm -rf "$work/vendor"
  (cd "$work/fetch" && cargo vendor --quiet --versioned-dirs "$work/vendor" >/dev/null)
fi
[ -f "$kernel/tasks.c" ] || { echo "FreeRTOS kernel not found under $kernel" >&2; exit 1; }
[ -d "$kernel/portable/ThirdParty/GCC/Posix" ] || { echo "POSIX port missing in $kernel" >&2; exit 1; }
echo "$kernel"
