# shellcheck shell=bash
# tests/lib/build_images.sh — build real test images and push them (sourced
# after common.sh).
#
# Owns: the test images. They are built with umoci (init/new/unpack/repack) in
# OCI layouts, as root so that mknod, chown and setcap work, and pushed to the
# test registry with skopeo. Where umoci cannot produce what must be tested
# (an opaque-directory whiteout, a hardlink to a file of a lower layer, GNU
# long-name headers, uncompressed layers) the layer or manifest is written by
# tests/lib/oci_tool.py and added with `umoci raw add-layer` or pushed over
# the registry API directly.
#
# Images (TAG inside the layout given):
#   build_busybox DIR [TAG]    runnable rootfs from Debian's busybox-static
#   build_features DIR [TAG]   4 layers: whiteouts of a file and a directory,
#                              an opaque directory, hardlinks in and across
#                              layers, PAX and GNU long names, xattrs incl.
#                              security.capability, devices, a fifo, setuid/
#                              setgid/sticky, owners, symlinks, an empty file,
#                              a 3 MiB random file, fixed mtimes
#   build_variant DIR TAG NEWTAG   same layers, config differing by a label,
#                              so the pushed copy gets its own image ID
#   build_multiplatform DIR [TAG]  OCI index: linux/amd64 + linux/arm64
#                              manifests whose /platform holds the arch
#   build_unique DIR TAG       one-layer image with random content (its layer
#                              blob is shared with nothing else)
# Pushing:
#   push_image DIR TAG NAME:TAG [skopeo copy args...]   (PUSH_CREDS=user:pass
#                              for auth registries; --dest-compress-format zstd
#                              for zstd layers, --all for an index)
#   push_uncompressed DIR TAG NAME:TAG [docker]   same image with uncompressed
#                              layers (plain registry only; docker: schema2)
#   reference_tree DIR TAG OUTDIR        umoci unpack → OUTDIR/rootfs
#   image_manifest_digest DIR TAG        digest of TAG's manifest in the layout

OCI_TOOL="$IMGFS_SRC/tests/lib/oci_tool.py"

# Fixed timestamp for files whose mtime the comparison must see verbatim.
_T0='2001-02-03 04:05:06'

_umoci_layout() {  # DIR — create the layout if it does not exist yet
    [ -f "$1/index.json" ] || umoci init --layout "$1" || fail "umoci init $1"
}

# build_busybox DIR [TAG]
build_busybox() {
    local dir=$1 tag=${2:-busybox} b
    _umoci_layout "$dir"
    b=$(mktemp -d "$TEST_TMP/bundle.XXXXXX")
    rmdir "$b"
    umoci new --image "$dir:$tag" || fail "umoci new"
    umoci unpack --image "$dir:$tag" "$b" >/dev/null || fail "umoci unpack"
    local r=$b/rootfs a
    mkdir -p "$r/bin" "$r/etc" "$r/tmp" "$r/root" "$r/proc" "$r/dev"
    chmod 1777 "$r/tmp"
    cp /bin/busybox "$r/bin/busybox" || fail "busybox-static missing"
    for a in sh ls cat echo head tail wc sha256sum md5sum find stat id true false uname; do
        ln -s busybox "$r/bin/$a"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
    printf 'root:x:0:\n' > "$r/etc/group"
    printf 'NAME="imgfs test busybox"\nID=busybox\n' > "$r/etc/os-release"
    umoci config --image "$dir:$tag" --config.cmd /bin/sh --config.env PATH=/bin >/dev/null ||
        fail "umoci config"
    umoci repack --image "$dir:$tag" "$b" >/dev/null || fail "umoci repack busybox"
    rm -rf "$b"
}

