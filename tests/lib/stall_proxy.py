#!/usr/bin/python3
"""stall_proxy.py -- a loopback HTTP proxy in front of a registry that holds
back chosen blob requests.

    stall_proxy.py LISTEN_PORT UPSTREAM_ADDR LOG_FILE

Every request is forwarded to http://UPSTREAM_ADDR.  A GET of a blob whose
digest is named by a line in the file LOG_FILE + ".stall" waits, before it
is forwarded, until that line is gone from the file (so the test decides
when the network "comes back").  Each request is logged as
"METHOD PATH" to LOG_FILE, so a test can count what reached the registry.
Only for tests: loopback only, one upstream.
"""
import http.client
import http.server
import os
import sys
import threading
import time

LISTEN, UPSTREAM, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]
STALL = LOG + ".stall"
lock = threading.Lock()


def stalled(path):
    try:
        with open(STALL) as f:
            return any(l.strip() and l.strip() in path for l in f)
    except FileNotFoundError:
        return False


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def forward(self):
        with lock:
            with open(LOG, "a") as f:
                f.write(f"{self.command} {self.path}\n")
        deadline = time.time() + 120
        while self.command == "GET" and "/blobs/" in self.path and stalled(self.path):
            if time.time() > deadline:
                break
            time.sleep(0.1)
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
        self.send_response(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


srv = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy)
srv.daemon_threads = True
srv.serve_forever()
