"""``mlgate db update`` against a local server serving a dump zip."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.cli import main
from mlgate.enrich.interface import PackageQuery
from mlgate.enrich.offline import OfflineSource
from tests.enrich.conftest import record, write_zip
from tests.servers.osv_server import OsvServer

Start = Callable[..., OsvServer]


def dump_bytes(tmp_path: Path) -> bytes:
    return write_zip(tmp_path / "src.zip", [record("PYSEC-1", "alpha", fixed="2.0")]).read_bytes()


def test_update_downloads_verifies_and_indexes(
    osv_server: Start, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = osv_server()
    srv.files["/PyPI/all.zip"] = dump_bytes(tmp_path)
    db = tmp_path / "db"
    argv = ["db", "update", "--osv-db", str(db), "--ecosystem", "PyPI", "--base-url", srv.url]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    assert "PyPI: 1 records" in capsys.readouterr().out
    # the database holds the dumps only; the index is in the cache folder
    assert sorted(p.name for p in db.rglob("*")) == ["PyPI", "all.zip"]
    source = OfflineSource(db, cache_dir=tmp_path / "cache")
    assert not source.rebuilt  # db update built the index already
    result = source.lookup([PackageQuery("PyPI", "alpha", "1.0")])
    assert [r["id"] for r in result.records[PackageQuery("PyPI", "alpha", "1.0")]] == ["PYSEC-1"]


@pytest.mark.parametrize("payload", [b"not a zip at all", b""])
def test_a_bad_download_keeps_the_previous_dump(
    osv_server: Start, tmp_path: Path, payload: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    srv = osv_server()
    db = tmp_path / "db"
    srv.files["/PyPI/all.zip"] = dump_bytes(tmp_path)
    assert main(["-q", "db", "update", "--osv-db", str(db), "--base-url", srv.url]) == 0
    before = (db / "PyPI" / "all.zip").read_bytes()
    srv.files["/PyPI/all.zip"] = payload
    assert main(["db", "update", "--osv-db", str(db), "--base-url", srv.url]) == 2
    assert "PyPI" in capsys.readouterr().err
    assert (db / "PyPI" / "all.zip").read_bytes() == before
    assert [p.name for p in (db / "PyPI").iterdir()] == ["all.zip"]  # no partial file left


def test_a_zip_without_records_is_rejected(osv_server: Start, tmp_path: Path) -> None:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "nothing here")
        zf.writestr("BAD.json", "{")
    srv = osv_server()
    srv.files["/npm/all.zip"] = buf.getvalue()
    db = tmp_path / "db"
    rc = main(["db", "update", "--osv-db", str(db), "--ecosystem", "npm", "--base-url", srv.url])
    assert rc == 2
    assert not (db / "npm" / "all.zip").exists()


def test_missing_ecosystem_is_an_error(osv_server: Start, tmp_path: Path) -> None:
    srv = osv_server()
    rc = main(
        ["db", "update", "--osv-db", str(tmp_path), "--ecosystem", "Nope", "--base-url", srv.url]
    )
    assert rc == 2
