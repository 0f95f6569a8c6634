#!/bin/bash
# t_rmi.sh — `docker rmi` as file operations: rm of a tag untags, rm of the
# last tag deletes the image and frees the blobs nothing else uses (a layer
# shared with another image stays until that one goes too); rmdir by-id/<id>
# deletes an image with all its tags; with -o busy_files an image with an
# open file (with -o busy_dirs, an open directory) is EBUSY and nothing
# changes, until the holder exits; without busy_dirs an open directory holds
# nothing (the kernel opens directories without asking) and survives its
# image (files: t_stateless); dangling/
# lists untagged images and `rm dangling/*` removes them; `cat images` rows
# follow every step; deletions persist across a remount.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_variant "$O" busybox busyboxv      # same layer, other config
build_unique "$O" u1
build_unique "$O" u2
registry_start
for n in busybox busyboxv u1 u2; do push_image "$O" "$n" "$n:latest"; done
B=$(remote_config_id busybox:latest)
V=$(remote_config_id busyboxv:latest)
U1=$(remote_config_id u1:latest)
U2=$(remote_config_id u2:latest)

imgfs_mount busy_files
R=$MNT/repos

blobs() { ls "$STORE/blobs/sha256" | sort; }
nblobs() { ls "$STORE/blobs/sha256" | wc -l; }
# image_blobs ID — hex of the manifest, config and layer blobs of image ID.
image_blobs() {
    local m=$MNT/by-id/$1/manifest
    sha256_file "$m"
    jq -r '.config.digest, .layers[].digest' "$m" | cut -d: -f2
}
has_blob() { [ -f "$STORE/blobs/sha256/$1" ]; }
rows() { timeout 30 cat "$MNT/images" | awk 'NR > 1 { print $1, $2, $3 }' | sort; }
row_has() { rows | grep -xF "$1" >/dev/null; }
# gone PATH — PATH is ENOENT. The kernel may keep a positive entry for up to
# the daemon's 1 s tag/by-id entry timeout (no invalidation is sent), so
# allow 3 s.
_enoent() { [ "$(errno_of stat "$1")" = ENOENT ]; }
gone() { wait_for 3 _enoent "$1" || fail "stat ${1#"$MNT"/}: $(errno_of stat "$1"), want ENOENT"; }

check "pull all four images completely (read a file of each rootfs)"
cat "$R/busybox/latest/rootfs/etc/os-release" "$R/busyboxv/latest/rootfs/etc/os-release" \
    "$R/u1/latest/rootfs/data/small" "$R/u2/latest/rootfs/data/small" >/dev/null || fail "read rootfs"
for id in "$B" "$V" "$U1" "$U2"; do
    image_blobs "$id" > "$TEST_TMP/blobs.$id"
    while read -r h; do has_blob "$h" || fail "blob $h of $id not in the store"; done < "$TEST_TMP/blobs.$id"
done
LB=$(jq -r '.layers[0].digest' "$MNT/by-id/$B/manifest" | cut -d: -f2)
assert_eq "$LB" "$(jq -r '.layers[0].digest' "$MNT/by-id/$V/manifest" | cut -d: -f2)" "busybox and busyboxv share their layer"
assert_eq 11 "$(nblobs)" "blobs in the store (4 manifests, 4 configs, 3 layers)"
pass "$(nblobs) blobs"

check "rm of one of two tags untags only"
ln -s "$B" "$R/busybox/second" || fail "ln -s second"
blobs > "$TEST_TMP/b0"
rm "$R/busybox/second" || fail "rm busybox/second"
ls "$R/busybox" | grep -x second >/dev/null && fail "busybox/second still listed"
[ -d "$MNT/by-id/$B/rootfs" ] || fail "by-id/$B went away with a tag left"
blobs | diff "$TEST_TMP/b0" - || fail "untag changed the blobs"
row_has "busybox latest $B" || fail "images lost busybox latest"
row_has "busybox second $B" && fail "images still shows busybox second"
pass "untagged"

check "rm of the last tag deletes the image; the shared layer stays while busyboxv uses it"
rm "$R/busybox/latest" || fail "rm busybox/latest"
gone "$MNT/by-id/$B"
ls "$MNT/by-id" | grep -x "$B" >/dev/null && fail "by-id/ still lists $B"
ls "$R" | grep -x busybox >/dev/null && fail "repos/ still lists busybox"
assert_eq "" "$(ls -A "$MNT/dangling")" "dangling/ (a deleted image is not dangling)"
for h in $(head -n2 "$TEST_TMP/blobs.$B"); do has_blob "$h" && fail "blob $h of deleted $B still in the store"; done
has_blob "$LB" || fail "shared layer $LB freed while busyboxv uses it"
assert_eq 9 "$(nblobs)" "blobs after deleting busybox"
rows | grep " $B\$" >/dev/null && fail "images still shows $B"
assert_eq "$(sha256_file /bin/busybox)" "$(sha256_file "$R/busyboxv/latest/rootfs/bin/busybox")" "busyboxv still reads"
rm "$R/busyboxv/latest" || fail "rm busyboxv/latest"
gone "$MNT/by-id/$V"
has_blob "$LB" && fail "layer $LB not freed after its last image went"
assert_eq 6 "$(nblobs)" "blobs after deleting busyboxv"
if [ -e "$STORE/index/sha256/$LB" ]; then
    fail "layer index of freed layer $LB still in STORE/index"
