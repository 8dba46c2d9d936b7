"""Inputs the fuzzers (fuzz/) found that broke an invariant; each stays fixed.

Inputs are built in code where the mutation is small; otherwise they are small files in
``data/`` (the fuzzer's output, kept as found).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from mlgate.inspect.dispatch import Dispatcher
from mlgate.inspect.interface import Limits

DATA = Path(__file__).parent / "data"


def test_hdf5_that_sends_libhdf5_into_a_loop_is_a_timeout_not_a_hang(tmp_path: Path) -> None:
    """fuzz_hdf5: a mutated Keras .h5 on which h5py's attribute read never returns (native code,
    out of reach of the per-file time bound). h5py now runs in a child killed at the deadline."""
    shutil.copy(DATA / "hdf5-attr-loop.h5", tmp_path / "model.h5")
    start = time.monotonic()
    report = Dispatcher(tmp_path, limits=Limits(seconds_per_file=2)).scan_file("model.h5")
    assert time.monotonic() - start < 30
    assert [f.rule_id for f in report.findings] == ["MLG-MODEL-TIMEOUT"]


UV_LOCK_EMPTY_NAME = """\
version = 1
requires-python = ">=3.11"
[[package]]
name = "demo"
version = "0.1.0"
source = { editable = "." }
dependencies = [{ name = "numpy" }]
[[package]]
name = ""
version = "1.26.4"
source = { registry = "https://pkgs.registry.example/simple" }
"""


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("uv.lock", UV_LOCK_EMPTY_NAME),
        ("poetry.lock", '[[package]]\nname = ""\nversion = "1.0"\n'),
        ("pdm.lock", '[metadata]\ngroups = ["default"]\n[[package]]\nname = ""\nversion = "1.0"\n'),
        ("requirements.txt", "==1.0\n"),
    ],
)
def test_lock_entry_with_an_empty_name_is_an_extract_error(
    tmp_path: Path, filename: str, text: str
) -> None:
    """fuzz_uv_lock: ``name = ""`` reached the purl builder, whose ValueError escaped the
    extractor (a parser may only raise ExtractError; the inventory made it a vague warning)."""
    from mlgate.inventory.build import build_inventory

    (tmp_path / filename).write_text(text)
    inventory = build_inventory(tmp_path)
    assert not any(c.name == "" for c in inventory.components)
    assert all("ValueError" not in w.message for w in inventory.warnings), inventory.warnings


# fuzz_zip_reader (atheris): a zip64 end-of-central-directory locator whose record offset is
# 2^64 - 1; seeking there raised OverflowError out of the reader.
ZIP64_LOCATOR_PAST_THE_END = bytes.fromhex(
    "50ffffffffffffffffff504b0607ff6f6d656c2e77ffffffffffffffff34504b"
    "05060000000003000300b2000000f3faff000000"
)


def test_zip64_locator_offset_past_the_end_is_a_format_error(tmp_path: Path) -> None:
    import io

    from mlgate.inspect.archives import ZipFormatError, ZipReader

    data = ZIP64_LOCATOR_PAST_THE_END
    with pytest.raises(ZipFormatError):
        ZipReader(io.BytesIO(data), len(data), 100)
    (tmp_path / "model.pt").write_bytes(data)
    Dispatcher(tmp_path).scan_file("model.pt")  # must not raise


def test_rpmdb_whose_schema_is_not_utf8_is_a_format_error(tmp_path: Path) -> None:
    """fuzz_rpmdb: one byte of the ``CREATE TABLE Packages`` text in sqlite_master made invalid
    UTF-8; sqlite's "malformed database schema" message quotes it, and decoding that message
    raised UnicodeDecodeError out of parse_rpmdb (documented: sqlite3.Error, RpmFormatError)."""
    import sqlite3

    from mlgate.image.rpm import RpmFormatError, parse_rpmdb
    from tests.image.rpmdb import header_blob, write_rpmdb

    path = write_rpmdb(tmp_path / "rpmdb.sqlite", [header_blob({"name": "a", "version": "1"})])
    data = path.read_bytes()
    assert data.count(b"AUTOINCREMENT") == 1
    path.write_bytes(data.replace(b"AUTOINCREMENT", b"AUTOINCR\xd8MENT"))
    with pytest.raises((sqlite3.Error, RpmFormatError)):
        parse_rpmdb(path)


@pytest.mark.parametrize("filename", ["demo-1.0-py3-none-any.whl", "demo-1.0.zip"])
def test_zip_of_an_unknown_version_is_an_extract_error(tmp_path: Path, filename: str) -> None:
    """fuzz_wheel, fuzz_sdist: a central directory entry whose "version needed to extract" is
    25.5; zipfile raised NotImplementedError out of the wheel and sdist extractors."""
    import struct

    from mlgate.inventory.build import build_inventory
    from tests.inspect.samples import zip_bytes

    data = bytearray(zip_bytes({"demo-1.0/PKG-INFO": b"Name: demo\nVersion: 1.0\n"}))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<H", data, central + 6, 255)  # version needed to extract: 25.5
    (tmp_path / filename).write_bytes(bytes(data))
    inventory = build_inventory(tmp_path)
    extractor = "wheel" if filename.endswith(".whl") else "sdist"
    [warning] = [w for w in inventory.warnings if w.message.startswith(f"{extractor}: ")]
    assert warning.path == filename
    assert "not a readable zip: zip file version 25.5" in warning.message
    # the model file extractor lists the same zip's members: not readable, but no crash either
    assert all("NotImplementedError" not in w.message for w in inventory.warnings)
