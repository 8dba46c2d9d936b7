"""The built-in 7z reader: same members and bytes as py7zr for common archives, py7zr otherwise.

Archives are written by py7zr (the dev extra) in the tests; the reader must either agree with
it byte for byte or say "unsupported" (then ``scan_7z`` runs the py7zr path as before).
"""

from __future__ import annotations

import io
import json
import lzma
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from mlgate.inspect import sevenzip
from mlgate.model import Severity
from tests.inspect import samples as s
from tests.inspect.scanhelp import at_least, scan

py7zr = pytest.importorskip("py7zr")

PAYLOAD = s.call("os", "system", "id")
ROOT = Path(__file__).resolve().parents[2]

LZMA2 = [{"id": lzma.FILTER_LZMA2, "preset": 6}]
LZMA1 = [{"id": lzma.FILTER_LZMA1}]
COPY = [{"id": py7zr.FILTER_COPY}]
BCJ_LZMA2 = [{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2, "preset": 6}]

FILES: dict[str, bytes | None] = {  # None: a directory
    "weights": None,
    "weights/model.pkl": PAYLOAD,
    "weights/empty.bin": b"",
    "notes/readme.txt": b"hello 7z\n" * 200,
    "notes/random.bin": os.urandom(3000),
    "config.json": json.dumps({"a": list(range(500))}).encode(),
}


def build(
    path: Path,
    files: dict[str, bytes | None] = FILES,
    filters: list[dict[str, Any]] | None = None,
    *,
    encoded_header: bool = True,
    password: str | None = None,
) -> Path:
    src = path.parent / (path.name + ".src")
    src.mkdir(parents=True, exist_ok=True)
    with py7zr.SevenZipFile(path, "w", filters=filters, password=password) as archive:
        archive.set_encoded_header_mode(encoded_header)
        for name, data in files.items():
            if data is None:
                (src / name).mkdir(parents=True, exist_ok=True)
                archive.write(src / name, name)
            else:
                archive.writestr(data, name)
    return path


def builtin(path: Path) -> tuple[sevenzip.Archive, dict[str, bytes | None]]:
    """Members read by the built-in reader (directories as None); raises Unsupported."""
    out: dict[str, bytes | None] = {}
    with path.open("rb") as fh:
        archive = sevenzip.read_archive(fh, path.stat().st_size, 10_000, lambda: None)
        for entry, stream in sevenzip.iter_members(fh, archive, lambda: None):
            if entry.is_dir:
                out[entry.name] = None
                continue
            data = b"" if stream is None else io.BufferedReader(stream).read()
            if stream is not None and not stream.ok(entry):
                raise sevenzip.Unsupported(f"member data of {entry.name}")
            out[entry.name] = data
    return archive, out


def by_py7zr(path: Path, tmp: Path) -> dict[str, bytes | None]:
    with py7zr.SevenZipFile(path, "r") as archive:
        infos = archive.list()
        archive.extractall(path=tmp)
    return {i.filename: None if i.is_directory else (tmp / i.filename).read_bytes() for i in infos}


@pytest.mark.parametrize(
    ("filters", "encoded"),
    [
        (None, True),  # py7zr's default chain
        (LZMA2, True),
        (LZMA2, False),
        (LZMA1, True),
        (LZMA1, False),
        (COPY, True),
        (COPY, False),
        (BCJ_LZMA2, True),
    ],
    ids=["default", "lzma2", "lzma2-plain", "lzma", "lzma-plain", "copy", "copy-plain", "bcj"],
)
def test_same_members_and_bytes_as_py7zr(
    tmp_path: Path, filters: list[dict[str, Any]] | None, encoded: bool
) -> None:
    path = build(tmp_path / "a.7z", filters=filters, encoded_header=encoded)
    archive, ours = builtin(path)
    assert ours == by_py7zr(path, tmp_path / "out")
    assert set(ours) == set(FILES)
    assert archive.streams is not None
    # several files in one folder: the solid split by substream sizes is exercised
    assert max(archive.streams.sub_counts) > 1


def test_lzma1_without_end_marker_agrees_or_falls_back(tmp_path: Path) -> None:
    """A single LZMA file is solid by construction; compare each member byte for byte."""
    files: dict[str, bytes | None] = {f"f{i}.bin": os.urandom(50) * (i + 1) for i in range(5)}
    path = build(tmp_path / "a.7z", files, LZMA1)
    assert builtin(path)[1] == by_py7zr(path, tmp_path / "out")


