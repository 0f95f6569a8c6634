#!/bin/bash
# t_stress.sh — 32 readers walk and hash the rootfs trees of three images
# (find + sha256sum in a loop) while a loop creates and removes tags and two
# loops import tarballs, for STRESS_SECS (default 40) seconds. Then: no
# process hung (everything runs under timeout), the daemon is alive, every
# reader's hashes equal umoci unpack's, every tag created and not removed is
# there (and none removed is), every import that cp reported committed is
# there with the right diff_id.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

SECS=${STRESS_SECS:-40}
NREADERS=32
O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
build_unique "$O" u2
registry_start
IMGS=(busybox u1 u2)
for i in "${IMGS[@]}"; do
    push_image "$O" "$i" "$i:latest"
    reference_tree "$O" "$i" "$TEST_TMP/ref-$i"
    file_hashes "$TEST_TMP/ref-$i/rootfs" > "$TEST_TMP/want.$i"
done
B=$(remote_config_id busybox:latest)

check "import tarballs for the import loops"
for k in 1 2; do
    mkdir -p "$TEST_TMP/isrc$k/data"
    head -c 20M /dev/urandom > "$TEST_TMP/isrc$k/data/blob"
    tar -C "$TEST_TMP/isrc$k" -cf "$TEST_TMP/imp$k.tar" . || fail "tar"
    gzip -1 -c "$TEST_TMP/imp$k.tar" > "$TEST_TMP/imp$k.tar.gz"
    sha256_file "$TEST_TMP/imp$k.tar" > "$TEST_TMP/diff$k"
done
pass "two 20 MB tarballs"

imgfs_mount
mkdir -p "$MNT/repos/stress"
STOP=$TEST_TMP/running
touch "$STOP"

reader() {   # reader I — hash image I%3 until $STOP goes; verdict in res.I
    local i=$1 img=${IMGS[$(( $1 % 3 ))]} n=0 out=$TEST_TMP/res.$1
    local root=$MNT/by-id/$(basename "$(readlink "$MNT/repos/$img/latest")")/rootfs
    while [ -e "$STOP" ]; do
        n=$((n + 1))
        if [ $((i % 2)) = 0 ]; then
            (cd "$root" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum) > "$out.tmp" 2>&1
            cmp -s "$out.tmp" "$TEST_TMP/want.$img" || { echo "bad hashes $img pass $n" > "$out"; cp "$out.tmp" "$out.bad"; return; }
        else
            (cd "$root" && find . | sort) > "$out.tmp" 2>&1
            (cd "$TEST_TMP/ref-$img/rootfs" && find . | sort) | cmp -s - "$out.tmp" ||
                { echo "bad find $img pass $n" > "$out"; return; }
        fi
    done
    echo "ok $n" > "$out"
}

tag_loop() {   # create s<n>, remove every third one two behind
    local i=0 d=$MNT/repos/stress
    while [ -e "$STOP" ]; do
        i=$((i + 1))
        timeout 20 ln -s "$B" "$d/s$i" && echo "add s$i" >> "$TEST_TMP/tags.log"
        if [ $((i % 3)) = 0 ]; then
            timeout 20 rm "$d/s$((i - 2))" && echo "rm s$((i - 2))" >> "$TEST_TMP/tags.log"
        fi
    done
}

import_loop() {   # import_loop K — import impK.tar.gz as impK:<n> repeatedly
    local k=$1 n=0
    while [ -e "$STOP" ]; do
        n=$((n + 1))
        timeout 100 cp "$TEST_TMP/imp$k.tar.gz" "$MNT/import/imp$k:$n" && echo "imp$k $n" >> "$TEST_TMP/imports.log"
    done
}

check "$NREADERS readers, a tag loop and two import loops for ${SECS}s"
# pull every image once so that readers start from a known state
for img in "${IMGS[@]}"; do cat "$MNT/repos/$img/latest/manifest" >/dev/null || fail "pull $img"; done
pids=()
for i in $(seq 0 $((NREADERS - 1))); do
    timeout $((SECS + 120)) bash -c "$(declare -f reader); IMGS=(${IMGS[*]}); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP reader $i" &
    pids+=($!)
done
timeout $((SECS + 60)) bash -c "$(declare -f tag_loop); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP B=$B tag_loop" 2>"$TEST_TMP/tag.err" &
tpid=$!
for k in 1 2; do
    timeout $((SECS + 120)) bash -c "$(declare -f import_loop); MNT=$MNT TEST_TMP=$TEST_TMP STOP=$STOP import_loop $k" 2>"$TEST_TMP/imp$k.err" &
    pids+=($!)
done
sleep "$SECS"
rm -f "$STOP"
bad=0
wait "$tpid" || { echo "tag loop exited with $? (124 = hung)"; bad=1; }
for p in "${pids[@]}"; do
    wait "$p" || { echo "worker $p exited with $? (124 = hung)"; bad=1; }
done
[ "$bad" = 0 ] || fail "a worker hung or failed"
imgfs_alive || fail "daemon died"
pass "all workers finished"

check "readers saw the right trees"
passes=0
for i in $(seq 0 $((NREADERS - 1))); do
    r=$(cat "$TEST_TMP/res.$i" 2>/dev/null || echo "no result")
    [[ $r == ok* ]] || fail "reader $i: $r"
    passes=$((passes + ${r#ok }))
done
pass "$passes tree walks, all equal to umoci unpack"

check "no tag lost, none resurrected"
[ -s "$TEST_TMP/tags.err" ] && { cat "$TEST_TMP/tags.err"; fail "the tag loop saw errors"; }
mapfile -t present < <(ls "$MNT/repos/stress")
added=$(grep -c add "$TEST_TMP/tags.log")
for t in $(awk '$1 == "add" { print $2 }' "$TEST_TMP/tags.log"); do
    grep -qx "rm $t" "$TEST_TMP/tags.log" && continue
    printf '%s\n' "${present[@]}" | grep -x "$t" >/dev/null || fail "tag stress/$t lost"
done
for t in $(awk '$1 == "rm" { print $2 }' "$TEST_TMP/tags.log"); do
    printf '%s\n' "${present[@]}" | grep -x "$t" >/dev/null && fail "removed tag stress/$t is back"
done
pass "$added tags made, ${#present[@]} present as expected"

check "every committed import is there with its diff_id"
for k in 1 2; do [ -s "$TEST_TMP/imp$k.err" ] && { cat "$TEST_TMP/imp$k.err"; fail "import loop $k saw errors"; }; done
n=0
while read -r name num; do
    k=${name#imp}
    assert_eq "sha256:$(cat "$TEST_TMP/diff$k")" "$(jq -r '.rootfs.diff_ids[0]' "$MNT/repos/$name/$num/config")" "$name:$num diff_id"
    n=$((n + 1))
done < "$TEST_TMP/imports.log"
[ "$n" -ge 2 ] || fail "only $n imports committed in ${SECS}s"
assert_eq "" "$(ls -A "$STORE/tmp")" "STORE/tmp"
pass "$n imports"

imgfs_umount
echo "t_stress: all checks passed"
