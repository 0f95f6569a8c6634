#!/usr/bin/python3
"""range_proxy.py -- a loopback HTTP proxy in front of a registry that
counts what a client fetches, and can corrupt blob bytes on the way.

    range_proxy.py LISTEN_PORT UPSTREAM_ADDR LOG_FILE

Every request is forwarded to http://UPSTREAM_ADDR and logged to LOG_FILE
as one line:

    METHOD PATH range=<Range header or -> status=<code> bytes=<body bytes>

(status=502 bytes=0 when the upstream cannot be reached), so a test can
tell whole-blob GETs from Range GETs and add up the bytes sent.  While the
file LOG_FILE + ".corrupt" names a digest (one per line), the body of every
GET of that blob has one byte flipped in its middle: what a broken or
hostile registry or network would deliver.  While LOG_FILE + ".slow" holds
a number N, blob bodies are sent at about N bytes per second (a transfer a
test can watch in flight); any request whose path contains a line of
LOG_FILE + ".429" is answered 429 Too Many Requests without reaching the
registry (a rate limit).  Only for tests: loopback only, one upstream.
"""
import http.client
import http.server
import sys
import threading
import time

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
CORRUPT = LOG + ".corrupt"
lock = threading.Lock()


def lines(name):
    try:
        with open(name) as f:
            return [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        return []


def corrupted(path):
    return any(l in path for l in lines(CORRUPT))


def record(line):
    with lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        rng = self.headers.get("Range") or "-"
        if any(l in self.path for l in lines(LOG + ".429")):
            record(f"{self.command} {self.path} range={rng} status=429 bytes=0")
            body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limit"}]}'
            self.send_response(429)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return
        body = None
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            body = self.rfile.read(n)
        try:
            conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = UPSTREAM
            conn.request(self.command, self.path, body=body, headers=headers)
            r = conn.getresponse()
            status, rheaders, data = r.status, r.getheaders(), r.read()
            conn.close()
        except OSError:
            record(f"{self.command} {self.path} range={rng} status=502 bytes=0")
            self.send_response(502)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if (self.command == "GET" and "/blobs/" in self.path and data
                and status in (200, 206) and corrupted(self.path)):
            b = bytearray(data)
            b[len(b) // 2] ^= 0x5A
            data = bytes(b)
        sent = len(data) if self.command != "HEAD" else 0
        record(f"{self.command} {self.path} range={rng} status={status} bytes={sent}")
        self.send_response(status)
        for k, v in rheaders:
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        slow = lines(LOG + ".slow") if "/blobs/" in self.path else []
        step = 65536 if slow else max(len(data), 1)
        for i in range(0, len(data) if self.command != "HEAD" else 0, step):
            self.wfile.write(data[i:i + step])
            if slow:
                time.sleep(step / int(slow[0]))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


srv = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy)
srv.daemon_threads = True
srv.serve_forever()
