#!/bin/bash
# t_stateless.sh — files without handles, the default: the kernel opens
# files without asking the daemon (FUSE_CAP_NO_OPEN_SUPPORT), closes them
# without a FLUSH (ENOSYS to the first), and every read comes without a
# handle; import/, which needs its flushes, is a connection of its own that
# the root's `import` links to.  Checked against the same store mounted
# with handles (-o busy_files):
#   - every kind of file reads the same bytes (manifest, config, a layer,
#     the rootfs as tar streams it, image.tar, oci/index.json, images);
#   - the mount really opens without handles: an open file no longer holds
#     its image (rm of its last tag succeeds, EBUSY with handles), and
#     opening a rootfs file for writing succeeds where the write then
#     fails with EROFS (EROFS at open with handles); bytes written into a
#     shared mapping, which the kernel takes before asking, are dropped
#     once their write-back has failed;
#   - every call of tests/lib/ops_robust.py on every kind of node gets an
#     answer, and the image reads the same afterwards;
#   - what changes with the tags shows at once although the kernel keeps
#     the pages: the images table and image.tar's manifest.json after a tag
#     is added, and after a rename to a name of the same length (same
#     size, other bytes); yet a copy of image.tar begun before a tag
#     change reads to its end the archive it began with;
#   - an import still commits at close and reports a bad archive there;
#   - a reader whose image was deleted under it gets the file's bytes or
#     an error, never other bytes, and the daemon lives;
#   - closing costs no request: libfuse's debug log shows at most the one
#     OPEN and the one FLUSH answered ENOSYS for many files read, while an
#     import's FLUSH still comes (on import/'s connection), and the daemon
#     takes import/'s mount down when it exits.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

O=$TEST_TMP/oci
build_busybox "$O"
build_unique "$O" u1
registry_start
push_image "$O" busybox busybox:latest
push_image "$O" u1 u1:latest

