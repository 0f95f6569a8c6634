#!/bin/bash
# t_man.sh — docs/imgfs.1 renders with man-db/groff without a single
# warning (groff's every warning category, -ww), and documents every
# imgfs -o option that `imgfs --help` lists.  The lint is first shown to
# catch an undefined macro, so that its silence means something.
. "$(dirname "$0")/../lib/common.sh"
command -v man >/dev/null || fail "man missing (packages man-db, groff-base)"
PAGE=$IMGFS_SRC/docs/imgfs.1

# lint FILE — what man and groff say while formatting FILE (nothing = clean).
lint() {
    LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 \
        man --warnings=w -E UTF-8 -l -Tutf8 -Z "$1" 2>&1 >/dev/null
}

check "the lint catches a broken page"
{ cat "$PAGE"; printf '.XYZZY not a macro\n'; } > "$TEST_TMP/broken.1"
out=$(lint "$TEST_TMP/broken.1")
[[ $out == *"macro 'XYZZY' not defined"* ]] || fail "lint missed an undefined macro: '$out'"
pass "$out"

check "man -l docs/imgfs.1: no warnings"
out=$(lint "$PAGE")
[ -z "$out" ] || fail "warnings: $out"
lines=$(MANWIDTH=80 man -l "$PAGE" 2>/dev/null | wc -l)
[ "$lines" -gt 100 ] || fail "the page renders to $lines lines"
pass "$lines lines, no warnings"

check "every -o option of imgfs --help is in the page"
help=$("$IMGFS_BIN" --help 2>&1) || fail "imgfs --help failed"
mapfile -t keys < <(sed -n '/^imgfs options:/,/^$/p' <<<"$help" | sed -n 's/^ *-o \([a-z_]*\)=.*/\1/p')
[ "${#keys[@]}" -ge 6 ] || fail "found only ${#keys[@]} options in --help: $help"
for k in "${keys[@]}"; do
    grep -qF ".BI \"\\-o $k=\"" "$PAGE" || fail "-o $k= is not documented in docs/imgfs.1 (OPTIONS)"
done
pass "${keys[*]}"
echo "t_man: all checks passed"
