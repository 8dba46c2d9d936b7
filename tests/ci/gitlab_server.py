"""A GitLab-REST-compatible HTTP server on 127.0.0.1 for the merge-request note tests.

Speaks `GET /api/v4/user` and the notes of merge requests (`GET` paginated with GitLab's
`X-Next-Page` header, `POST`, `PUT`), checks the `PRIVATE-TOKEN` header (401 otherwise) and
records every request. `forbid_write` answers 403 to POST/PUT like a token without the api scope.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

NOTES = re.compile(r"^/api/v4/projects/([^/]+)/merge_requests/(\d+)/notes(?:/(\d+))?$")


@dataclass
class GitLabState:
    token: str = "glpat-test-token"
    user: dict[str, Any] = field(default_factory=lambda: {"id": 7, "username": "project_7_bot"})
    forbid_write: bool = False
    notes: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    next_id: int = 100
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_note(self, project: str, iid: int, body: str, author_id: int) -> dict[str, Any]:
        with self.lock:
            self.next_id += 1
            note = {"id": self.next_id, "body": body, "author": {"id": author_id}}
            self.notes.setdefault((project, iid), []).append(note)
            return note


class GitLabServer:
    def __init__(self) -> None:
        self.state = GitLabState()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/api/v4"

    def __enter__(self) -> GitLabServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                state.requests.append((method, self.path, dict(self.headers), body))
                if self.headers.get("PRIVATE-TOKEN") != state.token:
                    return self._send(401, {"message": "401 Unauthorized"})
                if url.path == "/api/v4/user" and method == "GET":
                    return self._send(200, state.user)
                m = NOTES.match(url.path)
                if not m:
                    return self._send(404, {"message": "404 Not Found"})
                key = (unquote(m.group(1)), int(m.group(2)))
                notes = state.notes.setdefault(key, [])
                if method == "GET" and m.group(3) is None:
                    query = parse_qs(url.query)
                    page = int(query.get("page", ["1"])[0])
                    per_page = min(int(query.get("per_page", ["20"])[0]), 100)
                    chunk = notes[(page - 1) * per_page : page * per_page]
                    more = page * per_page < len(notes)
                    return self._send(200, chunk, {"X-Next-Page": str(page + 1) if more else ""})
                if state.forbid_write:
                    return self._send(403, {"message": "403 Forbidden"})
                if method == "POST" and m.group(3) is None:
                    note = state.add_note(key[0], key[1], body["body"], state.user["id"])
                    return self._send(201, note)
                if method == "PUT" and m.group(3):
                    for note in notes:
                        if note["id"] == int(m.group(3)):
                            note["body"] = body["body"]
                            return self._send(200, note)
                return self._send(404, {"message": "404 Not Found"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        return Handler
