"""A deps.dev-compatible server on 127.0.0.1: ``GET /v3/systems/{s}/packages/{n}/versions/{v}``.

``licenses`` maps (system, name, version) to the licenses answered; anything else is 404.
``fail`` holds status codes answered (one per request) before the normal answer; ``paths``
records every request path so tests can count requests and check URL encoding.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


@dataclass
class DepsDevState:
    licenses: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    fail: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def deps_dev_server(state: DepsDevState) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            with state.lock:
                state.paths.append(self.path)
                status = state.fail.pop(0) if state.fail else None
            if status is not None:
                self.send_error(status)
                return
            parts = self.path.split("/")
            # ['', 'v3', 'systems', s, 'packages', name, 'versions', version]
            if len(parts) != 8 or parts[1:3] != ["v3", "systems"]:
                self.send_error(404)
                return
            key = (parts[3], unquote(parts[5]), unquote(parts[7]))
            if key not in state.licenses:
                self.send_error(404)
                return
            body = json.dumps(
                {
                    "versionKey": {"system": key[0].upper(), "name": key[1], "version": key[2]},
                    "licenses": state.licenses[key],
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
