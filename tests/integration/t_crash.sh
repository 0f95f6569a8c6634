#!/bin/bash
# t_crash.sh — `kill -9` of the daemon in the middle of a large import (a
# 200 MB tar written slowly) and of a loop of ln -s / rm, several rounds;
# after `fusermount3 -u -z` and a new mount on the same store: every tag
# whose ln -s returned success (and was not removed) is there, every tag whose
# rm returned success is gone, no half-imported image or tag, nothing left in
# STORE/tmp/, every image listed reads, and no blob in STORE/blobs/sha256 is
# unreferenced (referenced = for each STORE/images/*.json: its manifest, and
# the manifest's config and layers).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

ROUNDS=${ROUNDS:-3}
O=$TEST_TMP/oci
build_busybox "$O"
registry_start
push_image "$O" busybox busybox:latest
B=$(remote_config_id busybox:latest)

check "make a 200 MB tar and a small one"
mkdir -p "$TEST_TMP/bigsrc" "$TEST_TMP/smallsrc"
head -c 200M /dev/urandom > "$TEST_TMP/bigsrc/random200m"
tar -C "$TEST_TMP/bigsrc" -cf "$TEST_TMP/big.tar" . || fail "tar big"
rm -rf "$TEST_TMP/bigsrc"
echo small > "$TEST_TMP/smallsrc/file"
tar -C "$TEST_TMP/smallsrc" -cf "$TEST_TMP/small.tar" . || fail "tar small"
pass "$(stat -c %s "$TEST_TMP/big.tar") bytes"

# slow_write SRC DST — write SRC to DST 1 MiB every 20 ms (about 50 MB/s),
# through one descriptor (no dup: see t_import's `cat >` check).
slow_write() {
    "$PY" - "$1" "$2" <<'EOF'
import os, sys, time
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = src.read(1 << 20)
    if not b:
        break
    os.write(fd, b)
    time.sleep(0.02)
os.close(fd)
EOF
}

# tag_loop DIR LOG PREFIX — ln -s / rm of DIR/PREFIX<n> forever; LOG records
# what succeeded.
tag_loop() {
    local dir=$1 logf=$2 p=$3 i=0
    while :; do
        i=$((i + 1))
        timeout 10 ln -s "$B" "$dir/$p$i" 2>/dev/null && echo "add $p$i" >> "$logf"
        if [ $((i % 3)) = 0 ]; then
            # Logged before it runs: the daemon may persist an rm and
            # die before it answers, so an unanswered rm may have happened.
            echo "try-rm $p$((i - 2))" >> "$logf"
            timeout 10 rm "$dir/$p$((i - 2))" 2>/dev/null && echo "rm $p$((i - 2))" >> "$logf"
        fi
    done
}

