#!/usr/bin/python3
"""hostile_registry.py -- a loopback registry that misbehaves on purpose.

    hostile_registry.py --listen 127.0.0.1:PORT --mode MODE [--log FILE]
                        [--auth USER:PASS] [--config FILE] [--far HOST:PORT]

Speaks just enough of the distribution API for imgfs: GET /v2/, GET and
HEAD of manifests (by tag or digest) and blobs (with Range),
tags/list.  It builds a real image in memory (a small tar.gz layer and a
config whose diff_ids match), so what it serves correctly is a valid
image.

Repository "good" always serves an image of its own (its layer differs:
name.txt says "good") correctly, whatever the mode, so a test can check
that the daemon serves other images while this one misbehaves.  Every
other repository gets the mode (its image's name.txt holds the mode):

    good         the valid image (also under every other name)
    huge         tag latest: a manifest claiming a 2^40-byte layer; tag
                 huge62: one of 2^62 bytes (no such bytes are ever sent)
    overrun      the layer blob comes with more bytes than its descriptor
                 says (the real ones, then junk; Content-Length of the lot)
    trickle      the layer blob is sent one byte a second
    stall        the layer blob's headers are sent, then nothing
    stall-manifest  a manifest's headers are sent, then nothing
    many-layers  a manifest of 3000 layers (and a config with 3000 diff_ids)
    poison       a real image's config (--config FILE, its bytes as they
                 are) in a manifest of this registry's own: as many layers
                 as the config has diff_ids, each a valid tar.gz of its own
                 whose digest matches its descriptor, none of whose diff_ids
                 matches the config's
    redirect-challenge
                 a GET or HEAD of a layer blob is answered 307 to a second
                 listener (the target, on a port of its own) that answers
                 every request 401 'Bearer realm=' a third listener (the
                 realm, a token server handing out a useless token); both
                 log as "target ..." / "realm ..." with auth=yes|no
    redirect-far a GET or HEAD of a layer blob is answered 307 to
                 http://FAR/blob/DIGEST (--far HOST:PORT: a listener of the
                 test's, e.g. on an address that is not loopback)

--auth USER:PASS makes every request to the registry itself (not to the
target or realm) without those Basic credentials get 401 with a Basic
challenge, so that the daemon holds and uses credentials for it.

Adding a mode: write a class deriving from Mode that overrides
manifests() (what each tag resolves to), serve_layer() (how a layer blob
goes out) and/or route() (any request, /v2/ included, answered its own
way: a redirect, a challenge, a token endpoint), and add it to MODES.  The
handler asks the mode for everything it serves, so no other code changes.

Each request is logged as "METHOD PATH range=R auth=yes|no" to --log
(the target's and the realm's prefixed by their name), so a test can see
what reached which listener.  Only for tests: listens on loopback only.
"""
import argparse
import base64
import gzip
import hashlib
import http.server
import io
import json
import os
import platform
import random
import re
import socketserver
import sys
import tarfile
import threading
import time

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"

# What the image holds (tests compare against these), besides name.txt,
# which holds the image's name: "good" or the mode's (so that the good
# image and the mode's have layers of different digests).
FILES = {
    "hello.txt": b"hello from the hostile registry\n",
    "etc/motd": b"nothing to see here\n",
    "data.bin": random.Random(1).randbytes(64 << 10),   # does not compress
}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def goarch():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(m, m)


def make_layer(image):
    """A small tar.gz of FILES and name.txt; returns (gzip bytes, diff_id)."""
    files = dict(FILES, **{"name.txt": image.encode() + b"\n"})
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted({os.path.dirname(n) for n in files} - {""}):
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 1700000000
            tf.addfile(ti)
        for name, data in sorted(files.items()):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 1700000000
            tf.addfile(ti, io.BytesIO(data))
    tar = raw.getvalue()
    gz = gzip.compress(tar, mtime=0)
    return gz, sha256(tar)


def make_config(diff_ids):
    return json.dumps({
        "architecture": goarch(), "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2024-01-01T00:00:00Z"} for _ in diff_ids],
    }, sort_keys=True).encode()


def make_manifest(config, layers):
    """@layers: list of (digest, size)."""
    return json.dumps({
        "schemaVersion": 2, "mediaType": MT_MANIFEST,
        "config": {"mediaType": MT_CONFIG, "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": MT_LAYER_GZ, "digest": d, "size": s}
                   for d, s in layers],
    }, sort_keys=True).encode()


