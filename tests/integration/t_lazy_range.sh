#!/bin/bash
# t_lazy_range.sh — a layer whose index is kept but whose blob is gone is
# read chunk by chunk (the index's 64 KiB digest units): reading one small
# file fetches only chunks of the span holding it, with Range requests,
# verified, each chunk once; reading everything completes the blob into
# blobs/ (sha256 right) with no byte fetched twice; chunks once fetched
# need no network after a remount; a chunk whose bytes were corrupted on
# the way fails the read with EIO, is not kept, and the read succeeds once
# the bytes are right.  A counting proxy (tests/lib/range_proxy.py) in front of the
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
CHUNK=65536     # STORE_TOC_CHUNK
# chunks_present — bits set in the partial's bitmap (0 when there is none).
chunks_present() {
    local f=$STORE/partial/sha256/$HEX.chunks
    [ -f "$f" ] || { echo 0; return; }
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read()
print(sum(bin(b).count("1") for b in d[56:]))' "$f"
}
# chunks_runs — how many runs of consecutive set bits the bitmap has.
chunks_runs() {
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read()
n = int.from_bytes(d[16:24], "little")
bits = [d[56 + i // 8] >> (i % 8) & 1 for i in range(n)]
print(sum(1 for i in range(n) if bits[i] and (i == 0 or not bits[i - 1])))' "$STORE/partial/sha256/$HEX.chunks"
}
chunks_total() {
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read()
print(int.from_bytes(d[16:24], "little"))' "$STORE/partial/sha256/$HEX.chunks"
}
# index_spans — checkpoints in the kept index (its header, docs/index-format.md).
index_spans() {
    "$PY" -c 'import sys
d = open(sys.argv[1], "rb").read(192)
print(int.from_bytes(d[88:96], "little"))' "$STORE/index/sha256/$HEX"
}

imgfs_mount
check "first mount: read everything (the blob is fetched whole and indexed)"
file_hashes "$MNT/$ROOT" > "$TEST_TMP/hashes1" || fail "reading the rootfs"
file_hashes "$TEST_TMP/ref/rootfs" > "$TEST_TMP/hashes.ref"
diff "$TEST_TMP/hashes.ref" "$TEST_TMP/hashes1" >/dev/null || fail "first read differs from umoci unpack"
# (kept by a job just after the read that built it was answered)
wait_for 10 test -s "$STORE/index/sha256/$HEX" || fail "no index kept for $LAYER"
[ -f "$STORE/blobs/sha256/$HEX" ] || fail "blob not in blobs/"
pass "$(wc -l < "$TEST_TMP/hashes1") files read, index kept"
imgfs_umount

check "blob deleted, index kept: one small file costs only chunks of its span"
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
present=$(chunks_present)
NCHUNKS=$(chunks_total)
NSPANS=$(index_spans)
assert_eq $(((LSIZE + CHUNK - 1) / CHUNK)) "$NCHUNKS" "chunks in the bitmap"
[ "$NSPANS" -ge 4 ] || fail "only $NSPANS spans: the layer should have several"
[ "$present" -ge 1 ] || fail "no chunk marked after a read"
assert_eq 1 "$(chunks_runs)" "runs of chunks marked for one small file"
# what was fetched is what was kept: whole chunks, each once
[ "$bytes1" -le $((present * CHUNK)) ] && [ "$bytes1" -gt $(((present - 1) * CHUNK)) ] ||
    fail "fetched $bytes1 bytes for $present chunk(s) kept"
[ "$n_req" -le "$present" ] || fail "$n_req requests for $present chunks"
# at most the chunks of one span (a span averages LSIZE / NSPANS bytes)
limit=$((2 * LSIZE / NSPANS + 2 * CHUNK))
[ "$bytes1" -le "$limit" ] || fail "fetched $bytes1 bytes for one small file (limit $limit)"
[ "$bytes1" -lt $((LSIZE / 3)) ] || fail "fetched $bytes1 of $LSIZE bytes for one small file"
[ ! -e "$STORE/blobs/sha256/$HEX" ] || fail "the blob was fetched whole"
pass "$SMALL: $n_req Range request(s), $bytes1 of $LSIZE bytes ($NSPANS spans, $present of $NCHUNKS chunks)"
imgfs_umount

check "remount: the chunks fetched before need no network"
: > "$PLOG"
imgfs_mount
got=$(sha256sum < "$MNT/$ROOT/$SMALL" | cut -d' ' -f1) || fail "reading $SMALL again"
assert_eq "$(sha256sum < "$TEST_TMP/ref/rootfs/$SMALL" | cut -d' ' -f1)" "$got" "content of $SMALL after remount"
assert_eq 0 "$(layer_requests | wc -l)" "layer requests for chunks already present"
pass "served from the partial blob"

check "4 KiB read 2 MiB into a span: the chunks from the span's start to it, not the span"
# data/a_rand/r07 starts about 6 MiB into the stream, in the span from the
# checkpoint at 4 MiB to the one at 8 MiB (a checkpoint is the first
# deflate block boundary after each 4 MiB); the random bytes do not
# compress, so that span's compressed bytes are 4 MiB or more, and a read
# of r07's first page must decompress the 2 MiB before it (fetch them) but
# nothing after.  FADV_RANDOM: no readahead, the kernel asks for one page.
: > "$PLOG"
got=$("$PY" - "$MNT/$ROOT/data/a_rand/r07" <<'PYEOF2'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
print(hashlib.sha256(os.pread(fd, 4096, 0)).hexdigest())
PYEOF2
) || fail "reading r07's first page"
assert_eq "$(head -c 4096 "$TEST_TMP/ref/rootfs/data/a_rand/r07" | sha256sum | cut -d' ' -f1)" "$got" \
    "first page of r07"
bytes3=$(layer_bytes)
[ "$bytes3" -ge $((3 * 524288)) ] || fail "fetched only $bytes3 bytes: less than the 2 MiB before r07 in its span"
[ "$bytes3" -le $((3 * 1048576)) ] || fail "fetched $bytes3 bytes for a page 2 MiB into a 4 MiB span"
pass "$bytes3 bytes in $(layer_requests | wc -l) Range request(s)"

check "read everything: contents equal umoci's, the blob completes into blobs/"
timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$TEST_TMP/ref/rootfs" "$MNT/$ROOT" ||
    fail "rootfs differs from umoci unpack"
file_hashes "$MNT/$ROOT" > "$TEST_TMP/hashes2" || fail "reading the rootfs"
diff "$TEST_TMP/hashes.ref" "$TEST_TMP/hashes2" >/dev/null || fail "contents differ"
[ -f "$STORE/blobs/sha256/$HEX" ] || fail "blob not in blobs/ after every chunk was read"
assert_eq "$HEX" "$(sha256_file "$STORE/blobs/sha256/$HEX")" "sha256 of the completed blob"
assert_eq "$LSIZE" "$(stat -c %s "$STORE/blobs/sha256/$HEX")" "size of the completed blob"
[ ! -e "$STORE/partial/sha256/$HEX" ] && [ ! -e "$STORE/partial/sha256/$HEX.chunks" ] ||
    fail "partial files left after completion"
assert_eq 0 "$(layer_requests | grep -c 'range=- ' || true)" "GETs of the layer without Range"
bytes2=$(layer_bytes)
# Every chunk once: the rest of the blob, not a byte more.
assert_eq $((LSIZE - bytes1)) "$bytes2" "bytes fetched for the rest of the blob"
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

check "a chunk corrupted on the way: EIO, nothing kept; right bytes then succeed"
registry_restart
rm -f "$STORE/blobs/sha256/$HEX"
echo "$LAYER" > "$PLOG.corrupt"
: > "$PLOG"
imgfs_mount
e=$(errno_of read "$MNT/$ROOT/$SMALL")
assert_eq EIO "$e" "read of a corrupted chunk"
[ "$(layer_requests | wc -l)" -ge 1 ] || fail "no request made"
assert_eq 0 "$(chunks_present)" "chunks marked after a bad fetch"
assert_eq 0 "$(stat -c %b "$STORE/partial/sha256/$HEX")" "blocks written to the partial file"
grep -q "digest mismatch" "$IMGFS_LOG" || fail "mismatch not logged"
imgfs_alive || fail "daemon died"
rm -f "$PLOG.corrupt"
got=$(sha256sum < "$MNT/$ROOT/$SMALL" | cut -d' ' -f1) || fail "reading $SMALL after the fix"
assert_eq "$(sha256sum < "$TEST_TMP/ref/rootfs/$SMALL" | cut -d' ' -f1)" "$got" "content after the fix"
[ "$(chunks_present)" -ge 1 ] || fail "nothing marked after a good fetch"
pass "EIO while corrupted, right content after"
imgfs_umount

check "no span cache: a sequential read fetches growing runs, not one request per chunk"
# With cache_size=0 every read decompresses through its file's cursor,
# which asks for 128 KiB of compressed input at a time; a reader that
# continues the run the last reader started gets twice its chunks, so the
# 12 MiB of a_rand (48 chunks) cost a handful of requests (1, 2, 4, ...
# chunks, up to 8 MiB a request), not 48.
rm -f "$STORE/blobs/sha256/$HEX" "$STORE/partial/sha256/$HEX" "$STORE/partial/sha256/$HEX.chunks"
imgfs_mount cache_size=0
: > "$PLOG"
cat "$MNT/$ROOT"/data/a_rand/r* | sha256sum > "$TEST_TMP/rand.got" || fail "reading a_rand"
cat "$TEST_TMP/ref/rootfs"/data/a_rand/r* | sha256sum > "$TEST_TMP/rand.want"
assert_eq "$(cat "$TEST_TMP/rand.want")" "$(cat "$TEST_TMP/rand.got")" "content of a_rand"
n_seq=$(layer_requests | wc -l)
bytes4=$(layer_bytes)
[ "$bytes4" -ge $((12 * 1048576)) ] || fail "fetched $bytes4 bytes for 12 MiB of random files"
[ "$n_seq" -le 12 ] || fail "$n_seq Range requests for a sequential 12 MiB read"
pass "12 MiB read in order: $n_seq Range requests, $bytes4 bytes"
imgfs_umount

echo "t_lazy_range: all checks passed"
