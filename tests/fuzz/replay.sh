#!/usr/bin/env bash
# replay.sh FUZZER DIR... - run every file in the DIRs through FUZZER once
# (the CTest regression of tests/fuzz): a seed or an old crash that
# crashes, leaks or trips a sanitizer fails it.  A missing DIR is fine
# (crashes/NAME/ exists only once something was found); no file at all is
# a failure, so an emptied corpus cannot pass.
set -euo pipefail
fuzzer=$1
shift
files=()
for d in "$@"; do
	[ -d "$d" ] || continue
	while IFS= read -r -d '' f; do
		files+=("$f")
	done < <(find "$d" -type f ! -name '.*' -print0 | sort -z)
done
if [ ${#files[@]} -eq 0 ]; then
	echo "replay.sh: no inputs in $*" >&2
	exit 1
fi
# -runs is ignored for file arguments: each runs once.  Leaks are checked.
exec "$fuzzer" -detect_leaks=1 -timeout=60 -rss_limit_mb=2048 "${files[@]}"
