#!/bin/bash
# t_delete_fetch.sh — an image deleted while its first access is still
# fetching a layer leaves no blob behind: the download, which ends after
# the delete, is discarded instead of landing in blobs/ with no record to
# name it (nothing but a restart's sweep would ever free it).  A proxy
# (tests/lib/stall_proxy.py) holds the layer back until the image is gone.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" gone
registry_start
push_image "$O" gone gone:1
layer=$(remote_raw gone:1 --raw | jq -r '.layers[0].digest')
[ -n "$layer" ] && [ "$layer" != null ] || fail "no layer digest for gone:1"

PLOG=$TEST_TMP/proxy.log
echo "$layer" > "$PLOG.stall"
proxy_start stall_proxy.py "$REG_ADDR" "$PLOG"
REG_ADDR=127.0.0.1:$PROXY_PORT
imgfs_mount

check "the image is deleted while its layer is being fetched"
readlink "$MNT/repos/gone/1" >/dev/null || fail "pull of gone:1"
(timeout 120 cat "$MNT/repos/gone/1/rootfs/data/small" >/dev/null 2>&1; echo $? > "$TEST_TMP/reader.rc") &
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
imgfs_umount
echo "t_delete_fetch: all checks passed"
