#!/bin/bash
# t_fstab.sh — imgfs mounted the way the system mounts filesystems: an
# /etc/fstab-style line honoured by `mount -a -T FILE` and `mount -T FILE
# MNT` through mount.fuse3, unmounted with `umount` and `fusermount3 -u`,
# and the one log: stderr in the foreground at the level -o log_level= asks
# for, syslog once daemonised, start-up errors on mount(8)'s terminal.
#
# mount(8) drops PATH before it runs mount.fuse3, whose /bin/sh then finds
# `imgfs` in the shell's default PATH only (/usr/local/sbin first).  So the
# `fuse.imgfs` line runs in a private mount namespace (unshare) in which a
# directory holding an `imgfs` link to the built binary is bound over
# /usr/local/sbin, and a tmpfs /dev holds our own /dev/log listener: the
# host's directories and its syslog are never touched.  The `fuse` type
# with a source `/path/to/imgfs#LABEL` needs no PATH and runs in the test's
# own namespace.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root
command -v mount.fuse3 >/dev/null || [ -x /sbin/mount.fuse3 ] || fail "mount.fuse3 missing (package fuse3)"

O=$TEST_TMP/oci
build_busybox "$O"
registry_start
push_image "$O" busybox busybox:latest
WANT=$(printf 'NAME="imgfs test busybox"\nID=busybox')
FILE=repos/busybox/latest/rootfs/etc/os-release

# daemon_pid MNT — the pid of the imgfs whose argv is `imgfs ... MNT -o ...`
# as mount.fuse3 starts it (mount point right before -o).
daemon_pid() {
    local p a
    for p in /proc/[0-9]*; do
        mapfile -d "" -t a 2>/dev/null < "$p/cmdline" || continue
        [ "${#a[@]}" -ge 4 ] || continue
        [[ ${a[0]} == *imgfs ]] && [ "${a[2]}" = "$1" ] && [ "${a[3]}" = -o ] &&
            { echo "${p#/proc/}"; return 0; }
    done
    return 1
}

# ---------------------------------------------------------------- logs
check "foreground: log_level=info shows the mount line, debug shows more"
for lvl in warn info debug; do
    MNT=$TEST_TMP/mnt-$lvl STORE=$TEST_TMP/store-$lvl
    imgfs_mount "log_level=$lvl"
    assert_eq "$WANT" "$(timeout 60 cat "$MNT/$FILE")" "$FILE (log_level=$lvl)"
    imgfs_umount
    cp "$IMGFS_LOG" "$TEST_TMP/log.$lvl"
done
grep -q " info: mounted imgfs at $TEST_TMP/mnt-info (store $TEST_TMP/store-info" "$TEST_TMP/log.info" ||
    fail "log_level=info: no mount line in $(cat "$TEST_TMP/log.info")"
grep -q " info: " "$TEST_TMP/log.warn" && fail "log_level=warn printed info lines"
grep -q " debug: " "$TEST_TMP/log.info" && fail "log_level=info printed debug lines"
grep -q " info: mounted " "$TEST_TMP/log.debug" || fail "log_level=debug: no mount line"
grep -q " debug: toc: " "$TEST_TMP/log.debug" || fail "log_level=debug: no debug line for the layer index"
pass "warn: $(wc -l < "$TEST_TMP/log.warn") lines, info: $(wc -l < "$TEST_TMP/log.info"), debug: $(wc -l < "$TEST_TMP/log.debug")"
unset MNT STORE

check "systemd's stop: SIGTERM unmounts and exits 0, even with a relative mount point"
mkdir -p "$TEST_TMP/mnt-term"
(cd "$TEST_TMP" && exec "$IMGFS_BIN" -f -o "store=$TEST_TMP/store-info,registry=$REG_ADDR" mnt-term \
    > "$TEST_TMP/term.log" 2>&1) &
IMGFS_PID=$!
_PIDS+=("$IMGFS_PID") _MOUNTS+=("$TEST_TMP/mnt-term")
wait_for 30 _is_mounted "$TEST_TMP/mnt-term" || fail "no mount at mnt-term"
assert_eq "$WANT" "$(timeout 60 cat "$TEST_TMP/mnt-term/$FILE")" "$FILE before SIGTERM"
kill -TERM "$IMGFS_PID"
wait_for 20 _pid_gone "$IMGFS_PID" || fail "imgfs did not exit on SIGTERM"
rc=0; wait "$IMGFS_PID" || rc=$?
assert_eq 0 "$rc" "exit status after SIGTERM"
_is_mounted "$TEST_TMP/mnt-term" && fail "still mounted after SIGTERM: $(cat "$TEST_TMP/term.log")"
[ -s "$TEST_TMP/term.log" ] && fail "SIGTERM: the daemon complained: $(cat "$TEST_TMP/term.log")"
pass "unmounted, status 0"

