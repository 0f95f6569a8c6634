#!/bin/bash
# t_tag.sh — `docker tag` as file operations on repos/: ln -s to an absolute
# by-id path, to a relative tag or by-id path, to a bare ID, full ID and
# unique prefix; a hard link of a tag; mv to rename (same and other depth);
# mv -T over a tag and ln -sfn move it and leave the old image dangling;
# invalid names and tags are EINVAL and change nothing; mkdir'd empty repos;
# every result checked through readlink, ls -l, `cat images`, tags.json
# untouched where nothing may change, and again after a remount.
#
# Note: a tag is a symlink to a directory, so plain `mv A B` / `ln -sf X B`
# onto an existing tag B would move/link *into* the image directory (that is
# coreutils' behaviour for a destination that resolves to a directory); the
# "over the tag" forms are `mv -T` and `ln -sfn`.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
build_unique "$O" u2
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" u1 u1:latest
push_image "$O" u2 u2:latest
B=$(remote_config_id busybox:latest)
U1=$(remote_config_id u1:latest)
U2=$(remote_config_id u2:latest)
U1FULL=$(remote_raw u1:latest --config --raw | sha256sum | cut -d' ' -f1)

imgfs_mount
R=$MNT/repos

# bug MSG — a failed check that does not stop the steps after it (so one
# known bug does not hide the others); the test still fails at the end.
BUGS=()
bug() { printf 'FAIL (continuing): %s\n' "$*" >&2; BUGS+=("$*"); }

# link_is PATH ID — PATH is a tag symlink to by-id/ID with the right depth
# (one ../ per component of its directory below the mount root).
link_is() {
    local p=$1 id=$2 rel depth up="" f=fail
    [ "${SOFT:-0}" = 1 ] && f=bug
    [ -L "$p" ] || { $f "$p is not a symlink"; return; }
    rel=${p#"$MNT"/}
    depth=$(( $(tr -cd / <<<"$rel" | wc -c) ))
    for _ in $(seq "$depth"); do up="../$up"; done
    [ "${up}by-id/$id" = "$(readlink "$p")" ] ||
        $f "readlink $rel: expected '${up}by-id/$id', got '$(readlink "$p")'"
    [ -d "$p/rootfs" ] || $f "$rel does not resolve to an image directory"
    [ "${up}by-id/$id" = "$(stat -c %N "$p" | sed "s/.* -> '//; s/'\$//")" ] ||
        $f "stat $rel: link target $(stat -c %N "$p")"
}

# images_has REPO TAG ID — `cat images` has that row.
images_has() {
    local f=fail
    [ "${SOFT:-0}" = 1 ] && f=bug
    timeout 30 cat "$MNT/images" > "$TEST_TMP/images.now" || fail "cat images"
    awk -v r="$1" -v t="$2" -v i="$3" '$1 == r && $2 == t && $3 == i { f = 1 } END { exit !f }' \
        "$TEST_TMP/images.now" || { cat "$TEST_TMP/images.now"; $f "images has no row '$1 $2 $3'"; }
}

# state — every tag (path -> target), the images rows without CREATED,
# and tags.json, for "nothing changed" comparisons.
state() {
    (cd "$R" && find . -type l -printf '%P\n' | sort)
    jq -r '.tags[] | "\(.host)/\(.repo):\(.tag) -> \(.id)"' "$STORE/tags.json" | sort
    timeout 30 cat "$MNT/images" | awk 'NR > 1 { print $1, $2, $3 }' | sort
    sha256sum < "$STORE/tags.json"
}

# rename_errno OLD NEW — errno name of rename(OLD, NEW), or OK.
rename_errno() {
    "$PY" -c 'import errno, os, sys
try:
    os.rename(sys.argv[1], sys.argv[2]); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" "$2"
}

# symlink_errno TARGET PATH — errno name of symlink(TARGET, PATH), or OK.
symlink_errno() {
    "$PY" -c 'import errno, os, sys
try:
    os.symlink(sys.argv[1], sys.argv[2]); print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])' "$1" "$2"
}

