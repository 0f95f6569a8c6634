#!/bin/bash
# t_import.sh — `docker import` by copying a rootfs tarball into import/:
# plain, gzip, bzip2, xz and zstd; `cat >` as well as cp; a nested name
# (import/ouruser/sinatra:v2); a name without ':' (untagged → dangling/).
# Each image is checked two ways: through the mount (one layer that is the
# exact decompressed input, `tar tvf` of it equal to `tar tvf` of the input,
# the rootfs walk equal to the source tree in names, types, sizes, modes,
# owners, symlink targets; manifest/config fields) and against podman
# (vfs) importing the same file: equal diff_id, architecture and os.
# Hostile tarballs made with Python's tarfile either import with the
# entries as tar lists them or make cp fail; in both cases nothing is
# written outside the store, the daemon stays up, and a failure leaves no
# new blob, image, tag or tmp/ file.
. "$(dirname "$0")/../lib/common.sh"
. "$IMGFS_SRC/tests/lib/build_images.sh"
need_root

registry_start
imgfs_mount
R=$MNT/repos
# bug MSG — a failed check that does not stop the steps after it; the test
# still fails at the end.
BUGS=()
bug() { printf 'FAIL (continuing): %s\n' "$*" >&2; BUGS+=("$*"); }
PODMAN=(podman --root "$TEST_TMP/podman/root" --runroot "$TEST_TMP/podman/run" --storage-driver vfs)

check "make a rootfs tarball and its compressed forms"
S=$TEST_TMP/src
mkdir -p "$S"/{bin,etc/sub,var/empty,dev,data}
cp /bin/busybox "$S/bin/busybox"
ln -s busybox "$S/bin/sh"
ln -s /etc/sub "$S/etc/abs-link"
echo "imported" > "$S/etc/os-release"
echo sub > "$S/etc/sub/file"
ln "$S/etc/os-release" "$S/etc/hardlink"
: > "$S/data/empty"
head -c 1048576 /dev/urandom > "$S/data/random1m"
echo sp > "$S/data/with space"
printf '#!/bin/sh\n' > "$S/bin/suid"; chmod 4755 "$S/bin/suid"
echo own > "$S/data/owned"; chown 1000:1001 "$S/data/owned"
mknod "$S/dev/null" c 1 3
mkfifo "$S/dev/fifo"
chmod 1777 "$S/var/empty"
IN=$TEST_TMP/in.tar
tar --numeric-owner -C "$S" -cf "$IN" . || fail "tar"
gzip -c "$IN" > "$IN.gz"; bzip2 -c "$IN" > "$IN.bz2"; xz -c "$IN" > "$IN.xz"; zstd -q -c "$IN" > "$IN.zst"
tar tvf "$IN" > "$TEST_TMP/tvf.want" || fail "tar tvf input"
WANT_DIFF=sha256:$(sha256_file "$IN")
# names, types, sizes (files and links only), modes, owners, link targets
walk() { (cd "$1" && find . -mindepth 1 -printf '%P %y %m %U:%G %l\n' -type f -printf '%P size %s\n' | sort); }
walk "$S" > "$TEST_TMP/walk.want"
pass "$(wc -l < "$TEST_TMP/tvf.want") entries, diff_id $WANT_DIFF"

nblobs() { ls "$STORE/blobs/sha256" | wc -l; }
mkdir -p "$TEST_TMP/podman"