class Mode:
    """The good image, served correctly.  Subclasses change what they must."""

    def __init__(self, image):
        self.layer, self.diff_id = make_layer(image)
        self.layer_digest = sha256(self.layer)
        self.config = make_config([self.diff_id])
        self.blobs = {self.layer_digest: self.layer, sha256(self.config): self.config}
        self.good = {"latest": make_manifest(self.config,
                                             [(self.layer_digest, len(self.layer))])}

    def route(self, h, repo, kind, ref):
        """Answer a request (GET /v2/ has repo None) before the default
        routing and return True, or return False to leave it to that."""
        return False

    def manifests(self):
        """tag -> manifest bytes."""
        return self.good

    def serve_layer(self, h, data, start, end, status):
        """Send layer bytes data[start:end] (headers not yet sent)."""
        h.send_blob(data[start:end], start, len(data), status)


class Huge(Mode):
    def manifests(self):
        return {"latest": make_manifest(self.config, [(self.layer_digest, 1 << 40)]),
                "huge62": make_manifest(self.config, [(self.layer_digest, 1 << 62)])}


class Overrun(Mode):
    def serve_layer(self, h, data, start, end, status):
        extra = b"\0junk" * 200000      # 1 MB beyond the descriptor
        h.send_blob(data[start:end] + extra, start, len(data), status)


class Trickle(Mode):
    def serve_layer(self, h, data, start, end, status):
        h.send_headers(status, end - start, start, len(data))
        for i in range(start, end):
            h.wfile.write(data[i:i + 1])
            h.wfile.flush()
            time.sleep(1)


class Stall(Mode):
    def serve_layer(self, h, data, start, end, status):
        h.send_headers(status, end - start, start, len(data))
        h.wfile.flush()
        time.sleep(3600)


class StallManifest(Mode):
    def route(self, h, repo, kind, ref):
        if kind != "manifests":
            return False
        h.send_headers(200, 4096, ctype=MT_MANIFEST)
        h.wfile.flush()
        time.sleep(3600)
        return True


class ManyLayers(Mode):
    N = 3000

    def __init__(self, image):
        super().__init__(image)
        config = make_config([self.diff_id] * self.N)
        self.blobs[sha256(config)] = config
        self.many = {"latest": make_manifest(
            config, [(self.layer_digest, len(self.layer))] * self.N)}

    def manifests(self):
        return self.many


class Poison(Mode):
    def __init__(self, image):
        super().__init__(image)
        with open(OPTS.config, "rb") as f:
            config = f.read()
        n = len(json.loads(config)["rootfs"]["diff_ids"])
        layers = []
        for i in range(n):
            gz, _ = make_layer(f"{image}{i}")
            self.blobs[sha256(gz)] = gz
            layers.append((sha256(gz), len(gz)))
        self.blobs[sha256(config)] = config
        self.poisoned = {"latest": make_manifest(config, layers)}

    def manifests(self):
        return self.poisoned


def layer_request(mode, kind, ref):
    """A blob request for anything but an image config this mode serves."""
    return kind == "blobs" and ref in mode.blobs and ref != sha256(mode.config)


class RedirectChallenge(Mode):
    def __init__(self, image):
        super().__init__(image)
        realm = serve_aside(Realm)
        Target.realm = f"http://127.0.0.1:{realm}/token"
        self.target = f"127.0.0.1:{serve_aside(Target)}"

    def route(self, h, repo, kind, ref):
        if not layer_request(self, kind, ref):
            return False
        h.reply(307, headers=[("Location", f"http://{self.target}/blob/{ref}")])
        return True


class RedirectFar(Mode):
    def route(self, h, repo, kind, ref):
        if not layer_request(self, kind, ref):
            return False
        h.reply(307, headers=[("Location", f"http://{OPTS.far}/blob/{ref}")])
        return True


MODES = {
    "good": Mode,
    "huge": Huge,
    "overrun": Overrun,
    "trickle": Trickle,
    "stall": Stall,
    "stall-manifest": StallManifest,
    "many-layers": ManyLayers,
    "poison": Poison,
    "redirect-challenge": RedirectChallenge,
    "redirect-far": RedirectFar,
}

