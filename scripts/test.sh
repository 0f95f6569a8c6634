#!/usr/bin/env bash
# The whole test suite: installs what it needs (as root), builds, and runs
# every unit and integration test under CTest -- first in the normal build,
# then in an AddressSanitizer + UBSan build -- then the tests labelled
# `concurrency` (tests/CMakeLists.txt) in a ThreadSanitizer build, and ends
# with a short fuzz pass (clang): the libFuzzer targets of tests/fuzz
# replay their seeds and kept crashes (CTest), then fuzz IMGFS_FUZZ_SECS
# (default 10) seconds each, two at a time.  IMGFS_NO_ASAN=1 skips the
# second pass, IMGFS_NO_TSAN=1 the third, IMGFS_NO_FUZZ=1 the fuzz pass,
# IMGFS_NO_DEPS=1 skips apt.
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
if [ "${IMGFS_NO_TSAN:-0}" != 1 ]; then
	# Only the daemon and the labelled unit tests are built.  The first
	# report ends the process (halt_on_error): a unit test fails with
	# TSan's exit status 66, a daemon's mount dies under its test, and
	# tests/lib/common.sh fails any test whose daemon log holds a report
	# and prints it whole.  tests/tsan.supp suppresses only races inside
	# third-party libraries, each with its reason.  t_stress runs 20 s
	# instead of 40: TSan makes every access several times slower, and
	# the races it can see show within a few rounds.
	#
	# TSan (gcc 12's runtime) assumes the address space layout of a
	# kernel with at most 28 bits of mmap randomisation; with more
	# (vm.mmap_rnd_bits 30-32 on some newer kernels) every instrumented
	# program dies with "FATAL: ThreadSanitizer: unexpected memory
	# mapping".  setarch -R turns randomisation off for this pass's
	# processes only (the personality is inherited by every child, the
	# daemons included); `sysctl vm.mmap_rnd_bits=28` would also work but
	# weakens ASLR for the whole machine and outlives the run.
	if build=$(bash "$src/scripts/build.sh" --tsan concurrency_tests | tail -n1); then
		(cd "$build" && TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$src/tests/tsan.supp" \
			STRESS_SECS=${STRESS_SECS:-20} \
			setarch "$(uname -m)" -R ctest --output-on-failure -j2 -L concurrency) || status=1
	else
		echo "test.sh: the TSan build failed" >&2
		status=1
	fi
fi
if [ "${IMGFS_NO_FUZZ:-0}" != 1 ]; then
	fuzz_dir=${IMGFS_FUZZ_BUILD:-$src/build-fuzz}
	if BUILD_DIR=$fuzz_dir bash "$src/scripts/fuzz.sh" 0; then
		(cd "$fuzz_dir" && ctest --output-on-failure -R '^fuzz/') || status=1
		BUILD_DIR=$fuzz_dir FUZZ_JOBS=2 bash "$src/scripts/fuzz.sh" \
			"${IMGFS_FUZZ_SECS:-10}" || status=1
	else
		echo "test.sh: the fuzz build failed" >&2
		status=1
	fi
fi
exit $status
