#!/bin/bash
# t_check.sh — `imgfs --check STORE [--repair]` verifies a store offline:
# a clean store passes; a flipped byte in a layer blob, a corrupt layer
# index, an image whose config blob is gone and a tag naming a missing
# image are each named (by digest), with a non-zero exit; a mounted store
# is refused; --repair removes each, a second check passes, and the next
# mount serves what is left (the damaged layer fetched again).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" other
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" other other:latest
layer=$(remote_raw busybox:latest --raw | jq -r '.layers[0].digest')
other_cfg=$(remote_raw other:latest --raw | jq -r '.config.digest')
[ -n "$layer" ] && [ -n "$other_cfg" ] || fail "no digests from the registry"

imgfs_mount
cat "$MNT/repos/busybox/latest/rootfs/etc/passwd" > /dev/null || fail "busybox read"
cat "$MNT/repos/other/latest/rootfs/data/small" > /dev/null || fail "other read"
other_id=$(basename "$(readlink "$MNT/repos/other/latest")")

check "a clean store passes; a mounted one is refused"
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check0" 2>&1
rc=$?
assert_eq "$rc" 2 "exit status of --check on a mounted store"
grep -q "in use" "$TEST_TMP/check0" || { cat "$TEST_TMP/check0"; fail "no reason given for a mounted store"; }
imgfs_umount
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check1" 2>&1
rc=$?
cat "$TEST_TMP/check1"
assert_eq "$rc" 0 "exit status of --check on a clean store"
grep -q " 0 broken" "$TEST_TMP/check1" || fail "a clean store is not reported clean"

check "damage of four kinds is named, exit 1, nothing changed without --repair"
hex=${layer#sha256:}
blob=$STORE/blobs/sha256/$hex
[ -f "$blob" ] || fail "the layer blob is not in the store"
[ -f "$STORE/index/sha256/$hex" ] || fail "the layer index is not in the store"
"$PY" - "$blob" "$STORE/index/sha256/$hex" <<'EOF'
import sys
for path, off in ((sys.argv[1], 100), (sys.argv[2], 40)):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0xff]))
EOF
rm "$STORE/blobs/sha256/${other_cfg#sha256:}"
"$PY" - "$STORE/tags.json" <<'EOF'
import json, sys
t = json.load(open(sys.argv[1]))
t["tags"].append({"host": "127.0.0.1:1", "repo": "ghost", "tag": "1", "id": "ab" * 32})
json.dump(t, open(sys.argv[1], "w"))
EOF
before=$(cd "$STORE" && find . -type f | sort | xargs sha256sum)
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check2" 2>&1
rc=$?
cat "$TEST_TMP/check2"
assert_eq "$rc" 1 "exit status of --check on a damaged store"
grep -q "broken: blob $layer" "$TEST_TMP/check2" || fail "the flipped blob is not named"
grep -q "broken: index of layer $layer" "$TEST_TMP/check2" || fail "the corrupt index is not named"
grep -q "broken: image sha256:$other_id" "$TEST_TMP/check2" || fail "the image without its config is not named"
grep -q "broken: tags.json" "$TEST_TMP/check2" || fail "the tag of a missing image is not named"
after=$(cd "$STORE" && find . -type f | sort | xargs sha256sum)
[ "$before" = "$after" ] || fail "--check without --repair changed the store"

check "--repair removes what is broken; a second check passes"
"$IMGFS_BIN" --check "$STORE" --repair > "$TEST_TMP/check3" 2>&1
rc=$?
cat "$TEST_TMP/check3"
assert_eq "$rc" 1 "exit status of --repair (it found damage)"
grep -q "repair failed" "$TEST_TMP/check3" && fail "a repair failed"
# The bad blob's removal takes its index along (as any delete does), so
# the index needs no repair of its own.
for what in "blob $layer" "image sha256:$other_id" "tags.json"; do
    grep -q "^repaired: $what" "$TEST_TMP/check3" || fail "no repair said for $what"
done
[ -e "$blob" ] && fail "the flipped blob is still in blobs/"
[ -e "$STORE/index/sha256/$hex" ] && fail "the corrupt index is still in index/"
"$IMGFS_BIN" --check "$STORE" > "$TEST_TMP/check4" 2>&1
rc=$?
cat "$TEST_TMP/check4"
assert_eq "$rc" 0 "exit status of --check after --repair"

check "the next mount serves what is left"
imgfs_mount
want=$(cat "$MNT/repos/busybox/latest/rootfs/etc/passwd")
assert_eq "$want" "root:x:0:0:root:/root:/bin/sh" "busybox's /etc/passwd after the repair"
grep -q '"ghost"' "$STORE/tags.json" && fail "tags.json still names the ghost tag"
grep -q "$other_id" "$STORE/tags.json" && fail "tags.json still names the image whose config was lost"
imgfs_umount
pass "check and repair"
