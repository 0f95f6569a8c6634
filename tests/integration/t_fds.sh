#!/bin/bash
# t_fds.sh — the daemon's descriptors stay bounded.  Run under a hard limit
# of 1024 open files (prlimit, so the daemon cannot raise it): a python
# process holds 1100 opens of one layers/ file and reads through every one
# of them (each read compared with the blob the registry holds), while the
# daemon's descriptor count grows by fewer than 100; closing them gives the
# descriptors back.  Then the layer descriptors of an image nobody read for
# longer than the idle time (10 s) are closed when another image is built,
# and reads of the idle image open them again and equal umoci unpack; the
# same for a layer read through its partial blob (blob gone, index kept).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

IDLE=10
O=$TEST_TMP/oci
build_unique "$O" uniq
build_features "$O"
build_unique "$O" other
registry_start
push_image "$O" uniq uniq:latest
push_image "$O" features features:latest
push_image "$O" other other:latest
reference_tree "$O" features "$TEST_TMP/ref"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/want"

# The daemon under a hard limit of 1024: only sharing keeps it alive.
REAL_BIN=$IMGFS_BIN
IMGFS_BIN=$TEST_TMP/imgfs-1024
printf '#!/bin/sh\nexec prlimit --nofile=1024:1024 %s "$@"\n' "$REAL_BIN" > "$IMGFS_BIN"
chmod +x "$IMGFS_BIN"
imgfs_mount

check "the daemon runs with at most 1024 open files"
read -r soft hard < <(awk '/^Max open files/ { print $4, $5 }' "/proc/$IMGFS_PID/limits")
assert_eq 1024 "$hard" "daemon's hard open-file limit"
assert_eq 1024 "$soft" "daemon's soft open-file limit"
pass "open files: soft $soft, hard $hard"

# Each live worker thread's cache of freed chunks kept ~0.9 MB of the
# arenas; the daemon limits it through glibc's tunables, which glibc reads
# only from the environment it starts with (main.c: malloc_tune_exec).
check "the daemon runs with glibc's per-thread cache limited to 128-byte chunks"
tun=$(tr '\0' '\n' < "/proc/$IMGFS_PID/environ" | sed -n 's/^GLIBC_TUNABLES=//p')
assert_eq "glibc.malloc.tcache_max=128" "$tun" "the daemon's GLIBC_TUNABLES"
pass "GLIBC_TUNABLES=$tun"

nfds() { ls "/proc/$IMGFS_PID/fd" | wc -l; }
# blob_fds HEX... — how many of the daemon's descriptors are those blobs
blob_fds() {
    local n=0 h
    for h in "$@"; do
        n=$((n + $(find "/proc/$IMGFS_PID/fd" -lname "*/blobs/sha256/$h" 2>/dev/null | wc -l)))
    done
    echo "$n"
}

check "1100 opens of one layers/ file share one descriptor"
L=$MNT/repos/uniq/latest/layers
name=$(ls "$L" | head -1)
[ -n "$name" ] || fail "no layer in $L"
digest=$(remote_raw uniq:latest --raw | jq -r '.layers[0].digest')
BLOB=$(registry_blob_path "$digest")
[ -f "$BLOB" ] || fail "registry blob $BLOB missing"
head -c 1 "$L/$name" >/dev/null || fail "first read of $L/$name"
base=$(nfds)
log "daemon descriptors before: $base"
ulimit -n 4096
timeout 120 "$PY" - "$L/$name" "$BLOB" "$IMGFS_PID" "$base" <<'PYEOF' || fail "1100 opens"
import os, random, sys
path, blob, pid, base = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
want = open(blob, "rb").read()
fds = []
for i in range(1100):
    fds.append(os.open(path, os.O_RDONLY))
held = len(os.listdir("/proc/%s/fd" % pid))
print("daemon descriptors with 1100 opens: %d (before %d)" % (held, base))
if held - base >= 100:
    sys.exit("daemon holds %d more descriptors" % (held - base))
r = random.Random(11)
for fd in fds:
    off = r.randrange(len(want))
    n = r.randint(1, 65536)
    got = os.pread(fd, n, off)
    if got != want[off:off + n]:
        sys.exit("read of %d at %d through fd %d differs" % (n, off, fd))
for fd in fds:
    os.close(fd)
PYEOF
imgfs_alive || fail "daemon died"
wait_for 10 count_is -le "$base" nfds ||
    fail "descriptors not given back: $(nfds), before $base"
