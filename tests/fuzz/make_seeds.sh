#!/usr/bin/env bash
# make_seeds.sh FUZZ_BUILD_DIR - (re)write the seed corpora corpus/NAME/ of
# the fuzz targets.  The committed seeds were made by this script; run it
# again only to change them (it needs umoci, skopeo, zstd, python3 and a
# fuzz build, for mkindex: scripts/fuzz.sh 0 makes one).
#   ref, challenge   real references and real registries' challenges
#   manifest         a control byte + manifests, indexes and configs that
#                    umoci and skopeo wrote; the multi-platform index and
#                    manifest list follow docker.io/library/alpine's
#   toc_build/read   control bytes + layers: umoci's tar.gz, and tars made
#                    here to reach more of the indexer (pax xattrs, long
#                    names, links, devices; gzip with many deflate blocks
#                    and two members, zstd with several frames)
#   toc_load         a mode byte, a length, an index file mkindex made of a
#                    layer (also as header + raw body), and the layer
#   load             control bytes + docker-archive, oci-archive (skopeo),
#                    a gzip'd docker-archive and a rootfs tar.gz
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: make_seeds.sh FUZZ_BUILD_DIR}
mkindex=$build/tests/fuzz/fuzz_mkindex
[ -x "$mkindex" ] || { echo "make_seeds.sh: no $mkindex" >&2; exit 1; }
w=$(mktemp -d)
trap 'rm -rf "$w"' EXIT
c=$here/corpus
rm -rf "$c"
mkdir -p "$c"/{ref,challenge,manifest,toc_build,toc_read,toc_load,load}

# seed NAME FILE CTL_HEX [FILE...] - control bytes then the files, as one seed
seed() {
	local name=$1 file=$2 ctl=$3
	shift 3
	{ printf '%b' "$(sed 's/../\\x&/g' <<<"$ctl")"; cat "$@"; } >"$c/$name/$file"
}

# ---- references and challenges: one per file, as they are written
i=0
for r in ubuntu ubuntu:22.04 docker.io/library/ubuntu:22.04 index.docker.io/nginx \
	ghcr.io/owner/repo/sub:v1.2.3 quay.io/prometheus/node-exporter:v1.6.1 \
	registry.k8s.io/pause:3.9 mcr.microsoft.com/dotnet/sdk:8.0-bookworm-slim \
	"localhost:5000/a/b@sha256:$(printf '%064d' 0 | tr 0 a)" \
	"gcr.io/distroless/static-debian12:nonroot@sha256:$(printf '%064d' 7)" \
	"[::1]:5000/x_y__z-w:Tag_1" "127.0.0.1:5000/ouruser/sinatra:v2"; do
	printf '%s' "$r" >"$c/ref/$i"
	i=$((i + 1))
done
printf 'app/web:latest\nregistry.example.com:5000' >"$c/ref/$i"

i=0
while IFS= read -r ch; do
	printf '%s' "$ch" >"$c/challenge/$i"
	i=$((i + 1))
done <<'CH'
Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"
Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push",error="insufficient_scope"
Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:owner/repo:pull"
Bearer realm="https://quay.io/v2/auth",service="quay.io"
Bearer realm="https://gcr.io/v2/token",service="gcr.io",scope="repository:distroless/static:pull"
Basic realm="Registry Realm"
Basic realm="https://123456789012.dkr.ecr.us-east-1.amazonaws.com/",service="ecr.amazonaws.com"
Bearer realm="https://auth.example/token" , Basic realm="x"
bearer REALM=tok\"en, scope="a \"quoted\\ value",, error=invalid_token
CH

