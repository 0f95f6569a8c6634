#!/bin/bash
# t_rootfs_compare.sh — the mounted rootfs/ equals what `umoci unpack`
# extracts (paths, types, modes, owners, sizes, content hashes, link targets,
# xattrs, device numbers, hardlink groups, mtimes) for the multi-layer
# "features" image in every layer encoding (OCI gzip, OCI zstd, OCI
# uncompressed, Docker schema2 gzip) and for busybox; and ordinary programs
# (find, stat, getfattr, getcap, cp -a, tar c, mmap, chroot) work on it.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_features "$O"
for v in zstd raw v2s2; do build_variant "$O" features "features-$v"; done
registry_start
# zstd first: skopeo would otherwise reuse the gzip blobs it already pushed.
push_image "$O" features-zstd features-zstd:latest --dest-compress-format zstd
push_image "$O" features features:latest
push_image "$O" features-v2s2 features-v2s2:latest --format v2s2
push_uncompressed "$O" features-raw features-raw:latest
push_image "$O" busybox busybox:latest
mt=$(remote_raw features-zstd:latest --raw | jq -r '[.layers[].mediaType] | unique | join(",")')
assert_eq application/vnd.oci.image.layer.v1.tar+zstd "$mt" "features-zstd layer media type"

reference_tree "$O" features "$TEST_TMP/ref-features"
reference_tree "$O" busybox "$TEST_TMP/ref-busybox"
REF=$TEST_TMP/ref-features/rootfs

imgfs_mount

treecmp() { timeout 300 "$PY" "$LIB_DIR/treecmp.py" "$@"; }

for img in features features-zstd features-raw features-v2s2; do
    check "$img: mounted rootfs equals umoci unpack"
    treecmp "$REF" "$MNT/repos/$img/latest/rootfs" || fail "$img rootfs differs from umoci unpack"
    pass "$img"
done
check "busybox: mounted rootfs equals umoci unpack"
treecmp "$TEST_TMP/ref-busybox/rootfs" "$MNT/repos/busybox/latest/rootfs" || fail "busybox rootfs differs"
pass busybox

R=$MNT/repos/features/latest/rootfs

check "merge semantics spelled out (whiteouts, opaque dir, hardlinks)"
for p in del/file del/dir opq/o1 opq/link opq/sub/o3 hl/c gnu/h1; do
    assert_eq ENOENT "$(errno_of lstat "$R/$p")" "whited-out $p"
done
assert_eq "keep" "$(cat "$R/del/keep")" "del/keep survives"
assert_eq "n3" "$(cat "$R/opq/sub/n3")" "opq/sub recreated"
assert_eq "changed" "$(cat "$R/etc/hello")" "upper layer wins"
assert_eq "$(stat -c %i "$R/hl/lower")" "$(stat -c %i "$R/hl/cross")" "cross-layer hardlink inode"
assert_eq 2 "$(stat -c %h "$R/hl/cross")" "cross-layer hardlink nlink"
assert_eq "$(stat -c %i "$R/hl/a")" "$(stat -c %i "$R/hl/b")" "in-layer hardlink inode"
# A file keeps its number when the kernel forgets it and looks it up again
# (memory pressure): tar finds hardlinks by st_ino within one run.
ino_a=$(stat -c %i "$R/hl/a")
sync; echo 2 > /proc/sys/vm/drop_caches
assert_eq "$ino_a" "$(stat -c %i "$R/hl/b")" "hardlink inode after the kernel forgot it"
assert_eq "$ino_a" "$("$PY" -c 'import os,sys; print([e.inode() for e in os.scandir(sys.argv[1]) if e.name == "a"][0])' "$R/hl")" \
    "readdir d_ino equals st_ino"
assert_eq 2 "$(stat -c %h "$R/gnu/h2")" "gnu/h2 nlink after h1 was whited out"
pass "merge semantics"

check "find lists the same paths"
(cd "$REF" && find . | sort) > "$TEST_TMP/find.want"
(cd "$R" && timeout 120 find . | sort) > "$TEST_TMP/find.got" || fail "find failed"
diff "$TEST_TMP/find.want" "$TEST_TMP/find.got" || fail "find output differs"
pass "find: $(wc -l < "$TEST_TMP/find.got") paths"