# verify_import ID FILE WHAT — the imported image ID: one layer equal to the
# decompressed input, listings, rootfs walk, config and manifest fields.
verify_import() {
    local id=$1 file=$2 what=$3 d=$MNT/by-id/$1 layer
    [ -d "$d/rootfs" ] || fail "$what: by-id/$id missing"
    mapfile -t layer < <(ls "$d/layers")
    assert_eq 1 "${#layer[@]}" "$what: number of layers"
    cmp "$IN" "$d/layers/${layer[0]}" || fail "$what: layer is not the decompressed input tar"
    tar tvf "$d/layers/${layer[0]}" | diff "$TEST_TMP/tvf.want" - || fail "$what: tar tvf of the layer differs"
    walk "$d/rootfs" | diff "$TEST_TMP/walk.want" - || fail "$what: rootfs walk differs from the source"
    assert_eq "$(sha256_file "$S/data/random1m")" "$(sha256_file "$d/rootfs/data/random1m")" "$what: content"
    assert_eq "$WANT_DIFF" "$(jq -r '.rootfs.diff_ids[0]' "$d/config")" "$what: config diff_id"
    assert_eq 1 "$(jq -r '.rootfs.diff_ids | length' "$d/config")" "$what: diff_ids"
    assert_eq application/vnd.oci.image.layer.v1.tar "$(jq -r '.layers[0].mediaType' "$d/manifest")" "$what: layer media type"
    assert_eq "$WANT_DIFF" "$(jq -r '.layers[0].digest' "$d/manifest")" "$what: layer digest"
    assert_eq "sha256:$(sha256_file "$d/config")" "$(jq -r .config.digest "$d/manifest")" "$what: config digest"
    [[ $id == "$(sha256_file "$d/config" | cut -c1-12)" ]] || fail "$what: id is not the config digest"
    assert_eq "$PODMAN_ARCH $PODMAN_OS" "$(jq -r '"\(.architecture) \(.os)"' "$d/config")" "$what: architecture/os (podman's)"
    jq -e '.created | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T")' "$d/config" >/dev/null || fail "$what: created"
    jq -r '.history[0].comment' "$d/config" | grep "^Imported from $file\$" >/dev/null || fail "$what: history comment $(jq -c .history "$d/config")"
}

