from __future__ import annotations

import json
from pathlib import Path

from mlgate import __version__
from mlgate.cli import main
from mlgate.exitcodes import ExitCode


def test_version(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    assert __version__ in capsys.readouterr().out


def test_unknown_command_is_usage_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["frobnicate"]) == ExitCode.ERROR
    assert "invalid choice" in capsys.readouterr().err


def test_scan_missing_root_is_error(tmp_path: Path) -> None:
    assert main(["scan", str(tmp_path / "nope"), "--no-vulns"]) == ExitCode.ERROR


def test_scan_writes_json_result(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    out = tmp_path / "r.json"
    assert main(["scan", str(tmp_path / "repo"), "--no-vulns", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["schema_version"] == "1.1"
    assert data["verdict"]["passed"] is True
    assert data["components"] == []


def test_reports_are_readable_by_later_steps(tmp_path: Path) -> None:
    """mkstemp's 0600 must not leak into reports: a later CI step may run as another user."""
    import os
    import stat

    (tmp_path / "repo").mkdir()
    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        assert main(["scan", str(tmp_path / "repo"), "--no-vulns", "--json", str(out)]) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
