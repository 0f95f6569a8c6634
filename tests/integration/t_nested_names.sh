#!/bin/bash
# t_nested_names.sh — names with several path components are nested
# directories under repos/ (repos/ouruser/sinatra/v2, repos/a/b/c/1), with
# one more ../ in the tag link per component; a first component with ':'
# names another registry (repos/127.0.0.1:PORT/onlyhere/img/t1 is pulled from
# a second registry that alone has it).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" uniq
registry_start
push_image "$O" busybox ouruser/sinatra:v2
push_image "$O" busybox a/b/c:1
id=$(remote_config_id ouruser/sinatra:v2)
# A second registry, not the default: only it has onlyhere/img:t1.
D_ADDR=$REG_ADDR D_PID=$REG_PID D_DIR=$REG_DIR D_PORT=$REG_PORT D_STORAGE=$REG_STORAGE
registry_start
push_image "$O" uniq onlyhere/img:t1
id2=$(remote_config_id onlyhere/img:t1)
R2=$REG_ADDR
REG_ADDR=$D_ADDR REG_PID=$D_PID REG_DIR=$D_DIR REG_PORT=$D_PORT REG_STORAGE=$D_STORAGE

imgfs_mount

check "repos/ouruser/sinatra/v2 -> ../../../by-id/$id"
assert_eq "../../../by-id/$id" "$(readlink "$MNT/repos/ouruser/sinatra/v2")" "ouruser/sinatra/v2"
[ -d "$MNT/repos/ouruser" ] && [ -d "$MNT/repos/ouruser/sinatra" ] || fail "intermediate directories"
assert_eq 'NAME="imgfs test busybox"' "$(head -n1 "$MNT/repos/ouruser/sinatra/v2/rootfs/etc/os-release")" "read through nested name"
out=$(timeout 60 chroot "$MNT/repos/ouruser/sinatra/v2/rootfs" /bin/sh -c 'ls /') || fail "chroot via nested name"
pass "two components"

check "repos/a/b/c/1 -> ../../../../by-id/$id"
assert_eq "../../../../by-id/$id" "$(readlink "$MNT/repos/a/b/c/1")" "a/b/c/1"
assert_eq "config image.tar layers manifest oci rootfs" "$(ls "$MNT/repos/a/b/c/1/" | tr '\n' ' ' | sed 's/ $//')" "ls a/b/c/1/"
pass "three components"

check "repos/$R2/onlyhere/img/t1 comes from the second registry"
assert_eq "../../../../by-id/$id2" "$(readlink "$MNT/repos/$R2/onlyhere/img/t1")" "$R2/onlyhere/img/t1"
remote_raw_at() { local a=$REG_ADDR; REG_ADDR=$R2; remote_raw "$@"; REG_ADDR=$a; }
remote_raw_at onlyhere/img:t1 --raw > "$TEST_TMP/m2"
cmp "$TEST_TMP/m2" "$MNT/repos/$R2/onlyhere/img/t1/manifest" || fail "manifest from the second registry"
[ -s "$MNT/repos/$R2/onlyhere/img/t1/rootfs/data/small" ] || fail "rootfs/data/small"
assert_eq 1048576 "$(stat -c %s "$MNT/repos/$R2/onlyhere/img/t1/rootfs/data/blob")" "data/blob size"
assert_eq ENOENT "$(errno_of stat "$MNT/repos/onlyhere/img/t1")" "onlyhere/img on the default registry"
pass "registry-qualified name"

check "unknown tags under nested names are ENOENT"
assert_eq ENOENT "$(errno_of stat "$MNT/repos/ouruser/sinatra/nosuch")" "ouruser/sinatra/nosuch"
assert_eq ENOENT "$(errno_of stat "$MNT/repos/a/b/c/nosuch")" "a/b/c/nosuch"
assert_eq ENOENT "$(errno_of stat "$MNT/repos/$R2/onlyhere/img/nosuch")" "$R2/onlyhere/img/nosuch"
pass "ENOENT"

check "listings show the nesting"
assert_eq "$R2 a ouruser" "$(ls "$MNT/repos" | sort | tr '\n' ' ' | sed 's/ $//')" "ls repos/"
assert_eq sinatra "$(ls "$MNT/repos/ouruser")" "ls repos/ouruser"
assert_eq c "$(ls "$MNT/repos/a/b")" "ls repos/a/b"
assert_eq v2 "$(ls "$MNT/repos/ouruser/sinatra")" "ls repos/ouruser/sinatra"
assert_eq onlyhere "$(ls "$MNT/repos/$R2")" "ls repos/$R2"
pass "listings"

check "images table rows for nested names"
timeout 30 cat "$MNT/images" > "$TEST_TMP/images" || fail "cat images"
cat "$TEST_TMP/images"
for row in "ouruser/sinatra v2 $id" "a/b/c 1 $id" "$R2/onlyhere/img t1 $id2"; do
    set -- $row
    awk -v r="$1" -v t="$2" -v i="$3" '$1 == r && $2 == t && $3 == i { f = 1 } END { exit !f }' "$TEST_TMP/images" ||
        fail "images has no row '$row'"
done
pass "images rows"

imgfs_umount
echo "t_nested_names: all checks passed"
