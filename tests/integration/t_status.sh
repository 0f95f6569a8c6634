#!/bin/bash
# t_status.sh — the mount tells a person what it is doing and what went
# wrong: `status` shows a slowed-down layer download in flight (bytes of
# total) and, after it, the image's fetched share and index; the foreground
# log shows a progress line for it; `images.json` has the rows of `images`
# with the IDs and digests skopeo reports; `df` on the mount counts the
# store's bytes (compared with the files in it and `du -sb`) and the free
# space of its filesystem (`stat -f`); and a missing tag, a rate limit
# (429), a registry that is down and wrong credentials fail with ENOENT,
# EAGAIN, ENOENT (EIO accepted) and EACCES, each with a row in `status`
# saying which it was (EHOSTUNREACH for the registry that is down: the
# lookup says not found so that a tag can still be made offline).  tests/lib/range_proxy.py sits in front of
# the registry to slow blob bodies and to answer 429.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci

# big: one gzip layer of 8 MiB of random bytes, so that its download at
# 1 MiB/s lasts long enough to be seen (and to print progress lines).
build_unique "$O" big 8
build_busybox "$O" small
registry_start
REAL_ADDR=$REG_ADDR
push_image "$O" big big:latest
push_image "$O" small small:latest
LAYER=$(remote_raw big:latest --raw | jq -r '.layers[0].digest')
LSIZE=$(remote_raw big:latest --raw | jq -r '.layers[0].size')
HEX=${LAYER#sha256:}
log "big layer $LAYER: $LSIZE bytes"

PLOG=$TEST_TMP/proxy.log
: > "$PLOG"
proxy_start range_proxy.py "$REAL_ADDR" "$PLOG"
PPORT=$PROXY_PORT
REG_ADDR=127.0.0.1:$PPORT    # imgfs talks to the proxy only
imgfs_mount

# status_has REGEX — a line of `status` matches REGEX (extended).
status_has() { grep -Eq -- "$1" "$MNT/status"; }
# human BYTES — BYTES as `images` and `status` show sizes (go-units, "%.3g").
human() {
    "$PY" -c 'import sys
v, u = float(sys.argv[1]), ["B", "kB", "MB", "GB"]
i = 0
while v >= 1000 and i < 3: v /= 1000; i += 1
print("%.3g%s" % (v, u[i]))' "$1"
}

check "the root lists images.json and status; a fresh status is empty"
ls "$MNT" > "$TEST_TMP/root.ls"
grep -qx images.json "$TEST_TMP/root.ls" || fail "no images.json in the root"
grep -qx status "$TEST_TMP/root.ls" || fail "no status in the root"
cat "$MNT/status" > "$TEST_TMP/status0"
grep -qx 'in flight: 0' "$TEST_TMP/status0" || fail "fresh status: $(cat "$TEST_TMP/status0")"
grep -q '^errors: 0 ' "$TEST_TMP/status0" || fail "fresh status has errors"
pass "root entries"

check "a missing tag is ENOENT, and status says the registry has no such name"
assert_eq ENOENT "$(errno_of stat "$MNT/repos/big/nosuch")" "stat repos/big/nosuch"
status_has '^  [0-9T:-]+Z +ENOENT +[^ ]*/big:nosuch +not found in the registry' ||
    { cat "$MNT/status"; fail "no ENOENT row for big:nosuch"; }
pass "ENOENT row"

check "a slowed download shows in status while in flight, with its total"
ls "$MNT/repos/big/latest/" >/dev/null || fail "pull big:latest"
ls "$MNT/repos/small/latest/" >/dev/null || fail "pull small:latest"
echo 1048576 > "$PLOG.slow"
cat "$MNT/repos/big/latest/rootfs/data/blob" > "$TEST_TMP/blob" &
READER=$!
TOTAL_H=$(human "$LSIZE")
_inflight() { status_has "^  download +sha256:${HEX:0:12} +[0-9.]+[kMG]?B +$TOTAL_H +[0-9]+ "; }
wait_for 30 _inflight || { cat "$MNT/status"; fail "no download row for the layer in flight"; }
grep -E "^  download +sha256:${HEX:0:12}" "$MNT/status" | head -1
# Bytes advance while it runs.
d1=$(grep -E "^  download +sha256:${HEX:0:12}" "$MNT/status" | awk '{print $3}')
sleep 2.5
d2=$(grep -E "^  download +sha256:${HEX:0:12}" "$MNT/status" | awk '{print $3}')
[ -n "$d2" ] && [ "$d1" != "$d2" ] || fail "the download row did not advance ($d1 -> $d2)"
wait "$READER" || fail "reading big:latest"
rm -f "$PLOG.slow"
grep -qx 'in flight: 0' "$MNT/status" || { cat "$MNT/status"; fail "work still in flight after the read"; }
pass "in flight ($d1 -> $d2 of $TOTAL_H)"

check "after it: the image is all fetched and indexed, the other not at all"
BIG_ID=$(basename "$(readlink "$MNT/repos/big/latest")")
SMALL_ID=$(basename "$(readlink "$MNT/repos/small/latest")")
cat "$MNT/status" > "$TEST_TMP/status1"
grep -Eq "^  $BIG_ID +[0-9.]+[kMG]?B +[0-9.]+[kMG]?B +100.0% +1/1 +ready +big:latest" "$TEST_TMP/status1" ||
    { cat "$TEST_TMP/status1"; fail "big: not shown fetched and indexed"; }
grep -Eq "^  $SMALL_ID +0B +[0-9.]+[kMG]?B +0.0% +0/1 +no +small:latest" "$TEST_TMP/status1" ||
    { cat "$TEST_TMP/status1"; fail "small: not shown unfetched"; }
pass "fetched shares"

check "the foreground log has progress lines for the download"
grep -E "^imgfs: progress: download sha256:${HEX:0:12}.* of [0-9.]+ MiB \([0-9]+%\), [0-9.]+ MiB/s, ETA" \
    "$IMGFS_LOG" || fail "no progress line in $IMGFS_LOG"
pass "progress line"

check "images.json: the rows of images, IDs and digests as skopeo reports them"
J=$MNT/images.json
jq -e 'type == "array"' "$J" >/dev/null || fail "images.json does not parse"
assert_eq "$(stat -c %s "$J")" "$(wc -c < "$J")" "images.json stat size vs bytes read"
assert_eq "$(($(wc -l < "$MNT/images") - 1))" "$(jq length "$J")" "rows of images vs images.json"
for name in big small; do
    row=$(jq -c --arg r "$name" '.[] | select(.repository == $r and .tag == "latest")' "$J")
    [ -n "$row" ] || fail "images.json has no $name:latest"
    id=$(REG_ADDR=$REAL_ADDR remote_raw "$name:latest" --config --raw | sha256sum | cut -d' ' -f1)
    assert_eq "sha256:$id" "$(jq -r .id <<<"$row")" "$name id"
    assert_eq "$(REG_ADDR=$REAL_ADDR remote_digest "$name:latest")" "$(jq -r .digest <<<"$row")" "$name digest"
    created=$(REG_ADDR=$REAL_ADDR remote_raw "$name:latest" | jq -r .Created)
    assert_eq "$(date -u -d "$created" +%s)" "$(jq -r .created_unix <<<"$row")" "$name created_unix"
    assert_eq "$(date -u -d "$created" +%Y-%m-%dT%H:%M:%SZ)" "$(jq -r .created <<<"$row")" "$name created"
    # The images row of the same tag: same ID and the same size, humanised.
    trow=$(awk -v r="$name" '$1 == r && $2 == "latest"' "$MNT/images")
    assert_eq "${id:0:12}" "$(awk '{print $3}' <<<"$trow")" "$name id in images"
    hsize=$(human "$(jq -r .size <<<"$row")")
    assert_eq "$hsize" "$(awk '{print $NF}' <<<"$trow")" "$name size in images vs images.json"
done
pass "images.json"

# store_files_bytes — what df counts exactly: the files in blobs/ and
# index/ and the bytes allocated in partial/.
store_files_bytes() {
    { find "$STORE/blobs/sha256" "$STORE/index/sha256" -type f -printf '%s\n'
      find "$STORE/partial/sha256" -type f -printf '%b\n' | awk '{print $1 * 512}'; } |
        awk '{s += $1} END {print s + 0}'
}
# cache_bytes — the blocks the span cache's sparse files have allocated.
cache_bytes() {
    find "$STORE/cache/sha256" -type f -printf '%b\n' | awk '{s += $1 * 512} END {print s + 0}'
}
# df_check — df's Used is the store's bytes in its blocks: the files above
# exactly, plus the span cache's spans, which its files hold rounded out
# to whole blocks (at most one block at each end of each span: 64 KiB of
# slack covers the few spans here).  du -sb (without cache/, whose sparse
# files' apparent size is the whole decompressed layer) differs by the
# directories (4 KiB each, 14 of them) and the image records and tags.json
# (a few KiB): within [-one block, 128 KiB].  Avail is the store
# filesystem's, which other processes change meanwhile: within 1% (and
# 64 MiB).
df_check() {
    local fr used avail files cache want du savail tol
    fr=$(stat -f -c %S "$STORE")
    read -r used avail < <(df -B1 --output=used,avail "$MNT" | tail -1)
    files=$(store_files_bytes)
    cache=$(cache_bytes)
    want=$(( (files + cache + fr - 1) / fr * fr ))
    [ $((used - want)) -le 65536 ] && [ $((want - used)) -le 65536 ] ||
        fail "df used $used vs the store's files $files + cache $cache ($1)"
    [ "$used" -ge $((files)) ] || fail "df used $used below the files' $files bytes ($1)"
    du=$(du -sb --exclude=cache "$STORE" | cut -f1)
    [ $((du + cache - used)) -ge $((-fr)) ] && [ $((du + cache - used)) -le 131072 ] ||
        fail "df used $used vs du -sb $du + cache $cache ($1)"
    savail=$(( $(stat -f -c %a "$STORE") * fr ))
    tol=$(( savail / 100 > 67108864 ? savail / 100 : 67108864 ))
    [ $((avail - savail)) -le "$tol" ] && [ $((savail - avail)) -le "$tol" ] ||
        fail "df avail $avail vs stat -f $savail ($1)"
    log "df: used $used (files $files, cache $cache, du $du), avail $avail (stat -f $savail)"
}
check "df on the mount: the store's bytes and its filesystem's free space"
df_check "after the pulls"
nblobs=$(find "$STORE/blobs/sha256" -type f | wc -l)
grep -Eqx "store: [0-9.]+[kMGT]?B in $nblobs blobs, [0-9.]+[kMGT]?B available" <(head -1 "$MNT/status") ||
    fail "status store line: $(head -1 "$MNT/status"), want $nblobs blobs"
rm "$MNT/repos/small/latest" || fail "rm small:latest"
df_check "after rmi small"
pass "df"

check "a rate limit (429) is EAGAIN, and status says so"
echo "/v2/ratelimited/" > "$PLOG.429"
assert_eq EAGAIN "$(errno_of stat "$MNT/repos/ratelimited/latest")" "stat repos/ratelimited/latest"
status_has 'EAGAIN +[^ ]*/ratelimited:latest +rate limited by the registry \(HTTP 429\)' ||
    { cat "$MNT/status"; fail "no EAGAIN row"; }
grep -q "ratelimited.*HTTP 429" "$IMGFS_LOG" || fail "the log does not name the 429"
pass "EAGAIN"

check "a registry that is down: not found (EIO accepted), status says EHOSTUNREACH; a new tag is made offline"
kill "$PROXY_PID"
wait "$PROXY_PID" 2>/dev/null
e=$(errno_of stat "$MNT/repos/gone/latest")
case $e in
    ENOENT) row=EHOSTUNREACH ;;
    EIO) row=EIO ;;    # the pool's connection to the killed proxy broke
    *) fail "stat repos/gone/latest with the registry down: $e" ;;
