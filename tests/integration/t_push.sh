#!/bin/bash
# t_push.sh — `docker push` as a link into registries/HOST/REPO/TAG, against
# real docker-registry instances on loopback:
#  - a pulled image pushed to another repository of the same registry: its
#    blobs are mounted across repositories (access log: mount=, no blob
#    upload), and the manifest is the same bytes;
#  - pushed to a second registry, with a hard link of a tag (ln), then again
#    under another tag: the second push uploads no blob;
#  - an imported image (uncompressed layer): pushed with a gzip layer, the
#    config unchanged (the image ID survives);
#  - a loaded image (docker-archive), with a relative link target;
#  - a large image (chunked PATCH) whose upload is broken off midway by
#    tests/lib/range_proxy.py: resumed (or started over, when the registry
#    got part of a chunk), and the manifest goes last; a monolithic PUT
#    broken off, sent again;
#  - wrong credentials: EACCES, and no tag at the registry.
# Every pushed image is read back with `skopeo inspect` (config digest =
# image ID, layer digests as imgfs has them) and `skopeo copy` to oci:.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
build_unique "$O" u2
build_unique "$O" big 70      # one layer above the 64 MiB monolithic limit

registry_start
R1=$REG_ADDR R1_LOG=$REG_DIR/access.log
push_image "$O" busybox src/busybox:1
push_image "$O" u1 src/u1:1
push_image "$O" big src/big:1
registry_start
R2=$REG_ADDR R2_LOG=$REG_DIR/access.log
REG_ADDR=$R1

export DOCKER_CONFIG=$TEST_TMP/dockercfg
docker_config "$DOCKER_CONFIG"
imgfs_mount log_level=info
G=$MNT/registries