@pytest.mark.parametrize(
    "filters",
    [
        [{"id": lzma.FILTER_DELTA, "dist": 4}, {"id": lzma.FILTER_LZMA2, "preset": 6}],
        [{"id": lzma.FILTER_ARM}, {"id": lzma.FILTER_LZMA2, "preset": 6}],
        [{"id": py7zr.FILTER_BZIP2}],
        [{"id": py7zr.FILTER_DEFLATE}],
    ],
    ids=["delta", "arm", "bzip2", "deflate"],
)
def test_other_coders_are_unsupported(tmp_path: Path, filters: list[dict[str, Any]]) -> None:
    path = build(tmp_path / "a.7z", filters=filters)
    with pytest.raises(sevenzip.Unsupported):
        builtin(path)


@pytest.mark.parametrize("encrypted_header", [False, True])
def test_aes_is_unsupported_and_still_reported(tmp_path: Path, encrypted_header: bool) -> None:
    """Technique: an encrypted 7z hides its payload; py7zr's path reports it as before."""
    path = tmp_path / "a.7z"
    with py7zr.SevenZipFile(path, "w", password="secret") as archive:
        archive.set_encrypted_header(encrypted_header)
        archive.writestr(PAYLOAD, "model.pkl")
    with pytest.raises(sevenzip.Unsupported):
        builtin(path)
    findings = scan(path)
    assert not any(f.rule_id == "MLG-MODEL-UNSAFE" and "system" in f.message for f in findings)
    assert at_least(findings, Severity.HIGH)


def test_malicious_pickle_found_without_importing_py7zr(tmp_path: Path) -> None:
    """Technique: a pickle calling os.system inside a 7z; found critical, py7zr never imported."""
    build(tmp_path / "bundle.7z")
    code = (
        "import sys, json\n"
        "from pathlib import Path\n"
        "from mlgate.inspect.dispatch import scan_paths\n"
        "found = scan_paths(Path(sys.argv[1]), ['bundle.7z'])\n"
        "print(json.dumps({'py7zr': 'py7zr' in sys.modules, 'hits': [\n"
        "    [f.severity.name, f.location.member] for f in found]}))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=120,
    )
    result = json.loads(proc.stdout)
    assert result["py7zr"] is False
    assert ["CRITICAL", "weights/model.pkl"] in result["hits"]


def test_scan_results_match_the_py7zr_path(tmp_path: Path) -> None:
    path = build(tmp_path / "bundle.7z")
    ours = scan(path)
    # an unsupported filter sends the same members through py7zr
    other = build(tmp_path / "o" / "bundle.7z", filters=[{"id": lzma.FILTER_DELTA}, *LZMA2])
    with pytest.raises(sevenzip.Unsupported):
        builtin(other)
    theirs = scan(other)
    key = [(f.rule_id, f.severity, f.location.member, f.message) for f in ours]
    assert key == [(f.rule_id, f.severity, f.location.member, f.message) for f in theirs]
    assert any(f.severity is Severity.CRITICAL for f in ours)


def _plain_archive(tmp_path: Path) -> bytes:
    return build(tmp_path / "a.7z", filters=LZMA2, encoded_header=False).read_bytes()


def _fix_start_header(data: bytearray) -> None:
    """Recompute the next-header CRC and the start-header CRC after editing the header."""
    off, size = struct.unpack_from("<QQ", data, 12)
    struct.pack_into("<I", data, 28, zlib.crc32(data[32 + off : 32 + off + size]))
    struct.pack_into("<I", data, 8, zlib.crc32(data[12:32]))


def _scan_bytes(tmp_path: Path, data: bytes) -> list[Any]:
    path = tmp_path / "x" / "bad.7z"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return scan(path)


@pytest.mark.parametrize("cut", [20, 40, 0.5, -30, -1])
def test_truncated_archives_fall_back_without_raising(tmp_path: Path, cut: float) -> None:
    """Technique: truncation of the signature, packed data or header."""
    data = build(tmp_path / "a.7z").read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut
    short = data[:n]
    path = tmp_path / "t.7z"
    path.write_bytes(short)
    with pytest.raises(sevenzip.Unsupported):
        builtin(path)
    findings = _scan_bytes(tmp_path, short)
    assert findings  # a finding (py7zr's path), never an exception or silence


def test_corrupted_member_crc_falls_back(tmp_path: Path) -> None:
    """Technique: payload bytes changed after the CRCs were written (tampering)."""
    data = bytearray(build(tmp_path / "a.7z", filters=COPY).read_bytes())
    at = data.index(b"hello 7z")
    data[at : at + 5] = b"HELLO"
    path = tmp_path / "c.7z"
    path.write_bytes(bytes(data))
    with pytest.raises(sevenzip.Unsupported):
        builtin(path)
    findings = _scan_bytes(tmp_path, bytes(data))
    assert at_least(findings, Severity.HIGH)


def test_header_crc_mismatch_is_unsupported(tmp_path: Path) -> None:
    data = bytearray(_plain_archive(tmp_path))
    data[-3] ^= 0xFF  # inside the next header, its CRC no longer matches
    path = tmp_path / "h.7z"
    path.write_bytes(bytes(data))
    with pytest.raises(sevenzip.Unsupported, match="CRC"):
        builtin(path)


