"""A GitHub-REST-compatible HTTP server on 127.0.0.1, for the publishing tests.

Speaks the slice of the API that mlgate uses, with GitHub's shapes and status codes:
``GET /user``; ``GET /repos/{o}/{r}``; issue comments (``GET`` paginated with ``Link`` headers,
``POST``, ``PATCH``, ``DELETE``); ``POST /repos/{o}/{r}/code-scanning/sarifs`` (202 with an id,
body checked like GitHub does) and ``GET .../sarifs/{id}`` (``pending`` for ``pending_polls``
polls, then ``complete`` or ``failed``). Every request is recorded in ``requests``.

Behaviour switches: ``installation_token`` (``GET /user`` answers 403 as it does for the
workflow's GITHUB_TOKEN), ``forbid`` (route names answering 403 "Resource not accessible by
integration"), ``not_found`` (route names answering 404), ``sarif_errors`` (processing fails).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/api/v3"  # like GitHub Enterprise Server: the client must honour base_url
FORBIDDEN = {
    "message": "Resource not accessible by integration",
    "documentation_url": "https://docs.github.com/rest",
    "status": "403",
}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class GitHubState:
    token: str = "ghs_test_token"
    login: str = "mlgate-bot"
    installation_token: bool = False
    forbid: set[str] = field(default_factory=set)
    not_found: set[str] = field(default_factory=set)
    pending_polls: int = 1
    sarif_errors: list[str] = field(default_factory=list)
    comments: dict[int, dict[str, Any]] = field(default_factory=dict)  # id -> comment
    comment_issue: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (repo, n)
    sarifs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    next_id: int = 1000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_comment(self, repo: str, number: int, body: str, login: str, base: str) -> int:
        with self.lock:
            self.next_id += 1
            cid = self.next_id
        self.comments[cid] = {
            "id": cid,
            "node_id": f"IC_{cid}",
            "body": body,
            "user": {
                "login": login,
                "id": 41898282 if login.endswith("[bot]") else 7,
                "type": "Bot" if login.endswith("[bot]") else "User",
            },
            "url": f"{base}/repos/{repo}/issues/comments/{cid}",
            "html_url": f"https://github.example/{repo}/pull/{number}#issuecomment-{cid}",
            "issue_url": f"{base}/repos/{repo}/issues/{number}",
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        self.comment_issue[cid] = (repo, number)
        return cid

    def comments_of(self, repo: str, number: int) -> list[dict[str, Any]]:
        return [
            self.comments[c]
            for c, where in self.comment_issue.items()
            if where == (repo, number) and c in self.comments
        ]

    def decoded_sarifs(self) -> list[dict[str, Any]]:
        return [entry["log"] for entry in self.sarifs.values()]


class _Handler(BaseHTTPRequestHandler):
    server: GitHubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    # -- plumbing ---------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _route(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path = parts.path
        body = self._body() if method in ("POST", "PATCH") else None
        state.requests.append(
            Recorded(method, path, parse_qs(parts.query), dict(self.headers.items()), body)
        )
        if not path.startswith(PREFIX):
            return self._send(404, {"message": "Not Found"})
        path = path[len(PREFIX) :]
        auth = self.headers.get("Authorization", "")
        if auth not in (f"token {state.token}", f"Bearer {state.token}"):
            return self._send(401, {"message": "Bad credentials"})
        for pattern, name, handler in _ROUTES:
            m = re.fullmatch(pattern, path)
            if m and handler.__name__.startswith(method.lower()):
                if name in state.forbid:
                    return self._send(403, FORBIDDEN)
                if name in state.not_found:
                    return self._send(404, {"message": "Not Found"})
                return handler(self, body, parse_qs(parts.query), *m.groups())
        return self._send(404, {"message": "Not Found"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    @property
    def base(self) -> str:
        return self.server.url

    # -- routes -----------------------------------------------------------------------------
    def get_user(self, body: Any, query: dict[str, list[str]]) -> None:
        state = self.server.state
        if state.installation_token:
            return self._send(403, FORBIDDEN)
        return self._send(200, {"login": state.login, "id": 7, "type": "User"})

    def get_repo(self, body: Any, query: dict[str, list[str]], repo: str) -> None:
        return self._send(
            200,
            {
                "id": 1,
                "name": repo.split("/")[1],
                "full_name": repo,
                "url": f"{self.base}/repos/{repo}",
            },
        )

    def get_comments(self, body: Any, query: dict[str, list[str]], repo: str, n: str) -> None:
        items = self.server.state.comments_of(repo, int(n))
        per_page = int((query.get("per_page") or ["30"])[0])
        page = int((query.get("page") or ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            url = f"{self.base}/repos/{repo}/issues/{n}/comments?per_page={per_page}"
            last = (len(items) + per_page - 1) // per_page
            headers["Link"] = (
                f'<{url}&page={page + 1}>; rel="next", <{url}&page={last}>; rel="last"'
            )
        return self._send(200, chunk, headers)

    def post_comment(self, body: Any, query: dict[str, list[str]], repo: str, n: str) -> None:
        state = self.server.state
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return self._send(422, {"message": "Validation Failed"})
        if len(body["body"]) > 65536:
            return self._send(422, {"message": "Body is too long (maximum is 65536 characters)"})
        login = "github-actions[bot]" if state.installation_token else state.login
        cid = state.add_comment(repo, int(n), body["body"], login, self.base)
        return self._send(201, state.comments[cid])

    def patch_comment(self, body: Any, query: dict[str, list[str]], repo: str, cid: str) -> None:
        comment = self.server.state.comments.get(int(cid))
        if comment is None:
            return self._send(404, {"message": "Not Found"})
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return self._send(422, {"message": "Validation Failed"})
        comment["body"] = body["body"]
        comment["updated_at"] = "2026-01-02T00:00:00Z"
        return self._send(200, comment)

    def delete_comment(self, body: Any, query: dict[str, list[str]], repo: str, cid: str) -> None:
        if self.server.state.comments.pop(int(cid), None) is None:
            return self._send(404, {"message": "Not Found"})
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        return None

    def post_sarif(self, body: Any, query: dict[str, list[str]], repo: str) -> None:
        if not isinstance(body, dict):
            return self._send(400, {"message": "Problems parsing JSON"})
        sha, ref = body.get("commit_sha", ""), body.get("ref", "")
        if not re.fullmatch(r"[0-9a-fA-F]{40}", str(sha)) or not str(ref).startswith("refs/"):
            return self._send(422, {"message": "Invalid request: commit_sha or ref"})
        try:
            log = json.loads(gzip.decompress(base64.b64decode(body["sarif"], validate=True)))
        except (KeyError, ValueError, OSError):
            return self._send(400, {"message": "Invalid request: sarif is not gzip+base64 JSON"})
        sid = str(uuid.uuid4())
        self.server.state.sarifs[sid] = {"body": body, "log": log, "polls": 0}
        url = f"{self.base}/repos/{repo}/code-scanning/sarifs/{sid}"
        return self._send(202, {"id": sid, "url": url})

    def get_sarif(self, body: Any, query: dict[str, list[str]], repo: str, sid: str) -> None:
        state = self.server.state
        entry = state.sarifs.get(sid)
        if entry is None:
            return self._send(404, {"message": "Not Found"})
        entry["polls"] += 1
        if entry["polls"] <= state.pending_polls:
            return self._send(200, {"processing_status": "pending", "analyses_url": None})
        if state.sarif_errors:
            return self._send(
                200,
                {"processing_status": "failed", "errors": state.sarif_errors, "analyses_url": None},
            )
        return self._send(
            200,
            {
                "processing_status": "complete",
                "analyses_url": f"{self.base}/repos/{repo}/code-scanning/analyses?sarif_id={sid}",
            },
        )


_REPO = r"/repos/([^/]+/[^/]+)"
_ROUTES: list[tuple[str, str, Any]] = [
    (r"/user", "user", _Handler.get_user),
    (_REPO, "repo", _Handler.get_repo),
    (_REPO + r"/issues/(\d+)/comments", "comments", _Handler.get_comments),
    (_REPO + r"/issues/(\d+)/comments", "comments", _Handler.post_comment),
    (_REPO + r"/issues/comments/(\d+)", "comments", _Handler.patch_comment),
    (_REPO + r"/issues/comments/(\d+)", "comments", _Handler.delete_comment),
    (_REPO + r"/code-scanning/sarifs", "sarifs", _Handler.post_sarif),
    (_REPO + r"/code-scanning/sarifs/([^/]+)", "sarifs", _Handler.get_sarif),
]


class GitHubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: GitHubState | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state or GitHubState()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The API base URL (what GITHUB_API_URL holds on GHES)."""
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}{PREFIX}"

    def __enter__(self) -> GitHubServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
