#!/bin/bash
# t_enospc.sh — a full disk: the store on a 64 MiB tmpfs, filled to the last
# block by a filler file.  Each operation that needs space fails with ENOSPC
# (not EIO, not a hang, not a half file): a first read of an image whose
# layer does not fit (the error reaches open(), whose lookup of rootfs/ pulls
# the layer), an import (`cp` of a tar into import/), an index write (a
# layer whose blob is local but whose index is not), while a read of a layer
# whose decompressed span cannot be cached still succeeds (served by
# decompressing without caching).  After each failure: the daemon answers,
# STORE/tmp is empty, and no record, tag, blob or index of the failed
# operation exists; after `rm` of the filler the same operation succeeds on
# the same mount.  At the end `imgfs --check` passes on the unmounted store.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" big 24        # a 24 MiB layer (random: gzip keeps its size)
build_unique "$O" cached 12     # three 4 MiB spans of decompressed stream
build_unique "$O" idx 2
registry_start
push_image "$O" big big:1
push_image "$O" cached cached:1
push_image "$O" idx idx:1
reference_tree "$O" cached "$TEST_TMP/ref-cached"
reference_tree "$O" big "$TEST_TMP/ref-big"

STORE=$TEST_TMP/store
mkdir -p "$STORE"
mount -t tmpfs -o size=64m,mode=0755 imgfs-enospc "$STORE" || fail "mount tmpfs"
# Our trap first: the common cleanup unmounts FUSE and removes the scratch
# dir (one file system only), so the tmpfs must be gone from it by then; a
# lazy unmount does that even while the daemon still holds files there.
trap '_rc=$?; umount -l "$STORE" 2>/dev/null; (exit $_rc); cleanup' EXIT

# fill [KIB] — write STORE/filler until the disk is full (dd stops at
# ENOSPC), then give back KIB KiB (default 0).
fill() {
    local keep=${1:-0} size
    dd if=/dev/zero of="$STORE/filler" bs=64k 2>/dev/null
    size=$(stat -c %s "$STORE/filler")
    truncate -s $((size - keep * 1024)) "$STORE/filler"
    assert_eq "$keep" "$(df --output=avail "$STORE" | tail -n1 | tr -d ' ')" "free KiB after the fill"
}
unfill() { rm -f "$STORE/filler"; }

# after_failure WHAT — the daemon answers, STORE/tmp is empty.
after_failure() {
    imgfs_alive || fail "$1: the daemon died"
    assert_eq "" "$(ls -A "$STORE/tmp")" "$1: STORE/tmp"
}

# import_errno SRC DST — write SRC into DST and close, as cp does; print OK
# or the errno name of the first call that failed (open, a write, or the
# close, where an import commits).
import_errno() {
    timeout 120 "$PY" - "$1" "$2" <<'EOF'
import errno, os, sys
name = lambda e: errno.errorcode.get(e.errno, str(e.errno))
src = open(sys.argv[1], "rb")
try:
    fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
except OSError as e:
    sys.exit(print(name(e)))
first = None
try:
    while True:
        b = src.read(1 << 20)
        if not b:
            break
        os.write(fd, b)
except OSError as e:
    first = "write:" + name(e)
try:
    os.close(fd)
except OSError as e:
    first = first or "close:" + name(e)
print(first or "OK")
EOF
}

# 12 + 24 + 2 MiB of layers, a 4 MiB import and 8 MiB of cache fit in 64.
imgfs_mount cache_size=8M

check "setup: cached:1 pulled and indexed (no span cached); idx:1's blob local without its index"
stat "$MNT/repos/cached/1/rootfs/data/blob" >/dev/null || fail "lookup in cached:1"
idx_layer=$(jq -r '.layers[0].digest' "$MNT/repos/idx/1/manifest" | cut -d: -f2)
cat "$MNT/repos/idx/1/layers/00-sha256:$idx_layer" >/dev/null || fail "read idx:1's layer blob"
[ -f "$STORE/blobs/sha256/$idx_layer" ] || fail "idx:1's layer blob is not in the store"
[ -e "$STORE/index/sha256/$idx_layer" ] && fail "idx:1's layer index exists before its rootfs was read"
pass "ok"

check "a read whose span cannot be cached is served by decompressing (disk full)"
fill
want=$(sha256_file "$TEST_TMP/ref-cached/rootfs/data/blob")
got=$(timeout 120 sha256sum < "$MNT/repos/cached/1/rootfs/data/blob" | cut -d' ' -f1)
assert_eq "$want" "$got" "sha256 of cached:1 data/blob with a full disk"
after_failure "cache"
pass "served: $got"

