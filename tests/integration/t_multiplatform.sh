#!/bin/bash
# t_multiplatform.sh — a tag that names an OCI image index resolves to the
# manifest of the host's platform: its marker file /platform holds the host
# architecture, `manifest` is that platform's manifest (its digest is the
# one the index lists), and the rootfs equals umoci unpack of that image.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

arch=$(dpkg --print-architecture)
case $arch in amd64|arm64) ;; *) echo "SKIP: no test image for $arch"; exit 0 ;; esac
other=amd64; [ "$arch" = amd64 ] && other=arm64

O=$TEST_TMP/oci
build_multiplatform "$O" multi
registry_start
push_image "$O" multi multi:latest --all
remote_raw multi:latest --raw > "$TEST_TMP/index.json"
want=$(jq -r --arg a "$arch" '.manifests[] | select(.platform.architecture == $a) | .digest' "$TEST_TMP/index.json")
[ -n "$want" ] || fail "index has no $arch manifest"
reference_tree "$O" "multi-$arch" "$TEST_TMP/ref"

imgfs_mount
T=$MNT/repos/multi/latest

check "multi/latest resolves to the $arch image"
assert_eq "$arch" "$(cat "$T/rootfs/platform")" "rootfs/platform"
[ -f "$T/rootfs/only-$arch/file" ] || fail "only-$arch missing"
assert_eq ENOENT "$(errno_of lstat "$T/rootfs/only-$other")" "only-$other"
pass "marker says $arch"

check "manifest is the $arch manifest listed in the index"
assert_eq "$want" "sha256:$(sha256_file "$T/manifest")" "manifest digest"
assert_eq "$arch" "$(jq -r .architecture "$T/config")" "config architecture"
assert_eq "$(jq -r .config.digest "$T/manifest")" "sha256:$(sha256_file "$T/config")" "config digest"
id=$(sha256_file "$T/config" | cut -c1-12)
assert_eq "../../by-id/$id" "$(readlink "$T")" "link target"
pass "manifest $want"

check "rootfs equals umoci unpack of multi-$arch"
timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$TEST_TMP/ref/rootfs" "$T/rootfs" || fail "rootfs differs"
pass "rootfs"

check "images table shows multi latest $id"
timeout 30 cat "$MNT/images" | awk -v id="$id" '$1 == "multi" && $2 == "latest" && $3 == id { f = 1 } END { exit !f }' ||
    fail "no 'multi latest $id' row"
pass "images row"

imgfs_umount
echo "t_multiplatform: all checks passed"
