#!/usr/bin/env bash
# Configures and builds imgfs into BUILD_DIR (default ./build).
#   scripts/build.sh            release build with debug info
#   scripts/build.sh --asan     AddressSanitizer + UBSan build in ./build-asan
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${BUILD_DIR:-$src/build}
extra=()
if [ "${1:-}" = "--asan" ]; then
	dir=${BUILD_DIR:-$src/build-asan}
	extra=(-DIMGFS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
cmake -S "$src" -B "$dir" "${extra[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)"
echo "$dir"
