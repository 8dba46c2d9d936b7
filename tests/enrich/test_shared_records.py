"""Extra checks over the real OSV records in ../shared/osv (skipped when it is absent)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlgate.enrich.interface import PackageQuery
from mlgate.enrich.matching import ORDERED_RANGES, in_range, record_affects
from mlgate.enrich.offline import OfflineSource
from mlgate.enrich.osv import OsvClient
from mlgate.enrich.versions import InvalidVersionError, scheme_for
from tests.servers.osv_server import OsvServer

pytestmark = pytest.mark.shared


def dump(shared_dir: Path, eco: str) -> list[dict[str, Any]]:
    path = shared_dir / "osv" / eco / "all.zip"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    with zipfile.ZipFile(path) as zf:
        return [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]


def listed_versions(records: list[dict[str, Any]], eco: str) -> list[tuple[str, str, str]]:
    """(record id, package, version) for versions that ``affected[].versions`` lists."""
    out = []
    for rec in records:
        if rec.get("withdrawn"):
            continue
        for entry in rec.get("affected", []):
            if entry["package"]["ecosystem"] == eco:
                out += [(rec["id"], entry["package"]["name"], v) for v in entry.get("versions", [])]
    return out


def test_every_listed_pypi_version_is_found_offline(shared_dir: Path, tmp_path: Path) -> None:
    records = dump(shared_dir, "PyPI")
    source = OfflineSource(shared_dir / "osv" / "PyPI" / "all.zip", cache_dir=tmp_path)
    wanted: dict[PackageQuery, set[str]] = {}
    for rid, name, version in listed_versions(records, "PyPI")[::7]:  # a seventh keeps it quick
        q = PackageQuery("PyPI", source_name(name), version)
        wanted.setdefault(q, set()).add(rid)
    result = source.lookup(list(wanted))
    assert len(wanted) > 5_000
    missing = [q for q, ids in wanted.items() if not ids <= {r["id"] for r in result.records[q]}]
    assert missing == []


def source_name(name: str) -> str:
    from mlgate.model import normalize_name

    return normalize_name("PyPI", name)


@pytest.mark.parametrize(("eco", "tolerance"), [("PyPI", 0.001), ("Maven", 0.0)])
def test_ranges_alone_agree_with_versions_lists(
    shared_dir: Path, eco: str, tolerance: float
) -> None:
    """The ecosystem order and OSV's event semantics reproduce the listed versions from ranges.

    A handful of PyPI records list versions their own ranges exclude (overlapping ranges written
    by hand); the tolerance admits those and nothing systematic.
    """
    scheme = scheme_for(eco)
    assert scheme is not None
    total = wrong = 0
    for rec in dump(shared_dir, eco):
        if rec.get("withdrawn"):
            continue
        for entry in rec.get("affected", []):
            ranges = [r for r in entry.get("ranges", []) if r["type"] in ORDERED_RANGES]
            for version in entry.get("versions", []) if ranges else ():
                try:
                    scheme.key(version)
                except InvalidVersionError:
                    continue
                total += 1
                wrong += not any(in_range(version, r, scheme) for r in ranges)
    assert total > 1000
    assert wrong <= tolerance * total


def test_go_introduced_and_fixed_versions(shared_dir: Path) -> None:
    checked = 0
    for rec in dump(shared_dir, "Go"):
        for entry in rec.get("affected", []):
            name = entry["package"]["name"]
            for rng in entry.get("ranges", []):
                events = rng.get("events", [])
                intro = [e["introduced"] for e in events if "introduced" in e]
                fixed = [e["fixed"] for e in events if "fixed" in e]
                if rng["type"] != "SEMVER" or len(intro) != 1 or len(fixed) != 1:
                    continue
                if intro[0] != "0":
                    assert record_affects(rec, PackageQuery("Go", name, intro[0])), rec["id"]
                assert not record_affects(rec, PackageQuery("Go", name, "v" + fixed[0]))
                checked += 1
    assert checked > 20


def test_online_and_offline_agree_on_real_pypi_records(
    shared_dir: Path,
    tmp_path: Path,
    osv_server: Callable[..., OsvServer],
    fast_client: Callable[..., OsvClient],
) -> None:
    records = dump(shared_dir, "PyPI")
    queries: list[PackageQuery] = []
    seen: set[str] = set()
    for rec in records[::5]:
        for entry in rec.get("affected", []):
            name = source_name(entry["package"]["name"])
            versions = entry.get("versions", [])
            if name in seen or not versions:
                continue
            seen.add(name)
            queries.append(PackageQuery("PyPI", name, versions[len(versions) // 2]))
            fixes = [
                e["fixed"]
                for r in entry.get("ranges", [])
                if r["type"] == "ECOSYSTEM"
                for e in r["events"]
                if "fixed" in e
            ]
            if fixes:
                queries.append(PackageQuery("PyPI", name, fixes[-1]))
    srv = osv_server(shared_dir / "osv" / "PyPI" / "all.zip")
    online = fast_client(srv.url, concurrency=16).lookup(queries)
    offline = OfflineSource(shared_dir / "osv" / "PyPI" / "all.zip", cache_dir=tmp_path).lookup(
        queries
    )
    assert not online.failed and len(queries) > 200

    def ids(result: Any, q: PackageQuery) -> set[str]:
        return {r["id"] for r in result.records[q] if not r.get("withdrawn")}

    differ = [q for q in queries if ids(online, q) != ids(offline, q)]
    assert differ == []
    assert sum(bool(ids(offline, q)) for q in queries) > 100


def test_online_and_offline_agree_on_real_go_records(
    shared_dir: Path,
    tmp_path: Path,
    osv_server: Callable[..., OsvServer],
    fast_client: Callable[..., OsvClient],
) -> None:
    queries = set()
    for rec in dump(shared_dir, "Go"):
        for entry in rec.get("affected", []):
            for rng in entry.get("ranges", []):
                for event in rng.get("events", []):
                    for value in event.values():
                        if value != "0":
                            queries.add(PackageQuery("Go", entry["package"]["name"], value))
    ordered = sorted(queries)
    srv = osv_server(shared_dir / "osv" / "Go" / "all.zip")
    online = fast_client(srv.url).lookup(ordered)
    offline = OfflineSource(shared_dir / "osv" / "Go" / "all.zip", cache_dir=tmp_path).lookup(
        ordered
    )
    assert not online.failed and len(ordered) > 40

    def ids(result: Any, q: PackageQuery) -> set[str]:
        return {r["id"] for r in result.records[q]}

    assert [q for q in ordered if ids(online, q) != ids(offline, q)] == []
    assert sum(bool(ids(offline, q)) for q in ordered) > 10
