#!/bin/bash
# t_redirect.sh — redirect-then-challenge, and plain http across a
# redirect, served by tests/lib/hostile_registry.py.  The registry demands
# Basic credentials that $DOCKER_CONFIG holds for it.
#   - mode redirect-challenge: a layer download is redirected to another
#     loopback host:port that answers 401 with a Bearer realm of its own (a
#     token server that records whether it got credentials).  The daemon
#     must not answer that challenge: the realm receives nothing, the read
#     fails cleanly, the daemon lives.
#   - mode redirect-far: a layer is redirected to plain http on a host that
#     is neither loopback nor listed insecure: the daemon must not connect
#     there at all.
. "$(dirname "$0")/../lib/common.sh"
need_root

HUSER=imgfsuser HPASS=Pw-redirect-5d1e
# hostile_start MODE [ARGS...] — start hostile_registry.py in MODE on a
# free port; sets H (its address) and HLOG (its request log).
hostile_start() {
    local mode=$1 port
    shift
    port=$(free_port)
    H=127.0.0.1:$port HLOG=$TEST_TMP/hostile-$mode.log
    : > "$HLOG"
    "$PY" "$LIB_DIR/hostile_registry.py" --listen "$H" --mode "$mode" --log "$HLOG" \
        --auth "$HUSER:$HPASS" "$@" >>"$TEST_TMP/hostile-$mode.err" 2>&1 &
    _PIDS+=("$!")
    wait_for 20 _registry_up "$H" ||
        { cat "$TEST_TMP/hostile-$mode.err" >&2; fail "hostile_registry.py ($mode) did not start"; }
    log "hostile registry ($mode) at $H"
}

hostile_start redirect-challenge
FRONT=$H FLOG=$HLOG
export DOCKER_CONFIG=$TEST_TMP/dc
docker_config "$DOCKER_CONFIG" "$HUSER" "$HPASS" "$FRONT"
REG_ADDR=$FRONT
imgfs_mount

check "a redirected layer download that is challenged sends no credentials"
readlink "$MNT/repos/$FRONT/r/one/latest" >/dev/null || fail "pull of $FRONT/r/one:latest"
grep -q "^GET /v2/r/one/manifests/latest .* auth=yes" "$FLOG" ||
    fail "the daemon sent no credentials to the registry itself: nothing tested"
e=$(errno_of read "$MNT/repos/$FRONT/r/one/latest/rootfs/hello.txt")
[ "$e" != OK ] || fail "reading a layer behind a hostile redirect succeeded"
log "read failed with $e"
cat "$FLOG"
grep -q "^target GET /blob/" "$FLOG" || fail "the redirect target was never asked: nothing tested"
grep -q "^target .* auth=yes" "$FLOG" && fail "the registry's credentials went to the redirect target"
if grep -q "^realm .* auth=yes" "$FLOG"; then
    fail "the registry's credentials went to the realm the redirect target named"
fi
grep -q "^realm " "$FLOG" && fail "the daemon asked the redirect target's realm for a token"
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
    hostile_start redirect-far --far "$IP:$FAR_PORT"
    docker_config "$DOCKER_CONFIG" "$HUSER" "$HPASS" "$H"
    readlink "$MNT/repos/$H/r/two/latest" >/dev/null || fail "pull of $H/r/two:latest"
    e=$(errno_of read "$MNT/repos/$H/r/two/latest/rootfs/hello.txt")
    [ "$e" != OK ] || fail "reading a layer redirected to plain http elsewhere succeeded"
    cat "$HLOG"
    grep -q "^GET /v2/r/two/blobs/" "$HLOG" || fail "no layer request reached the registry: nothing tested"
    grep -q "GET /blob/" "$TEST_TMP/far.log" &&
        fail "the daemon fetched over plain http from $IP, which is not loopback nor insecure"
    imgfs_alive || fail "daemon died"
    pass "no plain-http request left loopback ($e)"
fi
imgfs_umount
echo "t_redirect: all checks passed"
