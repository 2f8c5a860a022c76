"""A tiny stdlib HTTP service for the A/B tests: every GET sleeps --delay-ms (plus a little CPU work), then answers
200 with a JSON body. Run as a script: `python ab_server.py --port P --delay-ms D`."""

from __future__ import annotations

import argparse
import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(delay_s: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle and the client's delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            if self.path != "/health":
                time.sleep(delay_s)
            body = json.dumps({"ok": True, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--delay-ms", type=float, default=2.0)
    ns = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ns.port), make_handler(ns.delay_ms / 1000.0))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
