#!/bin/bash
# t_listing_attrs.sh — a rootfs listing carries its entries' attributes
# (READDIRPLUS) only to a caller seen to stat what it lists (fs.h, struct
# fs_statters).  Counted from the requests the daemon logs with -d:
#   - `find` of a directory never touched: its files are not looked up, and
#     its listing gave the kernel no inodes, so a `stat` of each file
#     afterwards asks the daemon for every one;
#   - a stat walk of two fresh directories: the files of the first listed
#     are looked up one by one, the second's come with its listing, so the
#     walk asks for about one directory's files, not both.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

N=300
O=$TEST_TMP/oci
B=$TEST_TMP/bundle
umoci init --layout "$O" || fail "umoci init"
umoci new --image "$O:listing" || fail "umoci new"
umoci unpack --image "$O:listing" "$B" >/dev/null || fail "umoci unpack"
for d in found walked/a walked/b; do
    mkdir -p "$B/rootfs/$d"
    for i in $(seq $N); do echo "$d $i" > "$B/rootfs/$d/file$i"; done
done
echo first > "$B/rootfs/first"
umoci repack --image "$O:listing" "$B" >/dev/null || fail "umoci repack"
registry_start
push_image "$O" listing listing:latest

# The daemon with libfuse's request log (-d), same pid as the real binary.
REAL_BIN=$IMGFS_BIN
IMGFS_BIN=$TEST_TMP/imgfs-d
printf '#!/bin/sh\nexec "%s" -d "$@"\n' "$REAL_BIN" > "$IMGFS_BIN"
chmod +x "$IMGFS_BIN"
imgfs_mount
R=$MNT/repos/listing/latest/rootfs
assert_eq first "$(cat "$R/first")" "first read"    # pulls, indexes

mark() { wc -l < "$IMGFS_LOG"; }
# ops_since LINE OPCODE — how many OPCODE requests were logged after LINE.
ops_since() { tail -n +"$(($1 + 1))" "$IMGFS_LOG" | grep -c "opcode: $2 " || true; }

check "find lists $N files without asking for (or being given) their attributes"
m=$(mark)
[ "$(find "$R/found" -type f | wc -l)" = $N ] || fail "find saw $(find "$R/found" -type f | wc -l) files"
plus=$(ops_since "$m" READDIRPLUS)
lookups=$(ops_since "$m" LOOKUP)
[ "$plus" -ge 1 ] || fail "no READDIRPLUS logged (is -d logging requests?)"
[ "$lookups" -le 5 ] || fail "find made $lookups lookups"
m=$(mark)
for i in $(seq $N); do stat -c %s "$R/found/file$i"; done > /dev/null
lookups=$(ops_since "$m" LOOKUP)
[ "$lookups" -ge $N ] || fail "stat after find: $lookups lookups for $N files (did find's listing make inodes?)"
pass "find: $plus READDIRPLUS, then stat: $lookups lookups"

check "a stat walk gets attributes with its listings once it stats"
m=$(mark)
n=$(find "$R/walked" -printf '%s %m %U\n' | wc -l)
assert_eq $((2 * N + 3)) "$n" "entries the walk printed"
lookups=$(ops_since "$m" LOOKUP)
[ "$lookups" -ge $((N / 2)) ] || fail "the walk made only $lookups lookups: the first directory's files must be looked up"
[ "$lookups" -le $((N + N / 2)) ] || fail "the walk made $lookups lookups for $((2 * N)) files: listings carried no attributes"
pass "$((2 * N)) files stat-ed with $lookups lookups"

check "the walk saw what the image holds"
assert_eq "walked/b 7" "$(cat "$R/walked/b/file7")" "walked/b/file7"
imgfs_alive || fail "daemon died"
pass "contents"

imgfs_umount
echo "t_listing_attrs: all checks passed"
