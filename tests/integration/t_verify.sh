#!/bin/bash
# t_verify.sh — blobs are verified against their digests. A layer blob
# corrupted in the registry's storage (same size, different bytes) is never
# served: reading rootfs/ or layers/ fails with EIO, again on retry; the
# daemon stays up and other images read; nothing of the bad blob is stored as
# complete; the log says why. Once the registry serves the right bytes again,
# the same image reads correctly (the bad data was discarded, not kept).
# A corrupted config blob makes the tag lookup fail instead.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" bad
build_unique "$O" badcfg
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" bad bad:latest
push_image "$O" badcfg badcfg:latest
reference_tree "$O" bad "$TEST_TMP/ref-bad"

layer=$(remote_raw bad:latest --raw | jq -r '.layers[0].digest')
hex=${layer#sha256:}
blob=$(registry_blob_path "$layer")
[ -f "$blob" ] || fail "registry blob $blob not found"
cp "$blob" "$TEST_TMP/good-blob"
size=$(stat -c %s "$blob")
# Flip 64 bytes in the middle of the compressed stream, keeping the size.
head -c 64 /dev/urandom | dd of="$blob" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
assert_eq "$size" "$(stat -c %s "$blob")" "corrupted blob size"
got=$(curl -s "http://$REG_ADDR/v2/bad/blobs/$layer" | sha256sum | cut -d' ' -f1)
[ "$got" != "$hex" ] || fail "the registry still serves the right bytes"
log "layer $layer corrupted in the registry (now serves sha256:$got)"

cfg=$(remote_raw badcfg:latest --raw | jq -r .config.digest)
cblob=$(registry_blob_path "$cfg")
cp "$cblob" "$TEST_TMP/good-cfg"
sed -i 's/"os":"linux"/"os":"LINUX"/' "$cblob"
cmp -s "$cblob" "$TEST_TMP/good-cfg" && fail "config blob not corrupted"

imgfs_mount
T=$MNT/repos/bad/latest

check "the tag resolves (manifest and config are fine)"
[ -L "$T" ] || fail "bad/latest does not resolve"
pass "bad/latest -> $(readlink "$T")"

check "reading the corrupted layer fails with EIO, twice"
for try in 1 2; do
    cat "$T/rootfs/data/small" >/dev/null 2>&1 && fail "cat rootfs/data/small succeeded (try $try)"
    e=$(errno_of read "$T/rootfs/data/blob")
    assert_eq EIO "$e" "read rootfs/data/blob (try $try)"
    lf=$(ls "$T/layers/")
    assert_eq EIO "$(errno_of read "$T/layers/$lf")" "read layers/$lf (try $try)"
done
pass "EIO"

check "the daemon stays up and other images read"
imgfs_alive || fail "daemon died"
assert_eq "$(sha256_file /bin/busybox)" "$(sha256_file "$MNT/repos/busybox/latest/rootfs/bin/busybox")" "busybox reads"
pass "alive"

check "nothing of the bad blob is stored as complete; the log says why"
[ -e "$STORE/blobs/sha256/$hex" ] && fail "$STORE/blobs/sha256/$hex exists"
found=$(find "$STORE" -type f -name "$hex" 2>/dev/null)
[ -z "$found" ] || fail "stored under the blob's name: $found"
find "$STORE" -name "*$hex*" -printf 'note: store has %p (%s bytes)\n' 2>/dev/null
grep -qiE 'digest|mismatch|verif' "$IMGFS_LOG" || fail "the log does not mention the digest mismatch"
pass "not stored"

check "a corrupted config blob makes the lookup fail cleanly"
e=$(errno_of stat "$MNT/repos/badcfg/latest")
[ "$e" = OK ] && fail "badcfg/latest resolved with a corrupted config"
log "badcfg/latest: $e"
chex=${cfg#sha256:}
[ -z "$(find "$STORE" -type f -name "$chex")" ] || fail "corrupted config stored"
imgfs_alive || fail "daemon died"
pass "config verified ($e)"

check "after the registry is repaired, the image reads correctly"
cp "$TEST_TMP/good-blob" "$blob"
wait_for 60 cmp -s "$TEST_TMP/ref-bad/rootfs/data/blob" "$T/rootfs/data/blob" ||
    fail "bad/latest still unreadable after repair: $(errno_of read "$T/rootfs/data/blob")"
timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$TEST_TMP/ref-bad/rootfs" "$T/rootfs" || fail "rootfs differs after repair"
lf=$(ls "$T/layers/")
assert_eq "$hex" "$(sha256_file "$T/layers/$lf")" "layer after repair"
pass "recovered"

imgfs_umount
echo "t_verify: all checks passed"