# ---- a real image: umoci writes it, skopeo converts it
umoci init --layout "$w/oci" >/dev/null
umoci new --image "$w/oci:t" >/dev/null
mkdir -p "$w/r1/etc" "$w/r1/bin" "$w/r1/usr/share/doc" "$w/r2"
printf 'root:x:0:0:root:/root:/bin/sh\n' >"$w/r1/etc/passwd"
seq 1 3000 >"$w/r1/usr/share/doc/numbers"
ln -s ../usr/share/doc/numbers "$w/r1/bin/n"
ln "$w/r1/etc/passwd" "$w/r1/etc/passwd.hl"
python3 -c 'import random; r = random.Random(8); print("".join(r.choice("abcdefgh \n") for _ in range(6000)))' >"$w/r2/text"
# (unpack + repack: umoci 0.4.7's insert writes a tar without its end)
umoci unpack --image "$w/oci:t" "$w/b" >/dev/null
cp -a "$w/r1/." "$w/b/rootfs/"
umoci repack --refresh-bundle --image "$w/oci:t" "$w/b" >/dev/null
mkdir -p "$w/b/rootfs/opt"
cp -a "$w/r2/." "$w/b/rootfs/opt/"
umoci repack --image "$w/oci:t" "$w/b" >/dev/null
umoci config --image "$w/oci:t" --config.cmd /bin/sh --config.env PATH=/bin >/dev/null
umoci gc --layout "$w/oci"
skopeo copy -q --format v2s2 "oci:$w/oci:t" "dir:$w/v2"
blob() { echo "$w/oci/blobs/sha256/${1#sha256:}"; }
mdig=$(jq -r '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == "t") | .digest' "$w/oci/index.json")
cdig=$(jq -r '.config.digest' "$(blob "$mdig")")
l1=$(blob "$(jq -r '.layers[0].digest' "$(blob "$mdig")")")
l2=$(blob "$(jq -r '.layers[1].digest' "$(blob "$mdig")")")

# a tiny one-layer image for the archive loader
umoci new --image "$w/oci:tiny" >/dev/null
mkdir -p "$w/r3/etc"
printf 'tiny\n' >"$w/r3/etc/hostname"
ln -s hostname "$w/r3/etc/name"
umoci unpack --image "$w/oci:tiny" "$w/b3" >/dev/null
cp -a "$w/r3/." "$w/b3/rootfs/"
umoci repack --image "$w/oci:tiny" "$w/b3" >/dev/null
umoci gc --layout "$w/oci"
skopeo copy -q "oci:$w/oci:tiny" "docker-archive:$w/d.tar:fuzz/tiny:1"
skopeo copy -q "oci:$w/oci:tiny" "oci-archive:$w/o.tar:fuzz/tiny:1"
gzip -9n <"$w/d.tar" >"$w/d.tar.gz"

# ---- manifests (control byte: content type in bits 0-2, bit 3 a fixed
# platform from bits 4-5, else the host's)
seed manifest oci-manifest 00 "$(blob "$mdig")"
seed manifest oci-manifest-ct 01 "$(blob "$mdig")"
seed manifest oci-config 00 "$(blob "$cdig")"
seed manifest oci-index 02 "$w/oci/index.json"
seed manifest docker-manifest 03 "$w/v2/manifest.json"
cat >"$w/index.json" <<'J'
{"manifests":[{"annotations":{"com.docker.official-images.bashbrew.arch":"amd64","org.opencontainers.image.base.name":"scratch","org.opencontainers.image.created":"2024-07-22T22:26:43Z","org.opencontainers.image.revision":"1a2b3c4d","org.opencontainers.image.source":"https://github.com/alpinelinux/docker-alpine.git","org.opencontainers.image.url":"https://hub.docker.com/_/alpine","org.opencontainers.image.version":"3.20.2"},"digest":"sha256:eddacbc7e24bf8799a4ed3cdcfa50d4b88a323695ad80f317b6629883b2c2a78","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","os":"linux"},"size":1022},{"annotations":{"com.docker.official-images.bashbrew.arch":"amd64","vnd.docker.reference.digest":"sha256:eddacbc7e24bf8799a4ed3cdcfa50d4b88a323695ad80f317b6629883b2c2a78","vnd.docker.reference.type":"attestation-manifest"},"digest":"sha256:0ae8ab1c7aa3ad8e5cf5ab1e5bd4cd6a2b62f2bc6b1b1a1e5a0d2a6a0cd6e3d2","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"unknown","os":"unknown"},"size":839},{"digest":"sha256:1b3d1e7f4a0c8f7a2b6d3c9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"arm","os":"linux","variant":"v6"},"size":1022},{"digest":"sha256:2c4e6a8b0d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"arm","os":"linux","variant":"v7"},"size":1022},{"digest":"sha256:3d5f7b9d1e2a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"arm64","os":"linux","variant":"v8"},"size":1022},{"digest":"sha256:4e6a8c0e2f3b5d7f9b1d3f5b7d9f1b3d5f7b9d1f3b5d7f9b1d3f5b7d9f1b3d5f","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"386","os":"linux"},"size":1022},{"digest":"sha256:5f7b9d1f3a4c6e8a0c2e4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e6a","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"ppc64le","os":"linux"},"size":1022}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}
J
seed manifest oci-index-platforms 0a "$w/index.json"
seed manifest oci-index-arm64 1a "$w/index.json"
seed manifest oci-index-armv7 2a "$w/index.json"
jq -c '.mediaType = "application/vnd.docker.distribution.manifest.list.v2+json" |
	.manifests |= map(.mediaType = "application/vnd.docker.distribution.manifest.v2+json" | del(.annotations))' \
	"$w/index.json" >"$w/list.json"
