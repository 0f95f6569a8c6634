#!/bin/bash
# t_span_cache.sh — the decompressed span cache under a cap smaller than the
# layer: with -o cache_size=6M, a gzip image whose single layer holds
# ~24 MiB (a big file and 2000 small ones) reads back equal to umoci unpack
# twice (the kernel's page cache dropped in between, so the second pass
# reaches the daemon again), also by parallel readers; STORE/cache holds
# bytes but never more on disk than the cap plus one 1 MiB span; the daemon
# survives; the cache is emptied at the next mount, where the same image
# with a zstd layer reads back right through a cache that holds it; a bad
# cache_size is refused.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

CAP=$((6 << 20))
SLACK=$((1 << 20))
O=$TEST_TMP/oci
_umoci_layout "$O"
b=$TEST_TMP/bundle
umoci new --image "$O:big" || fail "umoci new"
umoci unpack --image "$O:big" "$b" >/dev/null || fail "umoci unpack"
"$PY" - "$b/rootfs" <<'EOF' || fail "content"
import os, random, sys
r = random.Random(7)
root = sys.argv[1]
words = [("w%d" % i).encode() for i in range(3000)]
def text(n):
    return b" ".join(r.choice(words) for _ in range(n // 4 + 1))[:n]
with open(os.path.join(root, "big"), "wb") as f:
    for _ in range(16):
        f.write(text(1 << 20))
for d in range(20):
    os.makedirs(os.path.join(root, "small", "d%02d" % d))
    for k in range(100):
        with open(os.path.join(root, "small", "d%02d" % d, "f%03d" % k), "wb") as f:
            f.write(text(r.randint(100, 8000)))
EOF
umoci repack --image "$O:big" "$b" >/dev/null || fail "umoci repack"
rm -rf "$b"
build_variant "$O" big big-zstd
registry_start
push_image "$O" big-zstd big-zstd:latest --dest-compress-format zstd
push_image "$O" big big:latest
reference_tree "$O" big "$TEST_TMP/ref"
REF=$TEST_TMP/ref/rootfs
file_hashes "$REF" > "$TEST_TMP/want"

treecmp() { timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$@"; }
# Drop the kernel's cached pages of every file under $1, so that the next
# read asks the daemon again.
drop_pages() {
    find "$1" -type f -print0 | xargs -0 -r "$PY" -c '
import os, sys
for p in sys.argv[1:]:
    fd = os.open(p, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)'
}
cache_bytes() { du -sB1 "$STORE/cache" | cut -f1; }
check_cap() {
    local used
    used=$(cache_bytes)
    [ "$used" -le $((CAP + SLACK)) ] || fail "$1: cache holds $used bytes, cap $CAP"
    log "$1: cache holds $used bytes"
}

check "a bad cache_size is refused"
mkdir -p "$TEST_TMP/badmnt"
if timeout 10 "$IMGFS_BIN" -f -o "store=$TEST_TMP/badstore,cache_size=12X" "$TEST_TMP/badmnt" 2>"$TEST_TMP/bad.err"; then
    fail "cache_size=12X accepted"
fi
grep -q cache_size "$TEST_TMP/bad.err" || fail "no word of cache_size: $(cat "$TEST_TMP/bad.err")"
pass "cache_size=12X refused"

imgfs_mount "cache_size=6M"

for img in big; do
    R=$MNT/repos/$img/latest/rootfs
    for pass in 1 2; do
        check "$img pass $pass: rootfs equals umoci unpack under a 6M cache"
        drop_pages "$R"
        treecmp "$REF" "$R" || fail "$img pass $pass differs from umoci unpack"
        check_cap "$img pass $pass"
        pass "$img pass $pass"
    done
    [ "$(cache_bytes)" -gt $((1 << 20)) ] || fail "$img: nothing was cached"

    check "$img: four parallel readers hash every file"
    drop_pages "$R"
    pids=()
    for k in 1 2 3 4; do
        (file_hashes "$R" > "$TEST_TMP/got.$k") &
        pids+=($!)
    done
    # Only the readers: a bare `wait` would wait for the watchdog too.
    wait "${pids[@]}"
    for k in 1 2 3 4; do
        cmp -s "$TEST_TMP/want" "$TEST_TMP/got.$k" || fail "$img reader $k: hashes differ"
    done
    check_cap "$img parallel"
    pass "$img parallel readers"
done

imgfs_alive || fail "daemon died"
imgfs_umount

check "the cache is emptied at mount"
echo junk > "$STORE/cache/sha256/leftover"
# A zstd layer as skopeo writes it is one frame, so one span: the cap must
# hold the whole stream for it to be cached at all.
CAP=$((64 << 20))
imgfs_mount "cache_size=64M"
[ -e "$STORE/cache/sha256/leftover" ] && fail "cache/sha256 not emptied"
assert_eq "$(sha256sum < "$REF/big" | cut -d' ' -f1)" \
    "$(sha256sum < "$MNT/repos/big/latest/rootfs/big" | cut -d' ' -f1)" "big after remount"
pass "emptied at mount"
R=$MNT/repos/big-zstd/latest/rootfs
for pass in 1 2; do
    check "big-zstd pass $pass: rootfs equals umoci unpack"
    drop_pages "$R"
    treecmp "$REF" "$R" || fail "big-zstd pass $pass differs from umoci unpack"
    check_cap "big-zstd pass $pass"
    pass "big-zstd pass $pass"
done
imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_span_cache: all checks passed"
