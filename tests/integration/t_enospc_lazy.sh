#!/bin/bash
# t_enospc_lazy.sh — a lazy read through a partial blob (the layer's index
# kept, its blob not local: partial.c) on a full store disk.  The chunks the
# read needs are fetched and verified but cannot be written to
# partial/sha256/<hex>: the read is served from the verified bytes in
# memory (as a decompressed span that cannot be cached is, t_enospc.sh),
# never EIO, never a hang, and nothing of it is marked present in the
# chunks file.  After `rm` of the filler the same read on the same mount
# works and its chunks are kept; reading everything completes the blob
# (sha256 checked); a remount serves the kept chunks; `imgfs --check` passes
# on the unmounted store.  The store is a 64 MiB tmpfs filled to the last
# block by a filler file.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" lazy 12       # 12 MiB random: three or more spans
registry_start
push_image "$O" lazy lazy:1
reference_tree "$O" lazy "$TEST_TMP/ref"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/want"
HEX=$(remote_raw lazy:1 --raw | jq -r '.layers[0].digest' | cut -d: -f2)
WANT_BLOB=$(sha256_file "$TEST_TMP/ref/rootfs/data/blob")

STORE=$TEST_TMP/store
mkdir -p "$STORE"
mount -t tmpfs -o size=64m,mode=0755 imgfs-enospc-lazy "$STORE" || fail "mount tmpfs"
# Our trap first: the tmpfs must be gone before cleanup removes TEST_TMP.
trap '_rc=$?; umount -l "$STORE" 2>/dev/null; (exit $_rc); cleanup' EXIT

fill() {   # write STORE/filler until the disk is full
    dd if=/dev/zero of="$STORE/filler" bs=64k 2>/dev/null
    assert_eq 0 "$(df --output=avail "$STORE" | tail -n1 | tr -d ' ')" "free KiB after the fill"
}
unfill() { rm -f "$STORE/filler"; }

# chunks_present — bits set in the partial's bitmap (0 when there is none).
chunks_present() {
    local f=$STORE/partial/sha256/$HEX.chunks
    [ -f "$f" ] || { echo 0; return; }
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read()
print(sum(bin(b).count("1") for b in d[56:]))' "$f"
}

# read_hash FILE — "OK <sha256>" or the errno name of the read that failed
# (the file's pages dropped from the kernel's cache first).
read_hash() {
    timeout 120 "$PY" - "$1" <<'EOF' || echo "TIMEOUT"
import errno, hashlib, os, sys
h = hashlib.sha256()
try:
    with open(sys.argv[1], "rb") as f:
        # past the kernel's page cache (keep_cache): every read asks the daemon
        os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        while True:
            b = f.read(1 << 20)
            if not b:
                break
            h.update(b)
    print("OK", h.hexdigest())
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
EOF
}

check "setup: lazy:1 read once (index kept), then its blob removed"
imgfs_mount cache_size=8M
file_hashes "$MNT/repos/lazy/1/rootfs" > "$TEST_TMP/got0" || fail "first read"
diff "$TEST_TMP/want" "$TEST_TMP/got0" >/dev/null || fail "first read differs from umoci unpack"
wait_for 10 test -s "$STORE/index/sha256/$HEX" || fail "no index kept"
imgfs_umount
rm -f "$STORE/blobs/sha256/$HEX"
pass "index kept, blob gone"

imgfs_mount cache_size=8M
BLOB=$MNT/repos/lazy/1/rootfs/data/blob
stat "$BLOB" >/dev/null || fail "lookup of data/blob"

check "disk full: a lazy read is served from the verified chunks in memory"
fill
assert_eq "OK $WANT_BLOB" "$(read_hash "$BLOB")" "read of data/blob through the partial blob, disk full"
assert_eq "OK $WANT_BLOB" "$(read_hash "$BLOB")" "the same read again, disk still full"
grep "cannot write its partial file: No space left on device; its verified bytes serve reads from memory" "$IMGFS_LOG" >/dev/null ||
    fail "no log line of the failed chunk write (did the disk fill at all?)"
imgfs_alive || fail "the daemon died"
assert_eq "" "$(ls -A "$STORE/tmp")" "STORE/tmp"
assert_eq 0 "$(chunks_present)" "chunks marked present while nothing could be written"
[ -e "$STORE/blobs/sha256/$HEX" ] && fail "a blob appeared on a full disk"
pass "served, nothing marked"

check "after rm of the filler the same read works on the same mount, and its chunks are kept"
unfill
assert_eq "OK $WANT_BLOB" "$(read_hash "$BLOB")" "read of data/blob after freeing space"
file_hashes "$MNT/repos/lazy/1/rootfs" > "$TEST_TMP/got1" || fail "reading the rootfs"
diff "$TEST_TMP/want" "$TEST_TMP/got1" >/dev/null || fail "rootfs differs from umoci unpack"
# Every chunk was kept this time: the partial became the blob, its sha256
# checked against the layer digest (finish() in partial.c).
[ -f "$STORE/blobs/sha256/$HEX" ] || fail "the blob did not complete from its chunks"
assert_eq "$HEX" "$(sha256_file "$STORE/blobs/sha256/$HEX")" "sha256 of the completed blob"
[ ! -e "$STORE/partial/sha256/$HEX" ] && [ ! -e "$STORE/partial/sha256/$HEX.chunks" ] ||
    fail "partial files left after completion"
pass "served, and the blob completed from its chunks"
imgfs_umount

check "a full disk in the middle of a read: remount serves exactly the kept chunks"
# Half of the chunks on disk, the rest fetched on a full disk: a remount
# with the registry stopped must serve right bytes or fail, never others.
# No span cache here: its evictions would free space on the full disk.
rm -f "$STORE/blobs/sha256/$HEX"
imgfs_mount cache_size=0
head -c 4M "$BLOB" > /dev/null || fail "reading the first 4 MiB"
kept=$(chunks_present)
fill
assert_eq "OK $WANT_BLOB" "$(read_hash "$BLOB")" "read of data/blob with a full disk half way"
assert_eq "$kept" "$(chunks_present)" "chunks marked after reads on a full disk"
imgfs_umount
unfill
registry_stop
imgfs_mount cache_size=8M
# what was read before the fill comes from the kept chunks, without a registry
assert_eq "$(head -c 4M "$TEST_TMP/ref/rootfs/data/blob" | sha256sum)" \
    "$(timeout 60 head -c 4M "$BLOB" | sha256sum)" "first 4 MiB of data/blob, offline"
# the rest was never kept: the right bytes or an error, never others
e=$(read_hash "$BLOB")
case $e in "OK $WANT_BLOB"|EIO|EHOSTUNREACH) ;; *) fail "offline read after the full disk: $e" ;; esac
imgfs_umount
pass "$kept chunk(s) kept; offline read: ${e%% *}"

check "the store checks clean after unmount"
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check" 2>&1
rc=$?
cat "$TEST_TMP/check"
assert_eq 0 "$rc" "imgfs --check exit status"
grep -q " 0 broken" "$TEST_TMP/check" || fail "--check does not report a clean store"
pass "clean"

echo "t_enospc_lazy: all checks passed"
