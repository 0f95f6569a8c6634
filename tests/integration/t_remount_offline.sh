#!/bin/bash
# t_remount_offline.sh — what was read once is in the store: after reading
# every file of three images (rootfs, manifest, config, layers/), unmounting
# and stopping the registry, a new mount of the same store lists the same
# names and serves every byte again, with identical hashes.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_features "$O"
build_variant "$O" features features-zstd
registry_start
push_image "$O" features-zstd features-zstd:latest --dest-compress-format zstd
push_image "$O" features features:latest
push_image "$O" busybox ouruser/busybox:latest
reference_tree "$O" features "$TEST_TMP/ref-features"
IMAGES="features/latest features-zstd/latest ouruser/busybox/latest"

# snapshot DIR — every link target, and hashes of every image file.
snapshot() {
    local n
    for n in $IMAGES; do
        echo "link $n $(readlink "$MNT/repos/$n")"
        (cd "$MNT/repos/$n" && sha256sum manifest config layers/* && file_hashes rootfs &&
            find rootfs -printf '%p %y %m %U %G %s %l\n' | sort) || echo "ERROR reading $n"
    done
}

imgfs_mount
check "read everything while the registry is up"
snapshot > "$TEST_TMP/snap1" || fail "first read"
grep -q ERROR "$TEST_TMP/snap1" && fail "errors reading: $(grep ERROR "$TEST_TMP/snap1")"
pass "$(wc -l < "$TEST_TMP/snap1") lines of hashes and metadata"
imgfs_umount

registry_stop
curl -s -o /dev/null --max-time 2 "http://$REG_ADDR/v2/" && fail "registry still answers"

imgfs_mount
check "after remount with the registry stopped: same names, same bytes"
assert_eq "features features-zstd ouruser" "$(ls "$MNT/repos" | sort | tr '\n' ' ' | sed 's/ $//')" "ls repos/"
snapshot > "$TEST_TMP/snap2" || fail "second read"
diff "$TEST_TMP/snap1" "$TEST_TMP/snap2" || fail "content differs after remount"
timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$TEST_TMP/ref-features/rootfs" "$MNT/repos/features-zstd/latest/rootfs" ||
    fail "features-zstd differs from umoci unpack after remount"
timeout 60 chroot "$MNT/repos/ouruser/busybox/latest/rootfs" /bin/sh -c 'ls /' >/dev/null || fail "chroot offline"
pass "served offline"

check "a name never pulled fails cleanly while offline"
e=$(errno_of stat "$MNT/repos/neverpulled/latest")
[ "$e" != OK ] || fail "neverpulled resolved offline"
imgfs_alive || fail "daemon died on an offline lookup"
pass "neverpulled: $e"

imgfs_umount
echo "t_remount_offline: all checks passed"
