"""The enrich stage end to end: what is queried, coverage, fail-closed exit codes, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from mlgate.cli import main
from mlgate.enrich import enrich
from mlgate.enrich.osv import OsvClient
from mlgate.model import ComponentKind, Location, Severity
from mlgate.options import ScanOptions
from tests.enrich.conftest import component, record
from tests.servers.osv_server import OsvServer

Start = Callable[..., OsvServer]
Make = Callable[..., OsvClient]
RECORDS = [
    record("PYSEC-1", "alpha", fixed="2.0", aliases=["GHSA-x"]),
    record(
        "GHSA-x",
        "alpha",
        fixed="2.0",
        aliases=["PYSEC-1"],
        database_specific={"severity": "MODERATE"},
    ),
    record("PYSEC-2", "beta", fixed="1.1"),
]


def options(tmp_path: Path, url: str) -> ScanOptions:
    return ScanOptions(root=tmp_path, osv_url=url, cache_dir=tmp_path / "cache")


def test_pinned_unpinned_conda_and_models(osv_server: Start, tmp_path: Path) -> None:
    srv = osv_server(RECORDS)
    comps = [
        component("alpha", "1.0", line=1),
        component("beta", "1.1", line=2),
        component("gamma", None, spec=">=1,<3", line=3),
        component("numpy", "1.0", ecosystem="conda", path="environment.yml"),
        replace(component("model.pt", None, ecosystem=""), kind=ComponentKind.MODEL),
    ]
    out = enrich(comps, options(tmp_path, srv.url))
    assert out.coverage is not None
    assert (out.coverage.checked, out.coverage.total, out.coverage.unchecked) == (2, 2, ())
    vulns = [f for f in out.findings if f.rule_id == "MLG-VULN"]
    assert [(f.advisory.id if f.advisory else None, f.severity) for f in vulns] == [
        ("GHSA-x", Severity.MEDIUM)
    ]
    assert vulns[0].location == Location("requirements.txt", 1)
    assert vulns[0].fix == "upgrade alpha to >= 2.0"
    unpinned = [f for f in out.findings if f.rule_id == "MLG-UNPINNED"]
    assert len(unpinned) == 1
    assert unpinned[0].severity is Severity.LOW
    assert unpinned[0].kind == "inventory" and unpinned[0].advisory is None
    assert ">=1,<3" in unpinned[0].message
    assert unpinned[0].location == Location("requirements.txt", 3)
    assert out.stats["osv_not_applicable"] == 1
    # gamma was never sent to OSV as if it were pinned
    sent = [q["package"]["name"] for _, b in srv.bodies for q in b.get("queries", [])]
    assert sorted(sent) == ["alpha", "beta"]


def test_failed_lookups_are_unchecked_never_clean(
    osv_server: Start, fast_client: Make, tmp_path: Path
) -> None:
    srv = osv_server(RECORDS)
    srv.fail("querybatch", 10, status=503)
    comps = [component("alpha", "1.0"), component("clean", "1.0")]
    out = enrich(comps, options(tmp_path, srv.url), source=fast_client(srv.url, retries=1))
    assert out.coverage is not None and not out.coverage.complete
    assert out.coverage.checked == 0 and out.coverage.total == 2
    assert {ref for ref, _ in out.coverage.unchecked} == {c.bom_ref for c in comps}
    assert all("503" in why for _, why in out.coverage.unchecked)
    assert not [f for f in out.findings if f.rule_id == "MLG-VULN"]


def test_offline_database_through_options(tmp_path: Path) -> None:
    from tests.enrich.conftest import write_zip

    db = write_zip(tmp_path / "db" / "PyPI" / "all.zip", RECORDS).parent.parent
    opts = replace(options(tmp_path, ""), osv_url=None, osv_db=db)
    out = enrich([component("beta", "1.0")], opts)
    assert [f.advisory.id for f in out.findings if f.advisory] == ["PYSEC-2"]
    assert out.coverage is not None and out.coverage.complete


def test_missing_offline_database_leaves_everything_unchecked(tmp_path: Path) -> None:
    opts = replace(options(tmp_path, ""), osv_db=tmp_path / "absent")
    out = enrich([component("beta", "1.0")], opts)
    assert out.coverage is not None
    assert out.coverage.unchecked and "no such OSV database" in out.coverage.unchecked[0][1]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "requirements.txt").write_text("alpha==1.0\nbeta==1.1\ndelta>=2\n")
    return root


def test_cli_scan_reports_vulnerabilities(osv_server: Start, repo: Path, tmp_path: Path) -> None:
    srv = osv_server(RECORDS)
    out = tmp_path / "result.json"
    argv = ["-q", "scan", str(repo), "--no-models", "--osv-url", srv.url, "--no-cache"]
    rc = main([*argv, "--json", str(out), "--fail-on", "medium"])
    assert rc == 1
    data = json.loads(out.read_text())
    text = json.dumps(data)
    assert "GHSA-x" in text and "MLG-UNPINNED" in text


def test_cli_exits_2_when_osv_cannot_answer(
    osv_server: Start, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = osv_server(RECORDS)
    # A path the server does not serve: HTTP 404 on every call, which is not retried.
    base = ["-q", "scan", str(repo), "--no-models", "--osv-url", f"{srv.url}/missing"]
    assert main([*base, "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "2 of 2 packages could not be checked" in err and "HTTP 404" in err
    assert main([*base, "--no-cache", "--allow-incomplete", "--fail-on", "none"]) == 0


def test_unusable_cache_folder_only_costs_speed(osv_server: Start, tmp_path: Path) -> None:
    srv = osv_server(RECORDS)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    opts = replace(options(tmp_path, srv.url), cache_dir=blocker)
    out = enrich([component("beta", "1.0")], opts)
    assert out.coverage is not None and out.coverage.complete
    assert [f.advisory.id for f in out.findings if f.advisory] == ["PYSEC-2"]
    assert any(w.code == "osv-cache" for w in out.warnings)