# _features_layer1 ROOT — the base layer's content.
_features_layer1() {
    local r=$1 c200 c120 c100
    c200=$(printf 'n%.0s' $(seq 200))
    c120=$(printf 'p%.0s' $(seq 120))
    c100=$(printf 'm%.0s' $(seq 100))
    mkdir -p "$r"/{etc,del/dir/sub,opq/sub,hl,long,xattr,devs,perm,own,links,data}
    echo hello > "$r/etc/hello"
    printf 'to be deleted\n' > "$r/del/file"
    echo y > "$r/del/dir/y"
    echo z > "$r/del/dir/sub/z"
    echo keep > "$r/del/keep"
    echo o1 > "$r/opq/o1"
    echo o3 > "$r/opq/sub/o3"
    ln -s o1 "$r/opq/link"
    # hardlinks within the layer: a group of three
    echo A-content > "$r/hl/a"
    ln "$r/hl/a" "$r/hl/b"
    ln "$r/hl/a" "$r/hl/c"
    echo lower-content > "$r/hl/lower"       # linked from layer 3
    # long names: a 200-char component, a path > 100 and one > 255 chars
    mkdir -p "$r/long/$c200/$c100"
    echo deep > "$r/long/$c200/file"
    echo deeper > "$r/long/$c200/$c100/f"
    echo p > "$r/long/$c120"
    ln -s "../long/$c200/$c100/f" "$r/long/tolong"   # symlink target > 100 chars
    # xattrs: text, binary, empty value, on a directory; a file capability
    echo x > "$r/xattr/file"
    setfattr -n user.foo -v bar "$r/xattr/file"
    setfattr -n user.bin -v 0x00ff10ee "$r/xattr/file"
    setfattr -n user.dir -v on-a-dir "$r/xattr"
    cp /bin/busybox "$r/xattr/capbin"
    setcap cap_net_raw,cap_net_bind_service+ep "$r/xattr/capbin" || fail "setcap"
    # devices and a fifo
    mknod "$r/devs/null" c 1 3
    mknod "$r/devs/loop0" b 7 0
    mknod "$r/devs/bigminor" c 240 1000000
    mkfifo "$r/devs/fifo"
    # special modes
    printf '#!/bin/sh\n' > "$r/perm/suid"; chmod 4755 "$r/perm/suid"
    printf '#!/bin/sh\n' > "$r/perm/sgid"; chmod 2755 "$r/perm/sgid"
    printf '#!/bin/sh\n' > "$r/perm/both"; chmod 6711 "$r/perm/both"
    echo none > "$r/perm/noperm"; chmod 000 "$r/perm/noperm"
    mkdir "$r/perm/sticky"; chmod 1777 "$r/perm/sticky"
    mkdir "$r/perm/sgiddir"; chmod 2775 "$r/perm/sgiddir"
    mkdir "$r/perm/private"; chmod 0700 "$r/perm/private"; echo s > "$r/perm/private/secret"
    # owners
    echo u > "$r/own/u1000"; chown 1000:1000 "$r/own/u1000"
    echo g > "$r/own/g42"; chown 0:42 "$r/own/g42"
    mkdir "$r/own/dir1000"; chown 1000:1000 "$r/own/dir1000"
    ln -s u1000 "$r/own/link1000"; chown -h 1000:1000 "$r/own/link1000"
    echo big > "$r/own/bigid"; chown 65534:100000 "$r/own/bigid"
    # symlinks: absolute, relative, dangling, to a directory
    ln -s /etc/hello "$r/links/abs"
    ln -s ../etc/hello "$r/links/rel"
    ln -s /nonexistent/target "$r/links/dangling"
    ln -s ../etc "$r/links/dir"
    # data
    : > "$r/data/empty"
    head -c 3145728 /dev/urandom > "$r/data/random3m"
    echo sp > "$r/data/with space"
    echo uni > "$r/data/ünïcødé"
    # fixed mtimes (files and a symlink) so the comparison sees exact values
    touch -h -d "$_T0" "$r/etc/hello" "$r/data/empty" "$r/links/abs" "$r/own/u1000" "$r/devs/fifo"
}

# _features_layer2 ROOT — changes made with umoci repack: explicit whiteouts.
_features_layer2() {
    local r=$1
    rm "$r/del/file"                 # whiteout of a file
    rm -rf "$r/del/dir"              # whiteout of a directory
    rm "$r/hl/c"                     # the group a,b remains (nlink 2)
    echo changed > "$r/etc/hello"    # content replaced in an upper layer
    echo layer2 > "$r/etc/layer2"
    chmod 0640 "$r/data/with space"  # metadata-only change
    setfattr -n user.layer -v two "$r/etc/layer2"
}

# build_features DIR [TAG]
build_features() {
    local dir=$1 tag=${2:-features} b
    _umoci_layout "$dir"
    b=$(mktemp -d "$TEST_TMP/bundle.XXXXXX")
    rmdir "$b"
    umoci new --image "$dir:$tag" || fail "umoci new"
    umoci unpack --image "$dir:$tag" "$b" >/dev/null || fail "umoci unpack"
    _features_layer1 "$b/rootfs"
    umoci repack --refresh-bundle --image "$dir:$tag" "$b" >/dev/null || fail "repack layer 1"
    _features_layer2 "$b/rootfs"
    umoci repack --refresh-bundle --image "$dir:$tag" "$b" >/dev/null || fail "repack layer 2"
    rm -rf "$b"
    # Layer 3: opaque dir, cross-layer hardlink, GNU long names (hand-made).
    "$PY" "$OCI_TOOL" layer3 "$TEST_TMP/layer3.tar" || fail "layer3 tar"
    umoci raw add-layer --image "$dir:$tag" "$TEST_TMP/layer3.tar" >/dev/null || fail "add layer 3"
    # Layer 4: PAX headers written by Python (long name, xattr on a
    # whiteout-recreated path) and a whiteout of a whole layer-3 directory.
    "$PY" "$OCI_TOOL" layer4 "$TEST_TMP/layer4.tar" || fail "layer4 tar"
    umoci raw add-layer --image "$dir:$tag" "$TEST_TMP/layer4.tar" >/dev/null || fail "add layer 4"
    umoci config --image "$dir:$tag" --config.cmd /bin/sh >/dev/null || fail "umoci config"
}

