#!/bin/bash
# t_inval.sh — namespace changes show at once, through every name they
# affect, to every process: the kernel caches entries (present and absent)
# for a second, and the daemon must have it drop the stale ones.  Each
# name is first looked up (so the kernel caches it), then changed, then
# checked from another process with no delay:
#   - rm of an image's last tag: by-id/<id> is gone;
#   - a pull (lookup of the tag): by-id/<id>, cached as absent, is there;
#   - a tag moved off an image (mv -T over it): dangling/<id> is there,
#     and gone again when a tag names the image;
#   - ln -s / rm of a tag, mv of a tag: old name gone, new name there;
#   - an import: its tag, cached as absent, is there.
# Repeated 20 times, so that a one-second cache cannot pass by luck.
# Then three `mv -T` loops in one directory at once: no rename waits for
# an invalidation queued behind one that waits for that directory's lock
# (the daemon logs at debug level each time a wait runs out).
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" u1 u1:latest
imgfs_mount log_level=debug
R=$MNT/repos

# exists PATH — test -e in a process of its own.
exists() { sh -c 'test -e "$1"' sh "$1"; }
yes_now() { exists "$1" || fail "round $i: $2: $1 missing right after the change"; }
no_now() { ! exists "$1" || fail "round $i: $2: $1 still there right after the change"; }

[ -L "$R/busybox/latest" ] || fail "cannot pull busybox:latest"
B=$(basename "$(readlink "$R/busybox/latest")")
[ -L "$R/u1/latest" ] || fail "cannot pull u1:latest"
U=$(basename "$(readlink "$R/u1/latest")")
mkdir -p "$TEST_TMP/imp"
echo hello > "$TEST_TMP/imp/hello"
tar -C "$TEST_TMP/imp" -cf "$TEST_TMP/imp.tar" . || fail "tar"

for i in $(seq 1 20); do
    check "round $i"
    # rm of the last tag deletes the image: by-id/<id> goes.
    exists "$MNT/by-id/$U" || fail "round $i: by-id/$U missing before rm"
    rm "$R/u1/latest" || fail "round $i: rm u1/latest"
    no_now "$MNT/by-id/$U" "rm of the last tag"
    # (u1/latest itself: a lookup would pull it again, the registry has it)

    # A pull brings by-id/<id> back (it was just cached as absent).
    [ -L "$R/u1/latest" ] || fail "round $i: cannot pull u1:latest again"
    yes_now "$MNT/by-id/$U" "pull"

    # A tag moved off the image makes it dangling, and back not.
    no_now "$MNT/dangling/$U" "before the move"
    ln -s "../../by-id/$B" "$R/u1/tmp" || fail "round $i: ln -s u1/tmp"
    mv -T "$R/u1/tmp" "$R/u1/latest" || fail "round $i: mv -T over u1/latest"
    yes_now "$MNT/dangling/$U" "tag moved off the image"
    no_now "$R/u1/tmp" "mv -T"
    ln -s "../../by-id/$U" "$R/u1/back" || fail "round $i: ln -s u1/back"
    no_now "$MNT/dangling/$U" "the image tagged again"
    rm "$R/u1/latest" "$R/u1/back" || fail "round $i: rm"
    no_now "$MNT/by-id/$U" "rm of the last tag"
    [ -L "$R/u1/latest" ] || fail "round $i: cannot pull u1:latest again"

    # A tag made, moved and removed.
    no_now "$R/busybox/t$i" "before ln -s"
    ln -s "../../by-id/$B" "$R/busybox/t$i" || fail "round $i: ln -s"
    yes_now "$R/busybox/t$i" "ln -s"
    exists "$R/busybox/m$i" && fail "round $i: busybox/m$i before the mv"
    mv -T "$R/busybox/t$i" "$R/busybox/m$i" || fail "round $i: mv"
    no_now "$R/busybox/t$i" "mv (old name)"
    yes_now "$R/busybox/m$i" "mv (new name)"
    rm "$R/busybox/m$i" || fail "round $i: rm busybox/m$i"
    no_now "$R/busybox/m$i" "rm"

    # An import's tag, looked up (and missed) before it is made.
    no_now "$R/imp/r$i" "before the import"
    cp "$TEST_TMP/imp.tar" "$MNT/import/imp:r$i" || fail "round $i: import"
    yes_now "$R/imp/r$i" "import"
    pass "round $i"
done

check "three mv -T loops in one directory: no rename waits out an invalidation"
for k in 1 2 3; do
    ln -s "../../by-id/$B" "$R/busybox/p$k" || fail "ln -s busybox/p$k"
done
# mv_loop K — 15 round trips p$K -> q$K -> p$K.
mv_loop() {
    for _ in $(seq 1 15); do
        mv -T "$R/busybox/p$1" "$R/busybox/q$1" && mv -T "$R/busybox/q$1" "$R/busybox/p$1" ||
            return 1
    done
}
mv_loop 1 & p1=$!
mv_loop 2 & p2=$!
mv_loop 3 & p3=$!
for p in $p1 $p2 $p3; do wait "$p" || fail "an mv loop failed"; done
for k in 1 2 3; do
    yes_now "$R/busybox/p$k" "after the mv loops"
    no_now "$R/busybox/q$k" "after the mv loops"
done
waits=$(grep -c "invalidations still queued" "$IMGFS_LOG" || true)
[ "$waits" -eq 0 ] || fail "$waits requests waited out their invalidations"
pass "90 renames, no wait ran out"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_inval: all checks passed"