# snapshot DIR — the bytes of every kind of file of the image at DIR (a
# by-id/ directory), one sha256 per line.
snapshot() {
    local d=$1 f
    for f in manifest config image.tar oci/index.json; do
        printf '%s %s\n' "$(sha256sum < "$d/$f" | cut -c1-64)" "$f"
    done
    for f in "$d"/layers/*; do
        printf '%s layer\n' "$(sha256sum < "$f" | cut -c1-64)"
    done
    # The rootfs root shows the image's creation time until its tree is
    # built (ns.c), then the layer's: build it first, so that tar reads
    # one of them.
    ls "$d/rootfs" > /dev/null
    printf '%s rootfs\n' "$(tar --sort=name -cf - -C "$d/rootfs" . | sha256sum | cut -c1-64)"
}
_enoent() { [ "$(errno_of stat "$1")" = ENOENT ]; }
gone() { wait_for 3 _enoent "$1" || fail "stat ${1#"$MNT"/}: $(errno_of stat "$1"), want ENOENT"; }
image_rows() { timeout 30 cat "$MNT/images" | awk 'NR > 1 { print $1, $2, $3 }' | sort; }

check "reference: the same store mounted with handles"
imgfs_mount busy_files
R=$MNT/repos
[ -L "$R/busybox/latest" ] || fail "cannot pull busybox:latest"
[ -L "$R/u1/latest" ] || fail "cannot pull u1:latest"
B=$(basename "$(readlink "$R/busybox/latest")")
U=$(basename "$(readlink "$R/u1/latest")")
snapshot "$MNT/by-id/$B" > "$TEST_TMP/want.b"
snapshot "$MNT/by-id/$U" > "$TEST_TMP/want.u"
image_rows > "$TEST_TMP/want.rows"
assert_eq EROFS "$(errno_of write "$MNT/by-id/$B/rootfs/bin/busybox")" "open for writing, with handles"
imgfs_umount
pass "reference taken"

check "every kind of file reads the same without handles"
imgfs_mount
snapshot "$MNT/by-id/$B" | diff "$TEST_TMP/want.b" - || fail "busybox differs without handles"
snapshot "$MNT/by-id/$U" | diff "$TEST_TMP/want.u" - || fail "u1 differs without handles"
image_rows | diff "$TEST_TMP/want.rows" - || fail "images differs without handles"
grep -q "sha256:" "$MNT/by-id/$B/manifest" || fail "manifest"
pass "same bytes"

check "files open without a handle: writes fail at write(), EROFS"
out=$("$PY" - "$MNT/by-id/$B/rootfs/bin/busybox" <<'EOF'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
try:
    os.write(fd, b"x")
    print("written")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
os.close(fd)
EOF
) || fail "open for writing failed (without handles it is not asked)"
assert_eq EROFS "$out" "write into a rootfs file"
assert_eq EROFS "$(errno_of truncate "$MNT/by-id/$B/rootfs/bin/busybox")" "truncate"
cmp "$MNT/by-id/$B/rootfs/bin/busybox" <(tar -xOf <(tar --sort=name -cf - -C "$MNT/by-id/$B/rootfs" ./bin/busybox)) ||
    fail "busybox changed"
pass "EROFS at write"

check "a shared writable mapping: msync is EROFS, and readers see the image's bytes again"
P=$MNT/by-id/$B/rootfs/etc/passwd
want_p=$(sha256sum < "$P" | cut -c1-64)
out=$("$PY" - "$P" <<'EOF'
import errno, mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
m[0:4] = b"EVIL"
try:
    m.flush()
    print("synced")
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e.errno)))
m.close()
os.close(fd)
EOF
) || fail "the mapping failed"
assert_eq EROFS "$out" "msync of a written shared mapping"
same_p() { [ "$(sha256sum < "$P" | cut -c1-64)" = "$want_p" ]; }
wait_for 5 same_p || fail "etc/passwd reads $(head -c 20 "$P") after the failed write-back"
pass "dropped"

check "a copy of image.tar begun before a tag change reads the archive it began with"
before=$(sha256sum < "$MNT/by-id/$U/image.tar" | cut -c1-64)
got=$("$PY" - "$MNT/by-id/$U/image.tar" "$R/u1/mid" "../../by-id/$U" <<'EOF'
import hashlib, os, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb", buffering=0) as f:
    h.update(f.read(65536))
    os.symlink(sys.argv[3], sys.argv[2])   # a tag: manifest.json changes
    while True:
        b = f.read(65536)
        if not b:
            break
        h.update(b)
print(h.hexdigest())
EOF
) || fail "the copy failed"
assert_eq "$before" "$got" "image.tar copied across a tag change"
tar -xOf "$MNT/by-id/$U/image.tar" manifest.json | grep -q 'u1:mid"' ||
    fail "a copy begun after the change lacks u1:mid"
rm "$R/u1/mid" || fail "rm u1/mid"
pass "one archive per copy"

check "what follows the tags shows at once"
ln -s "../../by-id/$U" "$R/u1/aaa" || fail "ln -s u1/aaa"
image_rows | grep -xF "u1 aaa $U" >/dev/null || fail "images lacks u1 aaa right after ln -s"
tar -xOf "$MNT/by-id/$U/image.tar" manifest.json | grep -q 'u1:aaa"' ||
    fail "image.tar's manifest.json lacks u1:aaa right after ln -s"
size1=$(stat -c %s "$MNT/by-id/$U/image.tar")
mv "$R/u1/aaa" "$R/u1/bbb" || fail "mv u1/aaa u1/bbb"
image_rows | grep -xF "u1 bbb $U" >/dev/null || fail "images lacks u1 bbb right after mv"
image_rows | grep -xF "u1 aaa $U" >/dev/null && fail "images still shows u1 aaa after mv"
assert_eq "$size1" "$(stat -c %s "$MNT/by-id/$U/image.tar")" "image.tar's size after a same-length rename"
m=$(tar -xOf "$MNT/by-id/$U/image.tar" manifest.json)
[[ $m == *'u1:bbb"'* && $m != *'u1:aaa"'* ]] || fail "image.tar after mv aaa bbb: $m"
rm "$R/u1/bbb" || fail "rm u1/bbb"
pass "fresh"

check "an import commits at close, and a bad one fails there"
mkdir -p "$TEST_TMP/imp"; echo stateless > "$TEST_TMP/imp/hello"
head -c 200000 /dev/urandom > "$TEST_TMP/imp/big"
tar -C "$TEST_TMP/imp" -cf "$TEST_TMP/imp.tar" . || fail "tar"
cp "$TEST_TMP/imp.tar" "$MNT/import/sl:1" || fail "cp into import/"
cp "$TEST_TMP/imp.tar" "$MNT/import/untagged" || fail "cp into import/, untagged"
assert_eq stateless "$(cat "$R/sl/1/rootfs/hello")" "the import's file"
gzip -c "$TEST_TMP/imp.tar" | head -c 100000 > "$TEST_TMP/cut.tar.gz"
cp "$TEST_TMP/cut.tar.gz" "$MNT/import/cut:1" 2>/dev/null && fail "a truncated archive imported"
[ -e "$R/cut/1" ] && fail "repos/cut/1 exists after a failed import"
pass "import"

check "every call on every node kind gets an answer without handles"
dang=$(ls "$MNT/dangling" | head -n1)
[ -n "$dang" ] || fail "no dangling image (the imports above)"
I=$MNT/by-id/$B
OPS_STATELESS=1 ops_robust_matrix "$I" "$R/busybox/latest" "$dang" \
    imagetar="$I/image.tar" ocidir="$I/oci" ociindex="$I/oci/index.json"
snapshot "$MNT/by-id/$B" | diff "$TEST_TMP/want.b" - || fail "busybox differs after the calls"
pass "$(grep -E '^[0-9]+ calls' "$TEST_TMP/ops.out")"

check "an open file does not hold its image; its reader gets its bytes or an error"
want=$(sha256sum < "$MNT/by-id/$U/rootfs/data/blob" | cut -c1-64)
rm -f "$TEST_TMP/held" "$TEST_TMP/go" "$TEST_TMP/got"
"$PY" - "$MNT/by-id/$U/rootfs/data/blob" "$TEST_TMP/held" "$TEST_TMP/go" "$TEST_TMP/got" <<'EOF' &
import errno, hashlib, os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
h = hashlib.sha256()
try:
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            break
        h.update(b)
    out = h.hexdigest()
except OSError as e:
    out = errno.errorcode.get(e.errno, str(e.errno))
open(sys.argv[4], "w").write(out + "\n")
EOF
holder=$!
wait_for 10 test -f "$TEST_TMP/held" || fail "the reader did not start"
rm "$R/u1/latest" || fail "rm u1/latest with a file of it open (no handle holds it)"
gone "$MNT/by-id/$U"
touch "$TEST_TMP/go"
wait "$holder" || fail "the reader failed"
got=$(cat "$TEST_TMP/got")
[[ $got == "$want" || $got == ENOENT || $got == ESTALE || $got == EIO ]] ||
    fail "the deleted image's reader got '$got' (want $want or an error)"
imgfs_alive || fail "daemon died"
pass "deleted under its reader, which got ${got:0:12}"

imgfs_umount

check "closing costs no request; import/ has a connection of its own"
imgfs_mount debug
[ -L "$MNT/import" ] || fail "import in the root is not a symlink"
case $IMPORT_MNT in /*) ;; *) fail "import links to '$IMPORT_MNT', not an absolute path" ;; esac
awk -v m="$IMPORT_MNT" '$5 == m { split($0, a, " - "); split(a[2], f, " "); print f[1] }' /proc/self/mountinfo |
    grep -qx fuse.imgfs || fail "nothing of type fuse.imgfs mounted at $IMPORT_MNT"
reqs() { grep -c "opcode: $1 " "$IMGFS_LOG" || true; }
for f in "$MNT"/by-id/"$B"/rootfs/etc/* "$MNT"/by-id/"$B"/rootfs/bin/busybox; do
    [ -f "$f" ] && ! [ -L "$f" ] && { cat "$f" > /dev/null || fail "read $f"; }
done
for f in "$MNT"/by-id/"$B"/rootfs/etc/*; do
    [ -f "$f" ] && ! [ -L "$f" ] && { cat "$f" > /dev/null || fail "read $f again"; }
done
n_open=$(reqs OPEN); n_flush=$(reqs FLUSH); n_release=$(reqs RELEASE)
[ "$n_open" -le 1 ] || fail "$n_open OPEN requests for files read (want the one answered ENOSYS)"
[ "$n_flush" -le 1 ] || fail "$n_flush FLUSH requests for files read (want the one answered ENOSYS)"
[ "$n_release" = 0 ] || fail "$n_release RELEASE requests for files read without handles"
cp "$TEST_TMP/imp.tar" "$MNT/import/late:1" || fail "cp into import/ through the link"
assert_eq stateless "$(cat "$R/late/1/rootfs/hello")" "the import's file"
[ "$(reqs FLUSH)" -gt "$n_flush" ] || fail "no FLUSH for the import's close"
cp "$TEST_TMP/cut.tar.gz" "$MNT/import/cut:2" 2>/dev/null && fail "a truncated archive imported through the link"
imgfs_umount
_is_mounted "$IMPORT_MNT" && fail "import/ still mounted after the daemon exited"
pass "$n_open OPEN, $n_flush FLUSH, $n_release RELEASE for the reads; the import flushed"

echo "t_stateless: all checks passed"
