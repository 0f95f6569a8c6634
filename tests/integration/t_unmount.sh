#!/bin/bash
# t_unmount.sh — unmounting with work in flight finishes it or rolls it
# back; nothing half-done is visible at the next mount.
#
# 1. An import still being written when `fusermount3 -u -z` detaches the
#    mount: its writer still holds the file, finishes and closes it; the
#    daemon commits the import, then exits.  The next mount has the image.
# 2. An import whose writer dies mid-archive after the unmount: the daemon
#    rolls it back and exits; the next mount has no such tag and nothing
#    left in the store's tmp/.  SIGTERM with an import being written: the
#    daemon does not wait for the writer, rolls the import back, takes
#    import/'s own mount down and exits 0.
# 3. A layer download held back by a proxy when the mount is detached:
#    the reader gets an error within the timeout, the daemon exits, and
#    no partial file is taken for a blob; with the registry reachable the
#    next mount reads the right bytes.
# 4. SIGTERM to the daemon with a download in flight: it unmounts and
#    exits 0 within a bounded time, the store as in 3.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" slow 4
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" slow slow:latest
reference_tree "$O" slow "$TEST_TMP/ref-slow"
slow_layer=$(remote_raw slow:latest --raw | jq -r '.layers[0].digest')
[ -n "$slow_layer" ] || fail "no layer digest for slow"

# A rootfs tarball of a few MiB, written slowly by a writer we control.
mkdir -p "$TEST_TMP/rootfs/etc"
echo 'NAME="unmount test"' > "$TEST_TMP/rootfs/etc/os-release"
head -c $((3 << 20)) /dev/urandom > "$TEST_TMP/rootfs/etc/blob"
tar -C "$TEST_TMP/rootfs" -cf "$TEST_TMP/in.tar" . || fail "tar"
want_sum=$(sha256sum < "$TEST_TMP/rootfs/etc/blob" | cut -d' ' -f1)

# slow_writer DEST GO_FILE — write in.tar's first MiB to DEST, touch
# $STARTED, wait for GO_FILE, then write the rest and close.  Run with &:
# the background job is the writer itself (exec), so $! can kill it.
slow_writer() {
    exec "$PY" - "$TEST_TMP/in.tar" "$1" "$2" <<'EOF'
import os, sys, time
src, dst, go = sys.argv[1:4]
data = open(src, "rb").read()
fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data[:1 << 20])
open(os.environ["STARTED"], "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
off = 1 << 20
while off < len(data):
    off += os.write(fd, data[off:off + (1 << 20)])
os.close(fd)
EOF
}

# wait_daemon_exit — the daemon of the current mount exits by itself
# within 30 s, with status 0.
wait_daemon_exit() {
    local rc
    wait_for 30 _pid_gone "$IMGFS_PID" || fail "the daemon did not exit after the unmount"
    wait "$IMGFS_PID"
    rc=$?
    [ "$rc" = 0 ] || { tail -20 "$IMGFS_LOG"; fail "the daemon exited with $rc"; }
}

# writer_start N NAME GO — a slow_writer of import/NAME that goes on once
# GO exists, started and past its first MiB; its pid in $wpid.
writer_start() {
    export STARTED=$TEST_TMP/w$1.started
    slow_writer "$MNT/import/$2" "$3" &
    wpid=$!
    _PIDS+=("$wpid")
    wait_for 20 test -e "$STARTED" || fail "the writer of $2 did not start"
}

check "an import in flight at the unmount is finished"
imgfs_mount log_level=info
writer_start 1 finished:1 "$TEST_TMP/w1.go"
fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z"
# import/ is a mount of its own: the writer goes on only once the daemon
# has reached its exit, which must wait for it, not race it.
wait_for 20 grep -q "import/ ends once no file is being written" "$IMGFS_LOG" ||
    fail "the daemon did not reach its exit after the unmount"
touch "$TEST_TMP/w1.go"
wait "$wpid" || fail "the writer failed after the unmount"
wait_daemon_exit
imgfs_mount
[ -L "$MNT/repos/finished/1" ] || fail "the import finished after the unmount is missing"
got=$(sha256sum < "$MNT/repos/finished/1/rootfs/etc/blob" | cut -d' ' -f1)
assert_eq "$got" "$want_sum" "content of the import finished after the unmount"
pass "import finished"