esac
status_has "$row +[^ ]*/gone:latest +(registry unreachable|I/O error)" ||
    { cat "$MNT/status"; fail "no $row row"; }
# As `docker tag` offline: the lookup ln makes first finds no registry,
# and the link is made.
ln -s "../../by-id/$BIG_ID" "$MNT/repos/gone/offline" ||
    fail "ln -s of a new tag with the registry down"
assert_eq "../../by-id/$BIG_ID" "$(readlink "$MNT/repos/gone/offline")" "the offline tag"
grep -Eq "gone +offline +$BIG_ID" <<<"$(cat "$MNT/images")" || { cat "$MNT/images"; fail "the offline tag is not in images"; }
status_has "EHOSTUNREACH +[^ ]*/gone:offline +registry unreachable" ||
    { cat "$MNT/status"; fail "no EHOSTUNREACH row for the lookup ln made"; }
imgfs_alive || fail "daemon died"
pass "registry down ($e), tag made offline"
cat "$MNT/status"
imgfs_umount

check "df after a remount: the count made at open is the same"
imgfs_mount
df_check "after a remount"
imgfs_umount
pass "df after a remount"

check "wrong credentials are EACCES, and status says so"
registry_start_basic
PUSH_CREDS="$REG_USER:$REG_PASS" push_image "$O" small small:latest
export DOCKER_CONFIG=$TEST_TMP/dc-wrong
docker_config "$DOCKER_CONFIG" "$REG_USER" "not-$REG_PASS"
MNT=$TEST_TMP/mnt2 STORE=$TEST_TMP/store2
imgfs_mount
assert_eq EACCES "$(errno_of stat "$MNT/repos/small/latest")" "stat repos/small/latest"
status_has 'EACCES +[^ ]*/small:latest +access denied: bad or missing credentials' ||
    { cat "$MNT/status"; fail "no EACCES row"; }
if grep -qF -- "$REG_PASS" "$MNT/status" "$IMGFS_LOG"; then
    fail "the password shows in status or the log"
fi
imgfs_umount
pass "EACCES"