PATH_RE = re.compile(r"^/v2/(?P<repo>[a-z0-9._/-]+?)/(?P<kind>manifests|blobs|tags)/(?P<ref>[^/?]+)")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    mode = None         # set by main()
    log_file = None
    auth = None         # the Authorization header --auth demands
    log_lock = threading.Lock()

    def log_message(self, *a):
        pass

    def record(self, who=""):
        auth = "yes" if self.headers.get("Authorization") else "no"
        if self.log_file:
            with Handler.log_lock, open(self.log_file, "a") as f:
                f.write(f"{who}{self.command} {self.path} "
                        f"range={self.headers.get('Range')} auth={auth}\n")

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_headers(self, status, length, start=0, total=None,
                     ctype="application/octet-stream", digest=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        if digest:
            self.send_header("Docker-Content-Digest", digest)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{start + length - 1}/{total}")
        self.end_headers()

    def send_blob(self, body, start, total, status):
        self.send_headers(status, len(body), start, total)
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code):
        body = json.dumps({"errors": [{"code": code, "message": code}]}).encode()
        self.send_headers(status, len(body), ctype="application/json")
        self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self.record()
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def route(self):
        m = PATH_RE.match(self.path)
        repo, kind, ref = m.group("repo", "kind", "ref") if m else (None, None, None)
        mode = GOOD if repo == "good" else self.mode
        if self.auth and self.headers.get("Authorization") != self.auth:
            return self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [
                ("WWW-Authenticate", 'Basic realm="hostile"'),
                ("Content-Type", "application/json")])
        if mode.route(self, repo, kind, ref):
            return
        if self.path.rstrip("/") == "/v2":
            self.send_headers(200, 2, ctype="application/json")
            self.wfile.write(b"{}")
            return
        if not m:
            return self.error(404, "NOT_FOUND")
        mans = mode.manifests()
        if kind == "tags":
            body = json.dumps({"name": repo, "tags": sorted(mans)}).encode()
            self.send_headers(200, len(body), ctype="application/json")
            self.wfile.write(body)
        elif kind == "manifests":
            man = mans.get(ref) or {sha256(v): v for v in mans.values()}.get(ref)
            if man is None:
                return self.error(404, "MANIFEST_UNKNOWN")
            self.send_headers(200, len(man), ctype=MT_MANIFEST, digest=sha256(man))
            if self.command != "HEAD":
                self.wfile.write(man)
        else:
            self.blob(mode, ref)

    def blob(self, mode, digest):
        data = mode.blobs.get(digest)
        if data is None:
            return self.error(404, "BLOB_UNKNOWN")
        start, end, status = 0, len(data), 200
        rng = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range") or "")
        if rng:
            start = int(rng.group(1))
            end = min(int(rng.group(2)) + 1, len(data)) if rng.group(2) else len(data)
            if start >= len(data):
                return self.error(416, "RANGE_INVALID")
            status = 206
        if digest == mode.layer_digest and self.command != "HEAD":
            mode.serve_layer(self, data, start, end, status)
        else:
            self.send_blob(data[start:end], start, len(data), status)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Target(Handler):
    """The redirect target: a challenge naming a realm of its own."""
    realm = None

    def answer(self):
        self.record("target ")
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [
            ("WWW-Authenticate", f'Bearer realm="{self.realm}",service="evil",scope="x"'),
            ("Content-Type", "application/json")])

    do_GET = do_HEAD = do_POST = answer


class Realm(Handler):
    """The target's token server: records whether it got credentials."""

    def answer(self):
        self.record("realm ")
        self.reply(200, b'{"token":"useless","expires_in":300}',
                   [("Content-Type", "application/json")])

    do_GET = do_HEAD = do_POST = answer


def serve_aside(handler):
    """Serve @handler on a free loopback port in a thread; return the port."""
    srv = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


GOOD = None
OPTS = None


def main(argv):
    global GOOD, OPTS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--listen", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--mode", required=True, choices=sorted(MODES))
    ap.add_argument("--log", help="append each request here")
    ap.add_argument("--auth", help="USER:PASS the registry demands (Basic)")
    ap.add_argument("--config", help="poison: the real image config to serve")
    ap.add_argument("--far", help="redirect-far: HOST:PORT layer blobs go to")
    a = ap.parse_args(argv)
    host, port = a.listen.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("hostile_registry: loopback only")
    if a.mode == "poison" and not a.config:
        sys.exit("hostile_registry: poison needs --config FILE")
    if a.mode == "redirect-far" and not a.far:
        sys.exit("hostile_registry: redirect-far needs --far HOST:PORT")
    OPTS = a
    GOOD = Mode("good")
    Handler.log_file = a.log
    if a.auth:
        Handler.auth = "Basic " + base64.b64encode(a.auth.encode()).decode()
    Handler.mode = MODES[a.mode](a.mode)
    srv = Server((host, int(port)), Handler)
    srv.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
