#!/bin/bash
# t_stream_index.sh — the first access to an image indexes each layer while
# its blob downloads (issue 9), and keeps that index only when the blob's
# digest and its diff_id both check out.
#
# tests/lib/range_proxy.py sits in front of the registry:
#  (a) it holds the layer's body back after 4 MiB: while the download is
#      stalled there, `status` shows the index scan of that layer with bytes
#      read (the scan consumed the download's bytes before it finished) and
#      no index is kept yet; released, the read gets the right bytes and
#      the index is kept.  A second image with the same layer (big:v, same
#      repository, so the same download) read meanwhile follows that one
#      download with a scan of its own.
#  (b) it cuts the connection mid-way: the download resumes with a Range
#      request and the scan, which waited across it, gives a kept index.
#  (c) while it holds another layer back, the reader is interrupted
#      (SIGKILL, which FUSE passes on as an interrupt): it ends at once, the scan it ran is gone from `status`,
#      and the download goes on for the next reader, which gets the bytes.
#  (d) it flips one byte of another layer, near its end, then in its gzip
#      header's mtime (which no decompressor checks: the scan succeeds and
#      only the blob's digest tells): each read fails with EIO and neither
#      an index nor a blob is kept; with the proxy healthy the same read
#      succeeds.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_unique "$O" big 8
build_variant "$O" big bigv
build_unique "$O" cut 8
build_unique "$O" bad 2
build_unique "$O" intr 8
registry_start
REAL_ADDR=$REG_ADDR
for t in big cut bad intr; do
    push_image "$O" "$t" "$t:latest"
    reference_tree "$O" "$t" "$TEST_TMP/ref-$t"
done
push_image "$O" bigv big:v
layer_of() { remote_raw "$1:latest" --raw | jq -r '.layers[0].digest'; }
BIG=$(layer_of big); CUT=$(layer_of cut); BAD=$(layer_of bad); INTR=$(layer_of intr)
[ -n "$BIG" ] && [ -n "$CUT" ] && [ -n "$BAD" ] && [ -n "$INTR" ] || fail "no layer digests"

PLOG=$TEST_TMP/proxy.log
: > "$PLOG"
proxy_start range_proxy.py "$REAL_ADDR" "$PLOG"
REG_ADDR=127.0.0.1:$PROXY_PORT    # imgfs talks to the proxy only
imgfs_mount log_level=info
REG_ADDR=$REAL_ADDR

# read_ok TAG — data/blob of TAG reads back as in the reference tree.
read_ok() {
    local want got
    want=$(sha256sum < "$TEST_TMP/ref-$1/rootfs/data/blob" | cut -d' ' -f1)
    got=$(timeout 120 sha256sum < "$MNT/repos/$1/latest/rootfs/data/blob" | cut -d' ' -f1) ||
        fail "$1: read failed"
    assert_eq "$want" "$got" "$1: data/blob"
}

check "(a) while the download is stalled after 4 MiB, the index scan has read from it"
echo 4194304 > "$PLOG.hold"
(timeout 120 sha256sum < "$MNT/repos/big/latest/rootfs/data/blob" > "$TEST_TMP/big.sum" 2>&1
 rc_write "$TEST_TMP/big.rc" $?) &
