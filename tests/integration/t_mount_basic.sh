#!/bin/bash
# t_mount_basic.sh — the mount's namespace and the image directory: repos/
# tags as symlinks into by-id/, manifest/config/layers bytes exactly as the
# registry serves them, rootfs readable and runnable (chroot busybox),
# the `images` table, EROFS for writes, ENOENT for unknown names, and repos/
# listing local names only.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_features "$O"
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" features features:latest
push_image "$O" busybox notpulled:latest    # in the registry, never looked up

# A low soft limit of open files, as a login shell may have: the daemon
# must lift it to the hard limit (one descriptor per layer and open file).
ulimit -S -n 256
imgfs_mount allow_other,default_permissions

check "the daemon lifted its open-file soft limit to the hard limit"
read -r soft hard < <(awk '/^Max open files/ { print $4, $5 }' "/proc/$IMGFS_PID/limits")
[ "$(ulimit -H -n)" != 256 ] || fail "hard limit is 256: cannot tell"
assert_eq "$hard" "$soft" "daemon's soft open-file limit"
pass "open files: soft $soft = hard $hard"

check "mount root has repos/ by-id/ images; repos/ starts empty"
for e in repos by-id images; do
    [ -e "$MNT/$e" ] || fail "$e missing at the mount root"
done
[ -d "$MNT/repos" ] && [ -d "$MNT/by-id" ] && [ -f "$MNT/images" ] || fail "root entry types"
assert_eq "" "$(ls -A "$MNT/repos")" "repos/ before any lookup"
pass "root layout"

check "repos/busybox/latest is a symlink ../../by-id/<12hex config digest>"
T=$MNT/repos/busybox/latest
id=$(remote_config_id busybox:latest)
[ -L "$T" ] || fail "$T is not a symlink"
assert_eq "../../by-id/$id" "$(readlink "$T")" "busybox/latest link target"
ls -l "$MNT/repos/busybox" | grep "latest -> ../../by-id/$id" >/dev/null || fail "ls -l repos/busybox"
pass "latest -> ../../by-id/$id"

check "image directory lists config image.tar layers manifest oci rootfs"
assert_eq "config image.tar layers manifest oci rootfs" "$(ls "$T/" | tr '\n' ' ' | sed 's/ $//')" "ls repos/busybox/latest/"
assert_eq "config image.tar layers manifest oci rootfs" "$(ls "$MNT/by-id/$id/" | tr '\n' ' ' | sed 's/ $//')" "ls by-id/$id/"
ls "$MNT/by-id" | grep -x "$id" >/dev/null || fail "by-id/ does not list $id"
full=$(remote_raw busybox:latest --config --raw | sha256sum | cut -d' ' -f1)
[ -d "$MNT/by-id/$full/rootfs" ] || fail "full hex by-id/$full does not resolve"
pass "image directory"

check "tar of a rootfs not read yet: its root does not change under tar"
# The tree is built by the first listing, after tar has stat'ed the root:
# the root's size and ctime must be the same before and after.
tar cf - -C "$T/rootfs" . 2>"$TEST_TMP/tar.err" | cat > "$TEST_TMP/busybox.tar"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || fail "tar cf - of the rootfs: exit $rc: $(cat "$TEST_TMP/tar.err")"
[ -s "$TEST_TMP/tar.err" ] && fail "tar said: $(cat "$TEST_TMP/tar.err")"
tar tf "$TEST_TMP/busybox.tar" | grep -x "./bin/busybox" >/dev/null || fail "bin/busybox not in the tar"
pass "tar of the fresh rootfs: $(tar tf "$TEST_TMP/busybox.tar" | wc -l) members, no warning"

check "manifest and config are the registry's exact bytes, digests match"
remote_raw busybox:latest --raw > "$TEST_TMP/manifest.want"
remote_raw busybox:latest --config --raw > "$TEST_TMP/config.want"
cmp "$TEST_TMP/manifest.want" "$T/manifest" || fail "manifest bytes differ"
cmp "$TEST_TMP/config.want" "$T/config" || fail "config bytes differ"
assert_eq "$(jq -r .config.digest "$TEST_TMP/manifest.want")" "sha256:$(sha256_file "$T/config")" "config digest"
dig=$(sk inspect --tls-verify=false "docker://$REG_ADDR/busybox:latest" | jq -r .Digest)
assert_eq "$dig" "sha256:$(sha256_file "$T/manifest")" "manifest digest"
assert_eq "$(stat -c %s "$TEST_TMP/manifest.want")" "$(stat -c %s "$T/manifest")" "manifest st_size"
pass "manifest $dig"