check "a pull whose layer does not fit (1 MiB free: its manifest and config do): ENOSPC, nothing stored"
unfill
fill 1024
e=$(errno_of read "$MNT/repos/big/1/rootfs/data/small")
assert_eq ENOSPC "$e" "reading big:1's rootfs on a full disk"
after_failure "pull"
# The record and tag are made by the lookup of big/1 (manifest and config
# fit); the layer is what failed, and only a complete blob may be there.
big_layer=$(jq -r '.layers[0].digest' "$MNT/repos/big/1/manifest" | cut -d: -f2)
[ -e "$STORE/blobs/sha256/$big_layer" ] && fail "pull: big:1's layer blob exists after ENOSPC"
pass "ENOSPC"

check "an import on a full disk: ENOSPC, nothing stored"
unfill
fill
mkdir -p "$TEST_TMP/isrc"
head -c 4M /dev/urandom > "$TEST_TMP/isrc/file"
tar -C "$TEST_TMP/isrc" -cf "$TEST_TMP/imp.tar" . || fail "tar"
blobs_before=$(ls "$STORE/blobs/sha256" | sort)
e=$(import_errno "$TEST_TMP/imp.tar" "$MNT/import/imp:1")
assert_eq "$blobs_before" "$(ls "$STORE/blobs/sha256" | sort)" "import: blobs after the failed import"
assert_eq write:ENOSPC "$e" "import on a full disk"
after_failure "import"
[ -e "$MNT/repos/imp/1" ] && fail "import: a tag imp:1 exists"
assert_eq "" "$(ls -A "$MNT/dangling")" "import: dangling/"
pass "ENOSPC"

check "an index write on a full disk: the lookup is served from the index in memory, no index file"
# The index is built in memory to answer the lookup; saving it is what needs
# the space, and a failed save must leave no file that a later open trusts.
e=$(errno_of stat "$MNT/repos/idx/1/rootfs/data/small")
assert_eq OK "$e" "lookup in idx:1's rootfs with its index unsaved"
grep "cannot save its index: No space left on device" "$IMGFS_LOG" >/dev/null ||
    fail "index: no log line of the failed save (was it written at all?)"
after_failure "index"
[ -e "$STORE/index/sha256/$idx_layer" ] && fail "index: a layer index was left: $(stat -c %s "$STORE/index/sha256/$idx_layer") bytes"
cat "$MNT/repos/idx/1/rootfs/data/small" >/dev/null || fail "idx:1 read with its index unsaved"
pass "served, nothing saved"

check "after rm of the filler, the same operations succeed on the same mount"
unfill
assert_eq "$(sha256_file "$TEST_TMP/ref-big/rootfs/data/blob")" \
    "$(timeout 120 sha256sum < "$MNT/repos/big/1/rootfs/data/blob" | cut -d' ' -f1)" "big:1 data/blob"
assert_eq OK "$(import_errno "$TEST_TMP/imp.tar" "$MNT/import/imp:1")" "import after freeing space"
assert_eq "$(sha256_file "$TEST_TMP/isrc/file")" \
    "$(sha256sum < "$MNT/repos/imp/1/rootfs/file" | cut -d' ' -f1)" "imported file"
assert_eq "$want" "$(sha256sum < "$MNT/repos/cached/1/rootfs/data/blob" | cut -d' ' -f1)" "cached:1 data/blob (cached now)"
pass "ok"

check "the store checks clean after unmount"
imgfs_umount
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check" 2>&1
rc=$?
cat "$TEST_TMP/check"
assert_eq 0 "$rc" "imgfs --check exit status"
grep -q " 0 broken" "$TEST_TMP/check" || fail "--check does not report a clean store"
pass "clean"

check "a new mount saves idx:1's index and serves every image"
imgfs_mount cache_size=8M
cat "$MNT/repos/idx/1/rootfs/data/small" >/dev/null || fail "idx:1 after the remount"
[ -s "$STORE/index/sha256/$idx_layer" ] || fail "idx:1's index not written at the remount"
assert_eq "$want" "$(sha256sum < "$MNT/repos/cached/1/rootfs/data/blob" | cut -d' ' -f1)" "cached:1 after the remount"
assert_eq "$(sha256_file "$TEST_TMP/isrc/file")" \
    "$(sha256sum < "$MNT/repos/imp/1/rootfs/file" | cut -d' ' -f1)" "imp:1 after the remount"
imgfs_umount
pass "ok"

echo "t_enospc: all checks passed"
