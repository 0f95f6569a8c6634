#!/bin/bash
# t_save.sh — `docker save` as a copy: repos/NAME/TAG/image.tar (through the
# tag link, by-id/<id>/image.tar) of a pulled OCI image, a pulled Docker
# schema 2 image and an imported one.  Each archive: stat's size equals the
# bytes cp copies, two reads give the same bytes, reads at random offsets
# (dd skip) equal the same bytes of the copy, `tar t` lists the Docker 25+
# layout, manifest.json has the image's tags, `podman load` (a vfs store of
# its own) gives the imgfs image ID and tags, `skopeo copy docker-archive:`
# into an OCI layout works and keeps the config.  oci/ read in place:
# `skopeo inspect oci:…/oci` shows the registry's manifest digest and
# layer digests, and `umoci unpack --image …/oci:TAG` equals umoci's unpack
# of the image that was pushed (tests/lib/treecmp.py).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_features "$O"
build_variant "$O" features features-v2s2
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" features-v2s2 features-v2s2:latest --format v2s2
reference_tree "$O" features "$TEST_TMP/ref-features"
reference_tree "$O" busybox "$TEST_TMP/ref-busybox"
imgfs_mount
R=$MNT/repos
A=$TEST_TMP/archives
mkdir -p "$A" "$TEST_TMP/podman"
treecmp() { timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$@"; }

pm() {  # pm NAME ARGS... — podman on a vfs store of its own under TEST_TMP
    local s=$TEST_TMP/podman/$1
    shift
    podman --root "$s/root" --runroot "$s/run" --storage-driver vfs "$@"
}

# full_id DIR — the image ID (config digest, 64 hex) of image directory DIR.
full_id() { sha256_file "$1/config"; }

# check_archive NAME:TAG WHAT — every check of repos/NAME/TAG/image.tar.
check_archive() {
    local ref=$1 what=$2 d=$R/${1%:*}/${1##*:} f id size got n
    f=$A/$what.tar
    id=$(full_id "$d")
    check "$what: image.tar of $ref"
    size=$(stat -c %s "$d/image.tar") || fail "$what: stat image.tar"
    timeout 300 cp "$d/image.tar" "$f" || fail "$what: cp image.tar"
    assert_eq "$size" "$(stat -c %s "$f")" "$what: stat size = bytes copied"
    assert_eq "$(sha256_file "$f")" "$(timeout 300 cat "$d/image.tar" | sha256sum | cut -d' ' -f1)" \
        "$what: a second read gives the same bytes"
    for _ in 1 2 3 4 5 6; do
        local off=$(( (RANDOM * 32768 + RANDOM) % size )) len=$(( RANDOM % 70000 + 1 ))
        got=$(dd if="$d/image.tar" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
        assert_eq "$(dd if="$f" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)" \
            "$got" "$what: bytes at offset $off"
    done
    tar tf "$f" > "$A/$what.list" || fail "$what: tar t"
    for m in blobs/ blobs/sha256/ "blobs/sha256/$id" index.json manifest.json oci-layout; do
        grep -qx "$m" "$A/$what.list" || fail "$what: $m missing from the archive: $(cat "$A/$what.list")"
    done
    tar xOf "$f" manifest.json > "$A/$what.manifest.json" || fail "$what: manifest.json"
    assert_eq "blobs/sha256/$id" "$(jq -r '.[0].Config' "$A/$what.manifest.json")" "$what: Config"
    jq -e --arg r "$REG_ADDR/$ref" '.[0].RepoTags | index($r)' "$A/$what.manifest.json" >/dev/null ||
        fail "$what: RepoTags lacks $REG_ADDR/$ref: $(cat "$A/$what.manifest.json")"
    n=$(jq '.[0].Layers | length' "$A/$what.manifest.json")
    assert_eq "$(ls "$d/layers" | wc -l)" "$n" "$what: number of layers"
    for l in $(seq 0 $((n - 1))); do
        local want got_l
        want=$(ls "$d/layers" | sed -n "$((l + 1))p" | sed 's/^[0-9]*-sha256://')
        got_l=$(jq -r ".[0].Layers[$l]" "$A/$what.manifest.json")
        assert_eq "blobs/sha256/$want" "$got_l" "$what: layer $l"
        cmp <(tar xOf "$f" "$got_l") "$d/layers/$(ls "$d/layers" | sed -n "$((l + 1))p")" ||
            fail "$what: layer $l bytes differ from layers/"
    done
    cmp <(tar xOf "$f" "blobs/sha256/$id") "$d/config" || fail "$what: config bytes"
    pass "$what: $size bytes, $n layers"

    check "$what: podman load gives the same image ID and tag"
    pm "$what" load -i "$f" > "$A/$what.load" 2>&1 || { cat "$A/$what.load"; fail "$what: podman load"; }
    assert_eq "$id" "$(pm "$what" inspect --format '{{.Id}}' "$REG_ADDR/$ref")" "$what: podman image ID"
    pass "$what: podman loaded $id"

    check "$what: skopeo reads the docker-archive and copies it to an OCI layout"
    assert_eq "$id" "$(sk inspect --config --raw "docker-archive:$f" | sha256sum | cut -d' ' -f1)" \
        "$what: skopeo config digest"
    sk copy -q "docker-archive:$f" "oci:$A/$what.oci:x" || fail "$what: skopeo copy docker-archive -> oci"
    # (the copy converts the config to OCI by re-encoding it, so its digest
    # is skopeo's; what it describes must be the same)
    assert_eq "$(jq -c .rootfs.diff_ids "$d/config")" \
        "$(sk inspect --config "oci:$A/$what.oci:x" | jq -c .rootfs.diff_ids)" "$what: diff_ids after skopeo copy"
    pass "$what: skopeo"
}

# check_oci NAME:TAG WHAT REFTREE — oci/ read in place by skopeo and umoci.
check_oci() {
    local ref=$1 what=$2 reftree=$3 d tag=${1##*:} id
    id=$(basename "$(readlink "$R/${1%:*}/$tag")")
    d=$MNT/by-id/$id
    check "$what: oci/ read in place"
    assert_eq "$(ls "$d/oci" | tr '\n' ' ')" "blobs index.json oci-layout " "$what: oci/ entries"
    sk inspect "oci:$d/oci:$tag" > "$A/$what.oci.json" || fail "$what: skopeo inspect oci:by-id/$id/oci"
    sk inspect --tls-verify=false "docker://$REG_ADDR/$ref" > "$A/$what.remote.json" || fail "skopeo inspect remote"
    assert_eq "$(jq -c .Layers "$A/$what.remote.json")" "$(jq -c .Layers "$A/$what.oci.json")" "$what: layer digests"
    for b in $(ls "$d/oci/blobs/sha256"); do
        assert_eq "$b" "$(sha256_file "$d/oci/blobs/sha256/$b")" "$what: blob $b content-addressed"
    done
    timeout 300 umoci unpack --image "$d/oci:$tag" "$A/$what.unpack" >/dev/null 2>"$A/$what.umoci.err" ||
        { cat "$A/$what.umoci.err"; fail "$what: umoci unpack --image by-id/$id/oci:$tag"; }
    treecmp "$reftree" "$A/$what.unpack/rootfs" || fail "$what: umoci unpack of oci/ differs from the pushed image"
    pass "$what: skopeo and umoci"
}

# An OCI image (gzip layers): its manifest is saved exactly.
ls "$R/busybox/latest/" > /dev/null || fail "pull busybox"
check_archive busybox:latest busybox
check_oci busybox:latest busybox "$TEST_TMP/ref-busybox/rootfs"
assert_eq "$(remote_digest busybox:latest)" "$(jq -r .Digest "$A/busybox.oci.json")" "busybox: oci/ manifest digest is the registry's"

# A Docker schema 2 image: an OCI manifest is made for it.
ls "$R/features-v2s2/latest/" > /dev/null || fail "pull features-v2s2"
check_archive features-v2s2:latest v2s2
check_oci features-v2s2:latest v2s2 "$TEST_TMP/ref-features/rootfs"

check "a second tag shows in RepoTags at once; by-id oci/ names both"
ln -s "../../by-id/$(basename "$(readlink "$R/busybox/latest")")" "$R/busybox/second" || fail "tag busybox:second"
tar xOf "$R/busybox/second/image.tar" manifest.json | jq -e --arg r "$REG_ADDR/busybox:second" \
    '.[0].RepoTags | index($r)' >/dev/null || fail "RepoTags lacks busybox:second"
assert_eq 2 "$(jq '.manifests | length' "$R/busybox/second/oci/index.json")" "oci/index.json descriptors"
pass "retagged"

check "an imported image (its layer kept uncompressed) is saved as it is"
S=$TEST_TMP/src
mkdir -p "$S/etc" "$S/bin"
echo imported > "$S/etc/os-release"
cp /bin/busybox "$S/bin/busybox"
tar --numeric-owner -C "$S" -cf "$TEST_TMP/in.tar" . || fail "tar"
cp "$TEST_TMP/in.tar" "$MNT/import/imp:v1" || fail "import"
check_archive imp:v1 imported
jq -e '.manifests[0].digest' "$R/imp/v1/oci/index.json" >/dev/null || fail "imported: oci/index.json"
cmp "$TEST_TMP/in.tar" <(tar xOf "$A/imported.tar" "$(jq -r '.[0].Layers[0]' "$A/imported.manifest.json")") ||
    fail "imported: the layer is not the imported tar"
pass "imported"

check "an untagged image by ID: no RepoTags, oci/ names it latest"
echo untagged > "$S/etc/untagged"
tar --numeric-owner -C "$S" -cf "$TEST_TMP/in2.tar" . || fail "tar"
cp "$TEST_TMP/in2.tar" "$MNT/import/untagged.tar" || fail "untagged import"
id=$(ls "$MNT/dangling")
[ -n "$id" ] && [ -d "$MNT/by-id/$id" ] || fail "no untagged image: '$id'"
tar xOf "$MNT/by-id/$id/image.tar" manifest.json | jq -e '.[0].RepoTags == null' >/dev/null ||
    fail "untagged RepoTags: $(tar xOf "$MNT/by-id/$id/image.tar" manifest.json)"
sk inspect "oci:$MNT/by-id/$id/oci" >/dev/null || fail "skopeo inspect oci: of an untagged image"
pass "untagged"

check "export/: several images in one archive (docker save a b c)"
E=$MNT/export
mkdir "$E/two" || fail "mkdir export/two"
[ -f "$E/two.tar" ] || fail "export/two.tar missing after mkdir"
assert_eq 0 "$(stat -c %s "$E/two.tar")" "empty selection size"
# (the archive lists the images in the order of the entries' names)
ln -s "$id" "$E/two/untagged" || fail "ln -s an image ID"
ln -s "$MNT/repos/features-v2s2/latest" "$E/two/feat" || fail "ln -s an absolute tag"
ln -s ../../repos/busybox/latest "$E/two/bb" || fail "ln -s a tag into export/two"
assert_eq "bb feat untagged" "$(ls "$E/two" | sort | tr '\n' ' ' | sed 's/ $//')" "export/two entries"
assert_eq "../../by-id/$(basename "$(readlink "$R/busybox/latest")")" "$(readlink "$E/two/bb")" "entry link"
size=$(stat -c %s "$E/two.tar")
timeout 300 cp "$E/two.tar" "$A/two.tar" || fail "cp export/two.tar"
assert_eq "$size" "$(stat -c %s "$A/two.tar")" "export: stat size = bytes copied"
tar xOf "$A/two.tar" manifest.json > "$A/two.manifest.json" || fail "two: manifest.json"
assert_eq 3 "$(jq length "$A/two.manifest.json")" "export: images in manifest.json"
assert_eq "[\"$REG_ADDR/busybox:latest\"]" "$(jq -c '.[0].RepoTags' "$A/two.manifest.json")" \
    "export: only the linked tag is recorded"
assert_eq "null" "$(jq -c '.[2].RepoTags' "$A/two.manifest.json")" "export: an image ID is saved untagged"
assert_eq "$(full_id "$MNT/by-id/$id")" "$(jq -r '.[2].Config' "$A/two.manifest.json" | sed 's|.*/||')" "export: third image"
assert_eq 1 "$(tar tf "$A/two.tar" | grep -c "^blobs/sha256/$(full_id "$R/busybox/latest")\$")" "config once"
pm two load -i "$A/two.tar" > "$A/two.load" 2>&1 || { cat "$A/two.load"; fail "podman load export/two.tar"; }
for t in busybox features-v2s2; do
    assert_eq "$(full_id "$R/$t/latest")" "$(pm two inspect --format '{{.Id}}' "$REG_ADDR/$t:latest")" "export: podman ID of $t"
done
# (grep reads a file, not a pipe: under pipefail a `podman | grep -q` fails
# whenever grep's early exit makes podman's next write an EPIPE)
want=$(full_id "$MNT/by-id/$id")
[ -n "$want" ] || fail "export: by-id/$id/config unreadable"
pm two images --format '{{.ID}}' --no-trunc > "$A/two.images" || fail "podman images after load"
grep -q "$want" "$A/two.images" ||
    fail "export: the untagged image $want was not loaded: $(pm two images --no-trunc)"
rmdir "$E/two" 2>/dev/null && fail "rmdir of a non-empty selection succeeded"
rm "$E/two/bb" "$E/two/feat" "$E/two/untagged" || fail "rm export entries"
rmdir "$E/two" || fail "rmdir export/two"
[ -e "$E/two.tar" ] && fail "export/two.tar stays after rmdir"
pass "export: $size bytes, 3 images"

check "every call on the new node kinds gets an answer; the daemon stays up"
mkdir "$E/robust" && ln -s ../../repos/busybox/latest "$E/robust/bb" || fail "export/robust"
B=$MNT/by-id/$(basename "$(readlink "$R/busybox/latest")")
timeout 300 "$PY" "$LIB_DIR/ops_robust.py" "$MNT" \
    imagetar="$B/image.tar" ocidir="$B/oci" ociblobs="$B/oci/blobs/sha256" \
    ociindex="$B/oci/index.json" ociblob="$B/oci/blobs/sha256/$(ls "$B/oci/blobs/sha256" | head -n1)" \
    exportdir="$E" exportset="$E/robust" exportlink="$E/robust/bb" exporttar="$E/robust.tar" \
    > "$TEST_TMP/ops.out" 2>&1
rc=$?
grep -E '^(FAIL|[0-9]+ calls)' "$TEST_TMP/ops.out"
[ "$rc" = 0 ] || { tail -n 5 "$TEST_TMP/ops.out" >&2; fail "ops_robust.py exited $rc"; }
imgfs_alive || fail "daemon died"
pass "ops_robust"

check "the files are read-only"
assert_eq EROFS "$(errno_of writeto "$R/busybox/latest/image.tar")" "write into image.tar"
pass "read-only"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_save: all checks passed"