check "layers/ holds each blob, bottom first, named with position and digest"
for img in busybox features; do
    L=$MNT/repos/$img/latest/layers
    remote_raw "$img:latest" --raw > "$TEST_TMP/$img.manifest"
    mapfile -t digests < <(jq -r '.layers[].digest' "$TEST_TMP/$img.manifest")
    mapfile -t names < <(ls "$L" | sort -n)
    assert_eq "${#digests[@]}" "${#names[@]}" "$img: number of layer files"
    for i in "${!digests[@]}"; do
        hex=${digests[$i]#sha256:}
        n=${names[$i]}
        [[ $n == "$(printf '%02d' "$i")-"* ]] || fail "$img: layer file '$n' does not start with position $i (two digits)"
        [[ $n == *"$hex"* ]] || fail "$img: layer file '$n' does not contain $hex"
        assert_eq "$(jq -r ".layers[$i].size" "$TEST_TMP/$img.manifest")" "$(stat -c %s "$L/$n")" "$img layer $i size"
        assert_eq "$hex" "$(sha256_file "$L/$n")" "$img layer $i sha256"
        cmp "$(registry_blob_path "${digests[$i]}")" "$L/$n" || fail "$img layer $i differs from the registry blob"
    done
    pass "$img: ${#digests[@]} layers verified"
done

check "rootfs is readable and runnable"
assert_eq "$(printf 'NAME="imgfs test busybox"\nID=busybox')" "$(cat "$T/rootfs/etc/os-release")" \
    "rootfs/etc/os-release"
assert_eq "$(sha256_file /bin/busybox)" "$(sha256_file "$T/rootfs/bin/busybox")" "rootfs/bin/busybox content"
out=$(timeout 60 chroot "$T/rootfs" /bin/sh -c 'ls /') || fail "chroot rootfs /bin/sh -c 'ls /' failed"
assert_eq "bin dev etc proc root tmp" "$(echo $out)" "ls / inside the chroot"
out=$(timeout 60 chroot "$T/rootfs" /bin/sh -c 'cat /etc/os-release | wc -l') || fail "chroot pipeline"
assert_eq 2 "$(echo $out)" "wc -l inside the chroot"
pass "cat, exec (mmap) and chroot work"

check "images table: header and rows"
timeout 30 cat "$MNT/images" > "$TEST_TMP/images" || fail "cat images"
cat "$TEST_TMP/images"
head -n1 "$TEST_TMP/images" | grep -E '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE *$' >/dev/null || fail "images header"
awk -v id="$id" '$1 == "busybox" && $2 == "latest" && $3 == id { f = 1 } END { exit !f }' "$TEST_TMP/images" ||
    fail "images has no row 'busybox latest $id'"
fid=$(remote_config_id features:latest)
awk -v id="$fid" '$1 == "features" && $2 == "latest" && $3 == id { f = 1 } END { exit !f }' "$TEST_TMP/images" ||
    fail "images has no row 'features latest $fid'"
pass "images table"

check "writes inside an image fail with EROFS"
for op_path in "write $T/rootfs/newfile" "writeto $T/rootfs/etc/os-release" "mkdir $T/rootfs/newdir" \
    "unlink $T/rootfs/etc/os-release" "rmdir $T/rootfs/tmp" "symlink $T/rootfs/newlink" \
    "chmod $T/rootfs/etc/passwd" "truncate $T/rootfs/etc/passwd" "setxattr $T/rootfs/etc/passwd" \
    "writeto $T/manifest" "writeto $T/config" "write $T/layers/x" "unlink $T/manifest"; do
    set -- $op_path
    assert_eq EROFS "$(errno_of "$1" "$2")" "$1 $2"
done
touch "$T/rootfs/etc/os-release" 2>/dev/null && fail "touch succeeded"
echo x 2>/dev/null > "$T/rootfs/etc/passwd" && fail "shell redirect succeeded"
pass "EROFS"

check "unknown names are ENOENT (twice: the negative cache answers too)"
for p in repos/doesnotexist/latest repos/busybox/nosuchtag repos/no/such/deep/name/tag \
    by-id/000000000000 repos/busybox/latest/rootfs/nonexistent; do
    assert_eq ENOENT "$(errno_of stat "$MNT/$p")" "stat $p"
    assert_eq ENOENT "$(errno_of stat "$MNT/$p")" "stat $p (again)"
done
imgfs_alive || fail "daemon died"
pass "ENOENT"

check "repos/ lists local names only"
assert_eq "busybox features" "$(ls "$MNT/repos" | tr '\n' ' ' | sed 's/ $//')" "ls repos/"
assert_eq "latest" "$(ls "$MNT/repos/busybox")" "ls repos/busybox"
ls "$MNT/by-id" | grep -x "$fid" >/dev/null || fail "by-id lacks features"
pass "local names only (notpulled, doesnotexist absent)"

imgfs_umount
echo "t_mount_basic: all checks passed"
