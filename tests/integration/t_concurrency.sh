#!/bin/bash
# t_concurrency.sh — 64 concurrent readers across three images, started on a
# cold store (so they race on the first fetch and index of every layer), all
# finish within the time limit with correct hashes, and the daemon survives.
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
push_image "$O" busybox busybox:latest
reference_tree "$O" features "$TEST_TMP/ref-features"
reference_tree "$O" busybox "$TEST_TMP/ref-busybox"
file_hashes "$TEST_TMP/ref-features/rootfs" > "$TEST_TMP/want.features"
cp "$TEST_TMP/want.features" "$TEST_TMP/want.features-zstd"
file_hashes "$TEST_TMP/ref-busybox/rootfs" > "$TEST_TMP/want.busybox"
(cd "$TEST_TMP/ref-features/rootfs" && find . | sort) > "$TEST_TMP/paths.features"
cp "$TEST_TMP/paths.features" "$TEST_TMP/paths.features-zstd"
(cd "$TEST_TMP/ref-busybox/rootfs" && find . | sort) > "$TEST_TMP/paths.busybox"

imgfs_mount
IMGS=(features features-zstd busybox)
NREADERS=64
ROUNDS=3

# reader I — one of four kinds, on image I % 3; writes its verdict to res.I
reader() {
    local i=$1 img=${IMGS[$(( $1 % 3 ))]} r out=$TEST_TMP/res.$1
    local root=$MNT/repos/$img/latest/rootfs
    for r in $(seq $ROUNDS); do
        case $(( i % 4 )) in
            0|1) file_hashes "$root" > "$out.tmp" 2>&1 &&
                 cmp -s "$out.tmp" "$TEST_TMP/want.$img" || { echo "bad hashes $img round $r" > "$out"; return; } ;;
            2) (cd "$root" && find . | sort) > "$out.tmp" 2>&1 &&
               cmp -s "$out.tmp" "$TEST_TMP/paths.$img" || { echo "bad find $img round $r" > "$out"; return; } ;;
            3) local l
               for l in "$MNT/repos/$img/latest/layers"/*; do
                   [[ $(basename "$l") == *"$(sha256sum < "$l" | cut -d' ' -f1)"* ]] ||
                       { echo "bad layer $l round $r" > "$out"; return; }
               done ;;
        esac
    done
    echo ok > "$out"
}

check "$NREADERS concurrent readers x $ROUNDS rounds on a cold store"
start=$SECONDS
pids=()
for i in $(seq 0 $((NREADERS - 1))); do
    timeout 400 bash -c "$(declare -f reader file_hashes); IMGS=(${IMGS[*]}); MNT=$MNT TEST_TMP=$TEST_TMP ROUNDS=$ROUNDS reader $i" &
    pids+=($!)
done
bad=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "reader $i exited with $?"; bad=1; }
done
elapsed=$((SECONDS - start))
for i in $(seq 0 $((NREADERS - 1))); do
    r=$(cat "$TEST_TMP/res.$i" 2>/dev/null || echo "no result")
    [ "$r" = ok ] || { echo "reader $i: $r"; bad=1; }
done
[ "$bad" = 0 ] || fail "some readers failed or timed out"
imgfs_alive || fail "daemon died"
pass "$NREADERS readers done in ${elapsed}s"

check "blob GETs per layer in the registry access log (one download per blob expected)"
grep -o 'GET /v2/[^ ]*/blobs/sha256:[0-9a-f]*' "$REG_DIR/access.log" | sed 's/.*sha256:/sha256:/' |
    sort | uniq -c | sort -rn | head -n 20
pass "see counts above"

imgfs_umount
echo "t_concurrency: all checks passed"
