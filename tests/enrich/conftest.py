"""Fixtures of the enrich tests: a real OSV-compatible server and OSV records built in code."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mlgate.enrich.osv import OsvClient
from mlgate.model import Component, Location
from tests.servers.osv_server import OsvServer

Record = dict[str, Any]


def record(
    rid: str,
    package: str,
    *,
    ecosystem: str = "PyPI",
    introduced: str = "0",
    fixed: str | None = None,
    last_affected: str | None = None,
    versions: Sequence[str] = (),
    aliases: Sequence[str] = (),
    severity: Sequence[tuple[str, str]] = (),
    modified: str = "2024-01-01T00:00:00Z",
    range_type: str = "ECOSYSTEM",
    **extra: Any,
) -> Record:
    """A minimal valid OSV record affecting one package."""
    events: list[dict[str, str]] = [{"introduced": introduced}]
    if fixed:
        events.append({"fixed": fixed})
    if last_affected:
        events.append({"last_affected": last_affected})
    rec: Record = {
        "schema_version": "1.6.0",
        "id": rid,
        "modified": modified,
        "published": "2023-01-01T00:00:00Z",
        "aliases": list(aliases),
        "summary": f"{rid} in {package}",
        "affected": [
            {
                "package": {"ecosystem": ecosystem, "name": package},
                "ranges": [{"type": range_type, "events": events}],
                "versions": list(versions),
            }
        ],
        "references": [{"type": "ADVISORY", "url": f"https://advisories.example/{rid}"}],
    }
    if severity:
        rec["severity"] = [{"type": t, "score": s} for t, s in severity]
    rec.update(extra)
    return rec


def component(
    name: str,
    version: str | None,
    *,
    ecosystem: str = "PyPI",
    path: str = "requirements.txt",
    line: int = 1,
    spec: str | None = None,
) -> Component:
    return Component(
        ecosystem=ecosystem,
        name=name,
        version=version,
        spec=spec,
        declared_in=(Location(path, line),),
    )


@pytest.fixture
def osv_server() -> Iterator[Callable[..., OsvServer]]:
    """Start OSV-compatible servers on 127.0.0.1: ``osv_server(records, page_size=...)``."""
    started: list[OsvServer] = []

    def start(records: Any = (), **kw: Any) -> OsvServer:
        srv = OsvServer(records, **kw).start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture
def fast_client() -> Iterator[Callable[..., OsvClient]]:
    """An OSV client with test-sized timeouts and backoff (retries stay real)."""
    made: list[OsvClient] = []

    def make(url: str, **kw: Any) -> OsvClient:
        opts: dict[str, Any] = {
            "backoff": 0.01,
            "max_backoff": 0.05,
            "max_retry_after": 2.0,
            "read_timeout": 2.0,
            "connect_timeout": 2.0,
            "retries": 3,
            "concurrency": 8,
        }
        opts.update(kw)
        client = OsvClient(url, **opts)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


def write_zip(path: Path, records: Sequence[Record]) -> Path:
    import json
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for rec in records:
            zf.writestr(f"{rec['id']}.json", json.dumps(rec))
    return path
