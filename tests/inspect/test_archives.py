"""Archives: recursion with bounds, bombs, path traversal, damaged archives, robustness."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zipfile
from pathlib import Path

from mlgate.inspect.dispatch import Dispatcher
from mlgate.inspect.interface import Limits
from mlgate.model import Finding, Severity
from tests.inspect import samples as s
from tests.inspect.scanhelp import rules, scan

PAYLOAD = s.call("os", "system", "id")


def _scan_with(path: Path, limits: Limits) -> list[Finding]:
    return Dispatcher(path.parent, limits=limits).scan_file(path.name).findings


def test_archives_in_archives(tmp_path: Path) -> None:
    """Technique: payload in a zip, inside a tar.gz, inside a zip."""
    inner_zip = s.zip_bytes({"weights/model.bin": PAYLOAD})
    tgz = s.tar_bytes({"release/inner.zip": inner_zip}, mode="w:gz")
    outer = s.zip_bytes({"dist/release.tgz": tgz}, method=zipfile.ZIP_STORED)
    findings = scan(s.write(tmp_path / "bundle.zip", outer))
    hit = [f for f in findings if f.rule_id == "MLG-PICKLE-EXEC"]
    assert hit
    assert hit[0].location.member == "dist/release.tgz!release!release/inner.zip!weights/model.bin"


def test_xz_and_bz2_streams(tmp_path: Path) -> None:
    import bz2
    import lzma

    s.write(tmp_path / "a.bin.xz", lzma.compress(PAYLOAD))
    s.write(tmp_path / "b.dat", bz2.compress(PAYLOAD))
    s.write(tmp_path / "c.gz", gzip.compress(PAYLOAD))
    for name in ("a.bin.xz", "b.dat", "c.gz"):
        assert "MLG-PICKLE-EXEC" in rules(scan(tmp_path / name)), name


def test_deep_nesting_is_bounded(tmp_path: Path) -> None:
    """Technique: nesting deeper than the bound (zip in zip ... ) to exhaust scanners."""
    data = PAYLOAD
    for level in range(8):
        data = s.zip_bytes({f"level{level}.zip" if level else "model.pkl": data})
    findings = scan(s.write(tmp_path / "deep.zip", data))
    assert "MLG-ARCHIVE-DEPTH" in rules(findings)
    assert all(f.severity is Severity.HIGH for f in findings if f.rule_id == "MLG-ARCHIVE-DEPTH")


def test_zip_bomb_by_declared_ratio(tmp_path: Path) -> None:
    """Technique: zip bomb - a member that inflates far beyond the ratio bound."""
    data = s.zip_bytes({"model.pkl": b"\0" * (4 * 1024 * 1024)})
    findings = _scan_with(
        s.write(tmp_path / "bomb.zip", data), Limits(bomb_min_bytes=1024 * 1024, max_ratio=50)
    )
    assert "MLG-ARCHIVE-BOMB" in rules(findings)


def test_gzip_bomb_while_streaming(tmp_path: Path) -> None:
    """Technique: gzip bomb found while streaming (no declared size to check up front)."""
    bomb = s.P4 + b"\x8e" + (8 * 1024 * 1024).to_bytes(8, "little") + b"\0" * (8 * 1024 * 1024)
    path = s.write(tmp_path / "weights.pkl.gz", gzip.compress(bomb + b".", 9))
    findings = _scan_with(path, Limits(bomb_min_bytes=1024 * 1024, max_ratio=50))
    assert [f.rule_id for f in findings] == ["MLG-ARCHIVE-BOMB"]


def test_member_count_bound(tmp_path: Path) -> None:
    data = s.zip_bytes({f"m{i}.txt": b"x" for i in range(20)})
    findings = _scan_with(s.write(tmp_path / "many.zip", data), Limits(max_members=5))
    assert "MLG-ARCHIVE-BOMB" in rules(findings)


def test_total_bytes_bound(tmp_path: Path) -> None:
    data = s.zip_bytes({"a.pkl": PAYLOAD + b"\0" * 5000})
    findings = _scan_with(s.write(tmp_path / "big.zip", data), Limits(max_total_bytes=1000))
    assert "MLG-ARCHIVE-BOMB" in rules(findings)


def test_zip_path_traversal(tmp_path: Path) -> None:
    """Technique: zip-slip member names ('..' and absolute)."""
    data = s.zip_bytes({"../../home/user/.bashrc": b"x", "/etc/cron.d/job": b"y", "ok.txt": b"z"})
    findings = scan(s.write(tmp_path / "slip.zip", data))
    triggers = {f.trigger for f in findings if f.rule_id == "MLG-ARCHIVE-TRAVERSAL"}
    assert triggers == {"../../home/user/.bashrc", "/etc/cron.d/job"}


def test_tar_traversal_and_links(tmp_path: Path) -> None:
    """Technique: tar member with '..' and a symlink pointing out of the extraction folder."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tf:
        info = tarfile.TarInfo("../escape.pkl")
        info.size = len(PAYLOAD)
        tf.addfile(info, io.BytesIO(PAYLOAD))
        link = tarfile.TarInfo("models/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "../../../etc/passwd"
        tf.addfile(link)
    findings = scan(s.write(tmp_path / "release.tar", out.getvalue()))
    assert len([f for f in findings if f.rule_id == "MLG-ARCHIVE-TRAVERSAL"]) == 2
    assert "MLG-PICKLE-EXEC" in rules(findings)  # the member is still scanned


def test_damaged_zip_is_a_finding(tmp_path: Path) -> None:
    data = s.zip_bytes({"model.pkl": PAYLOAD})
    cut = data[: data.rfind(b"PK\x05\x06")]  # end record gone
    findings = scan(s.write(tmp_path / "broken.zip", cut))
    assert findings and all(f.severity.at_least(Severity.HIGH) for f in findings)


def test_truncated_gzip_keeps_earlier_findings(tmp_path: Path) -> None:
    """Technique: a compressed pickle cut short - the call before the cut and the cut itself."""
    body = PAYLOAD[:-1] + s.binbytes(os.urandom(20_000)) + s.STOP
    data = gzip.compress(body)
    findings = scan(s.write(tmp_path / "x.pkl.gz", data[: len(data) // 2]))
    assert {"MLG-PICKLE-EXEC", "MLG-PICKLE-MALFORMED"} <= rules(findings)


def test_benign_archive_is_clean(tmp_path: Path) -> None:
    import pickle

    inner = pickle.dumps({"lr": 0.1, "layers": [1, 2, 3]}, protocol=4)
    data = s.zip_bytes({"config.pkl": inner, "README.md": b"# model"})
    assert scan(s.write(tmp_path / "ok.zip", s.tar_bytes({"a.zip": data}, mode="w:gz"))) == []


def test_time_bound_is_a_finding(tmp_path: Path) -> None:
    """A file that takes longer than the per-file bound yields a timeout finding, no hang."""
    data = s.P2 + (s.NONE + s.POP) * 200_000 + s.STOP
    findings = _scan_with(s.write(tmp_path / "slow.pkl", data), Limits(seconds_per_file=0.0))
    assert [f.rule_id for f in findings] == ["MLG-MODEL-TIMEOUT"]
