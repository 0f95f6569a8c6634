#!/bin/bash
# t_store_trust.sh — the store is the daemon's alone: a second imgfs on the
# same store is refused while the first runs (and allowed once it is
# gone, even after kill -9), and a store directory another user owns or
# that others may write into is refused, with the reason in the log.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
registry_start
push_image "$O" busybox busybox:latest

imgfs_mount
assert_eq "root:x:0:0:root:/root:/bin/sh" "$(cat "$MNT/repos/busybox/latest/rootfs/etc/passwd")" "first mount reads"

# try_mount STORE LOG — a second daemon in the foreground; prints its exit
# status (it must not mount).
try_mount() {
    local m=$TEST_TMP/mnt2 rc=0
    mkdir -p "$m"
    timeout 20 "$IMGFS_BIN" -f -o "store=$1,registry=$REG_ADDR" "$m" >"$2" 2>&1 || rc=$?
    if _is_mounted "$m"; then
        fusermount3 -u -z "$m"
        fail "a refused store was mounted"
    fi
    echo "$rc"
}

check "a second daemon on the same store is refused with a clear message"
rc=$(try_mount "$STORE" "$TEST_TMP/second.log")
[ "$rc" != 0 ] || fail "second daemon exited 0"
grep -F "in use by another imgfs" "$TEST_TMP/second.log" >/dev/null ||
    { cat "$TEST_TMP/second.log" >&2; fail "no reason given for the refusal"; }
imgfs_alive || fail "first daemon harmed by the attempt"
pass "second daemon refused (exit $rc)"

check "the lock goes with the daemon, even after kill -9"
kill -KILL "$IMGFS_PID"
wait "$IMGFS_PID" 2>/dev/null
fusermount3 -u -z "$MNT" 2>/dev/null
imgfs_mount
assert_eq "root:x:0:0:root:/root:/bin/sh" "$(cat "$MNT/repos/busybox/latest/rootfs/etc/passwd")" "mount after kill -9"
imgfs_umount
pass "store usable again"

check "a store directory writable by its group or others is refused"
for d in . blobs/sha256 index tmp; do
    chmod g+w "$STORE/$d"
    rc=$(try_mount "$STORE" "$TEST_TMP/perm.log")
    [ "$rc" != 0 ] || fail "store with g+w $d accepted"
    grep -F "writable by its group" "$TEST_TMP/perm.log" >/dev/null ||
        { cat "$TEST_TMP/perm.log" >&2; fail "no reason given for g+w $d"; }
    chmod g-w "$STORE/$d"
done
chmod o+w "$STORE/images"
rc=$(try_mount "$STORE" "$TEST_TMP/perm.log")
[ "$rc" != 0 ] || fail "store with o+w images accepted"
grep -F "writable by others" "$TEST_TMP/perm.log" >/dev/null || fail "no reason given for o+w"
chmod o-w "$STORE/images"
pass "group/other-writable directories refused"

check "a store directory owned by another user is refused"
chown nobody "$STORE/blobs"
rc=$(try_mount "$STORE" "$TEST_TMP/owner.log")
[ "$rc" != 0 ] || fail "store with blobs/ owned by nobody accepted"
grep -F "is owned by uid" "$TEST_TMP/owner.log" >/dev/null ||
    { cat "$TEST_TMP/owner.log" >&2; fail "no reason given for the owner"; }
chown root "$STORE/blobs"
pass "foreign owner refused"

check "the repaired store mounts and reads"
imgfs_mount
assert_eq "root:x:0:0:root:/root:/bin/sh" "$(cat "$MNT/repos/busybox/latest/rootfs/etc/passwd")" "mount after repair"
imgfs_umount
pass "t_store_trust"
echo "t_store_trust: all checks passed"