check "pulled tags resolve"
link_is "$R/busybox/latest" "$B"
link_is "$R/u1/latest" "$U1"
link_is "$R/u2/latest" "$U2"
pass "busybox $B, u1 $U1, u2 $U2"

check "ln -s with an absolute by-id target into a new nested repository (mkdir -p)"
mkdir -p "$R/my/app" || fail "mkdir -p repos/my/app"
[ -d "$R/my/app" ] || fail "mkdir'd repos/my/app is not a directory"
ls "$R" | grep -x my >/dev/null || bug "repos/ does not list the mkdir'd (still empty) 'my'"
ls "$R/my" | grep -x app >/dev/null || bug "repos/my does not list the mkdir'd (still empty) 'app'"
ln -s "$MNT/by-id/$B" "$R/my/app/abs" || fail "ln -s absolute"
link_is "$R/my/app/abs" "$B"
ls -l "$R/my/app" | grep "abs -> ../../../by-id/$B\$" >/dev/null || fail "ls -l repos/my/app"
images_has my/app abs "$B"
pass "abs"

check "ln -s relative to a tag and to a by-id dir; one-component name busybox16.04"
mkdir -p "$R/busybox16.04" || fail "mkdir repos/busybox16.04"
ln -s ../busybox/latest "$R/busybox16.04/reltag" || fail "ln -s ../busybox/latest"
link_is "$R/busybox16.04/reltag" "$B"
ln -s "../../by-id/$U1" "$R/busybox16.04/relid" || fail "ln -s ../../by-id/U1"
link_is "$R/busybox16.04/relid" "$U1"
ln -s ../../busybox/latest "$R/my/app/reltag2" || fail "ln -s ../../busybox/latest (nested)"
link_is "$R/my/app/reltag2" "$B"
images_has busybox16.04 reltag "$B"
images_has busybox16.04 relid "$U1"
pass "relative targets"

check "ln -s with a bare ID, the full 64-hex ID, a unique prefix; a tag with uppercase"
ln -s "$U2" "$R/busybox16.04/bare" || fail "ln -s bare id"
link_is "$R/busybox16.04/bare" "$U2"
ln -s "$U1FULL" "$R/busybox16.04/full" || fail "ln -s full id"
link_is "$R/busybox16.04/full" "$U1"
ln -s "${B:0:7}" "$R/busybox16.04/Prefix_1.x-y" || fail "ln -s prefix (tag with uppercase, _ . -)"
link_is "$R/busybox16.04/Prefix_1.x-y" "$B"
images_has busybox16.04 Prefix_1.x-y "$B"
pass "id forms"

check "a 128-character tag is valid and shown whole"
T128=$(printf 'a%.0s' $(seq 127))Z
ln -s "$B" "$R/busybox16.04/$T128" || fail "ln -s 128-char tag"
link_is "$R/busybox16.04/$T128" "$B"
SOFT=1 images_has busybox16.04 "$T128" "$B"
pass "128-char tag"

check "ln (hard link of a tag) tags too"
mkdir -p "$R/hard/links" || fail "mkdir repos/hard/links"
ln "$R/u1/latest" "$R/hard/links/copy" || fail "ln repos/u1/latest repos/hard/links/copy"
link_is "$R/hard/links/copy" "$U1"
link_is "$R/u1/latest" "$U1"
images_has hard/links copy "$U1"
pass "hard link"

check "mv renames a tag in the same repository and across depths"
mv -T "$R/busybox16.04/bare" "$R/busybox16.04/renamed" || fail "mv bare renamed"
[ -e "$R/busybox16.04/bare" ] || [ -L "$R/busybox16.04/bare" ] && fail "old name still there after mv"
link_is "$R/busybox16.04/renamed" "$U2"
mkdir -p "$R/deep/er/still" || fail "mkdir deep"
ln -s "$B" "$R/busybox16.04/tomove" || fail "ln -s tomove"
readlink "$R/busybox16.04/tomove" >/dev/null    # the kernel may now cache the target
mv -T "$R/busybox16.04/tomove" "$R/deep/er/still/moved" || fail "mv across depth"
SOFT=1 link_is "$R/deep/er/still/moved" "$B"
ls "$R/deep/er/still/moved/" 2>/dev/null | grep -x rootfs >/dev/null || bug "moved tag does not list as an image dir"
images_has deep/er/still moved "$B"
pass "mv"

