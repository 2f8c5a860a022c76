"""A tiny stdlib HTTP service for the A/B tests: every GET but /health sleeps --delay-ms, then answers 200 with a
JSON body (with --fail: 500 at once). Run as a script: `python ab_server.py --port P --delay-ms D [--fail]`."""

from __future__ import annotations

import argparse
import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(delay_s: float, fail: bool = False) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle and the client's delayed ACK add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            broken = fail and self.path != "/health"
            if self.path != "/health" and not broken:
                time.sleep(delay_s)
            body = json.dumps({"ok": not broken, "path": self.path}).encode()
            self.send_response(500 if broken else 200)
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
    ap.add_argument("--fail", action="store_true", help="answer 500 at once (a build that fails fast)")
    ns = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ns.port), make_handler(ns.delay_ms / 1000.0, ns.fail))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
