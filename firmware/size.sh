#!/usr/bin/env bash
# Sizes of the firmware's release image: flash (text + data) and static RAM (data + bss), and
# its 15 biggest symbols. Fails when flash passes 256 KiB, static RAM passes 192 KiB (32 KiB
# plus 80 KiB for each of the two connections the image holds), or a global allocator is linked.
#   size.sh [IMAGE]   (default: the release image, built first if missing)
# Target directory: RHIZO_FIRMWARE_TARGET_DIR, else CARGO_TARGET_DIR, else firmware/target.
set -euo pipefail
cd "$(dirname "$0")"
target_dir="${RHIZO_FIRMWARE_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}"
image="${1:-$target_dir/thumbv7em-none-eabihf/release/rhizo-firmware}"
if [ ! -f "$image" ]; then
    CARGO_TARGET_DIR="$target_dir" cargo build --release --locked
fi

tool() {  # the ARM binutils, or LLVM's
    for t in "arm-none-eabi-$1" "llvm-$1" "rust-$1"; do
        command -v "$t" >/dev/null 2>&1 && { echo "$t"; return; }
    done
    echo "no arm-none-eabi-$1 or llvm-$1: apt-get install binutils-arm-none-eabi" >&2
    exit 1
}
size_tool=$(tool size)
nm_tool=$(tool nm)

read -r text data bss _ < <("$size_tool" -B "$image" | tail -n 1)
flash=$((text + data))
ram=$((data + bss))
flash_max=$((256 * 1024))
connections=2   # LISTENERS in node/src/main.rs
ram_max=$(((32 + 80 * connections) * 1024))
kib() { awk -v b="$1" 'BEGIN { printf "%.1f KiB", b / 1024 }'; }

echo "image:      $image"
echo "flash:      $flash bytes ($(kib "$flash"); text $text + data $data; limit $(kib $flash_max))"
echo "static RAM: $ram bytes ($(kib "$ram"); data $data + bss $bss; limit $(kib $ram_max))"
echo "biggest symbols (bytes, section, name):"
"$nm_tool" -S --size-sort -C "$image" | tail -n 15 | tac |
    while read -r _ size kind name; do
        printf '  %8d %s %s\n' "$((16#$size))" "$kind" "$name"
    done

status=0
if [ "$flash" -gt "$flash_max" ]; then
    echo "FAIL: flash $flash > $flash_max bytes" >&2
    status=1
fi
if [ "$ram" -gt "$ram_max" ]; then
    echo "FAIL: static RAM $ram > $ram_max bytes" >&2
    status=1
fi
if "$nm_tool" "$image" | grep -E '__rust_alloc|__rg_alloc' >/dev/null; then
    echo "FAIL: a global allocator is linked:" >&2
    "$nm_tool" "$image" | grep -E '__rust_alloc|__rg_alloc' >&2
    status=1
fi
exit "$status"
