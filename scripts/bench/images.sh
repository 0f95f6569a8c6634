# shellcheck shell=bash
# scripts/bench/images.sh — build the benchmark images (sourced by
# scripts/bench.sh after tests/lib/common.sh).
#
# Owns: the three images the benchmark measures, built with real tools into
# one umoci OCI layout that survives between runs ($BENCH_CACHE/<mode>/oci):
#   debian  a `debootstrap --variant=minbase bookworm` rootfs, one gzip layer
#   fat     5 layers: that Debian layer; `apt-get install build-essential
#           python3 python3-numpy git` in a chroot of it; large incompressible
#           files and a CSV; `rm -rf` whiteouts; an opaque directory
#   small   one layer of many small files, symlinks and hardlinks
# BENCH_QUICK=1 builds small stand-ins (busybox instead of Debian, a copy of
# the host's Python stdlib instead of apt, 10,000 files) so that the whole
# benchmark can be checked in minutes.
#
# Why it is built this way: each tag is marked complete only after its last
# step (`.done-<tag>`), so an interrupted build is redone rather than reused;
# layers whose content umoci cannot express (an opaque directory) are written
# with GNU tar and added with `umoci raw add-layer`, which gzips them.

BENCH_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# bench_mirror — the Debian mirror apt uses on this machine (deb822 URIs: or
# a one-line `deb URL bookworm main`), default deb.debian.org.
bench_mirror() {
    local m
    m=$(grep -hs -E '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -v -- '-security' | grep -m1 -E '/debian/?$')
    [ -z "$m" ] && m=$(grep -hs -E '^deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
        awk '$3 ~ /^bookworm$/ {print $2; exit}')
    echo "${m:-http://deb.debian.org/debian}"
}

# _tar_dir DIR OUT — a layer tar of DIR's content (names without "./").
_tar_dir() {
    local d=$1 out=$2
    (cd "$d" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | sort -z |
        tar --numeric-owner --xattrs --xattrs-include='*' --null -T - -cf "$out") ||
        fail "tar of $d"
}

# _base_rootfs DIR — the base rootfs: debootstrap minbase, or busybox (quick).
_base_rootfs() {
    local r=$1 a
    if [ "$BENCH_QUICK" = 1 ]; then
        mkdir -p "$r"/{bin,etc,tmp,root,proc,dev,usr/lib,var/log}
        chmod 1777 "$r/tmp"
        cp /bin/busybox "$r/bin/busybox" || fail "busybox-static missing"
        for a in sh ls cat echo head tail wc sha256sum find stat id true false uname; do
            ln -s busybox "$r/bin/$a"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\n' > "$r/etc/passwd"
        printf 'root:x:0:\n' > "$r/etc/group"
        printf 'PRETTY_NAME="imgfs bench busybox"\nID=busybox\n' > "$r/etc/os-release"
        mkdir -p "$r/usr/share/common-licenses"
        cp /usr/share/common-licenses/{GPL-2,GPL-3,Apache-2.0} "$r/usr/share/common-licenses/"
        return 0
    fi
    local mirror
    mirror=$(bench_mirror)
    log "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$r" "$mirror" > "$BENCH_BUILD_LOG" 2>&1 ||
        { tail -n 20 "$BENCH_BUILD_LOG" >&2; fail "debootstrap"; }
    # As Docker's debian images: no device nodes, no apt lists or caches.
    rm -rf "${r:?}"/dev/* "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb
}

# _chroot_apt ROOT — install the fat image's packages inside ROOT.
_chroot_apt() {
    local r=$1 rc=0
    if [ "$BENCH_QUICK" = 1 ]; then
        mkdir -p "$r/usr/lib"
        cp -a /usr/lib/python3.11 "$r/usr/lib/" || fail "copy python stdlib"
        return 0
    fi
    mount -t proc proc "$r/proc" || fail "mount proc in chroot"
    BENCH_CHROOT_PROC=$r/proc
    mount --bind /dev "$r/dev" || fail "bind /dev in chroot"
    BENCH_CHROOT_DEV=$r/dev
    cp /etc/resolv.conf "$r/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' > "$r/usr/sbin/policy-rc.d"
    chmod 755 "$r/usr/sbin/policy-rc.d"
    log "apt-get install build-essential python3 python3-numpy git (chroot)"
    chroot "$r" /usr/bin/env DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        sh -c 'apt-get update && apt-get install -y build-essential python3 python3-numpy git && apt-get clean' \
        >> "$BENCH_BUILD_LOG" 2>&1 || rc=$?
    umount "$r/dev"
    BENCH_CHROOT_DEV=
    umount "$r/proc"
    BENCH_CHROOT_PROC=
    rm -f "$r/usr/sbin/policy-rc.d" "$r/etc/resolv.conf"
    rm -rf "${r:?}"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin
    [ "$rc" = 0 ] || { tail -n 20 "$BENCH_BUILD_LOG" >&2; fail "apt-get install in chroot"; }
}

# _big_files ROOT — incompressible data and a CSV.
_big_files() {
    local r=$1 mb=300 rows=2600000
    [ "$BENCH_QUICK" = 1 ] && mb=24 rows=100000
    mkdir -p "$r/data"
    head -c $((mb * 1048576)) /dev/urandom > "$r/data/random.bin"
    "$PY" "$BENCH_LIB_DIR/mkfiles.py" csv "$r/data/table.csv" "$rows" || fail "csv"
}

# _whiteouts ROOT — deletions umoci repack turns into .wh. entries.
_whiteouts() {
    local r=$1
    rm -rf "${r:?}"/usr/share/doc "$r"/usr/share/man "$r"/usr/share/info "$r"/usr/share/lintian \
        "$r"/var/log/* "$r"/usr/lib/python3.11/test "$r"/usr/lib/python3.11/idlelib
}

# _opaque_layer OUT — a layer making /usr/share/common-licenses opaque (only
# the new NOTICE is seen through it).
_opaque_layer() {
    local t
    t=$(mktemp -d "$TEST_TMP/opq.XXXXXX")
    mkdir -p "$t/usr/share/common-licenses"
    : > "$t/usr/share/common-licenses/.wh..wh..opq"
    echo "licenses replaced by an opaque layer" > "$t/usr/share/common-licenses/NOTICE"
    (cd "$t" && tar --numeric-owner -cf "$1" usr/share/common-licenses) || fail "opaque tar"
    rm -rf "$t"
}

_done() { : > "$BENCH_OCI/.done-$1"; }
_is_done() { [ -f "$BENCH_OCI/.done-$1" ]; }

# bench_build_images — build what is not in the cache yet.
bench_build_images() {
    local w b
    BENCH_OCI=$BENCH_CACHE_DIR/oci
    BENCH_BUILD_LOG=$BENCH_CACHE_DIR/build.log
    mkdir -p "$BENCH_CACHE_DIR"
    [ -f "$BENCH_OCI/index.json" ] || umoci init --layout "$BENCH_OCI" || fail "umoci init"
    w=$(mktemp -d "$BENCH_CACHE_DIR/work.XXXXXX")
    BENCH_BUILD_WORK=$w
    if ! _is_done debian; then
        log "building image debian"
        _base_rootfs "$w/base"
        _tar_dir "$w/base" "$w/base.tar"
        rm -rf "$w/base"
        umoci new --image "$BENCH_OCI:debian" || fail "umoci new"
        umoci raw add-layer --image "$BENCH_OCI:debian" "$w/base.tar" >/dev/null || fail "add base layer"
        rm -f "$w/base.tar"
        local cmd=/bin/bash
        [ "$BENCH_QUICK" = 1 ] && cmd=/bin/sh
        umoci config --image "$BENCH_OCI:debian" --config.cmd "$cmd" \
            --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null ||
            fail "umoci config"
        _done debian
    fi
    if ! _is_done fat; then
        log "building image fat"
        b=$w/fat
        umoci rm --image "$BENCH_OCI:fat" 2>/dev/null
        umoci tag --image "$BENCH_OCI:debian" fat || fail "umoci tag"
        umoci unpack --image "$BENCH_OCI:fat" "$b" >/dev/null || fail "umoci unpack fat"
        _chroot_apt "$b/rootfs"
        umoci repack --refresh-bundle --image "$BENCH_OCI:fat" "$b" >/dev/null || fail "repack apt"
        _big_files "$b/rootfs"
        umoci repack --refresh-bundle --image "$BENCH_OCI:fat" "$b" >/dev/null || fail "repack data"
        _whiteouts "$b/rootfs"
        umoci repack --refresh-bundle --image "$BENCH_OCI:fat" "$b" >/dev/null || fail "repack whiteouts"
        rm -rf "$b"
        _opaque_layer "$w/opq.tar"
        umoci raw add-layer --image "$BENCH_OCI:fat" "$w/opq.tar" >/dev/null || fail "add opaque layer"
        _done fat
    fi
    if ! _is_done small; then
        log "building image small ($BENCH_SMALL_N files)"
        "$PY" "$BENCH_LIB_DIR/mkfiles.py" tree "$w/small" "$BENCH_SMALL_N" || fail "small tree"
        _tar_dir "$w/small" "$w/small.tar"
        rm -rf "$w/small"
        umoci new --image "$BENCH_OCI:small" || fail "umoci new small"
        umoci raw add-layer --image "$BENCH_OCI:small" "$w/small.tar" >/dev/null || fail "add small layer"
        _done small
    fi
    umoci gc --layout "$BENCH_OCI" || true
    rm -rf "$w"
    BENCH_BUILD_WORK=
}