check "mv -T over an existing tag moves it; the image it left becomes dangling"
# u2 is named by u2/latest and busybox16.04/renamed; drop the second one.
rm "$R/busybox16.04/renamed" || fail "rm renamed"
assert_eq "" "$(ls -A "$MNT/dangling")" "dangling/ before the move"
ln -s "$U1" "$R/busybox16.04/mover" || fail "ln -s mover"
mv -T "$R/busybox16.04/mover" "$R/u2/latest" || fail "mv -T over u2/latest"
link_is "$R/u2/latest" "$U1"
[ -L "$R/busybox16.04/mover" ] && fail "source of mv still there"
assert_eq "$U2" "$(ls "$MNT/dangling")" "dangling/ lists the image u2/latest left"
assert_eq "../by-id/$U2" "$(readlink "$MNT/dangling/$U2")" "dangling link target"
[ -d "$MNT/dangling/$U2/rootfs" ] || fail "dangling/$U2 does not resolve"
images_has '<none>' '<none>' "$U2"
pass "u2 dangling"

check "ln -sfn over an existing tag (coreutils: temp link renamed over it)"
if ln -sfn "$MNT/by-id/$B" "$R/u1/latest"; then
    link_is "$R/u1/latest" "$B"
    images_has u1 latest "$B"
else
    bug "ln -sfn $MNT/by-id/$B repos/u1/latest failed"
fi
ln -sfn "../../../by-id/$U2" "$R/hard/links/copy" || fail "ln -sfn relative"
link_is "$R/hard/links/copy" "$U2"
ln -sfn "$U1" "$R/hard/links/copy" || fail "ln -sfn bare id"
link_is "$R/hard/links/copy" "$U1"
ls -A "$R/u1" | grep -v '^latest$' && fail "ln -sfn left a temporary name behind"
ls -A "$R/hard/links" | grep -v '^copy$' && fail "ln -sfn left a temporary name behind"
pass "ln -sfn"

check "invalid names and tags: EINVAL, nothing changes"
state > "$TEST_TMP/state.before"
assert_eq EINVAL "$(errno_of mkdir "$R/Upper")" "mkdir repos/Upper"
assert_eq EINVAL "$(errno_of mkdir "$R/my/Upper")" "mkdir repos/my/Upper"
assert_eq EINVAL "$(errno_of mkdir "$R/-lead")" "mkdir repos/-lead"
assert_eq EINVAL "$(errno_of mkdir "$R/my/trail.")" "mkdir repos/my/trail."
assert_eq EINVAL "$(errno_of mkdir "$R/my/a..b")" "mkdir repos/my/a..b"
assert_eq EINVAL "$(symlink_errno "$B" "$R/my/app/bad:tag")" "tag with ':'"
assert_eq EINVAL "$(symlink_errno "$B" "$R/my/app/.dot")" "tag starting with '.'"
assert_eq EINVAL "$(symlink_errno "$B" "$R/my/app/-dash")" "tag starting with '-'"
assert_eq EINVAL "$(symlink_errno "$B" "$R/my/app/sp ace")" "tag with a space"
assert_eq EINVAL "$(symlink_errno "$B" "$R/my/app/${T128}b")" "129-char tag"
# (GNU mv reports rename's EINVAL as "cannot move ... to a subdirectory of itself")
assert_eq EINVAL "$(rename_errno "$R/my/app/abs" "$R/my/app/bad:x")" "rename to an invalid tag"
assert_eq EINVAL "$(rename_errno "$R/my/app/abs" "$R/my/app/.x")" "rename to an invalid tag .x"
ln "$R/my/app/abs" "$R/my/app/Bad Tag" 2>/dev/null && fail "hard link to an invalid tag succeeded"
state > "$TEST_TMP/state.after"
diff "$TEST_TMP/state.before" "$TEST_TMP/state.after" || fail "an invalid operation changed the tags"
link_is "$R/my/app/abs" "$B"
pass "EINVAL, state unchanged"