# -------------------------------------------- fuse.imgfs in a namespace
check "fuse.imgfs line: mount -a -T, syslog, mount -a again, umount"
MNT_A=$TEST_TMP/mnt-a STORE_A=$TEST_TMP/store-a
mkdir -p "$MNT_A" "$TEST_TMP/sbin"
ln -s "$IMGFS_BIN" "$TEST_TMP/sbin/imgfs"
# Words mount(8) and systemd use, beside imgfs's own options: all harmless.
printf '%s %s fuse.imgfs %s 0 0\n' "$STORE_A" "$MNT_A" \
    "defaults,registry=$REG_ADDR,log_level=info,noatime,nodiratime,nodev,nosuid,_netdev,nofail,x-systemd.requires=network-online.target" \
    > "$TEST_TMP/fstab.a"
cat > "$TEST_TMP/ns.sh" <<'EOF'
# Runs in a private mount namespace; prints ok:/FAIL: lines.
set -u
T=$1 MNT_A=$2 STORE_A=$3 FILE=$4 WANT=$5 PY=$6
fail() { echo "FAIL: $*"; exit 1; }
SYSLOG_PID="" pid=""
# On the way out nothing of ours may keep the namespace alive.
ns_cleanup() {
    if awk -v m="$MNT_A" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; then
        [ -s "$T/.conn._ns" ] && echo 1 > "/sys/fs/fuse/connections/$(cat "$T/.conn._ns")/abort" 2>/dev/null
        umount -l "$MNT_A"
    fi
    [ -n "$pid" ] && kill "$pid" 2>/dev/null
    [ -n "$SYSLOG_PID" ] && kill "$SYSLOG_PID" 2>/dev/null
}
trap ns_cleanup EXIT
# A tmpfs /dev with the nodes mount and imgfs use, and a /dev/log of ours.
mkdir -p "$T/olddev"
mount --rbind /dev "$T/olddev" || fail "bind /dev"
mount -t tmpfs -o mode=755 imgfs-test-dev /dev || fail "tmpfs /dev"
for n in null zero full random urandom fuse tty; do
    [ -e "$T/olddev/$n" ] || continue
    touch "/dev/$n" && mount --bind "$T/olddev/$n" "/dev/$n" || fail "bind /dev/$n"
done
ln -s /proc/self/fd /dev/fd
mount --bind "$T/sbin" /usr/local/sbin || fail "bind /usr/local/sbin"
"$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
open(sys.argv[2], "w").close()
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")
' "$T/syslog" "$T/syslog.ready" &
SYSLOG_PID=$!
for _ in $(seq 50); do [ -e "$T/syslog.ready" ] && break; sleep 0.1; done
[ -S /dev/log ] || fail "no /dev/log listener"

mount -a -T "$T/fstab.a" 2>"$T/mount.a.err" || fail "mount -a -T: $(cat "$T/mount.a.err")"
awk -v m="$MNT_A" '$5 == m { split($3, d, ":"); print d[1] * 1048576 + d[2] }' /proc/self/mountinfo \
    > "$T/.conn._ns"
line=$(awk -v m="$MNT_A" '$5 == m { for (i = 7; $i != "-"; i++); print $(i+1), $(i+2) }' /proc/self/mountinfo)
[ "$line" = "fuse.imgfs $STORE_A" ] || fail "mount table: type and source '$line'"
echo "ok: mounted: $line"
got=$(timeout 60 cat "$MNT_A/$FILE") || fail "cat $FILE"
[ "$got" = "$WANT" ] || fail "$FILE: got '$got'"
echo "ok: $FILE reads through the fstab mount"
[ -n "$(ls -A "$STORE_A")" ] || fail "store $STORE_A (the fstab SOURCE) is empty"
echo "ok: the SOURCE column is the store"