fi
pass "deleted, blobs freed"

check "rmdir by-id/<id> deletes the image and every tag naming it"
mkdir -p "$R/other/name" || fail "mkdir"
ln -s "$U1" "$R/other/name/x" || fail "ln -s other/name/x"
ln -s "$U1" "$R/u1/second" || fail "ln -s u1/second"
row_has "other/name x $U1" || fail "images lacks other/name x"
rmdir "$MNT/by-id/$U1" || fail "rmdir by-id/$U1"
gone "$MNT/by-id/$U1"
# (readdir and tags.json: a lookup of u1/latest would pull it again from
# the registry, as `docker run u1:latest` would)
ls "$R" | grep -x u1 >/dev/null && fail "repos/ still lists u1 after rmdir by-id"
ls "$R" | grep -x other >/dev/null && fail "repos/ still lists other after rmdir by-id"
jq -r '.tags[].id' "$STORE/tags.json" | grep "^$U1" >/dev/null && fail "tags.json still names $U1"
while read -r h; do has_blob "$h" && fail "blob $h of $U1 still in the store"; done < "$TEST_TMP/blobs.$U1"
rows | grep " $U1\$" >/dev/null && fail "images still shows $U1"
assert_eq 3 "$(nblobs)" "blobs after rmdir (u2's three)"
pass "rmdir by-id"

check "-o busy_files: EBUSY while a file of the image is open"
sleep 100 < "$MNT/by-id/$U2/rootfs/data/blob" &
holder=$!
sleep 0.3
blobs > "$TEST_TMP/b1"
assert_eq EBUSY "$(errno_of unlink "$R/u2/latest")" "rm u2/latest with an open file"
assert_eq EBUSY "$(errno_of rmdir "$MNT/by-id/$U2")" "rmdir by-id/$U2 with an open file"
[ -L "$R/u2/latest" ] || fail "u2/latest removed although EBUSY"
[ -d "$MNT/by-id/$U2/rootfs" ] || fail "by-id/$U2 gone although EBUSY"
blobs | diff "$TEST_TMP/b1" - || fail "EBUSY changed the blobs"
grep -q "$U2.*in use\|in use.*$U2" "$IMGFS_LOG" || fail "the log does not say which image is in use"
# a second tag can go (untag is no deletion)
ln -s "$U2" "$R/u2/extra" || fail "ln -s u2/extra"
rm "$R/u2/extra" || fail "rm of a non-last tag of a busy image"
kill "$holder"; wait "$holder" 2>/dev/null
pass "EBUSY with an open file"

# dir_holder DIR — hold DIR open (not listed) until $TEST_TMP/dirgo
# appears, then list it through the descriptor and write what that gave
# (the names, or the error's name) to $TEST_TMP/dirlisted.
dir_holder() {
    rm -f "$TEST_TMP/dirheld" "$TEST_TMP/dirgo" "$TEST_TMP/dirlisted"
    "$PY" -c 'import errno, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
try:
    out = " ".join(sorted(os.listdir(fd)))
except OSError as e:
    out = errno.errorcode.get(e.errno, str(e.errno))
open(sys.argv[4], "w").write(out + "\n")' "$1" "$TEST_TMP/dirheld" "$TEST_TMP/dirgo" "$TEST_TMP/dirlisted" &
    holder=$!
    wait_for 10 test -f "$TEST_TMP/dirheld" || fail "directory holder did not start"
}

check "-o busy_dirs: EBUSY while a directory of the image is open"
imgfs_umount
imgfs_mount busy_dirs
names=$(ls "$MNT/by-id/$U2/rootfs/data" | xargs)
[ -n "$names" ] || fail "by-id/$U2/rootfs/data lists nothing"
dir_holder "$MNT/by-id/$U2/rootfs/data"
assert_eq EBUSY "$(errno_of unlink "$R/u2/latest")" "rm u2/latest with an open directory"
assert_eq EBUSY "$(errno_of rmdir "$MNT/by-id/$U2")" "rmdir by-id/$U2 with an open directory"
[ -L "$R/u2/latest" ] || fail "u2/latest removed although EBUSY"
touch "$TEST_TMP/dirgo"
wait "$holder" || fail "the directory holder failed"
assert_eq "$names" "$(cat "$TEST_TMP/dirlisted")" "the held directory's listing"
pass "EBUSY with an open directory"

