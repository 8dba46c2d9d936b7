"""The offline source: dump layouts, the SQLite index and its invalidation, parity with online."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.enrich.interface import PackageQuery, SourceError
from mlgate.enrich.offline import OfflineSource
from mlgate.enrich.osv import OsvClient
from tests.enrich.conftest import record, write_zip
from tests.servers.osv_server import OsvServer

RECORDS = [
    record("PYSEC-1", "alpha", fixed="2.0", aliases=["GHSA-a1"]),
    record("GHSA-a1", "alpha", fixed="2.0", aliases=["PYSEC-1"]),
    record("PYSEC-2", "Alpha_Pkg", introduced="1.0", last_affected="1.4"),
    record("PYSEC-3", "beta", fixed="1.0", withdrawn="2024-03-01T00:00:00Z"),
    record("GHSA-n1", "left-pad", ecosystem="npm", fixed="1.3.0", range_type="SEMVER"),
    record("GO-1", "example.com/mod", ecosystem="Go", fixed="1.2.0", range_type="SEMVER"),
    record(
        "GHSA-m1",
        "org.example:lib",
        ecosystem="Maven",
        fixed="2.0-rc1",
        versions=["1.0", "2.0-alpha1", "2.0-beta1"],
    ),
]
QUERIES = [
    PackageQuery("PyPI", "alpha", "1.9"),
    PackageQuery("PyPI", "alpha", "2.0"),
    PackageQuery("PyPI", "alpha-pkg", "1.2"),
    PackageQuery("PyPI", "alpha-pkg", "1.5"),
    PackageQuery("PyPI", "beta", "0.5"),
    PackageQuery("npm", "left-pad", "1.2.9"),
    PackageQuery("Go", "example.com/mod", "1.1.0"),
    PackageQuery("Maven", "org.example:lib", "2.0-beta1"),
    PackageQuery("Maven", "org.example:lib", "2.0"),
]
EXPECTED = {
    QUERIES[0]: ["GHSA-a1", "PYSEC-1"],
    QUERIES[1]: [],
    QUERIES[2]: ["PYSEC-2"],
    QUERIES[3]: [],
    QUERIES[4]: [],  # withdrawn
    QUERIES[5]: ["GHSA-n1"],
    QUERIES[6]: ["GO-1"],
    QUERIES[7]: ["GHSA-m1"],
    QUERIES[8]: [],
}


def found(
    source: OfflineSource | OsvClient, queries: list[PackageQuery]
) -> dict[PackageQuery, list[str]]:
    result = source.lookup(queries)
    assert not result.failed
    return {
        q: sorted(r["id"] for r in recs if not r.get("withdrawn"))
        for q, recs in result.records.items()
    }


@pytest.mark.parametrize("layout", ["ecosystem-zips", "one-zip", "json-folder"])
def test_layouts(tmp_path: Path, layout: str) -> None:
    db = tmp_path / "db"
    if layout == "ecosystem-zips":
        for eco in ("PyPI", "npm", "Go", "Maven"):
            recs = [r for r in RECORDS if r["affected"][0]["package"]["ecosystem"] == eco]
            write_zip(db / eco / "all.zip", recs)
        path = db
    elif layout == "one-zip":
        path = write_zip(db / "all.zip", RECORDS)
    else:
        for rec in RECORDS:
            (db / "records").mkdir(parents=True, exist_ok=True)
            (db / "records" / f"{rec['id']}.json").write_text(json.dumps(rec))
        path = db
    source = OfflineSource(path, cache_dir=tmp_path / "cache")
    assert found(source, QUERIES) == EXPECTED


def test_index_is_reused_and_rebuilt_when_the_dump_changes(tmp_path: Path) -> None:
    dump = write_zip(tmp_path / "db" / "PyPI" / "all.zip", RECORDS[:3])
    first = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
    assert first.rebuilt and first.index_path.is_relative_to(tmp_path / "cache")
    first.close()
    second = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
    assert not second.rebuilt
    assert found(second, QUERIES[:1]) == {QUERIES[0]: ["GHSA-a1", "PYSEC-1"]}
    second.close()
    write_zip(dump, [record("PYSEC-7", "alpha", fixed="3.0")])
    os.utime(dump, ns=(1, 1))  # a different mtime even on coarse file systems
    third = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
    assert third.rebuilt and third.index_path != first.index_path
    assert found(third, QUERIES[:1]) == {QUERIES[0]: ["PYSEC-7"]}
    # the index of the earlier state is dropped: the cache does not grow with every update
    assert sorted(p.name for p in third.index_path.parent.iterdir()) == [third.index_path.name]


def _listing(folder: Path) -> list[tuple[str, int, int]]:
    return sorted(
        (str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
    )


@pytest.mark.parametrize("layout", ["ecosystem-zips", "one-zip", "json-folder"])
def test_read_only_database_is_never_written(tmp_path: Path, layout: str) -> None:
    db = tmp_path / "db"
    target = db
    if layout == "ecosystem-zips":
        write_zip(db / "PyPI" / "all.zip", RECORDS[:3])
    elif layout == "one-zip":  # the index once went beside the zip: .all.zip.mlgate-osv-index
        target = write_zip(db / "PyPI" / "all.zip", RECORDS[:3])
    else:
        (db / "PyPI").mkdir(parents=True)
        for rec in RECORDS[:3]:
            (db / "PyPI" / f"{rec['id']}.json").write_text(json.dumps(rec))
    folders = [db, *(p for p in db.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    before = _listing(db)
    try:
        # As root (CI) the mode stops nothing: the listing below is what proves no write.
        for _ in range(2):
            source = OfflineSource(target, cache_dir=tmp_path / "cache")
            assert found(source, QUERIES[:1]) == {QUERIES[0]: ["GHSA-a1", "PYSEC-1"]}
            source.close()
            assert source.index_path.is_relative_to(tmp_path / "cache")
        assert not source.rebuilt  # the second run reused the first run's index
        assert _listing(db) == before
    finally:
        for folder in folders:
            folder.chmod(0o755)


def test_two_runs_building_the_index_at_once(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    write_zip(tmp_path / "db" / "PyPI" / "all.zip", RECORDS[:3])

    def run(_: int) -> tuple[Path, dict[PackageQuery, list[str]]]:
        source = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
        try:
            return source.index_path, found(source, QUERIES[:3])
        finally:
            source.close()

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(4)))
    assert {path for path, _ in results} == {results[0][0]}
    assert all(answer == {q: EXPECTED[q] for q in QUERIES[:3]} for _, answer in results)
    # only the index itself is left: no temporary file of a losing writer
    assert [p.name for p in (tmp_path / "cache" / "osv-index").iterdir()] == [results[0][0].name]


def test_malformed_records_warn_and_the_rest_is_used(tmp_path: Path) -> None:
    import zipfile

    path = write_zip(tmp_path / "all.zip", RECORDS[:1])
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("BROKEN-1.json", "{not json")
        zf.writestr("BROKEN-2.json", json.dumps({"id": "BROKEN-2", "affected": 7}))
    source = OfflineSource(path, cache_dir=tmp_path / "cache")
    result = source.lookup(QUERIES[:1])
    assert [r["id"] for r in result.records[QUERIES[0]]] == ["PYSEC-1"]
    where = sorted(w.path for w in result.warnings)
    assert len(where) == 2 and where[0].endswith("!BROKEN-1.json")


def test_missing_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        OfflineSource(tmp_path / "nowhere", cache_dir=tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError):
        OfflineSource(tmp_path / "empty", cache_dir=tmp_path)


def test_online_and_offline_agree(
    tmp_path: Path,
    osv_server: Callable[..., OsvServer],
    fast_client: Callable[..., OsvClient],
) -> None:
    live = [r for r in RECORDS if not r.get("withdrawn")]
    srv = osv_server(live)
    online = found(fast_client(srv.url), QUERIES)
    dump = write_zip(tmp_path / "all.zip", live)
    offline = found(OfflineSource(dump, cache_dir=tmp_path), QUERIES)
    assert online == offline == EXPECTED


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    write_zip(tmp_path / "db" / "PyPI" / "all.zip", RECORDS[:3])
    first = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
    first.close()
    first.index_path.write_bytes(b"this is not SQLite")
    again = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
    assert again.rebuilt
    assert found(again, QUERIES[:1]) == {QUERIES[0]: ["GHSA-a1", "PYSEC-1"]}


def test_scan_with_a_read_only_database_writes_nothing_there(tmp_path: Path) -> None:
    """``mlgate scan --osv-db DIR`` twice: findings both times, DIR untouched, one index reused."""
    from mlgate.cli import main

    db = tmp_path / "db"
    write_zip(db / "PyPI" / "all.zip", RECORDS[:3])
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("alpha==1.9\n")
    for folder in (db, db / "PyPI", repo):
        folder.chmod(0o555)
    before, tree_before = _listing(db), _listing(repo)
    try:
        for run in range(2):
            out = tmp_path / f"out{run}.json"
            argv = ["scan", str(repo), "--osv-db", str(db), "--no-models", "--json", str(out)]
            assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 1
            data = json.loads(out.read_text())
            assert {f["advisory"]["id"] for f in data["findings"]} == {"GHSA-a1"}
            assert data["coverage"]["source"] == f"offline database {db}"
            assert data["stats"]["osv_index_rebuilt"] == (1.0 if run == 0 else 0.0)
        assert _listing(db) == before
        assert _listing(repo) == tree_before
        assert len(list((tmp_path / "cache" / "osv-index").iterdir())) == 1
    finally:
        for folder in (db, db / "PyPI", repo):
            folder.chmod(0o755)


def test_no_cache_builds_a_throw_away_index(tmp_path: Path) -> None:
    """``--no-cache`` with ``--osv-db``: the index lives in a private folder removed at close."""
    write_zip(tmp_path / "db" / "PyPI" / "all.zip", RECORDS[:3])
    source = OfflineSource(tmp_path / "db", cache_dir=None)
    assert found(source, QUERIES[:1]) == {QUERIES[0]: ["GHSA-a1", "PYSEC-1"]}
    folder = source.index_path.parent.parent
    assert source.index_path.is_file() and not folder.is_relative_to(tmp_path)
    source.close()
    assert not folder.exists()
    assert sorted(p.name for p in (tmp_path / "db").rglob("*")) == ["PyPI", "all.zip"]


def test_a_restored_dump_with_new_times_keeps_its_index(tmp_path: Path) -> None:
    """A CI cache restores the same zip with a new mtime: the index is the same content's."""
    dump = write_zip(tmp_path / "db" / "PyPI" / "all.zip", RECORDS[:3])
    OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache").close()
    os.utime(dump, ns=(10**18, 10**18))
    again = OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache")
    assert not again.rebuilt
    again.close()
    write_zip(dump, RECORDS[:1])  # other content: a new index
    assert OfflineSource(tmp_path / "db", cache_dir=tmp_path / "cache").rebuilt