check "stat shows modes, owners, devices"
assert_eq "-rwsr-xr-x 0 0" "$(stat -c '%A %u %g' "$R/perm/suid")" "stat perm/suid"
assert_eq "-rws--s--x" "$(stat -c '%A' "$R/perm/both")" "stat perm/both"
assert_eq "drwxrwxrwt" "$(stat -c '%A' "$R/perm/sticky")" "stat perm/sticky"
assert_eq "drwxrwsr-x" "$(stat -c '%A' "$R/perm/sgiddir")" "stat perm/sgiddir"
assert_eq "1000 1000" "$(stat -c '%u %g' "$R/own/u1000")" "owner own/u1000"
assert_eq "0 42" "$(stat -c '%u %g' "$R/own/g42")" "owner own/g42"
assert_eq "character special file 1,3" "$(stat -c '%F %t,%T' "$R/devs/null")" "devs/null"
assert_eq "block special file 7,0" "$(stat -c '%F %t,%T' "$R/devs/loop0")" "devs/loop0"
assert_eq "fifo" "$(stat -c '%F' "$R/devs/fifo")" "devs/fifo"
assert_eq "0 regular empty file" "$(stat -c '%s %F' "$R/data/empty")" "data/empty"
assert_eq 3145728 "$(stat -c %s "$R/data/random3m")" "data/random3m size"
assert_eq "981173106" "$(stat -c %Y "$R/data/empty")" "data/empty mtime"
assert_eq "/etc/hello" "$(readlink "$R/links/abs")" "links/abs"
assert_eq "../etc/hello" "$(readlink "$R/links/rel")" "links/rel"
assert_eq "/nonexistent/target" "$(readlink "$R/links/dangling")" "links/dangling"
[ -e "$R/links/dangling" ] && fail "dangling link resolves"
assert_eq changed "$(cat "$R/links/rel")" "relative symlink followed by the kernel"
pass "stat"

check "getfattr and getcap show the xattrs"
getfattr -d -m - --absolute-names "$R/xattr/file" > "$TEST_TMP/xa" || fail "getfattr"
grep -qx 'user.foo="bar"' "$TEST_TMP/xa" || fail "user.foo missing: $(cat "$TEST_TMP/xa")"
assert_eq 0x00ff10ee "$(getfattr -e hex -n user.bin --absolute-names "$R/xattr/file" | sed -n 's/^user.bin=//p')" "binary xattr"
assert_eq paxval "$(getfattr --absolute-names --only-values -n user.pax "$R/pax/xattr")" "PAX xattr"
assert_eq on-a-dir "$(getfattr --absolute-names --only-values -n user.dir "$R/xattr")" "directory xattr"
getcap "$R/xattr/capbin" | grep 'cap_net_bind_service,cap_net_raw=ep' >/dev/null ||
    fail "getcap: $(getcap "$R/xattr/capbin")"
assert_eq ENODATA "$("$PY" -c 'import errno,os,sys
try: os.getxattr(sys.argv[1], "user.nope"); print("OK")
except OSError as e: print(errno.errorcode[e.errno])' "$R/xattr/file")" "missing xattr"
pass "xattrs"

check "cp -a copies the tree faithfully"
timeout 300 cp -a "$R" "$TEST_TMP/cpa" || fail "cp -a failed"
treecmp "$REF" "$TEST_TMP/cpa" || fail "cp -a copy differs from umoci unpack"
pass "cp -a"

check "tar c reads everything; extracting it gives the same tree"
timeout 300 tar --xattrs --xattrs-include='*' -C "$R" -cf "$TEST_TMP/r.tar" . || fail "tar c failed"
mkdir "$TEST_TMP/untar"
tar --xattrs --xattrs-include='*' -C "$TEST_TMP/untar" -xpf "$TEST_TMP/r.tar" || fail "tar x"
treecmp --no-root "$REF" "$TEST_TMP/untar" || fail "tar round trip differs"
pass "tar c"

check "mmap reads and exec"
assert_eq "$(sha256_file "$REF/data/random3m")" "$("$PY" -c 'import hashlib,mmap,sys
with open(sys.argv[1],"rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); print(hashlib.sha256(m).hexdigest())' "$R/data/random3m")" "mmap sha256"
B=$MNT/repos/busybox/latest/rootfs
assert_eq hello "$("$B/bin/busybox" echo hello)" "exec of a binary in rootfs"
assert_eq "$(sha256_file /bin/busybox)" "$(timeout 60 chroot "$B" /bin/sha256sum /bin/busybox | cut -d' ' -f1)" \
    "sha256sum inside the chroot"
pass "mmap and exec"

imgfs_alive || fail "daemon died"
imgfs_umount
echo "t_rootfs_compare: all checks passed"