# id_of PATH — the full image ID a tag link of the mount names.
id_of() { jq -r .config.digest "$1/manifest" | sed 's/^sha256://'; }
# readback ADDR NAME:TAG ID MANIFEST — the registry serves ID's config and
# the layers MANIFEST lists; skopeo copies the image out whole.
readback() {
    local addr=$1 ref=$2 id=$3 man=$4 out=$TEST_TMP/readback-${2//[\/:]/_}
    local creds=()
    [ -n "${RB_CREDS:-}" ] && creds=(--creds "$RB_CREDS")
    sk inspect --tls-verify=false "${creds[@]}" --raw "docker://$addr/$ref" > "$out.manifest" ||
        fail "skopeo inspect $addr/$ref"
    assert_eq "sha256:$id" "$(jq -r .config.digest "$out.manifest")" "$ref: config digest (image ID)"
    assert_eq "$(jq -c '[.layers[].digest]' "$man")" "$(jq -c '[.layers[].digest]' "$out.manifest")" \
        "$ref: layer digests"
    assert_eq "$id" "$(sk inspect --tls-verify=false "${creds[@]}" --config --raw "docker://$addr/$ref" | sha256sum | cut -d' ' -f1)" \
        "$ref: config bytes"
    sk copy -q --src-tls-verify=false ${RB_CREDS:+--src-creds "$RB_CREDS"} "docker://$addr/$ref" "oci:$out.oci:x" ||
        fail "skopeo copy docker://$addr/$ref oci:"
}
# uploads LOG REPO — blob upload requests (POST/PATCH/PUT of uploads) of REPO.
uploads() { grep -E "\"(POST|PATCH|PUT) /v2/$2/blobs/uploads" "$1" || true; }

check "a pulled image pushed to another repository of the same registry: mounted"
BB=$MNT/repos/src/busybox/1
ID=$(id_of "$BB")
[ -n "$ID" ] && [ "$ID" != null ] || fail "pull of src/busybox:1"
mkdir -p "$G/$R1/dst/busybox" || fail "mkdir registries/$R1/dst/busybox"
ln -s "$MNT/by-id/$ID" "$G/$R1/dst/busybox/1" || fail "ln -s by-id/$ID registries/$R1/dst/busybox/1"
readback "$R1" dst/busybox:1 "$ID" "$BB/manifest"
assert_eq "$(remote_digest src/busybox:1)" "$(remote_digest dst/busybox:1)" "manifest digest of the pushed copy"
grep -q "POST /v2/dst/busybox/blobs/uploads/?mount=sha256%3A.*from=src%2Fbusybox" "$R1_LOG" ||
    grep -q "POST /v2/dst/busybox/blobs/uploads/?mount=sha256.*from=src" "$R1_LOG" ||
    fail "no cross-repository mount in the access log"
n=$(uploads "$R1_LOG" dst/busybox | grep -vc "mount=" || true)
assert_eq 0 "$n" "blob uploads other than mounts to dst/busybox"
assert_eq "../../../../by-id/${ID:0:12}" "$(readlink "$G/$R1/dst/busybox/1")" "the pushed tag's link"
grep -qx 1 <<<"$(ls "$G/$R1/dst/busybox")" || fail "registries/$R1/dst/busybox does not list tag 1"
[ -d "$G/$R1/dst/busybox/1/rootfs" ] || fail "the pushed tag does not lead to the image"
pass "mounted: $(uploads "$R1_LOG" dst/busybox | wc -l) mount requests, no upload"

check "ln of a tag pushes to a second registry; a second push uploads nothing"
U1=$MNT/repos/src/u1/1
IDU=$(id_of "$U1")
mkdir -p "$G/$R2/other/u1" || fail "mkdir registries/$R2/other/u1"
ln "$U1" "$G/$R2/other/u1/v1" || fail "ln repos/src/u1/1 registries/$R2/other/u1/v1"
readback "$R2" other/u1:v1 "$IDU" "$U1/manifest"
[ "$(uploads "$R2_LOG" other/u1 | wc -l)" -ge 2 ] || fail "the blobs were not uploaded to $R2"
before=$(wc -l < "$R2_LOG")
ln -s "$MNT/by-id/${IDU:0:12}" "$G/$R2/other/u1/v2" || fail "second push (v2)"
tail -n +"$((before + 1))" "$R2_LOG" > "$TEST_TMP/second.log"
assert_eq 0 "$(uploads "$TEST_TMP/second.log" other/u1 | wc -l)" "blob uploads of the second push"
grep -q "\"HEAD /v2/other/u1/blobs/" "$TEST_TMP/second.log" || fail "the second push asked nothing (HEAD)"
grep -q "\"PUT /v2/other/u1/manifests/v2" "$TEST_TMP/second.log" || fail "no manifest PUT for v2"
readback "$R2" other/u1:v2 "$IDU" "$U1/manifest"
pass "second registry; second push: HEADs and a manifest only"

check "an imported image (uncompressed layer) is pushed with a gzip layer"
mkdir -p "$TEST_TMP/imp/data"
head -c 300000 /dev/urandom > "$TEST_TMP/imp/data/random"
echo hello > "$TEST_TMP/imp/data/hello"
tar -C "$TEST_TMP/imp" -cf "$TEST_TMP/in.tar" . || fail "tar"
cp "$TEST_TMP/in.tar" "$MNT/import/imp:v1" || fail "import"
IDI=$(id_of "$MNT/repos/imp/v1")
assert_eq application/vnd.oci.image.layer.v1.tar "$(jq -r '.layers[0].mediaType' "$MNT/repos/imp/v1/manifest")" \
    "imported layer media type"
mkdir -p "$G/$R2/imported" || fail "mkdir"
ln "$MNT/repos/imp/v1" "$G/$R2/imported/v1" || fail "push of the imported image"
M=$TEST_TMP/imported.manifest
sk inspect --tls-verify=false --raw "docker://$R2/imported:v1" > "$M" || fail "inspect imported"
assert_eq "sha256:$IDI" "$(jq -r .config.digest "$M")" "imported: config digest = image ID"
assert_eq application/vnd.oci.image.layer.v1.tar+gzip "$(jq -r '.layers[0].mediaType' "$M")" "imported: layer media type"
sk copy -q --src-tls-verify=false "docker://$R2/imported:v1" "oci:$TEST_TMP/imported.oci:x" ||
    fail "skopeo copy of the imported image"
L=$(jq -r '.layers[0].digest' "$M")
assert_eq "$(jq -r '.rootfs.diff_ids[0]' "$MNT/repos/imp/v1/config")" \
    "sha256:$(gunzip -c "$TEST_TMP/imported.oci/blobs/sha256/${L#sha256:}" | sha256sum | cut -d' ' -f1)" \
    "imported: the gzip layer decompresses to the diff_id"
before=$(wc -l < "$R2_LOG")
ln -s "$MNT/by-id/${IDI:0:12}" "$G/$R2/imported/v2" || fail "second push of the imported image"
tail -n +"$((before + 1))" "$R2_LOG" > "$TEST_TMP/second-imp.log"
assert_eq 0 "$(uploads "$TEST_TMP/second-imp.log" imported | wc -l)" \
    "uploads of the second push of the imported image"
assert_eq 1 "$(grep -c "layer $(jq -r '.layers[0].digest' "$MNT/repos/imp/v1/manifest") gzip-compressed" "$IMGFS_LOG")" \
    "times the imported layer was compressed for two pushes"
pass "imported image pushed, ID kept"

check "a loaded image (docker-archive), a relative link target"
sk copy -q "oci:$O:u2" "docker-archive:$TEST_TMP/u2.tar:sk/name:tag" || fail "docker-archive"
cp "$TEST_TMP/u2.tar" "$MNT/import/load-u2" || fail "load"
LT=$MNT/repos/docker.io/sk/name/tag
[ -L "$LT" ] || fail "loaded image not at repos/docker.io/sk/name/tag"
IDL=$(id_of "$LT")
mkdir -p "$G/$R2/loaded" || fail "mkdir"
ln -s ../../../repos/docker.io/sk/name/tag "$G/$R2/loaded/t1" || fail "push of the loaded image"
M=$TEST_TMP/loaded.manifest
sk inspect --tls-verify=false --raw "docker://$R2/loaded:t1" > "$M" || fail "inspect loaded"
assert_eq "sha256:$IDL" "$(jq -r .config.digest "$M")" "loaded: config digest = image ID"
sk copy -q --src-tls-verify=false "docker://$R2/loaded:t1" "oci:$TEST_TMP/loaded.oci:x" ||
    fail "skopeo copy of the loaded image"
pass "loaded image pushed"

check "a large upload broken off midway is resumed; the manifest goes last"
PLOG=$TEST_TMP/proxy.log
: > "$PLOG"
proxy_start range_proxy.py "$R2" "$PLOG"
PPORT=$PROXY_PORT
P=127.0.0.1:$PPORT
# The second chunk is broken off before the registry got any of it, and
# so is its resend (libcurl itself resends once on a fresh connection when
# a kept-alive one died): the upload's status says where it stands and the
# push goes on from there.
printf '%s\n' "2 PATCH /v2/big/blobs/uploads/" "PATCH /v2/big/blobs/uploads/" > "$PLOG.drop"
BIG=$MNT/repos/src/big/1
IDB=$(id_of "$BIG")
LB=$(jq -r '.layers[0].digest' "$BIG/manifest")
mkdir -p "$G/$P/big" || fail "mkdir"
timeout 300 ln -s "$MNT/by-id/$IDB" "$G/$P/big/1" || fail "push through the dropping proxy"
[ ! -s "$PLOG.drop" ] || fail "the drop was not used"
up=$(sed -n 's|^PATCH /v2/big/blobs/uploads/\([^?]*\)?.* status=dropped.*|\1|p' "$PLOG" | sort -u)
[ -n "$up" ] || fail "no PATCH was dropped"
grep -q "^GET /v2/big/blobs/uploads/$up?.* status=204" "$PLOG" || fail "no upload status asked after the drop"
grep -q "^PUT /v2/big/blobs/uploads/$up?.*digest=sha256%3[aA]${LB#sha256:}.* status=201" "$PLOG" ||
    fail "the layer was not finished on the upload that was broken off (not resumed)"
assert_eq 2 "$(grep -c "^POST /v2/big/blobs/uploads/" "$PLOG")" "uploads started (layer, config)"
[ "$(grep -c "^PATCH /v2/big/blobs/uploads/$up?.* status=202" "$PLOG")" -ge 5 ] ||
    fail "expected chunked PATCHes of a 70 MiB layer"
last=$(grep -n " /v2/big/" "$PLOG" | tail -1)
[[ $last == *"PUT /v2/big/manifests/1 "* ]] || fail "the manifest was not the last request: $last"
grep -q "resuming" "$IMGFS_LOG" || fail "imgfs did not log the resumption"
readback "$R2" big:1 "$IDB" "$BIG/manifest"
# Broken off after the registry got half of a chunk: distribution gives up
# such an upload (its state no longer matches), so the push starts the
# blob over and still succeeds.
echo "+PATCH /v2/big2/blobs/uploads/" > "$PLOG.drop"
mkdir -p "$G/$P/big2" || fail "mkdir"
timeout 300 ln -s "$MNT/by-id/$IDB" "$G/$P/big2/1" || fail "second push through the dropping proxy"
grep -q "^PATCH /v2/big2/blobs/uploads/.* status=dropped bytes=[1-9]" "$PLOG" || fail "no PATCH of big2 was cut"
assert_eq 3 "$(grep -c "^POST /v2/big2/blobs/uploads/" "$PLOG")" "uploads started (layer twice, config)"
last=$(grep -n " /v2/big2/" "$PLOG" | tail -1)
[[ $last == *"PUT /v2/big2/manifests/1 "* ]] || fail "the manifest was not the last request: $last"
readback "$R2" big2:1 "$IDB" "$BIG/manifest"
# A monolithic PUT broken off (and its resend): the status says the
# registry holds nothing of it, and the blob is sent again.
printf '%s\n' "PUT /v2/mono/blobs/uploads/" "PUT /v2/mono/blobs/uploads/" > "$PLOG.drop"
mkdir -p "$G/$P/mono" || fail "mkdir"
timeout 120 ln -s "$MNT/by-id/$IDU" "$G/$P/mono/1" || fail "push of a small image through the dropping proxy"
[ ! -s "$PLOG.drop" ] || fail "the PUT drops were not used"
grep -q "^GET /v2/mono/blobs/uploads/.* status=204" "$PLOG" || fail "no upload status asked after the PUT drop"
last=$(grep -n " /v2/mono/" "$PLOG" | tail -1)
[[ $last == *"PUT /v2/mono/manifests/1 "* ]] || fail "the manifest was not the last request: $last"
readback "$R2" mono:1 "$IDU" "$U1/manifest"
pass "resumed"

check "wrong credentials: EACCES and no tag at the registry"
registry_start_basic
R3=$REG_ADDR
docker_config "$DOCKER_CONFIG" "$REG_USER" wrong-password "$R3"
mkdir -p "$G/$R3/sec" || fail "mkdir"
e=$(timeout 60 "$PY" -c 'import errno, os, sys
try:
    os.symlink(sys.argv[1], sys.argv[2]); print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))' "$MNT/by-id/$IDU" "$G/$R3/sec/x")
assert_eq EACCES "$e" "push with wrong credentials"
assert_eq ENOENT "$(errno_of lstat "$G/$R3/sec/x")" "the failed push left a link"
code=$(curl -s -o /dev/null -w '%{http_code}' -u "$REG_USER:$REG_PASS" "http://$R3/v2/sec/manifests/x")
assert_eq 404 "$code" "manifest sec:x at the registry"
grep -q "push ${IDU:0:12} to $R3/sec:x failed" "$IMGFS_LOG" || fail "no log line naming image, registry and cause"
pass "EACCES, nothing at the registry"

check "a registry with Bearer tokens: the push asks for pull,push"
unset REG_USER REG_PASS
registry_start_token
R4=$REG_ADDR
docker_config "$DOCKER_CONFIG" "$REG_USER" "$REG_PASS" "$R4"
mkdir -p "$G/$R4/tok/u1" || fail "mkdir"
ln -s "$MNT/by-id/$IDU" "$G/$R4/tok/u1/1" || fail "push with a token"
grep -qF '"name": "tok/u1", "actions": ["pull", "push"]' "$TEST_TMP/token/token.log" ||
    fail "no token asked for scope repository:tok/u1:pull,push"
RB_CREDS=$REG_USER:$REG_PASS readback "$R4" tok/u1:1 "$IDU" "$U1/manifest"
pass "pushed with a token"

check "after a remount: the remote repository is a directory, gzip gives the same blob"
imgfs_alive || fail "imgfs died"
imgfs_umount
REG_ADDR=$R1
imgfs_mount log_level=info
[ -d "$G/$R2/imported" ] || fail "registries/$R2/imported (a repository of $R2) is not a directory"
[ -e "$G/$R2/nosuchrepo" ] && fail "registries/$R2/nosuchrepo exists"
before=$(wc -l < "$R2_LOG")
ln -s "$MNT/by-id/${IDI:0:12}" "$G/$R2/imported/v3" || fail "push of the imported image after a remount"
tail -n +"$((before + 1))" "$R2_LOG" > "$TEST_TMP/third-imp.log"
assert_eq 1 "$(grep -c "gzip-compressed" "$IMGFS_LOG")" "compressions in the new process"
assert_eq 0 "$(uploads "$TEST_TMP/third-imp.log" imported | wc -l)" \
    "uploads after compressing again (deterministic gzip)"
readback "$R2" imported:v3 "$IDI" "$TEST_TMP/imported.manifest"
pass "same gzip blob from a new process"

imgfs_alive || fail "imgfs died"
imgfs_umount
echo "t_push: all checks passed"