check "an import whose writer dies after the unmount is rolled back"
writer_start 2 rolledback:1 "$TEST_TMP/never"
fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z"
kill -KILL "$wpid"
wait "$wpid" 2>/dev/null
wait_daemon_exit
imgfs_mount
# (repos/rolledback itself may answer as a directory: a name not local
# can be a namespace of the registry; the tag is what an import makes.)
[ -e "$MNT/repos/rolledback/1" ] && fail "the half-written import is visible at the next mount"
n_tmp=$(find "$STORE/tmp" -mindepth 1 | wc -l)
assert_eq "$n_tmp" 0 "files in tmp/ after the next mount"
grep -q "rolledback" "$STORE/tags.json" && fail "tags.json names the rolled-back import"
pass "import rolled back"

check "SIGTERM with an import being written: rolled back, import/ unmounted, exit 0"
# import/ is a mount of its own (fs/import_conn.c) whose workers wait in
# read() while the writer holds its file: a stop must not wait for it.
writer_start 3 termed:1 "$TEST_TMP/never"
kill -TERM "$IMGFS_PID"
wait_daemon_exit
_is_mounted "$IMPORT_MNT" && fail "import/ still mounted at $IMPORT_MNT after SIGTERM"
_is_mounted "$MNT" && fail "still mounted after SIGTERM"
kill -KILL "$wpid"
wait "$wpid" 2>/dev/null
imgfs_mount
[ -e "$MNT/repos/termed/1" ] && fail "the import cut by SIGTERM is visible at the next mount"
assert_eq 0 "$(find "$STORE/tmp" -mindepth 1 | wc -l)" "files in tmp/ after SIGTERM and a mount"
imgfs_umount
pass "SIGTERM during an import"

# The proxy holds back slow's layer for parts 3 and 4.
PLOG=$TEST_TMP/proxy.log
echo "$slow_layer" > "$PLOG.stall"
proxy_start stall_proxy.py "$REG_ADDR" "$PLOG"
REAL_REG=$REG_ADDR
slow_file=$(cd "$TEST_TMP/ref-slow/rootfs" && echo data/blob)
no_partial_blob() {
    local hex=${slow_layer#sha256:}
    [ -e "$STORE/blobs/sha256/$hex" ] && fail "$1: the held-back layer is in blobs/"
    [ -z "$(find "$STORE/tmp" -mindepth 1)" ] || fail "$1: files left in tmp/"
}

check "a download in flight at the unmount: the reader fails in time, the daemon exits"
REG_ADDR=127.0.0.1:$PROXY_PORT
imgfs_mount "timeout=5"
(timeout 60 cat "$MNT/repos/slow/latest/rootfs/$slow_file" > /dev/null 2>&1
 rc_write "$TEST_TMP/r3.rc" $?) &
wait_for 60 grep -q "blobs/$slow_layer" "$PLOG" || fail "no request for the slow blob"
fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z"
wait_for 40 test -e "$TEST_TMP/r3.rc" || fail "the reader still waits 40 s after the unmount"
[ "$(cat "$TEST_TMP/r3.rc")" != 0 ] || fail "the reader of a held-back layer succeeded"
wait_daemon_exit
no_partial_blob "after the unmount"
pass "download in flight at unmount"

check "SIGTERM with a download in flight: unmounted, exit 0"
imgfs_mount "timeout=30,log_level=info"
(timeout 90 cat "$MNT/repos/slow/latest/rootfs/$slow_file" > /dev/null 2>&1
 rc_write "$TEST_TMP/r4.rc" $?) &
# (slow and sanitizer builds on a busy machine take a while to get there)
wait_for 60 count_is -ge 2 grep -c "blobs/$slow_layer" "$PLOG" ||
    { cat "$PLOG"; cat "$TEST_TMP/r4.rc" 2>/dev/null; tail -20 "$IMGFS_LOG"
      fail "no second request for the slow blob"; }
t0=$SECONDS
kill -TERM "$IMGFS_PID"
wait_daemon_exit
log "the daemon exited $((SECONDS - t0)) s after SIGTERM"
_is_mounted "$MNT" && fail "still mounted after SIGTERM"
wait_for 30 test -e "$TEST_TMP/r4.rc" || fail "the reader hangs after SIGTERM"
no_partial_blob "after SIGTERM"
pass "SIGTERM"

check "the next mount, registry reachable, reads the right bytes"
REG_ADDR=$REAL_REG
imgfs_mount
got=$(sha256sum < "$MNT/repos/slow/latest/rootfs/$slow_file" | cut -d' ' -f1)
assert_eq "$got" "$(sha256sum < "$TEST_TMP/ref-slow/rootfs/$slow_file" | cut -d' ' -f1)" "slow's file"
imgfs_umount
pass "clean after every unmount"
