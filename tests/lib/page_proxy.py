#!/usr/bin/python3
"""page_proxy.py -- a loopback HTTP proxy in front of a registry that pages
tag lists, which docker-registry 2.8 does not (it ignores n= there).

    page_proxy.py LISTEN_PORT UPSTREAM_ADDR LOG_FILE

Every request is forwarded to http://UPSTREAM_ADDR and logged to LOG_FILE
as "METHOD PATH status=<code>".  A GET of /v2/<repo>/tags/list?n=N[&last=X]
is answered from the upstream's whole list instead, as the distribution
spec pages it: the sorted tags after X, at most N, and while more follow a
`Link: <...>; rel="next"` header: a relative reference on the first page,
an absolute URL naming this proxy on the later ones (both forms occur in
the wild).  Only for tests: loopback only, one upstream.
"""
import http.client
import http.server
import json
import sys
import threading
import urllib.parse

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()


def record(line):
    with lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")


def upstream(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    out = r.status, r.getheaders(), r.read()
    conn.close()
    return out


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, headers, data):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def tags_page(self, url):
        q = urllib.parse.parse_qs(url.query)
        status, headers, data = upstream("GET", url.path)
        if status != 200 or "n" not in q:
            return status, headers, data
        doc = json.loads(data)
        tags = sorted(doc.get("tags") or [])
        last = q.get("last", [""])[0]
        n = int(q["n"][0])
        after = [t for t in tags if t > last]
        doc["tags"] = after[:n]
        out = [("Content-Type", "application/json")]
        if len(after) > n:
            nxt = "%s?n=%d&last=%s" % (url.path, n, urllib.parse.quote(after[n - 1]))
            if last:
                nxt = "http://127.0.0.1:%d%s" % (LISTEN, nxt)
            out.append(("Link", '<%s>; rel="next"' % nxt))
        return 200, out, json.dumps(doc).encode()

    def forward(self):
        url = urllib.parse.urlsplit(self.path)
        body = None
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            body = self.rfile.read(n)
        try:
            if self.command == "GET" and url.path.endswith("/tags/list"):
                status, headers, data = self.tags_page(url)
            else:
                h = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                h["Host"] = UPSTREAM
                status, headers, data = upstream(self.command, self.path, body, h)
        except OSError:
            status, headers, data = 502, [], b""
        record(f"{self.command} {self.path} status={status}")
        self.reply(status, headers, data)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


srv = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy)
srv.daemon_threads = True
srv.serve_forever()
