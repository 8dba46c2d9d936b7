"""A hostile HTTP server on 127.0.0.1 that answers every request with 200 and an endless body.

The body is a valid-looking JSON prefix (``{"licenses": ["`` then ``A`` forever) sent with chunked
transfer encoding and no Content-Length, so only a client that bounds its own reads stops.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = b"A" * 65536
CAP = 1024**3  # the server gives up after 1 GiB whatever the client does


@dataclass
class FloodState:
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def flood_server(state: FloodState) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _flood(self) -> None:
            with state.lock:
                state.requests += 1
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for part in [b'{"licenses": ["'] + [CHUNK] * (CAP // len(CHUNK)):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            except OSError:
                pass  # the client hung up: what a bounded client does
            self.close_connection = True

        do_GET = _flood
        do_POST = _flood
        do_PUT = _flood

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
