"""An interop upstream on Python's http.server, every framing written by hand.

Usage: python3 upstream_httpserver.py PLAN.json
Prints the port it bound (127.0.0.1, port 0) as its first stdout line, then serves until killed.
PLAN.json (written by the Go test) names the bodies folder, the chunk sizes, the trailer, the ETag,
the Link of the early hints and the SSE events: every upstream answers the same paths alike.
"""

import hashlib
import http.server
import json
import os
import socket
import struct
import sys
import time

with open(sys.argv[1]) as f:
    PLAN = json.load(f)


def body(name):
    with open(os.path.join(PLAN["bodies"], name), "rb") as f:
        return f.read()


BODIES = {n: body(n) for n in os.listdir(PLAN["bodies"])}


def pieces(data, sizes):
    """Cuts data into pieces of the given sizes, the last size repeating."""
    out, i, k = [], 0, 0
    while i < len(data):
        n = sizes[min(k, len(sizes) - 1)]
        out.append(data[i:i + n])
        i += n
        k += 1
    return out


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def head(self, status, headers=()):
        self.send_response(status)
        self.send_header("X-Upstream-Conn", str(self.client_address[1]))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailer fields
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def reset(self):
        """Ends the connection with a RST: SO_LINGER 0, and no FIN before it."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()  # the real close (and the RST) comes when rfile lets go in finish()
        self.close_connection = True

    def do_HEAD(self):
        if self.path == "/cl":
            self.head(200, [("Content-Length", str(len(BODIES["cl"]))), ("Content-Type", "text/plain")])
        else:
            self.head(404, [("Content-Length", "0")])

    def do_GET(self):
        p = self.path
        if p == "/cl":
            self.head(200, [("Content-Length", str(len(BODIES["cl"]))), ("Content-Type", "text/plain")])
            self.wfile.write(BODIES["cl"])
        elif p in ("/chunked", "/chunked-1m", "/chunked-trailers"):
            name = p[1:]
            headers = [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")]
            if name == "chunked-trailers":
                headers.append(("Trailer", PLAN["trailer_name"]))
            self.head(200, headers)
            for piece in pieces(BODIES[name], PLAN["chunks"][name]):
                self.wfile.write(chunk(piece))
            if name == "chunked-trailers":
                self.wfile.write(b"0\r\n%s: %s\r\n\r\n" % (PLAN["trailer_name"].encode(), PLAN["trailer_value"].encode()))
            else:
                self.wfile.write(b"0\r\n\r\n")
        elif p == "/chunked-empty":
            self.head(200, [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")])
            self.wfile.write(b"0\r\n\r\n")
        elif p == "/close":
            self.head(200, [("Connection", "close"), ("Content-Type", "text/plain")])
            for piece in pieces(BODIES["close"], [1000]):
                self.wfile.write(piece)
            self.close_connection = True
        elif p == "/204":
            self.head(204)
        elif p == "/304":
            if self.headers.get("If-None-Match") == PLAN["etag"]:
                self.head(304, [("ETag", PLAN["etag"])])
            else:
                self.head(200, [("ETag", PLAN["etag"]), ("Content-Length", "0")])
        elif p == "/early-hints":
            self.send_response_only(103)
            self.send_header("Link", PLAN["link"])
            self.end_headers()
            self.head(200, [("Link", PLAN["link"]), ("Content-Length", str(len(BODIES["early-hints"])))])
            self.wfile.write(BODIES["early-hints"])
        elif p == "/sse":
            # Close-delimited: the stream ends when the connection does.
            self.head(200, [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("Connection", "close")])
            for i, ev in enumerate(PLAN["sse_events"]):
                if i:
                    time.sleep(PLAN["sse_pause_ms"] / 1000)
                self.wfile.write(ev.encode())
            self.close_connection = True
        elif p == "/cut-cl":
            data = BODIES["cut-cl"]
            self.head(200, [("Content-Length", str(len(data))), ("Content-Type", "text/plain")])
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True  # a FIN after half the announced length
        elif p == "/cut-chunked":
            self.head(200, [("Transfer-Encoding", "chunked"), ("Content-Type", "text/plain")])
            data = BODIES["cut-chunked"]
            for piece in pieces(data[: len(data) // 2], [1000]):
                self.wfile.write(chunk(piece))
            self.close_connection = True  # a FIN without the last chunk
        elif p == "/cut-close":
            self.head(200, [("Connection", "close"), ("Content-Type", "text/plain")])
            data = BODIES["cut-close"]
            self.wfile.write(data[: len(data) // 2])
            self.reset()
        else:
            self.head(404, [("Content-Length", "0")])

    def do_POST(self):
        data = self.read_body()  # http.server has sent 100 Continue itself when asked
        if self.path == "/echo":
            self.head(200, [("Content-Length", str(len(data))), ("Content-Type", "application/octet-stream")])
            self.wfile.write(data)
        elif self.path == "/continue":
            out = ("len=%d sha256=%s" % (len(data), hashlib.sha256(data).hexdigest())).encode()
            self.head(200, [("Content-Length", str(len(out))), ("Content-Type", "text/plain")])
            self.wfile.write(out)
        else:
            self.head(404, [("Content-Length", "0")])


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
print(server.server_address[1], flush=True)
server.serve_forever()
