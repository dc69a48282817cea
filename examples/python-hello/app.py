"""A wakegate app in Python's standard library: serve on the socket inherited as fd 3."""
import os
import signal
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SD_LISTEN_FDS_START = 3

if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
    sys.exit("expected one socket from the LISTEN_FDS protocol; run me under wakegate")


class Hello(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def address_string(self):
        # Peers on a Unix socket have no address; the gateway passes the client's in X-Forwarded-For.
        return self.headers.get("x-forwarded-for", "-") if self.headers else "-"

    def do_GET(self):
        body = f"hello from python (pid {os.getpid()})\n".encode()
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("", 0), Hello, bind_and_activate=False)
# Replace the socket the server would have bound with the one we were handed; it already listens.
server.socket.close()
server.socket = socket.socket(fileno=SD_LISTEN_FDS_START)
# Python marks inherited fds close-on-exec only for its own; keep the listener out of any child.
os.set_inheritable(SD_LISTEN_FDS_START, False)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server.serve_forever()