for p in /proc/[0-9]*; do
    mapfile -d "" -t a 2>/dev/null < "$p/cmdline" || continue
    [ "${#a[@]}" -ge 4 ] && [ "${a[0]}" = imgfs ] && [ "${a[2]}" = "$MNT_A" ] && pid=${p#/proc/}
done
[ -n "$pid" ] || fail "no imgfs daemon for $MNT_A"
echo "$pid" > "$T/ns-daemon.pid"
for _ in $(seq 50); do grep -q "imgfs\[$pid\]: mounted " "$T/syslog" && break; sleep 0.1; done
grep -q "^<30>.*imgfs\[$pid\]: mounted $STORE_A at $MNT_A (store $STORE_A" "$T/syslog" ||
    fail "no daemon.info mount line from imgfs[$pid] in syslog: $(cat "$T/syslog")"
echo "ok: the daemon logs to syslog: $(grep -o "imgfs\[$pid\]: mounted .*" "$T/syslog")"

mount -a -T "$T/fstab.a" 2>"$T/mount.a2.err" || fail "second mount -a -T: $(cat "$T/mount.a2.err")"
n=$(awk -v m="$MNT_A" '$5 == m' /proc/self/mountinfo | wc -l)
[ "$n" = 1 ] || fail "second mount -a: $n mounts at $MNT_A"
echo "ok: mount -a again leaves the one mount"

timeout 20 umount "$MNT_A" || fail "umount $MNT_A"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "imgfs $pid still runs after umount"
awk -v m="$MNT_A" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo && fail "still mounted"
echo "ok: umount: the daemon exited"
EOF
unshare --mount --propagation private bash "$TEST_TMP/ns.sh" "$TEST_TMP" "$MNT_A" "$STORE_A" \
    "$FILE" "$WANT" "$PY" > "$TEST_TMP/ns.out" 2>&1
ns_rc=$?
cat "$TEST_TMP/ns.out"
if [ -s "$TEST_TMP/ns-daemon.pid" ]; then
    _PIDS+=("$(cat "$TEST_TMP/ns-daemon.pid")")
fi
[ "$ns_rc" = 0 ] || fail "fuse.imgfs in a namespace (rc $ns_rc)"
pass "fuse.imgfs line"

# ------------------------------------------- fuse, BINARY#LABEL, here
check "fuse line BINARY#LABEL with store=: mount -T FILE MNT, fusermount3 -u"
MNT_B=$TEST_TMP/mnt-b STORE_B=$TEST_TMP/store-b
mkdir -p "$MNT_B"
printf '%s#imgfs-test %s fuse %s 0 0\n' "$IMGFS_BIN" "$MNT_B" \
    "rw,relatime,dev,suid,exec,store=$STORE_B,registry=$REG_ADDR" > "$TEST_TMP/fstab.b"
_MOUNTS+=("$MNT_B")
mount -T "$TEST_TMP/fstab.b" "$MNT_B" 2>"$TEST_TMP/mount.b.err" || fail "mount -T: $(cat "$TEST_TMP/mount.b.err")"
_fuse_conn "$MNT_B" > "$TEST_TMP/.conn.$(echo "$MNT_B" | tr / _)"
IMGFS_PID=$(daemon_pid "$MNT_B") || fail "no imgfs daemon for $MNT_B"
_PIDS+=("$IMGFS_PID")
src=$(awk -v m="$MNT_B" '$5 == m { for (i = 7; $i != "-"; i++); print $(i+1), $(i+2), $4 }' /proc/self/mountinfo)
assert_eq "fuse.imgfs imgfs-test" "${src% *}" "mount table type and source (label)"
mopts=$(awk -v m="$MNT_B" '$5 == m { print $6 }' /proc/self/mountinfo)
[[ ,$mopts, == *,nosuid,* && ,$mopts, == *,nodev,* ]] || fail "root's mount lost nosuid,nodev to fstab's suid,dev: $mopts"
assert_eq "$WANT" "$(timeout 60 cat "$MNT_B/$FILE")" "$FILE through the label mount"
[ -n "$(ls -A "$STORE_B")" ] || fail "store= $STORE_B unused"
timeout 20 fusermount3 -u "$MNT_B" || fail "fusermount3 -u $MNT_B"
wait_for 20 _pid_gone "$IMGFS_PID" || fail "imgfs $IMGFS_PID still runs after fusermount3 -u"
pass "label mount, store=, nosuid,nodev kept, clean unmount"

check "SOURCE and store= naming different stores: mount fails, says why"
MNT_C=$TEST_TMP/mnt-c
mkdir -p "$MNT_C" "$TEST_TMP/store-c1"
printf '%s#%s %s fuse %s 0 0\n' "$IMGFS_BIN" "$TEST_TMP/store-c1" "$MNT_C" \
    "store=$TEST_TMP/store-c2,registry=$REG_ADDR" > "$TEST_TMP/fstab.c"
_MOUNTS+=("$MNT_C")
mount -T "$TEST_TMP/fstab.c" "$MNT_C" 2>"$TEST_TMP/mount.c.err" && fail "mount with two stores succeeded"
grep -q "SOURCE $TEST_TMP/store-c1 and store=$TEST_TMP/store-c2 are different stores" "$TEST_TMP/mount.c.err" ||
    fail "mount's stderr: $(cat "$TEST_TMP/mount.c.err")"
_is_mounted "$MNT_C" && fail "$MNT_C mounted anyway"
printf '%s#rel/store %s fuse %s 0 0\n' "$IMGFS_BIN" "$MNT_C" "registry=$REG_ADDR" > "$TEST_TMP/fstab.c"
mount -T "$TEST_TMP/fstab.c" "$MNT_C" 2>"$TEST_TMP/mount.c.err" && fail "mount with a relative SOURCE succeeded"
grep -q "SOURCE 'rel/store'" "$TEST_TMP/mount.c.err" || fail "mount's stderr: $(cat "$TEST_TMP/mount.c.err")"
pass "$(head -n1 "$TEST_TMP/mount.c.err")"

echo "t_fstab: all checks passed"
