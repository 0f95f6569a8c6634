#!/bin/bash
# scripts/bench.sh — measure imgfs against podman, skopeo+umoci and native
# reads, on real images served by a local docker-registry. Run as root on
# Debian 12:
#
#   bash scripts/bench.sh               full run (images cached between runs)
#   BENCH_QUICK=1 bash scripts/bench.sh small stand-ins: checks the script in minutes
#
# Environment:
#   BENCH_CACHE=DIR     built images (default /var/cache/imgfs-bench)
#   BENCH_QUICK=1       busybox-based stand-ins, 10,000 small files
#   BENCH_SHAPED=1      registry in a network namespace behind a veth pair
#                       shaped to 200 mbit/s (tbf), instead of loopback
#   BENCH_WRITE=0       print the tables only; the default writes
#                       BENCHMARKS.md (full runs; quick runs write
#                       $BENCH_CACHE/quick/BENCHMARKS.md)
#   BENCH_BUILD_ONLY=1  build (or check) the cached images and stop
#   BENCH_IMAGES="debian fat small"  the images to measure
#   BENCH_NOTE=TEXT     a line added under the machine description
#   IMGFS_BIN           the daemon (default build/imgfs, built if missing)
#
# It is a measurement, not a test: slowness never fails it. A figure whose
# tool fails is recorded as "failed" and the run goes on. Figures that take
# under ~10 s are the median of 3 runs, longer ones 1 run. Every mount,
# registry, namespace and podman store it made is removed by the exit trap.
# Raw results: $BENCH_CACHE/<mode>/results.tsv (image, figure, tool, value,
# unit); scripts/bench/report.py turns them into the Markdown tables.
set -u
set -o pipefail

BENCH_SRC=$(cd "$(dirname "$0")/.." && pwd)
export IMGFS_SRC=$BENCH_SRC
: "${IMGFS_BIN:=$BENCH_SRC/build/imgfs}"
export IMGFS_BIN
: "${BENCH_QUICK:=0}" "${BENCH_SHAPED:=0}" "${BENCH_WRITE:=1}" "${BENCH_BUILD_ONLY:=0}"
: "${BENCH_CACHE:=/var/cache/imgfs-bench}"
: "${BENCH_IMAGES:=debian fat small}"
: "${BENCH_NOTE:=}"
if [ "$BENCH_QUICK" = 1 ]; then
    BENCH_CACHE_DIR=$BENCH_CACHE/quick BENCH_SMALL_N=10000
else
    BENCH_CACHE_DIR=$BENCH_CACHE/full BENCH_SMALL_N=100000
fi
[ "$(id -u)" = 0 ] || { echo "bench.sh: run as root" >&2; exit 1; }

# The test harness gives us the scratch dir, registry, mount and cleanup
# helpers; its watchdog is for tests, a benchmark has no deadline.
TEST_DEADLINE=$((7 * 86400))
# shellcheck source=../tests/lib/common.sh
. "$BENCH_SRC/tests/lib/common.sh"
# shellcheck source=bench/images.sh
. "$BENCH_SRC/scripts/bench/images.sh"
# shellcheck source=bench/measure.sh
. "$BENCH_SRC/scripts/bench/measure.sh"

BENCH_CHROOT_PROC= BENCH_CHROOT_DEV= BENCH_BUILD_WORK= BENCH_NETNS=
bench_cleanup() {
    local rc=$? m
    [ -n "$BENCH_CHROOT_DEV" ] && umount -l "$BENCH_CHROOT_DEV" 2>/dev/null
    [ -n "$BENCH_CHROOT_PROC" ] && umount -l "$BENCH_CHROOT_PROC" 2>/dev/null
    [ -n "$BENCH_BUILD_WORK" ] && rm -rf --one-file-system "$BENCH_BUILD_WORK"
    # podman's overlay mounts, anything else mounted below our scratch dir
    # except imgfs mounts (common.sh's cleanup unmounts those).
    for m in $(awk -v t="$TEST_TMP/" 'index($5, t) == 1 && $9 !~ /^fuse/ {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$m" 2>/dev/null
    done
    [ -n "$BENCH_NETNS" ] && { bench_netns_down; }
    (exit "$rc")
    cleanup
}
trap bench_cleanup EXIT

for t in umoci skopeo podman docker-registry fusermount3 jq curl gcc; do
    command -v "$t" >/dev/null || { echo "bench.sh: $t missing (bash scripts/install-deps.sh)" >&2; exit 1; }
done
[ "$BENCH_QUICK" = 1 ] || command -v debootstrap >/dev/null ||
    { echo "bench.sh: debootstrap missing (apt-get install debootstrap)" >&2; exit 1; }
if [ ! -x "$IMGFS_BIN" ]; then
    bash "$BENCH_SRC/scripts/build.sh" >/dev/null || fail "build imgfs"
fi

bench_build_images
[ "$BENCH_BUILD_ONLY" = 1 ] && { log "images ready in $BENCH_OCI"; exit 0; }

bench_main
