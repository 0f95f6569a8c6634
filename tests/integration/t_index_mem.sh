#!/bin/bash
# t_index_mem.sh — all index builds share one memory budget (-o index_mem=).
# With 512K, about what one layer's build takes, the four layers of an
# image, built in parallel, wait for each other or run again alone, and
# the tree equals umoci unpack; with 64K no layer's index fits and the
# image fails with a log line that says so.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_features "$O"
registry_start
push_image "$O" features features:latest
reference_tree "$O" features "$TEST_TMP/ref"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/want"
n=$(remote_raw features:latest --raw | jq '.layers | length')
[ "$n" -ge 4 ] || fail "features has $n layers"

check "index_mem=64K: no layer's index fits, and the log says so"
imgfs_mount index_mem=64K
if ls "$MNT/repos/features/latest/rootfs/" >/dev/null 2>&1; then
    fail "rootfs listed with a 64K budget"
fi
grep -q "needs more than the whole memory budget" "$IMGFS_LOG" ||
    fail "no word of the budget: $(tail -5 "$IMGFS_LOG")"
grep -q "cannot index: Cannot allocate memory" "$IMGFS_LOG" ||
    fail "no layer named as refused: $(tail -5 "$IMGFS_LOG")"
imgfs_alive || fail "daemon died"
pass "refused: $(grep -m1 "cannot index" "$IMGFS_LOG")"
imgfs_umount

check "index_mem=512K: $n layers built in parallel within it, tree right"
rm -rf "$STORE/index"    # nothing kept from the refused run, but be sure
imgfs_mount index_mem=512K
file_hashes "$MNT/repos/features/latest/rootfs" > "$TEST_TMP/got" || fail "reading the rootfs"
diff "$TEST_TMP/want" "$TEST_TMP/got" >&2 || fail "rootfs differs from umoci unpack"
imgfs_alive || fail "daemon died"
pass "$(wc -l < "$TEST_TMP/got") files right; $(grep -c "indexing this layer again, alone" "$IMGFS_LOG") build(s) run again alone"
imgfs_umount
pass "t_index_mem"
