#!/bin/bash
# t_redirect.sh — redirect-then-challenge, and plain http across a
# redirect.  tests/lib/hostile_redirect.py fronts a real registry for which
# $DOCKER_CONFIG holds credentials, and redirects layer downloads to
# another loopback host:port that answers 401 with a Bearer realm of its
# own (a token server that records whether it got credentials).  The
# daemon must not answer that challenge: the realm receives nothing, the
# read fails cleanly, the daemon lives.  Then a layer is redirected to
# plain http on a host that is neither loopback nor listed insecure: the
# daemon must not connect there at all.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" one
build_unique "$O" two
registry_start
push_image "$O" one r/one:1
push_image "$O" two r/two:1

FRONT_PORT=$(free_port) TARGET_PORT=$(free_port) REALM_PORT=$(free_port)
HLOG=$TEST_TMP/hostile.log
: > "$HLOG"
"$PY" "$LIB_DIR/hostile_redirect.py" "$FRONT_PORT" "$REG_ADDR" "$TARGET_PORT" "$REALM_PORT" \
    "$HLOG" >>"$TEST_TMP/hostile.err" 2>&1 &
_PIDS+=("$!")
FRONT=127.0.0.1:$FRONT_PORT
wait_for 20 curl -sf -o /dev/null "http://$FRONT/v2/" ||
    { cat "$TEST_TMP/hostile.err" >&2; fail "hostile_redirect.py did not start"; }

export DOCKER_CONFIG=$TEST_TMP/dc
docker_config "$DOCKER_CONFIG" imgfsuser Pw-redirect-5d1e "$FRONT"
REG_ADDR=$FRONT
imgfs_mount

check "a redirected layer download that is challenged sends no credentials"
readlink "$MNT/repos/$FRONT/r/one/1" >/dev/null || fail "pull of $FRONT/r/one:1"
e=$(errno_of read "$MNT/repos/$FRONT/r/one/1/rootfs/data/small")
[ "$e" != OK ] || fail "reading a layer behind a hostile redirect succeeded"
log "read failed with $e"
cat "$HLOG"
grep -q "^target GET /blob/" "$HLOG" || fail "the redirect target was never asked: nothing tested"
if grep -q "^realm .* auth=yes" "$HLOG"; then
    fail "the registry's credentials went to the realm the redirect target named"
fi
grep -q "^realm " "$HLOG" && fail "the daemon asked the redirect target's realm for a token"
grep -q "redirected to .*demands authentication" "$IMGFS_LOG" ||
    fail "no log line about the refused challenge"
imgfs_alive || fail "daemon died"
pass "challenge after an off-origin redirect not answered ($e)"

# A host that is not loopback and not listed insecure: plain http must not
# carry over to it from the loopback registry.  This needs an address of
# this machine that is not loopback, with a listener that logs requests.
IP=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' |
     grep -v '^127\.' | head -1)
if [ -z "$IP" ]; then
    log "note: no non-loopback IPv4 address; plain-http redirect check skipped"
else
    check "a redirect from a loopback registry to plain http elsewhere is refused"
    FAR_PORT=$(free_port)
    "$PY" -u -m http.server --bind "$IP" "$FAR_PORT" >"$TEST_TMP/far.log" 2>&1 &
    _PIDS+=("$!")
    wait_for 20 curl -s -o /dev/null "http://$IP:$FAR_PORT/" || fail "far listener did not start"
    : > "$TEST_TMP/far.log"
    readlink "$MNT/repos/$FRONT/r/two/1" >/dev/null || fail "pull of $FRONT/r/two:1"
    L=$(jq -r '.layers[0].digest' "$MNT/repos/$FRONT/r/two/1/manifest") || fail "manifest of r/two"
    printf '%s\n%s\n' "$IP:$FAR_PORT" "$L" > "$HLOG.far"
    e=$(errno_of read "$MNT/repos/$FRONT/r/two/1/rootfs/data/small")
    [ "$e" != OK ] || fail "reading a layer redirected to plain http elsewhere succeeded"
    grep -q "GET /blob/" "$TEST_TMP/far.log" &&
        fail "the daemon fetched over plain http from $IP, which is not loopback nor insecure"
    imgfs_alive || fail "daemon died"
    pass "no plain-http request left loopback ($e)"
fi
imgfs_umount
echo "t_redirect: all checks passed"
