#!/usr/bin/env bash
# The whole test suite: installs what it needs (as root), builds, and runs
# every unit and integration test under CTest -- first in the normal build,
# then in an AddressSanitizer + UBSan build.  IMGFS_NO_ASAN=1 skips the
# second pass, IMGFS_NO_DEPS=1 skips apt.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
if [ "${IMGFS_NO_DEPS:-0}" != 1 ]; then
	bash "$src/scripts/install-deps.sh"
fi
status=0
build=$(bash "$src/scripts/build.sh" | tail -n1)
(cd "$build" && ctest --output-on-failure -j2) || status=1
if [ "${IMGFS_NO_ASAN:-0}" != 1 ]; then
	build=$(bash "$src/scripts/build.sh" --asan | tail -n1)
	# Leaks are reported by the daemon at exit; a leak fails the test.
	(cd "$build" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest --output-on-failure -j2) || status=1
fi
exit $status
