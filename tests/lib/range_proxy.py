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
hostile registry or network would deliver; a line "DIGEST OFFSET" flips
the byte at OFFSET of the blob instead (negative: from its end), e.g. one
near the end, which a reader meets only after most of the blob.  While
LOG_FILE + ".hold" holds a number N, blob bodies stop after N bytes until
that file is gone (a download stalled mid-way, which a test can watch);
with "N cut", the connection is closed there instead, and the file
removed (a transfer broken mid-way, once).
While LOG_FILE + ".slow" holds
a number N, blob bodies are sent, and blob upload bodies read, at about
N bytes per second (a transfer a test can watch in flight); any request whose path contains a line of
LOG_FILE + ".429" is answered 429 Too Many Requests without reaching the
registry (a rate limit).  A line "[+][N ]TEXT" of LOG_FILE + ".drop"
breaks off the N-th (default: first) request whose "METHOD PATH" contains
TEXT, once: its body is read and its connection closed without an answer
(logged with status=dropped); with "+", the first half of the body is
forwarded first (a PATCH's Content-Range cut to match), as when a
connection breaks after the registry got part of the bytes.  Location headers naming the upstream are
rewritten to name the proxy, so uploads keep coming through it.  Only for
tests: loopback only, one upstream.
"""
import http.client
import http.server
import os
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


def take_drop(req):
    """None, or whether to forward half of @req's body before dropping
    it; the line that said so is counted down, and removed when used."""
    with lock:
        ls = lines(LOG + ".drop")
        for i, l in enumerate(ls):
            half = l.startswith("+")
            rest = l[1:] if half else l
            word = rest.split(" ", 1)
            n, text = (int(word[0]), word[1]) if word[0].isdigit() else (1, rest)
            if text not in req:
                continue
            if n > 1:
                ls[i] = ("+" if half else "") + "%d %s" % (n - 1, text)
            else:
                del ls[i]
            with open(LOG + ".drop", "w") as f:
                f.write("".join(x + "\n" for x in ls))
            return half if n == 1 else None
    return None


def corruption(path):
    """None, or the blob offset whose byte to flip (None: the middle)."""
    for l in lines(CORRUPT):
        word = l.split()
        if word[0] in path:
            return int(word[1]) if len(word) > 1 else "middle"
    return None


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
        slow = lines(LOG + ".slow") if "/blobs/" in self.path else []
        if n and slow:
            # An upload read at the slow rate: the client's send waits.
            body = b""
            while len(body) < n:
                chunk = self.rfile.read(min(65536, n - len(body)))
                if not chunk:
                    break
                body += chunk
                time.sleep(len(chunk) / int(slow[0]))
        elif n:
            body = self.rfile.read(n)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        headers["Host"] = UPSTREAM
        drop = take_drop(f"{self.command} {self.path}")
        if drop is not None:
            half = (body or b"")[:n // 2] if drop else b""
            headers["Content-Length"] = str(len(half))
            cr = self.headers.get("Content-Range")
            if cr and half:
                start = int(cr.split("-")[0])
                headers["Content-Range"] = f"{start}-{start + len(half) - 1}"
            if half:
                conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
                conn.request(self.command, self.path, body=half, headers=headers)
                conn.getresponse().read()
                conn.close()
            record(f"{self.command} {self.path} range={rng} status=dropped bytes={len(half)}")
            self.close_connection = True
            return
        try:
            conn = http.client.HTTPConnection(UPSTREAM, timeout=60)
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
                and status in (200, 206) and corruption(self.path) is not None):
            at = corruption(self.path)
            b = bytearray(data)
            if at == "middle":
                b[len(b) // 2] ^= 0x5A
            else:
                # OFFSET is the blob's: a Range answer starts further on
                first = 0
                for k, v in rheaders:
                    if k.lower() == "content-range":
                        first = int(v.split()[1].split("-")[0])
                        total = int(v.split("/")[1])
                        break
                else:
                    total = len(b)
                pos = (at if at >= 0 else total + at) - first
                if 0 <= pos < len(b):
                    b[pos] ^= 0x5A
            data = bytes(b)
        sent = len(data) if self.command != "HEAD" else 0
        record(f"{self.command} {self.path} range={rng} status={status} bytes={sent}")
        self.send_response(status)
        for k, v in rheaders:
            if k.lower() == "location":
                v = v.replace("//" + UPSTREAM + "/", "//127.0.0.1:%d/" % LISTEN)
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        slow = lines(LOG + ".slow") if "/blobs/" in self.path else []
        hold = lines(LOG + ".hold") if "/blobs/" in self.path else []
        step = 65536 if slow or hold else max(len(data), 1)
        for i in range(0, len(data) if self.command != "HEAD" else 0, step):
            cut = int(hold[0].split()[0]) - i if hold else -1
            if 0 <= cut < step and hold[0].endswith(" cut"):
                self.wfile.write(data[i:i + cut])
                self.wfile.flush()
                try:
                    os.remove(LOG + ".hold")
                except FileNotFoundError:
                    pass
                record(f"{self.command} {self.path} range={rng} status=cut bytes={i + cut}")
                self.close_connection = True
                return
            if 0 <= cut < step:
                # the first bytes, then nothing until .hold is gone
                self.wfile.write(data[i:i + cut])
                self.wfile.flush()
                deadline = time.time() + 120
                while lines(LOG + ".hold") and time.time() < deadline:
                    time.sleep(0.05)
                hold = []
                self.wfile.write(data[i + cut:i + step])
            else:
                self.wfile.write(data[i:i + step])
            if slow:
                time.sleep(step / int(slow[0]))

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = forward


srv = http.server.ThreadingHTTPServer(("127.0.0.1", LISTEN), Proxy)
srv.daemon_threads = True
srv.serve_forever()
