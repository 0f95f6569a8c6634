#!/usr/bin/python3
"""Hand-made parts of the test images that umoci cannot produce.

Subcommands:
  layer3 OUT.tar   GNU-format layer: an opaque directory (.wh..wh..opq) that
                   replaces opq/ from layer 1, a hardlink to a file of layer 1
                   (hl/cross -> hl/lower), GNU long name and long link target
                   (././@LongLink), a hardlink pair within the layer.
  layer4 OUT.tar   PAX-format layer: a path > 255 chars in a PAX header, a
                   PAX xattr (SCHILY.xattr.user.pax), a fractional mtime, and a
                   whiteout of gnu/h1 from layer 3 (its hardlink twin gnu/h2
                   stays, with nlink 1).
  index DIR TAG SRC:ARCH[/VARIANT]...
                   write an OCI image index of the manifests tagged SRC in the
                   layout DIR (each with its platform), tagged TAG.
  push-uncompressed DIR TAG URL NAME:TAG [docker]
                   push TAG of the layout to a plain-HTTP registry with every
                   layer decompressed (media type ...layer.v1.tar; with
                   "docker", a Docker schema2 manifest of ...rootfs.diff.tar).

umoci repack never emits an opaque whiteout (it writes one .wh. entry per
deleted child) and always writes a changed hardlinked file in full, which is
why layers 3 and 4 are written here and added with `umoci raw add-layer`.
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import urllib.request

T0 = 981173106  # 2001-02-03 04:05:06 UTC


def _add(tf, name, typ=tarfile.REGTYPE, data=b"", mode=0o644, uid=0, gid=0,
         mtime=T0, linkname="", pax=None):
    ti = tarfile.TarInfo(name)
    ti.type = typ
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    ti.linkname = linkname
    if pax:
        ti.pax_headers = dict(pax)
    if typ == tarfile.REGTYPE:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)


def layer3(out):
    q150 = "q" * 150
    target = "/" + "t" * 60 + "/" + "u" * 89  # 151 chars: GNU longlink
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tf:
        D = tarfile.DIRTYPE
        _add(tf, "opq", D, mode=0o755)
        _add(tf, "opq/.wh..wh..opq", mode=0o644, mtime=0)
        _add(tf, "opq/new1", data=b"new1\n")
        _add(tf, "opq/sub", D, mode=0o750)
        _add(tf, "opq/sub/n3", data=b"n3\n")
        _add(tf, "hl", D, mode=0o755)
        _add(tf, "hl/cross", tarfile.LNKTYPE, linkname="hl/lower")
        _add(tf, "gnu", D, mode=0o755)
        _add(tf, "gnu/" + q150, data=b"gnu-long-name\n", uid=1000, gid=1000)
        _add(tf, "gnu/longlink", tarfile.SYMTYPE, linkname=target)
        _add(tf, "gnu/h1", data=b"h-content\n", mode=0o600)
        _add(tf, "gnu/h2", tarfile.LNKTYPE, linkname="gnu/h1")
        _add(tf, "gnu/h3", tarfile.LNKTYPE, linkname="gnu/h1")


def layer4(out):
    deep = "pax/" + "r" * 180 + "/" + "s" * 150  # 335 chars
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tf:
        D = tarfile.DIRTYPE
        _add(tf, "pax", D, mode=0o755)
        _add(tf, "pax/" + "r" * 180, D, mode=0o755)
        _add(tf, deep, data=b"pax-long-name\n", mode=0o640, uid=0, gid=42)
        _add(tf, "pax/xattr", data=b"pax xattr\n",
             pax={"SCHILY.xattr.user.pax": "paxval", "SCHILY.xattr.user.two": "2"})
        _add(tf, "pax/frac", data=b"frac\n", mtime=1000000000.5)
        _add(tf, "gnu", D, mode=0o755)
        _add(tf, "gnu/.wh.h1", mode=0o644, mtime=0)


def _blob_path(layout, digest):
    alg, hexd = digest.split(":", 1)
    return os.path.join(layout, "blobs", alg, hexd)


def _write_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def _desc_for_tag(idx, tag):
    for m in idx["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m
    raise SystemExit(f"tag {tag} not in layout")


def index(layout, tag, srcs):
    with open(os.path.join(layout, "index.json")) as f:
        idx = json.load(f)
    manifests = []
    for s in srcs:
        src, plat = s.rsplit(":", 1)
        arch, _, variant = plat.partition("/")
        d = dict(_desc_for_tag(idx, src))
        d.pop("annotations", None)
        p = {"architecture": arch, "os": "linux"}
        if variant:
            p["variant"] = variant
        d["platform"] = p
        manifests.append(d)
    body = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.index.v1+json",
                       "manifests": manifests}, indent=2).encode()
    digest = _write_blob(layout, body)
    idx["manifests"] = [m for m in idx["manifests"]
                        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                             "digest": digest, "size": len(body),
                             "annotations": {"org.opencontainers.image.ref.name": tag}})
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(idx, f)


def _decompress(data, media_type):
    if media_type.endswith("+gzip") or media_type.endswith(".tar.gzip"):
        return gzip.decompress(data)
    if media_type.endswith("+zstd"):
        return subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def _upload(url, name, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    req = urllib.request.Request(f"{url}/v2/{name}/blobs/uploads/", method="POST", data=b"")
    with urllib.request.urlopen(req) as r:
        loc = r.headers["Location"]
    if loc.startswith("/"):
        loc = url + loc
    sep = "&" if "?" in loc else "?"
    req = urllib.request.Request(f"{loc}{sep}digest={digest}", method="PUT", data=data,
                                 headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req) as r:
        if r.status not in (201, 202):
            raise SystemExit(f"blob upload: HTTP {r.status}")
    return digest


def push_uncompressed(layout, tag, url, dest, docker=False):
    """With @docker, as a Docker schema2 manifest (and media types)."""
    name, _, rtag = dest.rpartition(":")
    with open(os.path.join(layout, "index.json")) as f:
        desc = _desc_for_tag(json.load(f), tag)
    with open(_blob_path(layout, desc["digest"]), "rb") as f:
        man = json.load(f)
    with open(_blob_path(layout, man["config"]["digest"]), "rb") as f:
        _upload(url, name, f.read())
    for layer in man["layers"]:
        with open(_blob_path(layout, layer["digest"]), "rb") as f:
            raw = _decompress(f.read(), layer["mediaType"])
        layer["digest"] = _upload(url, name, raw)
        layer["size"] = len(raw)
        layer["mediaType"] = ("application/vnd.docker.image.rootfs.diff.tar" if docker
                              else "application/vnd.oci.image.layer.v1.tar")
    mt = "application/vnd.oci.image.manifest.v1+json"
    if docker:
        mt = "application/vnd.docker.distribution.manifest.v2+json"
        man["mediaType"] = mt
        man["config"]["mediaType"] = "application/vnd.docker.container.image.v1+json"
    body = json.dumps(man).encode()
    req = urllib.request.Request(f"{url}/v2/{name}/manifests/{rtag}", method="PUT", data=body,
                                 headers={"Content-Type": mt})
    with urllib.request.urlopen(req) as r:
        if r.status != 201:
            raise SystemExit(f"manifest put: HTTP {r.status}")


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "layer3":
        layer3(argv[2])
    elif cmd == "layer4":
        layer4(argv[2])
    elif cmd == "index":
        index(argv[2], argv[3], argv[4:])
    elif cmd == "push-uncompressed":
        push_uncompressed(argv[2], argv[3], argv[4], argv[5], argv[6:] == ["docker"])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