check "ln -s to something that is no image fails and changes nothing"
ln -s 0000000000ff "$R/my/app/noimage" 2>/dev/null && fail "ln -s to an unknown id succeeded"
ln -s "$MNT/images" "$R/my/app/notdir" 2>/dev/null && fail "ln -s to the images file succeeded"
state > "$TEST_TMP/state.after2"
diff "$TEST_TMP/state.before" "$TEST_TMP/state.after2" || fail "a failed ln -s changed the tags"
pass "refused"

check "an empty mkdir'd repository: listed until rmdir"
mkdir -p "$R/empty/one" "$R/empty/two" || fail "mkdir empty repos"
[ -d "$R/empty/two" ] || fail "empty/two missing"
assert_eq "one two" "$(ls "$R/empty" | xargs)" "ls repos/empty"
rmdir "$R/empty/two" || fail "rmdir empty/two"
assert_eq "one" "$(ls "$R/empty" | xargs)" "ls repos/empty after rmdir empty/two"
# Every valid name at the top of repos/ is a directory already (it may be a
# namespace of the registry: repos/ouruser/...), so a plain mkdir there says
# EEXIST; mkdir -p is the way, and the directory takes a tag.
mkdir -p "$R/plainmkdir" || fail "mkdir -p of a new one-component repository"
ln -s "$B" "$R/plainmkdir/t" || fail "tag in the new one-component repository"
link_is "$R/plainmkdir/t" "$B"
rm "$R/plainmkdir/t" || fail "untag plainmkdir/t"
pass "mkdir/rmdir"

check "everything persists across a remount"
# (drop the kernel's cached symlink bodies so the listing shows what the
# daemon says now, not what a stale cache says: see the cross-depth mv)
echo 2 > /proc/sys/vm/drop_caches
(cd "$R" && find . -type l -printf '%P -> %l\n' | sort) > "$TEST_TMP/tags.before"
timeout 30 cat "$MNT/images" | awk 'NR > 1 { print $1, $2, $3 }' | sort > "$TEST_TMP/rows.before"
imgfs_umount
imgfs_mount
(cd "$R" && find . -type l -printf '%P -> %l\n' | sort) > "$TEST_TMP/tags.after"
diff "$TEST_TMP/tags.before" "$TEST_TMP/tags.after" || fail "tags differ after remount"
timeout 30 cat "$MNT/images" | awk 'NR > 1 { print $1, $2, $3 }' | sort > "$TEST_TMP/rows.after"
diff "$TEST_TMP/rows.before" "$TEST_TMP/rows.after" || fail "images rows differ after remount"
link_is "$R/my/app/abs" "$B"
link_is "$R/deep/er/still/moved" "$B"
link_is "$R/busybox16.04/Prefix_1.x-y" "$B"
link_is "$R/hard/links/copy" "$U1"
link_is "$R/u2/latest" "$U1"
assert_eq "$U2" "$(ls "$MNT/dangling")" "dangling/ after remount"
ls "$R" | grep -x empty >/dev/null && fail "an empty mkdir'd repository survived the unmount"
assert_eq "" "$(ls "$R/empty" 2>/dev/null)" "repos/empty/ lists nothing after the remount"
[ -L "$R/busybox16.04/renamed" ] && fail "removed tag came back"
pass "$(wc -l < "$TEST_TMP/tags.after") tags persisted"

imgfs_alive || fail "daemon died"
imgfs_umount
[ "${#BUGS[@]}" = 0 ] || fail "${#BUGS[@]} check(s) failed: $(printf '%s; ' "${BUGS[@]}")"
echo "t_tag: all checks passed"