check "without busy_dirs, an open directory holds nothing and outlives its image"
imgfs_umount
imgfs_mount
dir_holder "$MNT/by-id/$U2/rootfs/data"
rm "$R/u2/latest" || fail "rm u2/latest with a directory of it open"
gone "$MNT/by-id/$U2"
assert_eq 0 "$(nblobs)" "blobs after deleting everything"
touch "$TEST_TMP/dirgo"
wait "$holder" || fail "the directory holder failed"
# What the descriptor lists depends on what the kernel kept; the
# daemon must answer either way.
listed=$(cat "$TEST_TMP/dirlisted")
[[ $listed == "$names" || $listed == ENOENT || $listed == ESTALE ]] ||
    fail "listing the deleted image's directory gave '$listed'"
imgfs_alive || fail "daemon died listing a deleted image's directory"
pass "deleted with a directory open; its listing gave $listed"

check "dangling/: untagged imports and an image a tag left; rm dangling/*"
mk_tar() {  # OUT — a small rootfs tar with unique content
    local d=$TEST_TMP/rf.$RANDOM
    mkdir -p "$d/etc"; head -c 4096 /dev/urandom > "$d/etc/random"; echo "$1" > "$d/etc/name"
    tar -C "$d" -cf "$1" . && rm -rf "$d"
}
mk_tar "$TEST_TMP/a.tar"; mk_tar "$TEST_TMP/b.tar"; mk_tar "$TEST_TMP/c.tar"
# Listings read to their end just before a change made elsewhere (in
# import/) show it: the kernel, which keeps listings, is told to drop them.
for i in 1 2; do ls "$MNT/dangling" "$MNT/by-id" "$R" >/dev/null; done
cp "$TEST_TMP/a.tar" "$MNT/import/untagged-a" || fail "import a"
assert_eq 1 "$(ls "$MNT/dangling" | wc -l)" "dangling/ entries listed right after import a"
assert_eq "$(ls "$MNT/dangling")" "$(ls "$MNT/by-id")" "by-id/ right after import a"
cp "$TEST_TMP/b.tar" "$MNT/import/untagged-b" || fail "import b"
cp "$TEST_TMP/c.tar" "$MNT/import/keep:c" || fail "import c"
C=$(basename "$(readlink "$R/keep/c")")
cp "$TEST_TMP/a.tar" "$MNT/import/tmpname:x" || fail "import a again, tagged"
X=$(basename "$(readlink "$R/tmpname/x")")
ln -sfn "$C" "$R/tmpname/x" || fail "ln -sfn tmpname/x"      # X is left untagged
mapfile -t dang < <(ls "$MNT/dangling")
assert_eq 3 "${#dang[@]}" "dangling/ entries (${dang[*]})"
printf '%s\n' "${dang[@]}" | grep -x "$X" >/dev/null || fail "dangling/ lacks $X"
printf '%s\n' "${dang[@]}" | grep -x "$C" >/dev/null && fail "dangling/ lists the tagged $C"
for d in "${dang[@]}"; do
    assert_eq "../by-id/$d" "$(readlink "$MNT/dangling/$d")" "dangling/$d target"
    [ -d "$MNT/dangling/$d/rootfs/etc" ] || fail "dangling/$d does not resolve"
    row_has "<none> <none> $d" || fail "images lacks '<none> <none> $d'"
done
assert_eq 3 "$(rows | grep -c '^<none> <none> ')" "<none> rows"
rm "$MNT/dangling/"* || fail "rm dangling/*"
assert_eq "" "$(ls -A "$MNT/dangling")" "dangling/ after rm"
for d in "${dang[@]}"; do gone "$MNT/by-id/$d"; done
rows | grep '^<none>' >/dev/null && fail "images still shows <none> rows"
image_blobs "$C" | sort > "$TEST_TMP/blobs.C"
blobs | diff "$TEST_TMP/blobs.C" - || fail "store holds other blobs than keep:c's"
pass "dangling cleaned, only keep:c's $(nblobs) blobs left"

check "deletions persist across a remount"
rows > "$TEST_TMP/rows.before"
imgfs_umount
imgfs_mount
rows | diff "$TEST_TMP/rows.before" - || fail "images rows differ after remount"
assert_eq "keep tmpname" "$(ls "$R" | xargs)" "repos/ after remount"
assert_eq "$C" "$(ls "$MNT/by-id" | xargs)" "by-id/ after remount"
assert_eq "" "$(ls -A "$MNT/dangling")" "dangling/ after remount"
for id in "$B" "$V" "$U1" "$U2"; do gone "$MNT/by-id/$id"; done
pass "persisted"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_rmi: all checks passed"
