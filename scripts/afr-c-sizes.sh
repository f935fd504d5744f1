#!/usr/bin/env bash
# What AFR v1.4.7's own C weighs, compiled as the footprint images compile C:
# arm-none-eabi-gcc -Os for the Cortex-M4F, one section per function. Prints
# .text + .rodata per object file and the largest functions, for comparing
# with the library's attribution (docs/flash-attribution.md). Object sizes,
# before the linker drops unused functions: the image figures in BENCHMARKS.md
# (8,749 / 15,429) are the reference for the must; these say where AFR's
# bytes are.
#
#   scripts/afr-c-sizes.sh <amazon-freertos git directory or checkout> [tag, default v1.4.7]
#
# AFR_CC=clang (or clang-22, a given version) compiles the same sources with
# clang (LLVM, the code generator rustc uses: `rustc -vV` names its LLVM
# version) for thumbv7em-none-eabihf instead, and AFR_OPT (default -Os)
# sets the optimisation level (e.g. -Oz): how much of the library's size is
# LLVM's rather than the code's shape. clang is not installed by the scripts
# (apt-get install clang); this comparison is documentation, not a test.
#
# AFR's sources are read from that repository into a temporary directory and
# never copied into this one. Needs arm-none-eabi-gcc and binutils.
set -euo pipefail
repo=${1:?usage: $0 <amazon-freertos git directory or checkout> [tag]}
tag=${2:-v1.4.7}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

files=(lib/mqtt/aws_mqtt_agent.c lib/mqtt/aws_mqtt_lib.c lib/bufferpool/aws_bufferpool_static_thread_safe.c
       lib/shadow/aws_shadow.c lib/shadow/aws_shadow_json.c lib/third_party/jsmn/jsmn.c
       lib/third_party/jsmn/jsmn.h lib/FreeRTOS/portable/GCC/ARM_CM4F/portmacro.h)
git -C "$repo" archive "$tag" lib/include "${files[@]}" | tar -x -C "$work"

# The footprint images' configuration, plus what AFR's headers of that era
# require and the footprint config (written for the current kernel) leaves out.
mkdir -p "$work/cfg"
cat >"$work/cfg/FreeRTOSConfig.h" <<EOF
#include "$root/benches/footprint/config/FreeRTOSConfig.h"
#ifndef configUSE_16_BIT_TICKS
#define configUSE_16_BIT_TICKS 0
#endif
#ifndef configSUPPORT_STATIC_ALLOCATION
#define configSUPPORT_STATIC_ALLOCATION 1
#endif
EOF
cat >"$work/cfg/aws_secure_sockets_config.h" <<'EOF'
#define socketsconfigBYTE_ORDER pdLITTLE_ENDIAN
#define socketsconfigDEFAULT_RECV_TIMEOUT 10000
#define socketsconfigDEFAULT_SEND_TIMEOUT 10000
EOF
echo '#define shadowconfigENABLE_DEBUG_LOGS 0' >"$work/cfg/aws_shadow_config.h"

case ${AFR_CC:-gcc} in
  gcc) cc=(arm-none-eabi-gcc) ;;
  clang*) cc=("$AFR_CC" --target=thumbv7em-none-eabihf -Wno-error=implicit-function-declaration -Wno-error=int-conversion -isystem "$(dirname "$(arm-none-eabi-gcc -print-file-name=libc.a)")/../include") ;;
  *) echo "AFR_CC is gcc or clang (clang-22: a given version)" >&2; exit 2 ;;
esac
flags=(-w "${AFR_OPT:--Os}" -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -ffunction-sections -fdata-sections
       -I"$work/cfg" -I"$root/benches/footprint/config" -I"$work/lib/include" -I"$work/lib/include/private"
       -I"$work/lib/FreeRTOS/portable/GCC/ARM_CM4F" -I"$work/lib/third_party/jsmn")
total=0
printf '%s %s\n\n| AFR %s source | .text + .rodata |\n|---|---:|\n' "${cc[0]}" "${AFR_OPT:--Os}" "$tag"
for f in "${files[@]}"; do
  case $f in *.c) ;; *) continue ;; esac
  o="$work/$(basename "${f%.c}").o"
  "${cc[@]}" "${flags[@]}" -c "$work/$f" -o "$o"
  n=$(arm-none-eabi-size -A "$o" | awk '$1 ~ /^\.(text|rodata)/ {s += $2} END {print s + 0}')
  printf '| `%s` | %s |\n' "$f" "$n"
  total=$((total + n))
done
printf '| total | %s |\n\nLargest functions:\n\n' "$total"
arm-none-eabi-nm -S "$work"/*.o | python3 -c '
import sys
rows = [l.split() for l in sys.stdin]
rows = [(int(r[1], 16), r[3]) for r in rows if len(r) == 4 and r[2] in "tT"]
for size, name in sorted(rows)[-20:]:
    print(f"- `{name}` {size}")'
