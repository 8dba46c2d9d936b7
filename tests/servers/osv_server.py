"""An OSV-API-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

Speaks ``POST /v1/querybatch`` (ids and ``modified`` only, per-query ``next_page_token``),
``POST /v1/query`` (full records, paginated) and ``GET /v1/vulns/{id}``, plus plain files
(``server.files``) for dump downloads. Records come from a folder of JSON files, a dump zip, or a
list. Matching is this module's own, deliberately independent of mlgate's: ``versions`` lists and,
for PyPI, ECOSYSTEM ranges through ``packaging``; SEMVER ranges through a small numeric order.

Fault injection, per route (``querybatch``, ``query``, ``vulns``, ``files``): ``fail`` (status
bursts with an optional ``Retry-After``), ``truncate`` (body cut short), ``invalid_json``,
``hang`` (answer after a delay: a client timeout); ``not_found`` ids; ``latency`` added to every
request; ``counts`` of requests per route.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version


def load_records(source: Path | Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, Path):
        if source.is_dir():
            return [json.loads(p.read_text()) for p in sorted(source.rglob("*.json"))]
        with zipfile.ZipFile(source) as zf:
            return [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]
    return list(source)


def _norm(ecosystem: str, name: str) -> str:
    if ecosystem == "PyPI":
        return canonicalize_name(name)
    return name.lower() if ecosystem == "npm" else name


def _semver(text: str) -> tuple[Any, ...]:
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)(?:-([^+]*))?", text)
    if not m:
        raise ValueError(text)
    nums = tuple(int(m.group(i)) for i in (1, 2, 3))
    pre = m.group(4)
    if pre is None:
        return (nums, 1, ())
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (nums, 0, ids)


def _in_range(version: str, rng: dict[str, Any], parse: Any) -> bool:
    """Affected when some 'introduced' at or below v is not followed (up to v) by an end."""
    try:
        v = parse(version)
    except (InvalidVersion, ValueError):
        return False
    points = []
    state = False
    for event in rng.get("events", []):
        for kind, value in event.items():
            if kind == "introduced" and value == "0":
                state = True  # from the very first version, prereleases of 0.0.0 included
                continue
            try:
                points.append((parse(value), kind))
            except (InvalidVersion, ValueError):
                continue
    for key, kind in sorted(points, key=lambda p: p[0]):
        if kind == "introduced" and key <= v:
            state = True
        elif (
            (kind == "fixed" and key <= v)
            or (kind == "last_affected" and key < v)
            or (kind == "limit" and key <= v)
        ):
            state = False
    return state


def server_affects(record: dict[str, Any], ecosystem: str, name: str, version: str) -> bool:
    for aff in record.get("affected", []):
        pkg = aff.get("package", {})
        if pkg.get("ecosystem") != ecosystem:
            continue
        if _norm(ecosystem, pkg.get("name", "")) != _norm(ecosystem, name):
            continue
        if version in aff.get("versions", []):
            return True
        for rng in aff.get("ranges", []):
            if rng.get("type") == "ECOSYSTEM" and ecosystem == "PyPI":
                if _in_range(version, rng, Version):
                    return True
            elif rng.get("type") == "SEMVER" and _in_range(version, rng, _semver):
                return True
    return False


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # a client opening a hundred connections at once is not refused
    daemon_threads = True


class OsvServer:
    """``with OsvServer(records) as srv: srv.url`` -> ``http://127.0.0.1:PORT``."""

    def __init__(
        self,
        records: Path | Iterable[dict[str, Any]] = (),
        *,
        page_size: int | None = None,
        latency: float = 0.0,
    ) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.by_package: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.page_size = page_size
        self.latency = latency
        self.files: dict[str, bytes] = {}
        self.not_found: set[str] = set()
        self.counts: Counter[str] = Counter()
        self.bodies: list[tuple[str, Any]] = []
        self._faults: dict[str, list[tuple[str, Any]]] = defaultdict(list)
        self._lock = threading.Lock()
        self.add(load_records(records) if isinstance(records, Path) else records)
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        for rec in records:
            self.records[rec["id"]] = rec
            for aff in rec.get("affected", []):
                pkg = aff.get("package", {})
                key = (
                    pkg.get("ecosystem", ""),
                    _norm(pkg.get("ecosystem", ""), pkg.get("name", "")),
                )
                if rec["id"] not in self.by_package[key]:
                    self.by_package[key].append(rec["id"])

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OsvServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> OsvServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- fault injection ---------------------------------------------------------------------
    def fail(self, route: str, times: int = 1, status: int = 503, retry_after: str | None = None):
        self._faults[route] += [("status", (status, retry_after))] * times

    def truncate(self, route: str, times: int = 1) -> None:
        self._faults[route] += [("truncate", None)] * times

    def invalid_json(self, route: str, times: int = 1) -> None:
        self._faults[route] += [("invalid", None)] * times

    def hang(self, route: str, times: int = 1, seconds: float = 1.0) -> None:
        self._faults[route] += [("hang", seconds)] * times

    def _next_fault(self, route: str) -> tuple[str, Any] | None:
        with self._lock:
            self.counts[route] += 1
            self.counts["total"] += 1
            queue = self._faults.get(route)
            return queue.pop(0) if queue else None

    # -- the API -----------------------------------------------------------------------------
    def match(self, query: dict[str, Any]) -> list[str]:
        pkg = query.get("package") or {}
        version = query.get("version")
        if "purl" in pkg:
            m = re.match(r"pkg:pypi/([^@]+)@(.+)", pkg["purl"])
            if not m:
                return []
            eco, name, version = "PyPI", m.group(1), m.group(2)
        else:
            eco, name = pkg.get("ecosystem", ""), pkg.get("name", "")
        ids = self.by_package.get((eco, _norm(eco, name)), [])
        return [i for i in ids if version and server_affects(self.records[i], eco, name, version)]

    def page(self, ids: list[str], token: str | None) -> tuple[list[str], str | None]:
        start = int(token or 0)
        if self.page_size is None:
            return ids[start:], None
        end = start + self.page_size
        return ids[start:end], (str(end) if end < len(ids) else None)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def handle(self) -> None:
                # A client that gave up (a timeout test) has nobody left to answer.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    super().handle()

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None):
                fault = getattr(self, "fault", None)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                if fault and fault[0] == "truncate":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(body[: max(1, len(body) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(body)

            def _route(self, route: str) -> bool:
                """Apply latency and any queued fault; True when the fault already answered."""
                if server.latency:
                    time.sleep(server.latency)
                self.fault = server._next_fault(route)
                if self.fault is None:
                    return False
                kind, arg = self.fault
                if kind == "status":
                    status, retry_after = arg
                    headers = {"Retry-After": retry_after} if retry_after is not None else {}
                    self._send(status, b'{"code":14,"message":"unavailable"}', headers)
                    return True
                if kind == "invalid":
                    self._send(200, b"<html>not json</html>")
                    return True
                if kind == "hang":
                    time.sleep(arg)
                return False

            def _json(self, data: Any) -> None:
                self._send(200, json.dumps(data).encode())

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                data = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.bodies.append((self.path, data))
                return data

            def do_POST(self) -> None:
                if self.path == "/v1/querybatch":
                    body = self._body()
                    if self._route("querybatch"):
                        return
                    results = []
                    for q in body.get("queries", []):
                        ids, token = server.page(server.match(q), q.get("page_token"))
                        res: dict[str, Any] = {}
                        if ids:
                            res["vulns"] = [
                                {"id": i, "modified": server.records[i].get("modified", "")}
                                for i in ids
                            ]
                        if token:
                            res["next_page_token"] = token
                        results.append(res)
                    self._json({"results": results})
                elif self.path == "/v1/query":
                    body = self._body()
                    if self._route("query"):
                        return
                    ids, token = server.page(server.match(body), body.get("page_token"))
                    res = {"vulns": [server.records[i] for i in ids]} if ids else {}
                    if token:
                        res["next_page_token"] = token
                    self._json(res)
                else:
                    self._send(404, b'{"code":5,"message":"Not found"}')

            def do_GET(self) -> None:
                if self.path.startswith("/v1/vulns/"):
                    if self._route("vulns"):
                        return
                    # ids may hold ':' (Rocky's RLSA-2024:1234), sent percent-encoded
                    rid = unquote(self.path.removeprefix("/v1/vulns/"))
                    if rid in server.records and rid not in server.not_found:
                        self._json(server.records[rid])
                    else:
                        self._send(404, b'{"code":5,"message":"Bug not found."}')
                elif self.path in server.files:
                    if self._route("files"):
                        return
                    self._send(200, server.files[self.path], {"Content-Type": "application/zip"})
                else:
                    self._send(404, b"{}")

        return Handler