pass "1100 opens: reads right, descriptors $base after"

check "an idle image's layer descriptors are closed, and opened again"
F=$MNT/repos/features/latest
mapfile -t fhex < <(remote_raw features:latest --raw | jq -r '.layers[].digest | sub("sha256:"; "")')
[ "${#fhex[@]}" -ge 2 ] || fail "features has ${#fhex[@]} layers"
big=$(cd "$F/rootfs" && find . -type f -size +1M | head -1)
[ -n "$big" ] || fail "no large file in features"
want=$(sha256sum < "$F/rootfs/$big")
open_now=$(blob_fds "${fhex[@]}")
[ "$open_now" -ge 1 ] || fail "features read, but none of its layer blobs is open"
log "features: $open_now layer descriptors open; idle for $((IDLE + 2)) s"
sleep $((IDLE + 2))
ls "$MNT/repos/other/latest/rootfs/data" >/dev/null || fail "other's rootfs"
wait_for 10 count_is -eq 0 blob_fds "${fhex[@]}" ||
    fail "features idle, yet $(blob_fds "${fhex[@]}") of its layer descriptors open"
pass "features' layer descriptors closed after $IDLE s idle"
# the kernel keeps the pages: drop them so the read reaches the daemon
"$PY" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)' "$F/rootfs/$big"
assert_eq "$want" "$(sha256sum < "$F/rootfs/$big")" "$big read after reopening"
[ "$(blob_fds "${fhex[@]}")" -ge 1 ] || fail "read served without reopening the layers"
# every other file is read for the first time, through the reopened layers
file_hashes "$F/rootfs" > "$TEST_TMP/got"
diff "$TEST_TMP/want" "$TEST_TMP/got" >&2 || fail "features' files differ after reopening"
pass "features reads right again ($(blob_fds "${fhex[@]}") descriptors open)"

imgfs_alive || fail "daemon died"
imgfs_umount

check "a layer read through its partial blob: closed when idle, opened again"
# blob gone, index kept: the next mount reads the top layer span by span
PHEX=${fhex[$((${#fhex[@]} - 1))]}
rm -f "$STORE/blobs/sha256/$PHEX"
imgfs_mount
# partial_fds — the daemon's descriptors of the partial blob (the
# partial's own, and the layer's while it is open)
partial_fds() { find "/proc/$IMGFS_PID/fd" -lname "*/partial/sha256/$PHEX" 2>/dev/null | wc -l; }
cat "$F/rootfs/etc/hello" >/dev/null || fail "read of features/etc/hello"
[ -e "$STORE/partial/sha256/$PHEX" ] || fail "the top layer is not read through a partial blob"
assert_eq 2 "$(partial_fds)" "descriptors of the partial blob in use"
sleep $((IDLE + 2))
ls "$MNT/repos/other/latest/rootfs/data" >/dev/null || fail "other's rootfs"
wait_for 10 count_is -eq 1 partial_fds || fail "$(partial_fds) descriptors of the idle partial blob"
file_hashes "$F/rootfs" > "$TEST_TMP/got2"
diff "$TEST_TMP/want" "$TEST_TMP/got2" >&2 || fail "features' files differ after reopening its partial layer"
pass "partial layer closed when idle, reopened, read right"
imgfs_alive || fail "daemon died"
imgfs_umount

check "tunables of the caller's are kept, and a tcache_max of its own wins"
# glibc parses GLIBC_TUNABLES in place: /proc/PID/environ shows the first
# tunable only, which is the daemon's when it ran itself again.
GLIBC_TUNABLES=glibc.malloc.tcache_count=3 imgfs_mount
envof() { tr '\0' '\n' < "/proc/$IMGFS_PID/environ" | sed -n "s/^$1=//p"; }
assert_eq "glibc.malloc.tcache_max=128" "$(envof GLIBC_TUNABLES)" "GLIBC_TUNABLES, added to"
assert_eq 1 "$(envof IMGFS_MALLOC_TUNED)" "the daemon ran itself again"
imgfs_umount
GLIBC_TUNABLES=glibc.malloc.tcache_max=256 imgfs_mount
assert_eq "glibc.malloc.tcache_max=256" "$(envof GLIBC_TUNABLES)" "GLIBC_TUNABLES, the caller's"
assert_eq "" "$(envof IMGFS_MALLOC_TUNED)" "ran again with the caller's tcache_max"
imgfs_umount
pass "GLIBC_TUNABLES: the caller's kept"
pass "t_fds"
