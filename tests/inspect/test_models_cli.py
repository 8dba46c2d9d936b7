"""``mlgate models`` on its own and model findings inside ``mlgate scan`` (real CLI, real files)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from mlgate.cli import main
from tests.inspect import samples as s


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    s.write(tmp_path / "models" / "ok.pkl", pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    s.write(tmp_path / "docs" / "notes.txt", s.call("os", "system", "id"))  # misleading name
    s.write(tmp_path / "README.md", b"# project\n")
    return tmp_path


def test_models_exit_1_on_payload(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", str(tree)]) == 1
    out = capsys.readouterr().out
    assert "MLG-PICKLE-EXEC" in out and "docs/notes.txt" in out


def test_models_exit_0_when_clean(tmp_path: Path) -> None:
    s.write(tmp_path / "m.pkl", pickle.dumps({"w": 1}, protocol=2))
    assert main(["models", str(tmp_path)]) == 0


def test_models_exit_2_when_it_cannot_run(tmp_path: Path) -> None:
    assert main(["models", str(tmp_path / "missing")]) == 2


def test_models_single_file_and_fail_on(tmp_path: Path) -> None:
    path = s.write(tmp_path / "gadget.bin", s.call("webbrowser", "open", "https://x.example"))
    assert main(["models", str(path)]) == 1  # high meets the default threshold
    assert main(["models", str(path), "--fail-on", "critical"]) == 0


def test_models_json_report(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "models.json"
    assert main(["-q", "models", str(tree), "--json", str(out)]) == 1
    text = out.read_text()
    data = json.loads(text)
    assert "MLG-PICKLE-EXEC" in text and isinstance(data, dict)


def test_policy_allow_globals(tmp_path: Path) -> None:
    s.write(tmp_path / "m.pkl", s.call("mypkg.models", "build_tokenizer", "x"))
    assert main(["models", str(tmp_path)]) == 1
    (tmp_path / ".mlgate.yml").write_text("models:\n  allow-globals:\n    - mypkg.models.*\n")
    assert main(["models", str(tmp_path)]) == 0


def test_scan_includes_model_findings(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    assert main(["-q", "scan", str(tree), "--no-vulns", "--json", str(out)]) == 1
    assert "MLG-PICKLE-EXEC" in out.read_text()


def test_models_lock_is_routed(tmp_path: Path) -> None:
    s.write(tmp_path / "m.pkl", pickle.dumps({"w": 1}, protocol=2))
    lock = tmp_path / "models.lock.json"
    assert main(["models", "lock", str(tmp_path), "-o", str(lock)]) == 0
    assert lock.is_file()
