#!/bin/bash
# t_delete_fetch.sh — an image deleted while its first access is still
# fetching a layer leaves no blob behind: the download, which ends after
# the delete, is discarded instead of landing in blobs/ with no record to
# name it (nothing but a restart's sweep would ever free it).  A proxy
# (tests/lib/stall_proxy.py) holds the layer back until the image is gone.
# Then a two-layer image deleted while its bottom layer is held back: the
# tree build fails, and the top layer's blob, which the build opened and
# the delete unlinked, is closed (no descriptor of a deleted blob stays).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" gone
registry_start
push_image "$O" gone gone:1
layer=$(remote_raw gone:1 --raw | jq -r '.layers[0].digest')
[ -n "$layer" ] && [ "$layer" != null ] || fail "no layer digest for gone:1"
# two layers, for the failed build below
b=$TEST_TMP/bundle.two
build_unique "$O" two
umoci unpack --image "$O:two" "$b" >/dev/null || fail "umoci unpack two"
head -c 65536 /dev/urandom > "$b/rootfs/data/upper"
umoci repack --image "$O:two" "$b" >/dev/null || fail "umoci repack two"
rm -rf "$b"
push_image "$O" two two:1
mapfile -t two < <(remote_raw two:1 --raw | jq -r '.layers[].digest')
[ "${#two[@]}" = 2 ] || fail "two:1 has ${#two[@]} layers, not 2"

PLOG=$TEST_TMP/proxy.log
echo "$layer" > "$PLOG.stall"
proxy_start stall_proxy.py "$REG_ADDR" "$PLOG"
REG_ADDR=127.0.0.1:$PROXY_PORT
imgfs_mount

check "the image is deleted while its layer is being fetched"
readlink "$MNT/repos/gone/1" >/dev/null || fail "pull of gone:1"
(timeout 120 cat "$MNT/repos/gone/1/rootfs/data/small" >/dev/null 2>&1; rc_write "$TEST_TMP/reader.rc" $?) &
wait_for 20 grep -q "blobs/$layer" "$PLOG" || fail "no request for the layer reached the proxy"
rm "$MNT/repos/gone/1" || fail "rm of the image's last tag"
[ -z "$(ls -A "$STORE/images")" ] || fail "the image record is still there"
pass "deleted while the download is held back"

check "the download that ends after the delete leaves no blob"
: > "$PLOG.stall"
wait_for 60 test -e "$TEST_TMP/reader.rc" || fail "the reader did not finish"
log "reader exit status $(cat "$TEST_TMP/reader.rc")"
sleep 1
[ -e "$STORE/blobs/sha256/${layer#sha256:}" ] &&
    fail "layer $layer is in blobs/ with no image record naming it"
left=$(ls -A "$STORE/blobs/sha256")
[ -z "$left" ] || fail "blobs left after the delete: $left"
imgfs_alive || fail "daemon died"
pass "nothing left in blobs/"

check "a deleted image whose tree build failed keeps no descriptor of its layers"
# Two layers: the top one is fetched and indexed (its blob opened by the
# build) while the bottom one is held back; the delete then cancels the
# held download, the build fails, and the top blob, unlinked by the
# delete, must be closed, not kept open by the failed build.
bottom=${two[0]#sha256:} top=${two[1]#sha256:}
echo "$bottom" > "$PLOG.stall"
readlink "$MNT/repos/two/1" >/dev/null || fail "pull of two:1"
rm -f "$TEST_TMP/reader.rc"
(timeout 120 cat "$MNT/repos/two/1/rootfs/data/small" >/dev/null 2>&1; rc_write "$TEST_TMP/reader.rc" $?) &
wait_for 20 grep -q "blobs/sha256:$bottom" "$PLOG" || fail "no request for the bottom layer reached the proxy"
# the build holds the indexed top layer's blob open
wait_for 20 sh -c "ls -l /proc/$IMGFS_PID/fd | grep -q 'blobs/sha256/$top'" ||
    fail "the build did not open the top layer's blob"
rm "$MNT/repos/two/1" || fail "rm of two:1"
: > "$PLOG.stall"
wait_for 60 test -e "$TEST_TMP/reader.rc" || fail "the reader did not finish"
[ "$(cat "$TEST_TMP/reader.rc")" = 0 ] && fail "the read of a deleted image's held-back layer succeeded"
open_deleted() { ls -l "/proc/$IMGFS_PID/fd" | grep -F '(deleted)'; }
wait_for 10 sh -c "! ls -l /proc/$IMGFS_PID/fd | grep -qF '(deleted)'" ||
    fail "descriptors of deleted blobs still open: $(open_deleted)"
imgfs_alive || fail "daemon died"
pass "the failed build's descriptors closed"
imgfs_umount
echo "t_delete_fetch: all checks passed"
