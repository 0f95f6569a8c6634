#!/usr/bin/env bash
# scripts/fuzz.sh [SECONDS] [TARGET...] - build the libFuzzer targets of
# tests/fuzz with clang into BUILD_DIR (default ./build-fuzz) and fuzz
# each TARGET (default: all) for SECONDS (default 60; 0 only builds) on a
# copy of its seed corpus tests/fuzz/corpus/TARGET/, with the flags of
# tests/fuzz/options.  Prints execs and coverage per target; fails if
# any target crashes, leaks, trips a sanitizer or times out.  A finding
# is kept as BUILD_DIR/fuzz-out/TARGET/crash-* (or leak-*, timeout-*,
# oom-*): reproduce it with `BUILD_DIR/tests/fuzz/fuzz_TARGET FILE`, fix
# the code, and add the file to tests/fuzz/crashes/TARGET/ so that CTest
# replays it from then on.  FUZZ_JOBS=N runs N targets at once.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=${BUILD_DIR:-$src/build-fuzz}
secs=${1:-60}
shift || true
if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in "$src"/tests/fuzz/fuzz_*.c; do
		n=$(basename "$f" .c)
		targets+=("${n#fuzz_}")
	done
fi
cmake -S "$src" -B "$dir" -DCMAKE_C_COMPILER=clang -DIMGFS_FUZZ=ON \
	-DIMGFS_TESTS=OFF >/dev/null
cmake --build "$dir" -j"$(nproc)" --target fuzz >/dev/null
[ "$secs" -gt 0 ] || exit 0

out=$dir/fuzz-out
mkdir -p "$out"
# fuzz_one TARGET: run it, summarise into $out/TARGET.sum; 0 when clean
fuzz_one() {
	local t=$1 bin=$dir/tests/fuzz/fuzz_$1 work rc=0 opts
	rm -f "$out/$t.sum"
	[ -x "$bin" ] || { echo "fuzz.sh: no target $t" >"$out/$t.sum"; return 1; }
	# a store written per input (fuzz_load) fsyncs: on tmpfs that is free
	if [ -d /dev/shm ] && [ -w /dev/shm ]; then
		work=$(mktemp -d /dev/shm/imgfs-fuzz.XXXXXX)
	else
		work=$(mktemp -d "$out/$t.XXXXXX")
	fi
	mkdir -p "$work/corpus" "$out/$t"
	cp "$src/tests/fuzz/corpus/$t"/* "$work/corpus/"
	opts=$(awk -v t="$t" '$1 == t { $1 = ""; print }' "$src/tests/fuzz/options")
	# shellcheck disable=SC2086  # opts are flags, one per word
	(cd "$src" && TMPDIR=$work "$bin" -max_total_time="$secs" -timeout=30 \
		-rss_limit_mb=2048 -print_final_stats=1 -close_fd_mask=2 \
		-artifact_prefix="$out/$t/" $opts "$work/corpus") \
		>"$out/$t.log" 2>&1 || rc=$?
	local execs cov
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$out/$t.log")
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$out/$t.log" | tail -n1 || true)
	if [ $rc -eq 0 ]; then
		printf '%-10s ok     %8s execs in %ss, %s, corpus %s\n' "$t" \
			"${execs:-?}" "$secs" "${cov:-?}" "$(find "$work/corpus" -type f | wc -l)" \
			>"$out/$t.sum"
	else
		{
			printf '%-10s FAILED (exit %s) after %s execs; log %s\n' "$t" "$rc" \
				"${execs:-?}" "$out/$t.log"
			grep -E 'ERROR|SUMMARY|check failed|Test unit written' "$out/$t.log" | head -n 8
		} >"$out/$t.sum"
	fi
	rm -rf "$work"
	return $rc
}

status=0
jobs=${FUZZ_JOBS:-1}
pids=()
for t in "${targets[@]}"; do
	fuzz_one "$t" &
	pids+=($!)
	if [ ${#pids[@]} -ge "$jobs" ]; then
		wait "${pids[0]}" || status=1
		pids=("${pids[@]:1}")
	fi
done
for p in "${pids[@]}"; do
	wait "$p" || status=1
done
for t in "${targets[@]}"; do
	cat "$out/$t.sum" 2>/dev/null || echo "$t: FAILED before fuzzing (see above)"
done
exit $status