referenced() {  # hex of every blob the image records reference
    local j m
    for j in "$STORE"/images/*.json; do
        [ -e "$j" ] || continue
        m=$(jq -r .manifest "$j" | cut -d: -f2)
        echo "$m"
        [ -f "$STORE/blobs/sha256/$m" ] || { echo "MISSING-MANIFEST $m" ; continue; }
        jq -r '.config.digest, .layers[].digest' "$STORE/blobs/sha256/$m" | cut -d: -f2
    done | sort -u
}

imgfs_mount
cat "$MNT/repos/busybox/latest/rootfs/etc/os-release" >/dev/null || fail "pull busybox"
cp "$TEST_TMP/small.tar" "$MNT/import/small:1" || fail "import small"
mkdir -p "$MNT/repos/crash"

for r in $(seq "$ROUNDS"); do
    check "round $r: kill -9 during a 200 MB import and a tag loop"
    : > "$TEST_TMP/tags.$r"
    mkdir -p "$MNT/repos/crash" 2>/dev/null
    slow_write "$TEST_TMP/big.tar" "$MNT/import/big$r:1" 2>/dev/null &
    wpid=$!
    bash -c "$(declare -f tag_loop); B=$B; tag_loop '$MNT/repos/crash' '$TEST_TMP/tags.$r' r${r}t" &
    lpid=$!
    sleep $((1 + r))        # 1..ROUNDS+1 s into the import: 50..200 MB written
    kill -9 "$IMGFS_PID"
    wait "$IMGFS_PID" 2>/dev/null
    kill "$lpid" 2>/dev/null; wait "$lpid" 2>/dev/null
    wait_for 10 _pid_gone "$wpid" || kill -9 "$wpid" 2>/dev/null
    wait "$wpid" 2>/dev/null && fail "the import writer succeeded although the daemon was killed"
    timeout 10 fusermount3 -u -z "$MNT" || fail "fusermount3 -u -z"
    log "  killed; $(grep -c add "$TEST_TMP/tags.$r") ln -s and $(grep -c "^rm " "$TEST_TMP/tags.$r") rm had succeeded"
    # import/'s own mount, left dead by the kill, is taken down by the
    # next daemon of the store, not mounted over.
    stale=$IMPORT_MNT
    _is_mounted "$stale" || fail "the killed daemon's import/ mount is not there to take down"
    imgfs_mount
    assert_eq "$stale" "$IMPORT_MNT" "import/'s mountpoint after the restart"
    assert_eq 1 "$(awk -v m="$stale" '$5 == m' /proc/self/mountinfo | wc -l)" "mounts at $stale"

    # tags: cumulative over rounds (tags of earlier rounds must survive too)
    cat "$TEST_TMP"/tags.[0-9]* > "$TEST_TMP/alltags"
    mapfile -t present < <(ls "$MNT/repos/crash" 2>/dev/null)
    for t in $(awk '$1 == "add" { print $2 }' "$TEST_TMP/alltags"); do
        grep -qx "rm $t" "$TEST_TMP/alltags" && continue
        grep -qx "try-rm $t" "$TEST_TMP/alltags" && continue   # in flight at the kill
        printf '%s\n' "${present[@]}" | grep -x "$t" >/dev/null || fail "round $r: tag crash/$t (ln -s succeeded) is gone"
        assert_eq "../../by-id/$B" "$(readlink "$MNT/repos/crash/$t")" "round $r: crash/$t target"
    done
    for t in $(awk '$1 == "rm" { print $2 }' "$TEST_TMP/alltags"); do
        printf '%s\n' "${present[@]}" | grep -x "$t" >/dev/null && fail "round $r: tag crash/$t (rm succeeded) is back"
    done
    # the interrupted import left nothing
    ls "$MNT/repos" | grep '^big' >/dev/null && fail "round $r: a half-imported tag exists: $(ls "$MNT/repos")"
    assert_eq "" "$(ls -A "$MNT/dangling")" "round $r: dangling/ (a half import?)"
    assert_eq "" "$(ls -A "$STORE/tmp")" "round $r: STORE/tmp after the remount"
    # every image reads
    for id in $(ls "$MNT/by-id"); do
        timeout 60 cat "$MNT/by-id/$id/manifest" "$MNT/by-id/$id/config" >/dev/null || fail "round $r: image $id unreadable"
        f=$(cd "$MNT/by-id/$id/rootfs" && timeout 60 find . -type f | head -n1)
        [ -n "$f" ] || fail "round $r: image $id: no file in rootfs"
        timeout 60 cat "$MNT/by-id/$id/rootfs/$f" >/dev/null || fail "round $r: image $id: cat $f"
    done
    assert_eq "$B" "$(basename "$(readlink "$MNT/repos/busybox/latest")")" "round $r: busybox/latest"
    [ -L "$MNT/repos/small/1" ] || fail "round $r: small:1 lost"
    # no unreferenced blob, no missing manifest
    referenced > "$TEST_TMP/ref"
    grep MISSING "$TEST_TMP/ref" && fail "round $r: an image record names a missing manifest"
    ls "$STORE/blobs/sha256" | sort > "$TEST_TMP/have"
    comm -23 "$TEST_TMP/have" "$TEST_TMP/ref" > "$TEST_TMP/orphans"
    [ -s "$TEST_TMP/orphans" ] && fail "round $r: unreferenced blobs: $(cat "$TEST_TMP/orphans" | tr '\n' ' ') ($(du -ch $(sed "s|^|$STORE/blobs/sha256/|" "$TEST_TMP/orphans") | tail -n1))"
    pass "round $r: store consistent (${#present[@]} crash tags, $(wc -l < "$TEST_TMP/have") blobs)"
done

check "after the crashes, an import and a tag still work"
cp "$TEST_TMP/big.tar" "$MNT/import/bigfinal:1" || fail "import big after the crashes"
assert_eq "$(sha256_file "$TEST_TMP/big.tar")" \
    "$(jq -r '.rootfs.diff_ids[0]' "$MNT/repos/bigfinal/1/config" | cut -d: -f2)" "bigfinal diff_id"
ln -s "$B" "$MNT/repos/crash/final" || fail "ln -s after the crashes"
pass "ok"

imgfs_umount
echo "t_crash: all checks passed"
