#!/bin/bash
# t_lazy_range.sh — a layer whose index is kept but whose blob is gone is
# read span by span: reading one small file fetches only the span(s)
# holding it, with Range requests, verified; reading everything completes
# the blob into blobs/ (sha256 right); spans once fetched need no network
# after a remount; a span whose bytes were corrupted on the way fails the
# read with EIO, is not kept, and the read succeeds once the bytes are
# right.  A counting proxy (tests/lib/range_proxy.py) in front of the
# registry sees every request and how many bytes it carried.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
TAG=lazy

# One gzip layer of ~24 MiB: random files (incompressible), base64 text
# (compressible) and small files, so the index has many checkpoints.
build_lazy() {
    local b i
    _umoci_layout "$O"
    b=$(mktemp -d "$TEST_TMP/bundle.XXXXXX")
    rmdir "$b"
    umoci new --image "$O:$TAG" || fail "umoci new"
    umoci unpack --image "$O:$TAG" "$b" >/dev/null || fail "umoci unpack"
    mkdir -p "$b/rootfs/data/a_rand" "$b/rootfs/data/m_small" "$b/rootfs/data/z_text"
    for i in $(seq -w 1 12); do
        head -c 1048576 /dev/urandom > "$b/rootfs/data/a_rand/r$i"
    done
    for i in $(seq -w 1 60); do
        echo "small file $i $RANDOM$RANDOM" > "$b/rootfs/data/m_small/s$i"
    done
    for i in $(seq -w 1 40); do
        head -c 196608 /dev/urandom | base64 > "$b/rootfs/data/z_text/t$i"
    done
    umoci repack --image "$O:$TAG" "$b" >/dev/null || fail "umoci repack"
    rm -rf "$b"
}