seed manifest docker-list 04 "$w/list.json"
printf '{"schemaVersion":1,"name":"library/x","tag":"1","architecture":"amd64","fsLayers":[],"history":[]}' >"$w/s1.json"
seed manifest schema1 06 "$w/s1.json"

# ---- layers for the indexer
python3 - "$w" <<'PY'
import io, random, sys, tarfile, zlib
w = sys.argv[1]
r = random.Random(8)
text = "".join(r.choice("abcdefghij \n") for _ in range(12000)).encode()
t = io.BytesIO()
with tarfile.open(fileobj=t, mode="w", format=tarfile.PAX_FORMAT) as tf:
    def add(name, typ=tarfile.REGTYPE, data=b"", **kw):
        ti = tarfile.TarInfo(name)
        ti.type = typ
        ti.size = len(data)
        ti.mtime = 1700000000
        ti.mode = kw.pop("mode", 0o644)
        for k, v in kw.items():
            setattr(ti, k, v)
        tf.addfile(ti, io.BytesIO(data) if data else None)
    add("./", tarfile.DIRTYPE, mode=0o755)
    add("etc/", tarfile.DIRTYPE, mode=0o755)
    add("etc/text", data=text, pax_headers={"SCHILY.xattr.user.comment": "seed",
                                           "SCHILY.xattr.security.capability": "\x01\x00\x00\x02"})
    add("etc/hard", tarfile.LNKTYPE, linkname="etc/text")
    add("etc/sym", tarfile.SYMTYPE, linkname="../etc/text")
    add("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
    add("dev/fifo", tarfile.FIFOTYPE)
    add("d/" + "n" * 150 + "/" + "m" * 120, data=b"long name\n", mode=0o4755, uid=1000, gid=100000)
    add("etc/.wh.gone")
    add("etc/small", data=text[:3000])
tar = t.getvalue()
open(w + "/made.tar", "wb").write(tar)
def gz(data, level=6, mem=8):
    c = zlib.compressobj(level, zlib.DEFLATED, 31, mem)
    return c.compress(data) + c.flush()
# small memLevel: a deflate block every few hundred symbols, most ending
# mid-byte; two members; junk after the last one
half = len(tar) // 2
open(w + "/blocks.tar.gz", "wb").write(gz(tar[:half], 6, 1) + gz(tar[half:], 9, 2) + b"junk")
# full flushes: byte-aligned block boundaries
c = zlib.compressobj(6, zlib.DEFLATED, 31)
out = b""
for i in range(0, len(tar), 2048):
    out += c.compress(tar[i:i + 2048]) + c.flush(zlib.Z_FULL_FLUSH)
open(w + "/flush.tar.gz", "wb").write(out + c.flush())
PY
# zstd: three frames and a skippable frame between them
head -c 9000 "$w/made.tar" | zstd -q -19 -c >"$w/multi.tar.zst"
printf '\x50\x2a\x4d\x18\x04\x00\x00\x00skip' >>"$w/multi.tar.zst"
tail -c +9001 "$w/made.tar" | head -c 9000 | zstd -q -3 -c >>"$w/multi.tar.zst"
tail -c +18001 "$w/made.tar" | zstd -q -1 -c >>"$w/multi.tar.zst"
tar -C "$w/r3" --numeric-owner --owner=0 --group=0 --mtime=@1700000000 -cf - . | gzip -9n >"$w/rootfs.tar.gz"

# control bytes of toc_build: compression (0 plain, 1 gzip, 2 zstd; +4 a
# small memory budget, +8 through the on-disk form), then 7 read sizes
seed toc_build umoci-layer1 0900000000000000 "$l1"
seed toc_build umoci-layer2 0101104180050240 "$l2"
seed toc_build plain 0800000000000000 "$w/made.tar"
seed toc_build plain-chunks 00ff0701c0330240 "$w/made.tar"
seed toc_build gzip-blocks 0900000000000000 "$w/blocks.tar.gz"
seed toc_build gzip-flush 0503ff4001900000 "$w/flush.tar.gz"
seed toc_build zstd-frames 0a00000000000000 "$w/multi.tar.zst"
seed toc_build zstd-chunks 0207ff01a0400009 "$w/multi.tar.zst"
# toc_read: compression, 8 bytes of seed, number of reads, damage
seed toc_read umoci-layer1 01000102030405060710000100000000 "$l1"
seed toc_read plain 00f00102030405060714018040000000 "$w/made.tar"
seed toc_read gzip-blocks 01112233445566778817004010018000 "$w/blocks.tar.gz"
seed toc_read gzip-flush 01a1b2c3d4e5f60718170280a0020000 "$w/flush.tar.gz"
seed toc_read zstd-frames 02fedcba987654321017000220000000 "$w/multi.tar.zst"

# toc_load: mode, blob length (16-bit LE), index, blob
mkidx() {	# COMP BLOB NAME
	"$mkindex" "$1" "$2" "$w/$3.idx" 2>/dev/null
	local n
	n=$(stat -c %s "$2")
	[ "$n" -lt 65536 ] || { echo "make_seeds.sh: $2 too large" >&2; exit 1; }
	seed toc_load "$3" "01$(printf '%02x%02x' $((n & 255)) $((n >> 8)))" "$w/$3.idx" "$2"
	# the same as header + raw body (mode 2)
	local sz
	sz=$(stat -c %s "$w/$3.idx")
	head -c 192 "$w/$3.idx" >"$w/$3.raw"
	tail -c +193 "$w/$3.idx" | head -c $((sz - 192 - 8)) | zstd -q -d -c >>"$w/$3.raw"
	seed toc_load "$3-raw" "02$(printf '%02x%02x' $((n & 255)) $((n >> 8)))" "$w/$3.raw" "$2"
}
mkidx gzip "$w/blocks.tar.gz" gzip-blocks
mkidx gzip "$l1" umoci-layer1
mkidx zstd "$w/multi.tar.zst" zstd-frames
mkidx none "$w/made.tar" plain

# load: name (0 none, 1 fuzz:1, 2 a/b/c; +4 aborted half way), 3 write sizes
seed load docker-archive 01000000 "$w/d.tar"
seed load docker-archive-gz 02011040 "$w/d.tar.gz"
seed load oci-archive 01ff0703 "$w/o.tar"
seed load rootfs 00000000 "$w/rootfs.tar.gz"
seed load rootfs-abort 05102030 "$w/rootfs.tar.gz"
ls -l "$c"/* | awk 'NF > 5 { n++; s += $5 } END { print n " seeds, " s " bytes" }'
