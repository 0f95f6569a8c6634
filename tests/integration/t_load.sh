#!/bin/bash
# t_load.sh — `docker load` by copying an archive into import/ (any file
# name): docker-archive and oci-archive written by `podman save`, a two-image
# `podman save -m`, a docker-archive written by `skopeo copy`, and gzip and
# zstd compressed forms. Each archive is also loaded by `podman load` into a
# fresh vfs store: the mount must show the same image IDs (config digests)
# with the same tags (podman's localhost/NAME:TAG is repos/localhost/NAME/TAG,
# skopeo's docker.io/sk/name:tag is repos/docker.io/sk/name/tag, as the
# mount's default registry is the test registry), `cat images` shows
# them, loading again changes nothing, and all of it survives a remount.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
build_unique "$O" u2
registry_start
imgfs_mount
R=$MNT/repos
A=$TEST_TMP/archives
mkdir -p "$A"

pm() {  # pm STORE_NAME ARGS... — podman on its own vfs store
    local s=$TEST_TMP/podman/$1
    shift
    podman --root "$s/root" --runroot "$s/run" --storage-driver vfs "$@"
}

check "make the archives (podman save, skopeo copy) and compressed copies"
# (podman pull oci:DIR would name the image after DIR, which has uppercase)
CS="containers-storage:[vfs@$TEST_TMP/podman/src/root+$TEST_TMP/podman/src/run]"
sk copy -q "oci:$O:busybox" "${CS}localhost/bb:1" || fail "skopeo copy busybox into podman's store"
sk copy -q "oci:$O:u1" "${CS}localhost/uu:2" || fail "skopeo copy u1 into podman's store"
pm src tag bb:1 bb:2 || fail "podman tag bb:2"
pm src images
pm src save -q --format docker-archive -o "$A/podman-docker.tar" bb:1 || fail "podman save docker-archive"
pm src save -q --format oci-archive -o "$A/podman-oci.tar" bb:1 || fail "podman save oci-archive"
pm src save -q -m --format docker-archive -o "$A/podman-multi.tar" bb:1 uu:2 || fail "podman save -m"
sk copy -q "oci:$O:u2" "docker-archive:$A/skopeo-docker.tar:sk/name:tag" || fail "skopeo copy docker-archive"
gzip -c "$A/podman-docker.tar" > "$A/podman-docker.tar.gz"
zstd -q -c "$A/podman-oci.tar" > "$A/podman-oci.tar.zst"
gzip -c "$A/skopeo-docker.tar" > "$A/skopeo-docker.tar.gz"
zstd -q -c "$A/podman-multi.tar" > "$A/podman-multi.tar.zst"
ls -l "$A"
pass "archives made"

# want_of ARCHIVE STORE — "id12 name:tag" lines that podman load gives (fresh store).
want_of() {
    local s=$2
    pm "$s" load -q -i "$1" >"$TEST_TMP/pload.out" 2>&1 || { cat "$TEST_TMP/pload.out" >&2; return 1; }
    pm "$s" images --format '{{.ID}} {{.Repository}}:{{.Tag}}' | sort -u
}

