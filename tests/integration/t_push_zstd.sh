#!/bin/bash
# t_push_zstd.sh — push_compression=zstd, and a push seen in `status`:
#  (a) an imported image (its layer kept uncompressed) pushed with
#      push_compression=zstd: the registry's manifest is OCI with a
#      ...tar+zstd layer, `skopeo copy` (which checks digests) copies it,
#      the zstd layer decompresses to the config's diff_id and the config
#      digest is the local image ID; a second push sends no blob;
#  (b) a pulled Docker schema2 image with an uncompressed layer pushed
#      with zstd: the manifest goes out as OCI (config media type too),
#      and the image ID is kept;
#  (c) a push slowed down by tests/lib/range_proxy.py shows in `status`
#      while in flight (kind push, the layer, bytes of its total, "push
#      ID to HOST/REPO:TAG") and is gone after;
#  (d) a bad push_compression value stops the mount at start, named.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

registry_start
R=$REG_ADDR
export DOCKER_CONFIG=$TEST_TMP/dockercfg
docker_config "$DOCKER_CONFIG"
imgfs_mount push_compression=zstd,log_level=info
G=$MNT/registries/$R

# id_of PATH — the full image ID a tag link of the mount names.
id_of() { jq -r .config.digest "$1/manifest" | sed 's/^sha256://'; }
# uploads LOG REPO — blob upload requests (POST/PATCH/PUT) of REPO.
uploads() { grep -E "\"(POST|PATCH|PUT) /v2/$2/blobs/uploads" "$1" || true; }
# human BYTES — BYTES as `status` shows sizes (go-units, "%.3g").
human() {
    "$PY" -c 'import sys
v, u = float(sys.argv[1]), ["B", "kB", "MB", "GB"]
i = 0
while v >= 1000 and i < 3: v /= 1000; i += 1
print("%.3g%s" % (v, u[i]))' "$1"
}
# import_tar NAME:TAG KIB — a tar of KIB random KiB and a small file,
# imported as NAME:TAG.
import_tar() {
    local d=$TEST_TMP/imp-${1//:/_}
    mkdir -p "$d/data"
    head -c $(($2 * 1024)) /dev/urandom > "$d/data/random"
    echo "hello $1" > "$d/data/hello"
    tar -C "$d" -cf "$d.tar" . || fail "tar"
    cp "$d.tar" "$MNT/import/$1" || fail "import of $1"
}

check "(a) an imported image pushed with zstd: OCI, +zstd, diff_id and ID kept"
import_tar imp:v1 300
IDI=$(id_of "$MNT/repos/imp/v1")
assert_eq application/vnd.oci.image.layer.v1.tar "$(jq -r '.layers[0].mediaType' "$MNT/repos/imp/v1/manifest")" \
    "imported layer media type"
mkdir -p "$G/zimp" || fail "mkdir registries/$R/zimp"
ln "$MNT/repos/imp/v1" "$G/zimp/v1" || fail "push of the imported image with zstd"
M=$TEST_TMP/zimp.manifest
sk inspect --tls-verify=false --raw "docker://$R/zimp:v1" > "$M" || fail "skopeo inspect zimp:v1"
assert_eq application/vnd.oci.image.manifest.v1+json "$(jq -r .mediaType "$M")" "manifest media type"
assert_eq application/vnd.oci.image.layer.v1.tar+zstd "$(jq -r '.layers[0].mediaType' "$M")" "layer media type"
assert_eq "sha256:$IDI" "$(jq -r .config.digest "$M")" "config digest (image ID)"
assert_eq "$IDI" "$(sk inspect --tls-verify=false --config --raw "docker://$R/zimp:v1" | sha256sum | cut -d' ' -f1)" \
    "digest of the remote config bytes"
sk copy -q --src-tls-verify=false "docker://$R/zimp:v1" "oci:$TEST_TMP/zimp.oci:x" ||
    fail "skopeo copy of the zstd image"
L=$(jq -r '.layers[0].digest' "$M")
B=$TEST_TMP/zimp.oci/blobs/sha256/${L#sha256:}
[ -f "$B" ] || fail "the copy has no blob $L"
assert_eq "${L#sha256:}" "$(sha256_file "$B")" "the zstd blob's digest"
assert_eq "$(jq -r '.rootfs.diff_ids[0]' "$MNT/repos/imp/v1/config")" \
    "sha256:$(zstd -dcq "$B" | sha256sum | cut -d' ' -f1)" "the zstd layer decompresses to the diff_id"
cmp -s <(zstd -dcq "$B") "$TEST_TMP/imp-imp_v1.tar" || fail "the zstd layer is not the imported tar"
assert_eq 1 "$(grep -c "layer $(jq -r '.layers[0].digest' "$MNT/repos/imp/v1/manifest") zstd-compressed for push as $L" "$IMGFS_LOG")" \
    "zstd compressions logged"
before=$(wc -l < "$REG_DIR/access.log")
ln -s "$MNT/by-id/${IDI:0:12}" "$G/zimp/v2" || fail "second push"
assert_eq 0 "$(uploads <(tail -n +"$((before + 1))" "$REG_DIR/access.log") zimp | wc -l)" \
    "blob uploads of the second push"
assert_eq "$L" "$(sk inspect --tls-verify=false --raw "docker://$R/zimp:v2" | jq -r '.layers[0].digest')" \
    "the second push's layer"
pass "zstd layer $L ($(jq -r '.layers[0].size' "$M") bytes), image ID $IDI"

check "(b) a Docker schema2 image pushed with zstd goes out as OCI"
O=$TEST_TMP/oci
build_unique "$O" u2
push_uncompressed "$O" u2 dock/u2:1 docker
DT=$MNT/repos/dock/u2/1
IDD=$(id_of "$DT")
assert_eq application/vnd.docker.distribution.manifest.v2+json "$(jq -r .mediaType "$DT/manifest")" \
    "the pulled image's manifest media type"
assert_eq application/vnd.docker.image.rootfs.diff.tar "$(jq -r '.layers[0].mediaType' "$DT/manifest")" \
    "the pulled image's layer media type"
mkdir -p "$G/zdock" || fail "mkdir"
ln -s "$MNT/by-id/$IDD" "$G/zdock/t1" || fail "push of the Docker image with zstd"
M=$TEST_TMP/zdock.manifest
sk inspect --tls-verify=false --raw "docker://$R/zdock:t1" > "$M" || fail "inspect zdock:t1"
assert_eq application/vnd.oci.image.manifest.v1+json "$(jq -r .mediaType "$M")" "manifest media type"
assert_eq application/vnd.oci.image.config.v1+json "$(jq -r .config.mediaType "$M")" "config media type"
assert_eq application/vnd.oci.image.layer.v1.tar+zstd "$(jq -r '.layers[0].mediaType' "$M")" "layer media type"
assert_eq "sha256:$IDD" "$(jq -r .config.digest "$M")" "config digest (image ID)"
sk copy -q --src-tls-verify=false "docker://$R/zdock:t1" "oci:$TEST_TMP/zdock.oci:x" ||
    fail "skopeo copy of the converted image"
L=$(jq -r '.layers[0].digest' "$M")
assert_eq "$(jq -r '.rootfs.diff_ids[0]' "$DT/config")" \
    "sha256:$(zstd -dcq "$TEST_TMP/zdock.oci/blobs/sha256/${L#sha256:}" | sha256sum | cut -d' ' -f1)" \
    "the zstd layer decompresses to the diff_id"
pass "Docker schema2 pushed as OCI with a zstd layer"

check "(c) a push in flight shows in status, and is gone after"
PLOG=$TEST_TMP/proxy.log
: > "$PLOG"
proxy_start range_proxy.py "$R" "$PLOG"
P=$PROXY_ADDR
import_tar big:v1 12288
IDB=$(id_of "$MNT/repos/big/v1")
mkdir -p "$MNT/registries/$P/slow" || fail "mkdir"
echo 2097152 > "$PLOG.slow"
FOR="push ${IDB:0:12} to $P/slow:1"
timeout 300 ln -s "$MNT/by-id/$IDB" "$MNT/registries/$P/slow/1" 2>"$TEST_TMP/slow.err" &
LN=$!
_pushing() { grep -E "^  push +sha256:[0-9a-f]{12} .* $FOR\$" "$MNT/status"; }
wait_for 120 _pushing || { cat "$MNT/status"; fail "no push row in status while pushing"; }
row=$(grep -E "^  push +sha256:[0-9a-f]{12} .* $FOR\$" "$MNT/status" | head -n 1)
log "status: $row"
grep -qx "in flight: [1-9][0-9]*" "$MNT/status" || fail "status counts nothing in flight"
wait "$LN" || { cat "$TEST_TMP/slow.err"; fail "the slowed push failed"; }
rm -f "$PLOG.slow"
M=$TEST_TMP/slow.manifest
sk inspect --tls-verify=false --raw "docker://$R/slow:1" > "$M" || fail "inspect slow:1"
assert_eq "sha256:$IDB" "$(jq -r .config.digest "$M")" "slow: config digest"
LS=$(jq -r '.layers[0].digest' "$M")
# The row named the layer pushed, with its size as total.
read -r kind obj done total _ <<<"$row"
assert_eq push "$kind" "kind of the row"
assert_eq "${LS:0:19}" "$obj" "the row's object (the zstd layer)"
assert_eq "$(human "$(jq -r '.layers[0].size' "$M")")" "$total" "the row's total"
grep -qx 'in flight: 0' "$MNT/status" || { cat "$MNT/status"; fail "work still in flight after the push"; }
grep -E "^  push " "$MNT/status" && fail "a push row stays after the push"
pass "seen in flight ($done of $total), gone after"

check "(d) a bad push_compression stops the mount, named"
mkdir -p "$TEST_TMP/mnt.bad"
if timeout 20 "$IMGFS_BIN" -f -o "store=$TEST_TMP/store.bad,push_compression=lz4" \
    "$TEST_TMP/mnt.bad" > "$TEST_TMP/bad.log" 2>&1; then
    fail "imgfs mounted with push_compression=lz4"
fi
grep -qF "bad push_compression 'lz4' (gzip or zstd)" "$TEST_TMP/bad.log" ||
    { cat "$TEST_TMP/bad.log"; fail "no message for push_compression=lz4"; }
pass "refused: $(cat "$TEST_TMP/bad.log")"

imgfs_alive || fail "imgfs died"
imgfs_umount
echo "t_push_zstd: all checks passed"
