#!/usr/bin/python3
"""Minimal Docker registry token server for the integration tests.

Implements the Docker Registry v2 token flow (distribution's "token" auth):
the registry answers 401 with `WWW-Authenticate: Bearer realm=...,service=...,
scope=...`, the client asks this server for a token, and presents it to the
registry as `Authorization: Bearer <jwt>`.

Tokens are RS256 JWTs with an `x5c` header holding the signing certificate;
the same certificate is the registry's `rootcertbundle`, so distribution
accepts the chain (a self-signed leaf that is its own root).

Policy (chosen to test both the anonymous and the credentialed paths):
- GET /token?service=S&scope=repository:NAME:ACTIONS[&scope=...] with
  `Authorization: Basic user:pass` matching --user/--password: every requested
  action is granted.
- The same request with wrong credentials: 401 from this server.
- Without credentials: a token is issued with NO access (as Docker Hub does for
  a private repository), so the registry then answers 401 insufficient_scope;
  with --anonymous-pull, anonymous requests are granted `pull` only.
- POST /token with the OAuth2 password grant (form: grant_type=password,
  username, password, service, scope) follows the same rules; refresh tokens
  are not issued.
- GET /healthz answers 200 (the harness waits on it).

Each request is logged to stderr as one line (never the password or token).
Uses Debian's python3-jwt and python3-cryptography.
"""

import argparse
import base64
import json
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization


def parse_scope(scope):
    """'repository:a/b:pull,push' -> ('repository', 'a/b', ['pull','push'])."""
    # The name may contain ':' (a registry host with a port), so split the
    # type off the front and the actions off the back.
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    return parts[0], ":".join(parts[1:-1]), [a for a in parts[-1].split(",") if a]


class Handler(BaseHTTPRequestHandler):
    server_version = "imgfs-test-token/1"

    def log_message(self, fmt, *args):  # quiet default access log
        pass

    def _send(self, code, obj, extra_headers=()):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _basic_user(self):
        """None: no credentials; False: bad credentials; else the user."""
        h = self.headers.get("Authorization")
        if not h:
            return None
        if not h.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(h[6:]).decode().partition(":")
        except Exception:
            return False
        cfg = self.server.cfg
        return user if (user == cfg.user and pw == cfg.password) else False

    def _issue(self, method, user, service, scopes):
        cfg = self.server.cfg
        if user is False:
            log(f"{method} /token service={service} scopes={scopes} -> 401 bad credentials")
            self._send(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                       [("WWW-Authenticate", 'Basic realm="imgfs-test-token"')])
            return
        if service != cfg.service:
            log(f"{method} /token service={service} -> 400 unknown service")
            self._send(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
            return
        access = []
        for s in scopes:
            p = parse_scope(s)
            if not p or p[0] != "repository":
                continue
            typ, name, actions = p
            if user:
                granted = actions
            elif cfg.anonymous_pull:
                granted = [a for a in actions if a == "pull"]
            else:
                granted = []
            access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        claims = {
            "iss": cfg.issuer,
            "sub": user or "",
            "aud": cfg.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = jwt.encode(claims, self.server.key, algorithm="RS256",
                           headers={"x5c": [self.server.x5c]})
        log(f"{method} /token user={'<anonymous>' if not user else user} "
            f"service={service} access={json.dumps(access)}")
        self._send(200, {"token": token, "access_token": token, "expires_in": 300,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})

    def do_GET(self):
        u = urlparse(self.path)
        if u.path == "/healthz":
            self._send(200, {"ok": True})
            return
        if u.path != "/token":
            self._send(404, {})
            return
        q = parse_qs(u.query)
        self._issue("GET", self._basic_user(), q.get("service", [""])[0], q.get("scope", []))

    def do_POST(self):
        u = urlparse(self.path)
        if u.path != "/token":
            self._send(404, {})
            return
        n = int(self.headers.get("Content-Length", "0") or 0)
        if n > 65536:
            self._send(413, {})
            return
        form = parse_qs(self.rfile.read(n).decode(errors="replace"))
        if form.get("grant_type", [""])[0] != "password":
            log("POST /token unsupported grant_type -> 400")
            self._send(400, {"error": "unsupported_grant_type"})
            return
        cfg = self.server.cfg
        user = form.get("username", [None])[0]
        pw = form.get("password", [""])[0]
        if user is not None:
            user = user if (user == cfg.user and pw == cfg.password) else False
        scopes = []
        for s in form.get("scope", []):
            scopes.extend(s.split(" "))
        self._issue("POST", user, form.get("service", [""])[0], scopes)


def log(msg):
    print(time.strftime("%H:%M:%S ") + msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", required=True, help="127.0.0.1:PORT")
    ap.add_argument("--key", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--issuer", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--anonymous-pull", action="store_true")
    cfg = ap.parse_args()
    host, _, port = cfg.listen.rpartition(":")
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    srv.cfg = cfg
    with open(cfg.key, "rb") as f:
        srv.key = serialization.load_pem_private_key(f.read(), password=None)
    with open(cfg.cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    srv.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    log(f"listening on {cfg.listen}")
    srv.serve_forever()


if __name__ == "__main__":
    main()
