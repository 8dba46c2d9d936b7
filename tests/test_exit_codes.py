"""The exit-code contract, end to end through the real command line in a subprocess:
0 clean, 1 findings at or above the threshold, 2 error. A crash is never 1 and never a traceback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fuzz_regressions.test_ordering import nested_pickle

REPO = Path(__file__).resolve().parent.parent


def mlgate(*args: str, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m mlgate ARGS``; ``prelude``: Python run first (a third-party plugin)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "MLGATE_OSV_URL": ""}
    env.pop("GITHUB_ACTIONS", None)
    if prelude:
        code = f"{prelude}\nimport sys\nfrom mlgate.cli import main\nsys.exit(main(sys.argv[1:]))"
        cmd = [sys.executable, "-c", code, *args]
    else:
        cmd = [sys.executable, "-m", "mlgate", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _repo(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    for rel, data in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, str):
            path.write_text(data)
        else:
            path.write_bytes(data)
    return repo


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr, proc.stderr


def test_clean_is_0(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"requirements.txt": "numpy==1.26.4\n"})
    proc = mlgate("scan", str(repo), "--no-vulns", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)


def test_findings_are_1_and_the_nested_pickle_no_longer_crashes(tmp_path: Path) -> None:
    """The pickle that carries a pickle used to die in the final sort (exit 1, no report)."""
    repo = _repo(tmp_path, {"model.pkl": nested_pickle()})
    out = tmp_path / "r.json"
    proc = mlgate("scan", str(repo), "--no-vulns", "--json", str(out), cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    _no_traceback(proc)
    data = json.loads(out.read_text())
    assert data["incomplete"] is None
    assert any(f["severity"] == "critical" for f in data["findings"])
    models = mlgate("models", str(repo), cwd=tmp_path)
    assert models.returncode == 1, models.stderr
    _no_traceback(models)


def test_bad_arguments_are_2(tmp_path: Path) -> None:
    proc = mlgate("scan", "--no-such-option", cwd=tmp_path)
    assert proc.returncode == 2
    assert "error:" in proc.stderr
    _no_traceback(proc)


def test_bad_policy_is_2(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {".mlgate.yml": "fail-on: [not, a, severity]\n"})
    proc = mlgate("scan", str(repo), "--no-vulns", cwd=tmp_path)
    assert proc.returncode == 2
    _no_traceback(proc)
    proc = mlgate("models", str(repo), "--policy", str(repo / ".mlgate.yml"), cwd=tmp_path)
    assert proc.returncode == 2
    _no_traceback(proc)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_osv_server_down_is_2(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"requirements.txt": "numpy==1.26.4\n"})
    url = f"http://127.0.0.1:{_closed_port()}"
    proc = mlgate("scan", str(repo), "--osv-url", url, "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    _no_traceback(proc)


def test_unwritable_report_is_2_even_with_findings_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    repo = _repo(tmp_path, {"model.pkl": nested_pickle()})
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder is expected\n")
    sarif = tmp_path / "r.sarif"
    proc = mlgate(
        "scan",
        str(repo),
        "--no-vulns",
        "--json",
        str(blocker / "r.json"),
        "--sarif",
        str(sarif),
        cwd=tmp_path,
    )
    assert proc.returncode == 2, proc.stderr  # findings too, but a report was lost: never 1
    _no_traceback(proc)
    assert "--json" in proc.stderr and "not-a-folder" in proc.stderr
    assert json.loads(sarif.read_text())["runs"]


# A third-party extractor with a bug: it hands on a component whose name is not a string, so the
# scan breaks after the walk, outside any per-file guard (the safety net's case); and one that
# raises on its file (a warning naming the file, the scan goes on).
BROKEN_PLUGIN = textwrap.dedent(
    """
    from mlgate.inventory.interface import Extractor, ExtractResult
    from mlgate.model import Component, Location

    class BrokenExtractor(Extractor):
        name = "broken"
        patterns = ("broken.txt",)

        def extract(self, file, ctx):
            comp = Component("PyPI", None, "1.0", declared_in=(Location(file.relpath),))
            return ExtractResult(components=[comp, comp])

    class RaisingExtractor(Extractor):
        name = "raising"
        patterns = ("raising.txt",)

        def extract(self, file, ctx):
            raise ZeroDivisionError("plugin bug")
    """
)


def test_extractor_that_raises_is_a_warning_and_the_scan_goes_on(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"raising.txt": "x\n", "model.pkl": nested_pickle()})
    out = tmp_path / "r.json"
    proc = mlgate(
        "scan", str(repo), "--no-vulns", "--json", str(out), cwd=tmp_path, prelude=BROKEN_PLUGIN
    )
    assert proc.returncode == 1, proc.stderr
    data = json.loads(out.read_text())
    assert any(
        w["path"] == "raising.txt" and "ZeroDivisionError" in w["message"] for w in data["warnings"]
    )
    assert data["findings"]


def test_a_crash_is_2_with_one_line_and_partial_reports_marked_incomplete(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"broken.txt": "x\n", "model.pkl": nested_pickle()})
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    sarif = tmp_path / "r.sarif"
    args = ("scan", str(repo), "--no-vulns", "--json", str(out), "--markdown", str(md))
    proc = mlgate(*args, "--sarif", str(sarif), cwd=tmp_path, prelude=BROKEN_PLUGIN)
    assert proc.returncode == 2, proc.stderr
    _no_traceback(proc)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "AttributeError" in errors[0], proc.stderr
    data = json.loads(out.read_text())
    assert data["incomplete"] and "AttributeError" in data["incomplete"]
    assert data["verdict"]["passed"] is False
    assert "Scan incomplete" in md.read_text()
    run = json.loads(sarif.read_text())["runs"][0]
    assert run["properties"]["incomplete"] is True
    assert run["invocations"][0]["executionSuccessful"] is False
    verbose = mlgate("-v", *args, cwd=tmp_path, prelude=BROKEN_PLUGIN)
    assert verbose.returncode == 2
    assert "Traceback" in verbose.stderr  # the full traceback only under -v


@pytest.mark.parametrize("command", ["scan", "models"])
def test_missing_path_is_2(tmp_path: Path, command: str) -> None:
    proc = mlgate(command, str(tmp_path / "nope"), cwd=tmp_path)
    assert proc.returncode == 2
    _no_traceback(proc)
