#!/bin/bash
# t_install.sh — `cmake --install BUILD --prefix DIR` puts the binary in
# DIR/bin, the man page in DIR/share/man/man1 and the systemd unit in
# DIR/lib/systemd/system (the default of IMGFS_SYSTEMD_UNITDIR) with
# ExecStart naming the installed binary; the installed binary runs.  Where
# systemd-analyze exists, it verifies the installed unit (keys, the
# ExecStart binary, the man page it names) and must say nothing.
. "$(dirname "$0")/../lib/common.sh"
[ -n "${IMGFS_BUILD:-}" ] && [ -f "$IMGFS_BUILD/CMakeCache.txt" ] ||
    fail "IMGFS_BUILD='${IMGFS_BUILD:-}' is not a configured build directory"
P=$TEST_TMP/prefix

check "cmake --install into $P"
cmake --install "$IMGFS_BUILD" --prefix "$P" > "$TEST_TMP/install.log" 2>&1 ||
    { cat "$TEST_TMP/install.log"; fail "cmake --install"; }
cat "$TEST_TMP/install.log"
[ -x "$P/bin/imgfs" ] || fail "$P/bin/imgfs missing or not executable"
cmp "$IMGFS_SRC/docs/imgfs.1" "$P/share/man/man1/imgfs.1" || fail "man page missing or different"
U=$P/lib/systemd/system/imgfs.service
[ -f "$U" ] || fail "$U missing"
pass "$(cd "$P" && find . -type f | sort | tr '\n' ' ')"

check "the installed binary runs --version"
out=$("$P/bin/imgfs" --version 2>&1) || fail "$P/bin/imgfs --version failed: $out"
got=$(grep '^imgfs version ' <<<"$out") || fail "--version: no 'imgfs version' line in: $out"
want=$("$IMGFS_BIN" --version 2>&1 | grep '^imgfs version ')
assert_eq "$want" "$got" "installed --version"
pass "$got"

check "the unit starts the installed binary"
exec_start=$(sed -n 's/^ExecStart=//p' "$U")
assert_eq "$P/bin/imgfs -f -o store=/var/lib/imgfs,log_level=info /mnt/images" "$exec_start" "ExecStart"
grep -q '@' "$U" && fail "unreplaced @VARIABLE@ in $U: $(grep '@' "$U")"
pass "ExecStart=$exec_start"

if command -v systemd-analyze >/dev/null; then
    check "systemd-analyze verify the installed unit"
    # Documentation=man:imgfs(1) is checked by running man: find ours.
    MANPATH=$P/share/man: systemd-analyze verify "$U" > "$TEST_TMP/verify.out" 2>&1 ||
        { cat "$TEST_TMP/verify.out"; fail "systemd-analyze verify failed"; }
    [ -s "$TEST_TMP/verify.out" ] && { cat "$TEST_TMP/verify.out"; fail "systemd-analyze verify warned"; }
    pass "systemd-analyze verify: clean"
else
    log "systemd-analyze not installed: the unit is not verified"
fi
echo "t_install: all checks passed"
