#!/usr/bin/python3
"""hostile_redirect.py -- a registry front whose blob downloads are
redirected to a host that demands authentication with a realm of its own.

    hostile_redirect.py FRONT_PORT UPSTREAM_ADDR TARGET_PORT REALM_PORT LOG

Three loopback HTTP servers in one process:
  - the front (FRONT_PORT) forwards everything to http://UPSTREAM_ADDR (a
    plain docker-registry), except a GET of a blob that is not an image
    config (configs are learnt from the manifests it forwarded): that is
    answered 307 to http://127.0.0.1:TARGET_PORT/blob/<digest>, or, for a
    digest listed in the file LOG + ".far", to http://FAR/blob/<digest>
    where FAR is the address in that file's first line (a host that may not
    be reached over plain http);
  - the target (TARGET_PORT) answers every request 401 with
    'Bearer realm="http://127.0.0.1:REALM_PORT/token"';
  - the realm (REALM_PORT) is a token server that hands out a useless token
    and records whether the request carried credentials.
Each request is logged to LOG as "SERVER METHOD PATH auth=yes|no".  Only
for tests: loopback only.
"""
import http.client
import http.server
import json
import sys
import threading

FRONT, UPSTREAM, TARGET, REALM, LOG = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                                       int(sys.argv[4]), sys.argv[5])
lock = threading.Lock()
configs = set()


def record(server, handler):
    auth = "yes" if handler.headers.get("Authorization") else "no"
    with lock:
        with open(LOG, "a") as f:
            f.write(f"{server} {handler.command} {handler.path} auth={auth}\n")


def far_digests():
    try:
        with open(LOG + ".far") as f:
            lines = [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        return None, set()
    return (lines[0], set(lines[1:])) if lines else (None, set())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class Front(Handler):
    def forward(self):
        record("front", self)
        if self.command in ("GET", "HEAD") and "/blobs/sha256:" in self.path:
            digest = self.path.rsplit("/", 1)[1]
            if digest not in configs:
                far, listed = far_digests()
                where = far if far and digest in listed else f"127.0.0.1:{TARGET}"
                self.reply(307, headers=[("Location", f"http://{where}/blob/{digest}")])
                return
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = UPSTREAM
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        if "/manifests/" in self.path and r.status == 200:
            try:
                cfg = json.loads(data).get("config", {}).get("digest")
                if cfg:
                    configs.add(cfg)
            except ValueError:
                pass
        hdrs = [(k, v) for k, v in r.getheaders()
                if k.lower() not in ("transfer-encoding", "connection", "content-length")]
        self.reply(r.status, data, hdrs)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


class Target(Handler):
    def answer(self):
        record("target", self)
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [
            ("WWW-Authenticate",
             f'Bearer realm="http://127.0.0.1:{REALM}/token",service="evil",scope="x"'),
            ("Content-Type", "application/json")])

    do_GET = do_HEAD = answer


class Realm(Handler):
    def answer(self):
        record("realm", self)
        self.reply(200, b'{"token":"useless","expires_in":300}',
                   [("Content-Type", "application/json")])

    do_GET = do_POST = answer


def serve(port, cls):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), cls)
    srv.daemon_threads = True
    srv.serve_forever()


for port, cls in ((TARGET, Target), (REALM, Realm)):
    threading.Thread(target=serve, args=(port, cls), daemon=True).start()
serve(FRONT, Front)