check "podman imports the same tarballs (vfs): reference diff_id, architecture, os"
# (podman 4.3 records the digest of the still-compressed bytes as the diff_id
# of a bzip2, xz or zstd import, so only plain and gzip are compared with it;
# the others are compared with sha256 of the decompressed tar)
for c in "" .gz; do
    "${PODMAN[@]}" import "$IN$c" "ref${c//./-}:1" >/dev/null 2>"$TEST_TMP/podman.err" ||
        { cat "$TEST_TMP/podman.err"; fail "podman import $IN$c"; }
    assert_eq "$WANT_DIFF" "$("${PODMAN[@]}" inspect --format '{{index .RootFS.Layers 0}}' "ref${c//./-}:1")" \
        "podman diff_id of in.tar$c"
done
PODMAN_ARCH=$("${PODMAN[@]}" inspect --format '{{.Architecture}}' ref:1)
PODMAN_OS=$("${PODMAN[@]}" inspect --format '{{.Os}}' ref:1)
pass "podman: $WANT_DIFF $PODMAN_ARCH/$PODMAN_OS"

check "import in every compression (cp), plus cat > and a nested name"
for c in "" .gz .bz2 .xz .zst; do
    n=imp${c//./-}
    cp "$IN$c" "$MNT/import/$n:v1" || fail "cp in.tar$c import/$n:v1"
    [ -L "$R/$n/v1" ] || fail "repos/$n/v1 missing after the import"
    id=$(basename "$(readlink "$R/$n/v1")")
    verify_import "$id" "$n:v1" "in.tar$c"
    timeout 30 cat "$MNT/images" | awk -v n="$n" -v i="$id" '$1 == n && $2 == "v1" && $3 == i { f = 1 } END { exit !f }' ||
        fail "images lacks '$n v1 $id'"
    pass "in.tar$c -> $n:v1 = $id"
done
# (a shell redirection opens, dup2()s and closes the first descriptor before
# cat writes: an import must not be committed by that first close)
if cat "$IN.xz" > "$MNT/import/catted:latest"; then
    verify_import "$(basename "$(readlink "$R/catted/latest")")" catted:latest "cat >"
else
    bug "cat in.tar.xz > import/catted:latest failed"
fi
if dd if="$IN.gz" of="$MNT/import/dd:latest" bs=64k status=none; then
    verify_import "$(basename "$(readlink "$R/dd/latest")")" dd:latest "dd of="
else
    bug "dd of=import/dd:latest failed"
fi
mkdir -p "$MNT/import/ouruser" || fail "mkdir import/ouruser"
cp "$IN.gz" "$MNT/import/ouruser/sinatra:v2" || fail "cp import/ouruser/sinatra:v2"
[ -L "$R/ouruser/sinatra/v2" ] || fail "repos/ouruser/sinatra/v2 missing"
assert_eq "../../../by-id/" "$(readlink "$R/ouruser/sinatra/v2" | sed 's/[0-9a-f]*$//')" "nested link depth"
verify_import "$(basename "$(readlink "$R/ouruser/sinatra/v2")")" sinatra:v2 "nested"
pass "cat > and nested"

check "a file name without ':' imports an untagged image (dangling/)"
before=$(ls "$MNT/dangling" | sort)
cp "$IN.zst" "$MNT/import/rootfs.tar.zst" || fail "cp untagged"
new=$(comm -13 <(echo "$before") <(ls "$MNT/dangling" | sort))
[ -n "$new" ] && [ "$(wc -l <<<"$new")" = 1 ] || fail "dangling/ did not gain exactly one image: '$new'"
verify_import "$new" rootfs.tar.zst "untagged"
timeout 30 cat "$MNT/images" | grep -E "^<none> +<none> +$new " >/dev/null || fail "images lacks the <none> row for $new"
[ -z "$(ls -A "$MNT/import")" ] || [ "$(ls -A "$MNT/import")" = ouruser ] || fail "import/ keeps files: $(ls -A "$MNT/import")"
pass "untagged $new"

check "the imports survive a remount"
(cd "$R" && find . -type l -printf '%P -> %l\n' | sort) > "$TEST_TMP/tags.before"
imgfs_umount
imgfs_mount
(cd "$R" && find . -type l -printf '%P -> %l\n' | sort) | diff "$TEST_TMP/tags.before" - || fail "tags differ after remount"
verify_import "$(basename "$(readlink "$R/imp-zst/v1")")" imp-zst:v1 "after remount"
pass "persisted"

# ------------------------------------------------------------ hostile input
check "hostile tarballs"
H=$TEST_TMP/hostile
mkdir -p "$H"
MARK=imgfs-escape-$$-$RANDOM
"$PY" - "$H" "$MARK" <<'EOF'
import io, os, sys, tarfile, gzip
out, mark = sys.argv[1], sys.argv[2]

def reg(name, data=b"x\n"):
    ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
    return ti, io.BytesIO(data)

def make(fname, entries, fmt=tarfile.GNU_FORMAT):
    with tarfile.open(os.path.join(out, fname), "w", format=fmt) as t:
        for ti, f in entries:
            t.addfile(ti, f)

def sym(name, target):
    ti = tarfile.TarInfo(name); ti.type = tarfile.SYMTYPE; ti.linkname = target
    return ti, None

def hard(name, target):
    ti = tarfile.TarInfo(name); ti.type = tarfile.LNKTYPE; ti.linkname = target
    return ti, None

def dirent(name):
    ti = tarfile.TarInfo(name); ti.type = tarfile.DIRTYPE; ti.mode = 0o755
    return ti, None

make("dotdot.tar", [reg("ok"), reg("../" + mark), reg("a/../../" + mark + "2")])
make("absolute.tar", [reg("/tmp/" + mark), reg("/etc/" + mark)])
make("symparent.tar", [sym("a", "/tmp"), reg("a/" + mark), dirent("b"), sym("b/c", "../../../.."),
                       reg("b/c/tmp/" + mark + "3")])
make("hardmissing.tar", [reg("ok"), hard("link", "does/not/exist"), hard("self", "self")])
dev = tarfile.TarInfo("dev/null"); dev.type = tarfile.CHRTYPE; dev.devmajor, dev.devminor = 1, 3
blk = tarfile.TarInfo("dev/sda"); blk.type = tarfile.BLKTYPE; blk.devmajor, blk.devminor = 8, 0
make("devices.tar", [(dev, None), (blk, None), reg("ok")])
make("dupes.tar", [reg("same", b"one\n"), reg("same", b"two\n"), dirent("same2"), reg("same2", b"f\n")])
# a header that claims 1 TiB of data and then ends
ti = tarfile.TarInfo("huge"); ti.size = 1 << 40
hdr = ti.tobuf(format=tarfile.GNU_FORMAT)
open(os.path.join(out, "absurd.tar"), "wb").write(hdr + b"\0" * 1024)
# a valid tar, gzipped, cut in the middle
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as t:
    t.addfile(*reg("big", os.urandom(200000)))
gz = gzip.compress(buf.getvalue())
open(os.path.join(out, "truncated.tar.gz"), "wb").write(gz[: len(gz) // 2])
open(os.path.join(out, "garbage"), "wb").write(os.urandom(100000))
open(os.path.join(out, "empty"), "wb").close()
EOF
[ -f "$H/garbage" ] || fail "making hostile tarballs"

escaped() {
    local p
    for p in "/tmp/$MARK" "/etc/$MARK" "/tmp/${MARK}2" "/tmp/${MARK}3" "/$MARK" "/${MARK}2" \
        "$TEST_TMP/$MARK" "$STORE/$MARK" "$STORE/../$MARK" "$STORE/../${MARK}2" "$MNT/$MARK"; do
        [ -e "$p" ] && { echo "$p"; return 0; }
    done
    find / /tmp /etc /root "$TEST_TMP" -xdev -maxdepth 4 -name "$MARK*" -not -path "$TEST_TMP/hostile/*" 2>/dev/null | grep . >/dev/null && return 0
    return 1
}
store_state() {
    ls "$STORE/blobs/sha256" | sort
    ls "$STORE/images" | sort
    cat "$STORE/tags.json" 2>/dev/null
    ls -A "$STORE/tmp"
}

outcomes=""
for f in dotdot.tar absolute.tar symparent.tar hardmissing.tar devices.tar dupes.tar absurd.tar \
    truncated.tar.gz garbage empty; do
    tag=h-$(echo "${f%%.*}" | tr -cd 'a-z0-9')
    store_state > "$TEST_TMP/ss.before"
    if timeout 120 cp "$H/$f" "$MNT/import/$tag:1" 2>"$TEST_TMP/cp.err"; then
        res=imported
        [ -L "$R/$tag/1" ] || fail "$f: cp succeeded but repos/$tag/1 is missing"
        id=$(basename "$(readlink "$R/$tag/1")")
        l=$(ls "$MNT/by-id/$id/layers/"*) || fail "$f: no layer"
        "$PY" -c 'import tarfile, sys; print("\n".join(m.name for m in tarfile.open(sys.argv[1])))' "$H/$f" > "$TEST_TMP/names.want" 2>/dev/null ||
            fail "$f imported, but Python cannot read it"
        "$PY" -c 'import tarfile, sys; print("\n".join(m.name for m in tarfile.open(sys.argv[1])))' "$l" |
            diff "$TEST_TMP/names.want" - || fail "$f: the layer's entries differ from the input's"
        timeout 60 find "$MNT/by-id/$id/rootfs" > "$TEST_TMP/hfind" 2>&1 || fail "$f: find rootfs failed"
        timeout 60 find "$MNT/by-id/$id/rootfs" -type f -exec cat {} + > /dev/null 2>&1
        grep -q "/\.\./\|/\.\.$" "$TEST_TMP/hfind" && fail "$f: rootfs shows a '..' component"
        rm "$R/$tag/1" || fail "$f: rm the imported tag"
    else
        res="cp failed ($(tr '\n' ' ' < "$TEST_TMP/cp.err" | cut -c1-100))"
        ls "$R" | grep -x "$tag" >/dev/null && fail "$f: failed import left repos/$tag"
        sleep 0.2
        store_state | diff "$TEST_TMP/ss.before" - || fail "$f: failed import changed the store"
        grep -q "$tag" "$IMGFS_LOG" || fail "$f: the log does not name the failed file"
    fi
    if p=$(escaped); then fail "$f: something was written outside the store: $p"; fi
    imgfs_alive || fail "$f: daemon died"
    log "  $f: $res"
    outcomes+="$f=${res%% *} "
done
for f in absurd truncated garbage; do
    [[ $outcomes == *"$f"*"=cp "* ]] || [[ $outcomes == *"$f.tar=cp"* ]] || [[ $outcomes == *"$f.tar.gz=cp"* ]] ||
        [[ $outcomes == *"$f=cp"* ]] || fail "$f imported although it is not a complete tar ($outcomes)"
done
assert_eq "" "$(ls -A "$STORE/tmp")" "STORE/tmp after the hostile imports"
pass "hostile: $outcomes"

check "a failed import does not block the next one"
cp "$IN.gz" "$MNT/import/after-hostile:1" || fail "import after the hostile ones"
verify_import "$(basename "$(readlink "$R/after-hostile/1")")" after-hostile:1 "after hostile"
pass "ok"

imgfs_umount
[ "${#BUGS[@]}" = 0 ] || fail "${#BUGS[@]} check(s) failed: $(printf '%s; ' "${BUGS[@]}")"
echo "t_import: all checks passed"
