#!/usr/bin/env bash
# Configures and builds imgfs into BUILD_DIR (default ./build).
#   scripts/build.sh            release build with debug info
#   scripts/build.sh --asan     AddressSanitizer + UBSan build in ./build-asan
#   scripts/build.sh --tsan [TARGET...]
#                               ThreadSanitizer build in ./build-tsan; with
#                               TARGETs, only those (scripts/test.sh builds
#                               only what the concurrency tests run)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${BUILD_DIR:-$src/build}
# Each mode names both sanitizer options: they are cached, and a build
# directory configured for another mode (one BUILD_DIR for all) would keep
# the other's, which CMakeLists.txt refuses together.
extra=(-DIMGFS_SANITIZE=OFF -DIMGFS_TSAN=OFF)
if [ "${1:-}" = "--asan" ]; then
	dir=${BUILD_DIR:-$src/build-asan}
	extra=(-DIMGFS_SANITIZE=ON -DIMGFS_TSAN=OFF -DCMAKE_BUILD_TYPE=Debug)
fi
targets=()
if [ "${1:-}" = "--tsan" ]; then
	dir=${BUILD_DIR:-$src/build-tsan}
	extra=(-DIMGFS_TSAN=ON -DIMGFS_SANITIZE=OFF -DCMAKE_BUILD_TYPE=Debug)
	shift
	for t in "$@"; do targets+=(--target "$t"); done
fi
cmake -S "$src" -B "$dir" "${extra[@]}" >/dev/null
cmake --build "$dir" -j"$(nproc)" "${targets[@]}"
echo "$dir"
