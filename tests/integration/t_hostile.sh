#!/bin/bash
# t_hostile.sh — a poisoned source served by tests/lib/hostile_registry.py
# (mode poison): it serves image X's real config, taken from a real
# docker-registry, in a manifest of its own whose layers are its own bytes
# (valid tar.gz, digests matching their descriptors, diff_ids not the
# config's).  Pulled first through the mount, its rootfs fails to read
# with EIO (never the hostile bytes).  Then X pulled from the real registry
# under another tag is the same image ID and reads X's content; each tag's
# manifest file is its own source's manifest, byte for byte; and the
# hostile registry never sees a request for X's layer.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" x
reference_tree "$O" x "$TEST_TMP/ref"
registry_start
push_image "$O" x x:1
MT=application/vnd.oci.image.manifest.v1+json
curl -sf -H "Accept: $MT" -o "$TEST_TMP/man-real" "http://$REG_ADDR/v2/x/manifests/1" ||
    fail "manifest of x:1 from the registry"
CFG=$(jq -r .config.digest "$TEST_TMP/man-real")
LAYER=$(jq -r '.layers[0].digest' "$TEST_TMP/man-real")
curl -sf -o "$TEST_TMP/config" "http://$REG_ADDR/v2/x/blobs/$CFG" || fail "config of x:1"
assert_eq "$CFG" "sha256:$(sha256_file "$TEST_TMP/config")" "digest of the fetched config"

HPORT=$(free_port)
H=127.0.0.1:$HPORT HLOG=$TEST_TMP/hostile.log
"$PY" "$LIB_DIR/hostile_registry.py" --listen "$H" --mode poison --config "$TEST_TMP/config" \
    --log "$HLOG" >>"$TEST_TMP/hostile.err" 2>&1 &
_PIDS+=("$!")
wait_for 20 _registry_up "$H" || { cat "$TEST_TMP/hostile.err" >&2; fail "hostile_registry.py did not start"; }
curl -sf -H "Accept: $MT" -o "$TEST_TMP/man-hostile" "http://$H/v2/evil/x/manifests/latest" ||
    fail "manifest from the hostile registry"
assert_eq "$CFG" "$(jq -r .config.digest "$TEST_TMP/man-hostile")" "config the hostile manifest names"
cmp -s "$TEST_TMP/man-real" "$TEST_TMP/man-hostile" && fail "the hostile manifest is the real one"
: > "$HLOG"

imgfs_mount
check "the poisoned name, pulled first, fails to read with EIO"
LH=$(readlink "$MNT/repos/$H/evil/x/latest") || fail "pull of $H/evil/x:latest"
ID=$(basename "$LH")
[[ ${CFG#sha256:} == "$ID"* ]] || fail "the hostile tag names image $ID, not ${CFG:7:12}"
# data/small is X's file, hello.txt the hostile layer's: neither reads.
for f in data/small hello.txt; do
    assert_eq EIO "$(errno_of read "$MNT/repos/$H/evil/x/latest/rootfs/$f")" \
        "read of the hostile tag's rootfs/$f"
done
grep -q "diff_id mismatch: config says" "$IMGFS_LOG" || fail "no log line for the diff_id mismatch"
grep -q "GET /v2/evil/x/blobs/sha256:[0-9a-f]* " "$HLOG" ||
    fail "no hostile layer was fetched: nothing tested"
imgfs_alive || fail "daemon died"
pass "the hostile tag of image $ID reads EIO"

check "the same image pulled from the real registry reads X's content"
LR=$(readlink "$MNT/repos/$REG_ADDR/x/1") || fail "pull of $REG_ADDR/x:1"
assert_eq "$ID@$(sha256_file "$TEST_TMP/man-real")" "$(basename "$LR")" "the legitimate tag links to its own manifest's variant"
T=$MNT/repos/$REG_ADDR/x/1
cmp "$T/rootfs/data/small" "$TEST_TMP/ref/rootfs/data/small" || fail "data/small is not X's"
cmp "$T/rootfs/data/blob" "$TEST_TMP/ref/rootfs/data/blob" || fail "data/blob is not X's"
assert_eq ENOENT "$(errno_of stat "$T/rootfs/hello.txt")" "the hostile layer's file under X"
pass "X's content, though the hostile manifest came first"

check "each tag's manifest file"
# Each tag shows its own source's manifest, byte for byte.
cmp "$MNT/repos/$H/evil/x/latest/manifest" "$TEST_TMP/man-hostile" ||
    fail "the hostile tag's manifest file is not the hostile registry's manifest"
cmp "$T/manifest" "$TEST_TMP/man-real" ||
    fail "the manifest file of $REG_ADDR/x:1 is not the real registry's manifest"
jq -e --arg h "$REG_ADDR" --arg md "sha256:$(sha256_file "$TEST_TMP/man-real")" \
    '.tags[] | select(.host == $h and .repo == "x" and .tag == "1") | .source.manifest == $md' \
    "$STORE/tags.json" >/dev/null || { cat "$STORE/tags.json"; fail "tags.json: x:1 does not record the real manifest"; }
pass "manifest files checked"

check "the hostile registry saw no request for X's layer"
cat "$HLOG"
grep -q "${LAYER#sha256:}" "$HLOG" && fail "the hostile registry was asked for X's layer $LAYER"
grep -q "GET /v2/x/" "$HLOG" && fail "the hostile registry was asked for X's repository"
pass "no request for $LAYER reached the hostile registry"

check "the hostile tag now reads X's content, never the hostile bytes"
cmp "$MNT/repos/$H/evil/x/latest/rootfs/data/small" "$TEST_TMP/ref/rootfs/data/small" ||
    fail "data/small under the hostile tag is not X's"
assert_eq ENOENT "$(errno_of stat "$MNT/repos/$H/evil/x/latest/rootfs/hello.txt")" \
    "the hostile layer's file under the hostile tag"
grep -q "${LAYER#sha256:}" "$HLOG" && fail "the hostile registry was asked for X's layer $LAYER"
imgfs_alive || fail "daemon died"
pass "one image, X's content under both tags"
imgfs_umount
echo "t_hostile: all checks passed"