H=${BIG#sha256:}
# an index row of the layer with bytes read (its done column is not 0B)
_index_row() { grep -E "^  index +sha256:${H:0:12} +[1-9]" "$MNT/status"; }
_downloading() { grep -E "^  download +sha256:${H:0:12} " "$MNT/status"; }
wait_for 60 _downloading || { cat "$MNT/status"; fail "no download row for the layer"; }
wait_for 30 _index_row || { cat "$MNT/status"; fail "no index scan with bytes read while the download is stalled"; }
row=$(_index_row | head -n 1)
log "status while stalled: $row / $(_downloading | head -n 1)"
read -r _ _ done _ <<<"$row"
[ -e "$TEST_TMP/big.rc" ] && fail "the reader finished while the blob was held back"
(timeout 120 sha256sum < "$MNT/repos/big/v/rootfs/data/blob" > "$TEST_TMP/bigv.sum" 2>&1
 rc_write "$TEST_TMP/bigv.rc" $?) &
_two_scans() { [ "$(grep -cE "^  index +sha256:${H:0:12} +[1-9]" "$MNT/status")" = 2 ]; }
wait_for 30 _two_scans || { cat "$MNT/status"; fail "big:v does not follow the same download"; }
[ -e "$STORE/index/sha256/$H" ] && fail "an index was kept before the download finished"
[ -e "$STORE/blobs/sha256/$H" ] && fail "the blob is in blobs/ before the download finished"
pass "index scan at $done while the download waits at 4 MiB"

check "(a) released: the read succeeds and the index is kept"
rm -f "$PLOG.hold"
wait_for 120 test -e "$TEST_TMP/big.rc" || fail "the reader did not finish"
assert_eq 0 "$(cat "$TEST_TMP/big.rc")" "reader exit status"
wait_for 120 test -e "$TEST_TMP/bigv.rc" || fail "the reader of big:v did not finish"
assert_eq 0 "$(cat "$TEST_TMP/bigv.rc")" "big:v reader exit status"
for f in big bigv; do
    assert_eq "$(sha256sum < "$TEST_TMP/ref-big/rootfs/data/blob" | cut -d' ' -f1)" \
        "$(cut -d' ' -f1 "$TEST_TMP/$f.sum")" "$f: data/blob"
done
# an index built during its download is kept by a job just after the
# read is answered
wait_for 10 test -s "$STORE/index/sha256/$H" || fail "no index kept"
[ -s "$STORE/blobs/sha256/$H" ] || fail "no blob kept"
n=$(grep -c "GET /v2/big/blobs/$BIG" "$PLOG")
assert_eq 1 "$n" "GETs of the big blob"
grep -q "layer $BIG: indexed during its download" "$IMGFS_LOG" || fail "not logged as indexed during its download"
pass "both read right, index and blob kept, one download"

check "(b) a transfer cut mid-way resumes, and the scan waits across it"
echo "3145728 cut" > "$PLOG.hold"
read_ok cut
grep -q "GET /v2/cut/blobs/$CUT range=- status=cut" "$PLOG" || fail "the proxy did not cut the transfer"
grep -q "GET /v2/cut/blobs/$CUT range=bytes=3145728-" "$PLOG" || fail "no resumed Range request"
wait_for 10 test -s "$STORE/index/sha256/${CUT#sha256:}" || fail "no index kept after the resumed download"
grep -q "layer $CUT: indexed during its download" "$IMGFS_LOG" ||
    fail "the layer was not indexed during its (resumed) download"
pass "resumed from 3 MiB, read right, index kept"

check "(c) an interrupted reader of a followed download ends; the download goes on"
I=${INTR#sha256:}
echo 4194304 > "$PLOG.hold"
cat "$MNT/repos/intr/latest/rootfs/data/blob" >/dev/null 2>&1 &
RD=$!
_scanning() { grep -E "^  index +sha256:${I:0:12} +[1-9]" "$MNT/status"; }
wait_for 60 _scanning || { cat "$MNT/status"; fail "no index scan of the held-back layer"; }
# A fatal signal: the kernel sends FUSE an interrupt and waits for the
# answer, so the reader ends only when the daemon stops waiting for bytes.
kill -KILL "$RD"
wait_for 30 _pid_gone "$RD" || fail "the interrupted reader did not end while the blob was held back"
_no_scan() { ! grep -E "^  index +sha256:${I:0:12} " "$MNT/status"; }
wait_for 10 _no_scan || { cat "$MNT/status"; fail "the interrupted scan stays in status"; }
grep -qE "^  download +sha256:${I:0:12} " "$MNT/status" || { cat "$MNT/status"; fail "the download did not go on"; }
[ -e "$STORE/index/sha256/$I" ] && fail "an index was kept for the interrupted scan"
rm -f "$PLOG.hold"
read_ok intr
wait_for 10 test -s "$STORE/index/sha256/$I" || fail "no index kept after the interrupted reader"
n=$(grep -c "GET /v2/intr/blobs/$INTR" "$PLOG")
assert_eq 1 "$n" "GETs of the intr blob"
pass "the reader ended at once, the next one read from the same download"

# bad_read — reading bad/ fails with EIO and keeps neither index nor blob.
bad_read() {
    local e
    e=$(timeout 120 cat "$MNT/repos/bad/latest/rootfs/data/blob" 2>&1 >/dev/null) &&
        fail "bad/ read succeeded with corrupted bytes ($1)"
    grep -qi "input/output error" <<<"$e" || fail "bad/ read: not EIO ($1): $e"
    [ -e "$STORE/index/sha256/${BAD#sha256:}" ] && fail "an index was kept ($1)"
    [ -e "$STORE/blobs/sha256/${BAD#sha256:}" ] && fail "the blob was kept ($1)"
    return 0
}
check "(d) a byte flipped near the end: EIO, nothing kept"
echo "$BAD -3" > "$PLOG.corrupt"
bad_read "near the end"
pass "EIO, no index, no blob"

check "(d) a byte flipped in the gzip header's mtime: the scan passes, the digest does not"
echo "$BAD 5" > "$PLOG.corrupt"
bad_read "gzip mtime"
grep -q "layer $BAD: the index built during its download is discarded" "$IMGFS_LOG" ||
    fail "no index was built and discarded (the scan should pass: mtime is not checked)"
pass "EIO, no index, no blob"

check "(d) with the proxy healthy the same read succeeds"
rm -f "$PLOG.corrupt"
read_ok bad
[ -s "$STORE/index/sha256/${BAD#sha256:}" ] || fail "no index kept once healthy"
pass "read right, index kept"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_stream_index: all checks passed"
