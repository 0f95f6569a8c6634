#!/usr/bin/python3
"""status_proxy.py -- a loopback HTTP proxy in front of a registry that
slows blob bodies down and answers 429 for chosen paths.

    status_proxy.py LISTEN_PORT UPSTREAM_ADDR LOG_FILE

Every request is forwarded to http://UPSTREAM_ADDR and logged to LOG_FILE
as "METHOD PATH STATUS".  While the file LOG_FILE + ".slow" holds a number
N, the body of every blob GET is sent at about N bytes per second (so a
test can watch a transfer in flight).  Any request whose path contains a
line of LOG_FILE + ".429" is answered 429 Too Many Requests with the
registry's error body, without reaching the registry: a rate limit.
Only for tests: loopback only, one upstream.
"""
import http.client
import http.server
import sys
import threading
import time

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
CHUNK = 64 * 1024


def lines(suffix):
    try:
        with open(LOG + suffix) as f:
            return [l.strip() for l in f if l.strip()]
    except FileNotFoundError:
        return []


def record(line):
    with lock:
        with open(LOG, "a") as f:
            f.write(line + "\n")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def too_many(self):
        body = (b'{"errors":[{"code":"TOOMANYREQUESTS",'
                b'"message":"rate limit exceeded"}]}')
        self.send_response(429)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Retry-After", "1")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def forward(self):
        if any(p in self.path for p in lines(".429")):
            record(f"{self.command} {self.path} 429")
            self.too_many()
            return
        body = None
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            body = self.rfile.read(n)
        conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = UPSTREAM
        conn.request(self.command, self.path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        record(f"{self.command} {self.path} {r.status}")
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            slow = lines(".slow")
            rate = int(slow[0]) if slow and "/blobs/" in self.path else 0
            for i in range(0, len(data), CHUNK):
                self.wfile.write(data[i:i + CHUNK])
                if rate:
                    time.sleep(CHUNK / rate)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


srv = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy)
srv.daemon_threads = True
srv.serve_forever()