def test_size_lies_never_allocate_and_never_raise(tmp_path: Path) -> None:
    """Technique: header sizes claiming terabytes / more data than the file holds."""
    data = bytearray(_plain_archive(tmp_path))
    off, size = struct.unpack_from("<QQ", data, 12)
    header = bytes(data[32 + off : 32 + off + size])
    at = header.index(bytes([sevenzip.K_CODERS_UNPACK_SIZE])) + 1
    # the folder's unpack size becomes 2**40 (9-byte number form) with the rest kept
    first = header[at]
    width = next(i for i in range(8) if not first & (0x80 >> i))
    lie = header[:at] + b"\xff" + struct.pack("<Q", 1 << 40) + header[at + 1 + width :]
    data = data[: 32 + off] + bytearray(lie)
    struct.pack_into("<Q", data, 20, len(lie))
    _fix_start_header(data)
    path = tmp_path / "l.7z"
    path.write_bytes(bytes(data))
    with pytest.raises(sevenzip.Unsupported):
        builtin(path)
    findings = _scan_bytes(tmp_path, bytes(data))
    assert findings

    # a next-header offset and size pointing far past the end of the file
    data = bytearray(_plain_archive(tmp_path))
    struct.pack_into("<QQ", data, 12, 1 << 50, 1 << 20)
    _fix_start_header_only(data)
    path.write_bytes(bytes(data))
    with pytest.raises(sevenzip.Unsupported, match="header"):
        builtin(path)
    assert _scan_bytes(tmp_path, bytes(data))


def _fix_start_header_only(data: bytearray) -> None:
    struct.pack_into("<I", data, 8, zlib.crc32(data[12:32]))


def test_counts_are_checked_against_the_header(tmp_path: Path) -> None:
    """Technique: a file count of 2**60 in a tiny header (an allocation bomb)."""
    names = "a\x00".encode("utf-16-le")
    files = (
        bytes([sevenzip.K_FILES_INFO])
        + b"\xff"
        + struct.pack("<Q", 1 << 60)
        + bytes([sevenzip.K_NAME, len(names) + 1, 0])
        + names
        + b"\x00\x00"
    )
    header = bytes([sevenzip.K_HEADER]) + files
    data = bytearray(b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24) + header)
    struct.pack_into("<QQ", data, 12, 0, len(header))
    _fix_start_header(data)
    path = tmp_path / "n.7z"
    path.write_bytes(bytes(data))
    with pytest.raises(sevenzip.Unsupported, match="count"):
        builtin(path)


def test_bomb_ratio_is_reported_before_decoding(tmp_path: Path) -> None:
    """Technique: a small 7z declaring far more output than the ratio bound allows."""
    files: dict[str, bytes | None] = {"zeros.bin": bytes(70 * 1024 * 1024)}
    path = build(tmp_path / "z.7z", files, LZMA2)
    assert path.stat().st_size * 200 < 70 * 1024 * 1024
    findings = scan(path)
    assert any(f.rule_id == "MLG-ARCHIVE-BOMB" for f in findings)


def test_common_7z_is_inspected_without_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Technique: a pickle in a 7z on an install without py7zr is still found (no info-only)."""
    path = build(tmp_path / "bundle.7z")
    monkeypatch.setitem(sys.modules, "py7zr", None)
    findings = scan(path)
    assert not any(f.rule_id == "MLG-MODEL-EXTRA-MISSING" for f in findings)
    assert any(
        f.severity is Severity.CRITICAL and f.location.member == "weights/model.pkl"
        for f in findings
    )


@pytest.mark.parametrize("filters", [LZMA2, LZMA1], ids=["lzma2", "lzma"])
def test_every_header_byte_mutated_parses_or_is_unsupported(
    tmp_path: Path, filters: list[dict[str, Any]]
) -> None:
    """Technique: header fuzzing with valid CRCs; only ``Unsupported`` may come out."""
    data = build(tmp_path / "a.7z", filters=filters, encoded_header=False).read_bytes()
    off, size = struct.unpack_from("<QQ", data, 12)
    path = tmp_path / "m.7z"
    outcomes = {"ok": 0, "unsupported": 0}
    for i in range(32 + off, 32 + off + size):
        for flip in (0x01, 0x80, 0xFF):
            mutated = bytearray(data)
            mutated[i] ^= flip
            _fix_start_header(mutated)
            path.write_bytes(bytes(mutated))
            try:
                builtin(path)
            except sevenzip.Unsupported:
                outcomes["unsupported"] += 1
            else:
                outcomes["ok"] += 1
    assert outcomes["unsupported"] > 0
