#!/bin/bash
# t_nonblocking.sh — a read waiting for the network does not block unrelated
# requests, and two readers of one blob cause one download.
#
# A proxy in front of the registry holds back the layer blob of image
# "slow" until the test lets it go.  While two readers of slow/ wait, the
# mount must still answer everything else at once: another image's files,
# listings, the images table.  Then the blob is released: both readers get
# the right bytes, and the proxy saw one GET of that blob.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" slow
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" slow slow:latest
reference_tree "$O" slow "$TEST_TMP/ref-slow"
slow_layer=$(remote_raw slow:latest --raw | jq -r '.layers[0].digest')
[ -n "$slow_layer" ] || fail "no layer digest for slow"

# The proxy, and the daemon talking to it.
PLOG=$TEST_TMP/proxy.log
echo "$slow_layer" > "$PLOG.stall"
proxy_start stall_proxy.py "$REG_ADDR" "$PLOG"
REAL_REG=$REG_ADDR
REG_ADDR=127.0.0.1:$PROXY_PORT
imgfs_mount
REG_ADDR=$REAL_REG

check "busybox is read before the stall"
timeout 30 cat "$MNT/repos/busybox/latest/rootfs/etc/passwd" >/dev/null || fail "busybox read"

check "two readers of slow/ wait for the held-back blob"
want=$(cd "$TEST_TMP/ref-slow/rootfs" && find . -type f | sort | head -n1)
[ -n "$want" ] || fail "slow image has no file"
for i in 1 2; do
    (timeout 120 sha256sum "$MNT/repos/slow/latest/rootfs/$want" > "$TEST_TMP/slow.$i" 2>&1
     rc_write "$TEST_TMP/slow.$i.rc" $?) &
done
wait_for 20 grep -q "blobs/$slow_layer" "$PLOG" || fail "no request for the slow blob reached the proxy"
sleep 1
[ -e "$TEST_TMP/slow.1.rc" ] && fail "slow reader finished while its blob was held back"

check "meanwhile everything else answers at once"
t0=$(date +%s%N)
timeout 5 cat "$MNT/repos/busybox/latest/rootfs/etc/passwd" >/dev/null || fail "busybox read blocked"
timeout 5 ls -l "$MNT/repos" "$MNT/by-id" >/dev/null || fail "listing blocked"
timeout 5 cat "$MNT/images" >/dev/null || fail "images table blocked"
timeout 5 stat "$MNT/repos/busybox/latest/rootfs/bin/busybox" >/dev/null || fail "stat blocked"
timeout 5 cat "$MNT/repos/slow/latest/manifest" >/dev/null || fail "slow's manifest blocked"
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
log "unrelated requests took $ms ms while the slow blob was held back"
[ "$ms" -lt 5000 ] || fail "unrelated requests took $ms ms"
[ -e "$TEST_TMP/slow.1.rc" ] && fail "slow reader finished while its blob was held back"
pass "no unrelated request waited"

check "released: both readers get the right bytes from one download"
: > "$PLOG.stall"
expect=$(cd "$TEST_TMP/ref-slow/rootfs" && sha256sum "$want" | cut -d' ' -f1)
for i in 1 2; do
    wait_for 60 test -e "$TEST_TMP/slow.$i.rc" || fail "slow reader $i did not finish"
    assert_eq 0 "$(cat "$TEST_TMP/slow.$i.rc")" "slow reader $i exit status"
    assert_eq "$expect" "$(cut -d' ' -f1 "$TEST_TMP/slow.$i")" "slow reader $i bytes"
done
n=$(grep -c "GET /v2/slow/blobs/$slow_layer" "$PLOG")
assert_eq 1 "$n" "GETs of the slow blob"
pass "one download served both readers"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_nonblocking: all checks passed"