build_lazy
registry_start
REAL_ADDR=$REG_ADDR
push_image "$O" "$TAG" lazy:latest
reference_tree "$O" "$TAG" "$TEST_TMP/ref"
LAYER=$(remote_raw lazy:latest --raw | jq -r '.layers[0].digest')
LSIZE=$(remote_raw lazy:latest --raw | jq -r '.layers[0].size')
[ "$(remote_raw lazy:latest --raw | jq '.layers | length')" = 1 ] || fail "expected one layer"
HEX=${LAYER#sha256:}
log "layer $LAYER: $LSIZE bytes"

PLOG=$TEST_TMP/proxy.log
: > "$PLOG"
proxy_start range_proxy.py "$REAL_ADDR" "$PLOG"
PPORT=$PROXY_PORT
REG_ADDR=127.0.0.1:$PPORT    # imgfs talks to the proxy only
ROOT=repos/lazy/latest/rootfs
SMALL=data/m_small/s30

# layer_requests — the proxy's lines for the layer blob.
layer_requests() { grep -F "/blobs/$LAYER " "$PLOG" || true; }
layer_bytes() { layer_requests | sed -n 's/.* bytes=\([0-9]*\)$/\1/p' | awk '{s += $1} END {print s + 0}'; }
# spans_present — bits set in the partial's bitmap (0 when there is none).
spans_present() {
    local f=$STORE/partial/sha256/$HEX.spans
    [ -f "$f" ] || { echo 0; return; }
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read()
print(sum(bin(b).count("1") for b in d[56:]))' "$f"
}
spans_total() {
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read()
print(int.from_bytes(d[16:24], "little"))' "$STORE/partial/sha256/$HEX.spans"
}

imgfs_mount
check "first mount: read everything (the blob is fetched whole and indexed)"
file_hashes "$MNT/$ROOT" > "$TEST_TMP/hashes1" || fail "reading the rootfs"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/hashes.ref"
diff "$TEST_TMP/hashes.ref" "$TEST_TMP/hashes1" >/dev/null || fail "first read differs from umoci unpack"
[ -s "$STORE/index/sha256/$HEX" ] || fail "no index kept for $LAYER"
[ -f "$STORE/blobs/sha256/$HEX" ] || fail "blob not in blobs/"
pass "$(wc -l < "$TEST_TMP/hashes1") files read, index kept"
imgfs_umount

check "blob deleted, index kept: one small file costs only its span(s)"
rm -f "$STORE/blobs/sha256/$HEX"
: > "$PLOG"
imgfs_mount
got=$(sha256sum < "$MNT/$ROOT/$SMALL" | cut -d' ' -f1) || fail "reading $SMALL"
assert_eq "$(sha256sum < "$TEST_TMP/ref/rootfs/$SMALL" | cut -d' ' -f1)" "$got" "content of $SMALL"
n_req=$(layer_requests | wc -l)
n_whole=$(layer_requests | grep -c 'range=- ' || true)
bytes1=$(layer_bytes)
[ "$n_req" -ge 1 ] || fail "no request for the layer at all"
assert_eq 0 "$n_whole" "GETs of the layer without Range"
present=$(spans_present)
NSPANS=$(spans_total)
[ "$NSPANS" -ge 4 ] || fail "only $NSPANS spans: the layer should have several"
[ "$present" -ge 1 ] && [ "$present" -le 2 ] || fail "$present spans marked for one small file"
assert_eq "$present" "$n_req" "one request per span fetched"
limit=$((2 * LSIZE / NSPANS + 65536))
[ "$bytes1" -le "$limit" ] || fail "fetched $bytes1 bytes for one small file (limit $limit)"
[ "$bytes1" -lt $((LSIZE / 3)) ] || fail "fetched $bytes1 of $LSIZE bytes for one small file"
[ ! -e "$STORE/blobs/sha256/$HEX" ] || fail "the blob was fetched whole"
pass "$SMALL: $n_req Range request(s), $bytes1 of $LSIZE bytes ($NSPANS spans, $present fetched)"
imgfs_umount

check "remount: the spans fetched before need no network"
: > "$PLOG"
imgfs_mount
got=$(sha256sum < "$MNT/$ROOT/$SMALL" | cut -d' ' -f1) || fail "reading $SMALL again"
assert_eq "$(sha256sum < "$TEST_TMP/ref/rootfs/$SMALL" | cut -d' ' -f1)" "$got" "content of $SMALL after remount"
assert_eq 0 "$(layer_requests | wc -l)" "layer requests for spans already present"
pass "served from the partial blob"

check "read everything: contents equal umoci's, the blob completes into blobs/"
timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$TEST_TMP/ref/rootfs" "$MNT/$ROOT" ||
    fail "rootfs differs from umoci unpack"
file_hashes "$MNT/$ROOT" > "$TEST_TMP/hashes2" || fail "reading the rootfs"
diff "$TEST_TMP/hashes.ref" "$TEST_TMP/hashes2" >/dev/null || fail "contents differ"
[ -f "$STORE/blobs/sha256/$HEX" ] || fail "blob not in blobs/ after every span was read"
assert_eq "$HEX" "$(sha256_file "$STORE/blobs/sha256/$HEX")" "sha256 of the completed blob"
assert_eq "$LSIZE" "$(stat -c %s "$STORE/blobs/sha256/$HEX")" "size of the completed blob"
[ ! -e "$STORE/partial/sha256/$HEX" ] && [ ! -e "$STORE/partial/sha256/$HEX.spans" ] ||
    fail "partial files left after completion"
assert_eq 0 "$(layer_requests | grep -c 'range=- ' || true)" "GETs of the layer without Range"
bytes2=$(layer_bytes)
# Every span once: at most the blob plus the byte neighbours share.
[ "$bytes2" -le $((LSIZE - bytes1 + NSPANS)) ] || fail "fetched $bytes2 bytes for the rest of a $LSIZE-byte blob"
pass "complete: $(layer_requests | wc -l) Range requests, $bytes2 bytes for the rest"
imgfs_umount

check "remount with the registry stopped: everything served, no request"
REG_ADDR=$REAL_ADDR registry_stop
: > "$PLOG"
imgfs_mount
file_hashes "$MNT/$ROOT" > "$TEST_TMP/hashes3" || fail "reading offline"
diff "$TEST_TMP/hashes.ref" "$TEST_TMP/hashes3" >/dev/null || fail "contents differ offline"
assert_eq 0 "$(wc -l < "$PLOG")" "requests while offline"
pass "offline, zero requests"
imgfs_umount

check "a span corrupted on the way: EIO, nothing kept; right bytes then succeed"
registry_restart
rm -f "$STORE/blobs/sha256/$HEX"
echo "$LAYER" > "$PLOG.corrupt"
: > "$PLOG"
imgfs_mount
e=$(errno_of read "$MNT/$ROOT/$SMALL")
assert_eq EIO "$e" "read of a corrupted span"
[ "$(layer_requests | wc -l)" -ge 1 ] || fail "no request made"
assert_eq 0 "$(spans_present)" "spans marked after a bad fetch"
assert_eq 0 "$(stat -c %b "$STORE/partial/sha256/$HEX")" "blocks written to the partial file"
grep -q "digest mismatch" "$IMGFS_LOG" || fail "mismatch not logged"
imgfs_alive || fail "daemon died"
rm -f "$PLOG.corrupt"
got=$(sha256sum < "$MNT/$ROOT/$SMALL" | cut -d' ' -f1) || fail "reading $SMALL after the fix"
assert_eq "$(sha256sum < "$TEST_TMP/ref/rootfs/$SMALL" | cut -d' ' -f1)" "$got" "content after the fix"
[ "$(spans_present)" -ge 1 ] || fail "nothing marked after a good fetch"
pass "EIO while corrupted, right content after"
imgfs_umount

echo "t_lazy_range: all checks passed"
