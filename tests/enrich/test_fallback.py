"""``--osv-fallback-db``: the offline database answers only when OSV cannot be reached."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.cli import main
from mlgate.enrich.fallback import FallbackSource
from mlgate.enrich.interface import PackageQuery
from mlgate.enrich.osv import OsvClient
from mlgate.exitcodes import ExitCode
from tests.enrich.conftest import record
from tests.servers.osv_server import OsvServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ONLINE = [record("ONLINE-1", "alpha", fixed="2.0")]
OFFLINE = [record("OFFLINE-1", "alpha", fixed="3.0"), record("OFFLINE-2", "beta", fixed="9")]
QUERIES = [PackageQuery("PyPI", "alpha", "1.0"), PackageQuery("PyPI", "beta", "1.0")]


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def offline_db(tmp_path: Path) -> Path:
    folder = tmp_path / "fallback" / "PyPI"
    folder.mkdir(parents=True)
    for rec in OFFLINE:
        (folder / f"{rec['id']}.json").write_text(json.dumps(rec))
    return folder.parent


def ids(result_records: dict[PackageQuery, list[dict[str, object]]]) -> dict[str, list[object]]:
    return {q.name: sorted(r["id"] for r in recs) for q, recs in result_records.items()}


def test_unreachable_network_uses_the_fallback(
    tmp_path: Path, fast_client: Callable[..., OsvClient]
) -> None:
    source = FallbackSource(
        fast_client(closed_port_url()), offline_db(tmp_path), cache_dir=tmp_path / "cache"
    )
    result = source.lookup(QUERIES)
    assert not result.failed
    assert ids(result.records) == {"alpha": ["OFFLINE-1"], "beta": ["OFFLINE-2"]}
    assert source.describe().startswith(f"offline records in {tmp_path / 'fallback'}")
    assert "network unreachable: ConnectionError" in source.describe()
    assert source.online.counts["osv_requests"] == 0  # the probe spared the retries
    source.close()


def test_reachable_service_is_used_and_the_fallback_never_opened(
    tmp_path: Path,
    osv_server: Callable[..., OsvServer],
    fast_client: Callable[..., OsvClient],
) -> None:
    srv = osv_server(ONLINE)
    source = FallbackSource(fast_client(srv.url), offline_db(tmp_path), cache_dir=tmp_path / "c")
    result = source.lookup(QUERIES)
    assert ids(result.records) == {"alpha": ["ONLINE-1"], "beta": []}
    assert source.describe() == f"online ({srv.url})"
    assert not (tmp_path / "c").exists()  # no offline index was built
    source.close()


def test_network_failing_during_the_lookup_falls_back(
    tmp_path: Path,
    osv_server: Callable[..., OsvServer],
    fast_client: Callable[..., OsvClient],
) -> None:
    srv = osv_server(ONLINE)
    srv.hang("querybatch", times=10, seconds=1.0)  # answers after the client's read timeout
    client = fast_client(srv.url, read_timeout=0.2, retries=1)
    source = FallbackSource(client, offline_db(tmp_path), cache_dir=tmp_path / "cache")
    result = source.lookup(QUERIES)
    assert not result.failed
    assert ids(result.records) == {"alpha": ["OFFLINE-1"], "beta": ["OFFLINE-2"]}
    assert "network failed during the lookup" in source.describe()
    source.close()


def test_an_answer_of_the_service_is_not_a_network_failure(
    tmp_path: Path,
    osv_server: Callable[..., OsvServer],
    fast_client: Callable[..., OsvClient],
) -> None:
    srv = osv_server(ONLINE)
    srv.fail("querybatch", times=10, status=400)
    source = FallbackSource(fast_client(srv.url), offline_db(tmp_path), cache_dir=tmp_path / "c")
    result = source.lookup(QUERIES)
    assert sorted(q.name for q in result.failed) == ["alpha", "beta"]
    assert "HTTP 400" in result.failed[QUERIES[0]]
    assert source.describe() == f"online ({srv.url})"
    source.close()


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    )


def test_shipped_example_records_flag_the_examples_offline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What ``make demo`` does without network: example records, said to be offline."""
    tree = tmp_path / "examples"
    shutil.copytree(EXAMPLES, tree, ignore=shutil.ignore_patterns("*.pkl", "*.pt", "*.bin"))
    before = _listing(tree)
    out = tmp_path / "out" / "result.json"
    argv = ["scan", str(tree), "--exclude", "osv", "--no-models", "--osv-url", closed_port_url()]
    argv += ["--osv-fallback-db", str(tree / "osv"), "--cache-dir", str(tmp_path / "cache")]
    argv += ["--json", str(out), "--markdown", str(tmp_path / "out" / "r.md")]
    assert main(argv) == ExitCode.FINDINGS
    data = json.loads(out.read_text())
    vulns = {f["advisory"]["id"] for f in data["findings"] if f["rule_id"] == "MLG-VULN"}
    assert vulns >= {"MLGATE-EXAMPLE-2026-0001", "MLGATE-EXAMPLE-2026-0003"}
    source = data["coverage"]["source"]
    assert source.startswith(f"offline records in {tree / 'osv'} (network unreachable")
    assert data["coverage"]["checked"] == data["coverage"]["total"] > 0
    assert f"OSV: {source}" in capsys.readouterr().out
    assert "source: offline records" in (tmp_path / "out" / "r.md").read_text()
    assert _listing(tree) == before  # neither the scanned tree nor the database was written