# path_of NAME:TAG (as podman prints it) — the mount path below repos/. The
# default registry of the mount is the test registry, so podman's
# localhost/ and docker.io/ are registry hosts of their own there.
path_of() {
    local ref=$1 name tag
    name=${ref%:*} tag=${ref##*:}
    echo "$name/$tag"
}

nblobs() { ls "$STORE/blobs/sha256" | wc -l; }
declare -A ALL   # every tag loaded: path -> id

for f in podman-docker.tar podman-oci.tar podman-multi.tar skopeo-docker.tar \
    podman-docker.tar.gz podman-oci.tar.zst skopeo-docker.tar.gz podman-multi.tar.zst; do
    check "load $f"
    NS=$((${NS:-0} + 1))
    # (podman 4.3 cannot load a compressed archive: the reference for one
    # is podman loading the same archive uncompressed)
    want=$(want_of "$A/${f%.tar*}.tar" "l$NS") || fail "podman load ${f%.tar*}.tar"
    [ -n "$want" ] || fail "podman load $f gave no images"
    echo "$want" | sed 's/^/  podman: /'
    while read -r id ref; do
        [[ $id =~ ^[0-9a-f]{12}$ ]] || fail "podman ID '$id' is not 12 hex"
    done <<<"$want"
    timeout 120 cp "$A/$f" "$MNT/import/any-name-$RANDOM" || fail "cp $f into import/"
    while read -r id ref; do
        p=$(path_of "$ref")
        [ -L "$R/$p" ] || fail "$f: repos/$p missing (podman has $ref)"
        got=$(basename "$(readlink "$R/$p")")
        assert_eq "$id" "$got" "$f: image ID of $ref"
        [ -d "$R/$p/rootfs" ] || fail "$f: repos/$p does not resolve"
        cfg=$(pm "l$NS" inspect --format '{{.Id}}' "$ref")
        assert_eq "$cfg" "$(sha256_file "$R/$p/config")" "$f: config digest of $ref"
        timeout 30 cat "$MNT/images" | awk -v n="${p%/*}" -v t="${p##*/}" -v i="$id" \
            '$1 == n && $2 == t && $3 == i { f = 1 } END { exit !f }' || fail "$f: images lacks '${p%/*} ${p##*/} $id'"
        ALL[$p]=$id
    done <<<"$want"
    # every tag the mount shows for these IDs is one podman shows too
    for id in $(echo "$want" | cut -d' ' -f1 | sort -u); do
        timeout 30 cat "$MNT/images" | awk -v i="$id" '$3 == i && $1 != "<none>" { print $1 "/" $2 }' | sort > "$TEST_TMP/mine"
        echo "$want" | awk -v i="$id" '$1 == i { print $2 }' | while read -r ref; do path_of "$ref"; done | sort |
            comm -13 - "$TEST_TMP/mine" > "$TEST_TMP/extra"
        # tags from an earlier archive on the same ID are expected; others are not
        while read -r p; do [ -n "${ALL[$p]:-}" ] || fail "$f: the mount has tag $p that podman does not"; done < "$TEST_TMP/extra"
    done
    n=$(nblobs)
    timeout 120 cp "$A/$f" "$MNT/import/again-$RANDOM" || fail "loading $f a second time"
    assert_eq "$n" "$(nblobs)" "$f: blobs after loading it again"
    assert_eq "" "$(ls -A "$STORE/tmp")" "$f: STORE/tmp"
    pass "$f: $(echo "$want" | wc -l) tags, IDs as podman's"
done

check "the busybox from an archive runs"
assert_eq "$(sha256_file /bin/busybox)" "$(sha256_file "$R/localhost/bb/1/rootfs/bin/busybox")" "busybox content"
out=$(timeout 60 chroot "$R/localhost/bb/1/rootfs" /bin/sh -c 'echo hi') || fail "chroot"
assert_eq hi "$out" "chroot output"
pass "runs"

check "a broken archive fails cleanly"
head -c 20000 "$A/podman-multi.tar" > "$A/cut.tar"
st() { ls "$STORE/blobs/sha256" "$STORE/images" "$STORE/tmp"; cat "$STORE/tags.json"; }
st > "$TEST_TMP/st.before"
cp "$A/cut.tar" "$MNT/import/cut" 2>/dev/null && fail "a cut archive loaded (cp succeeded)"
st | diff "$TEST_TMP/st.before" - || fail "a failed load changed the store"
imgfs_alive || fail "daemon died"
pass "cut archive handled"

check "loaded images persist across a remount"
imgfs_umount
imgfs_mount
for p in "${!ALL[@]}"; do
    assert_eq "${ALL[$p]}" "$(basename "$(readlink "$R/$p")")" "after remount: $p"
done
pass "${#ALL[@]} tags persisted"

imgfs_umount
echo "t_load: all checks passed"