# build_variant DIR TAG NEWTAG — NEWTAG: same layers, a distinct config.
build_variant() {
    umoci config --image "$1:$2" --tag "$3" --config.label "imgfs.test.variant=$3" >/dev/null ||
        fail "umoci config variant $3"
}

# build_unique DIR TAG [MIB] — a one-layer image nothing else shares, with
# MIB (default 1) MiB of random bytes.
build_unique() {
    local dir=$1 tag=$2 mib=${3:-1} b
    _umoci_layout "$dir"
    b=$(mktemp -d "$TEST_TMP/bundle.XXXXXX")
    rmdir "$b"
    umoci new --image "$dir:$tag" || fail "umoci new"
    umoci unpack --image "$dir:$tag" "$b" >/dev/null || fail "umoci unpack"
    mkdir -p "$b/rootfs/data"
    head -c $((mib * 1048576)) /dev/urandom > "$b/rootfs/data/blob"
    echo "unique $tag $RANDOM" > "$b/rootfs/data/small"
    umoci repack --image "$dir:$tag" "$b" >/dev/null || fail "umoci repack"
    rm -rf "$b"
}

# build_multiplatform DIR [TAG] — TAG names an OCI index of two manifests,
# each image's /platform holds its architecture; TAG-amd64 and TAG-arm64 are
# the single-platform images.
build_multiplatform() {
    local dir=$1 tag=${2:-multi} arch b
    _umoci_layout "$dir"
    for arch in amd64 arm64; do
        b=$(mktemp -d "$TEST_TMP/bundle.XXXXXX")
        rmdir "$b"
        umoci new --image "$dir:$tag-$arch" || fail "umoci new"
        umoci config --image "$dir:$tag-$arch" --architecture "$arch" --os linux >/dev/null ||
            fail "umoci config arch"
        umoci unpack --image "$dir:$tag-$arch" "$b" >/dev/null || fail "umoci unpack"
        echo "$arch" > "$b/rootfs/platform"
        mkdir -p "$b/rootfs/only-$arch"
        echo "$arch" > "$b/rootfs/only-$arch/file"
        umoci repack --image "$dir:$tag-$arch" "$b" >/dev/null || fail "umoci repack $arch"
        rm -rf "$b"
    done
    "$PY" "$OCI_TOOL" index "$dir" "$tag" "$tag-amd64:amd64" "$tag-arm64:arm64/v8" ||
        fail "oci index"
}

# push_image DIR TAG NAME:TAG [skopeo copy args...] — push to $REG_ADDR.
push_image() {
    local dir=$1 tag=$2 dest=$3
    shift 3
    local creds=()
    [ -n "${PUSH_CREDS:-}" ] && creds=(--dest-creds "$PUSH_CREDS")
    sk copy --quiet --dest-tls-verify=false "${creds[@]}" "$@" \
        "oci:$dir:$tag" "docker://$REG_ADDR/$dest" >"$TEST_TMP/skopeo.log" 2>&1 ||
        { cat "$TEST_TMP/skopeo.log" >&2; fail "skopeo push $dir:$tag -> $REG_ADDR/$dest"; }
    log "pushed $dir:$tag -> $REG_ADDR/$dest $*"
}

# push_uncompressed DIR TAG NAME:TAG [docker] — push TAG with its layers
# decompressed (media type ...layer.v1.tar; "docker": a Docker schema2
# manifest, ...rootfs.diff.tar); skopeo would recompress them on the way.
push_uncompressed() {
    "$PY" "$OCI_TOOL" push-uncompressed "$1" "$2" "http://$REG_ADDR" "$3" ${4:+"$4"} ||
        fail "push-uncompressed $1:$2"
    log "pushed $1:$2 -> $REG_ADDR/$3 (uncompressed layers)"
}

# reference_tree DIR TAG OUTDIR — what umoci unpack extracts (OUTDIR/rootfs).
reference_tree() {
    umoci unpack --image "$1:$2" "$3" >/dev/null || fail "umoci unpack $1:$2"
}

# image_manifest_digest DIR TAG
image_manifest_digest() {
    jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' \
        "$1/index.json"
}

# remote_inspect NAME:TAG [skopeo inspect args...] — raw bytes to stdout.
remote_raw() {
    local ref=$1
    shift
    local creds=()
    [ -n "${PUSH_CREDS:-}" ] && creds=(--creds "$PUSH_CREDS")
    sk inspect --tls-verify=false "${creds[@]}" "$@" "docker://$REG_ADDR/$ref"
}

# remote_digest NAME:TAG — the manifest digest the registry serves for TAG.
remote_digest() { echo "sha256:$(remote_raw "$1" --raw | sha256sum | cut -d' ' -f1)"; }

# remote_config_id NAME:TAG — 12-hex image ID (config digest) of TAG.
remote_config_id() { remote_raw "$1" --config --raw | sha256sum | cut -c1-12; }

# file_hashes DIR — "sha256  relpath" of every regular file under DIR, sorted
# by path (relative paths, so two trees' lists compare with diff).
file_hashes() {
    (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}
