"""The inventory end to end through the CLI: a realistic tree, bad inputs, SBOM reruns."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mlgate.cli import main
from mlgate.exitcodes import ExitCode

DIGEST = "sha256:" + "5e" * 32


def make_tree(root: Path) -> None:
    files = {
        "requirements.txt": "torch==2.3.1\ntransformers==4.41.2\n",
        "pyproject.toml": (
            '[project]\nname = "svc"\nversion = "1.0"\n'
            'dependencies = ["transformers==4.41.2"]\n\n'
            '[dependency-groups]\ndev = ["pytest==8.2.2"]\n'
        ),
        "Dockerfile": f"FROM python:3.11-slim@{DIGEST} AS run\nFROM run\n",
        "docker/Dockerfile.gpu": "ARG CUDA=12.4.1\nFROM nvidia/cuda:${CUDA}-runtime-ubuntu22.04\n",
        "data/train.csv.dvc": (
            "outs:\n- md5: a304afb96060aad90176268345e10355\n  size: 10\n  path: train.csv\n"
        ),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "models").mkdir()
    (root / "models" / "head.txt").write_bytes(pickle.dumps({"w": [1.0]}, protocol=4))


def sbom_cli(root: Path, out: Path, *extra: str) -> int:
    return main(["-q", "sbom", str(root), "-o", str(out), *extra])


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    make_tree(root)
    return root


def test_sbom_of_a_realistic_tree(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "sbom.json"
    assert sbom_cli(tree, out, "--reproducible") == ExitCode.OK
    text = out.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    comps = {c["bom-ref"]: c for c in json.loads(text)["components"]}
    assert comps["pkg:docker/python@" + DIGEST]["type"] == "container"
    assert "pkg:docker/nvidia/cuda@12.4.1-runtime-ubuntu22.04" in comps
    assert comps["model:models/head.txt"]["type"] == "machine-learning-model"
    assert comps["data:data/train.csv"]["type"] == "data"
    # One package declared in two files is one component with two occurrences.
    tf = comps["pkg:pypi/transformers@4.41.2"]
    assert sorted(o["location"] for o in tf["evidence"]["occurrences"]) == [
        "pyproject.toml",
        "requirements.txt",
    ]
    assert comps["pkg:pypi/pytest@8.2.2"]["scope"] == "optional"


def test_reproducible_reruns_are_byte_identical(tree: Path, tmp_path: Path) -> None:
    """Two separate processes (fresh hash seeds and memory layout) write the same bytes."""
    outs = [tmp_path / "a.json", tmp_path / "b.json"]
    env = {**os.environ, "PYTHONHASHSEED": "random"}
    env.pop("SOURCE_DATE_EPOCH", None)
    for out in outs:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mlgate",
                "-q",
                "sbom",
                str(tree),
                "--reproducible",
                "-o",
                str(out),
            ],
            check=True,
            env=env,
            timeout=120,
        )
    assert outs[0].read_bytes() == outs[1].read_bytes()
    # ... and the scan command's --sbom goes through the same renderer.
    third = tmp_path / "c.json"
    assert main(
        [
            "-q",
            "scan",
            str(tree),
            "--no-vulns",
            "--no-models",
            "--reproducible",
            "--sbom",
            str(third),
        ]
    ) in (ExitCode.OK, ExitCode.FINDINGS)
    assert load(third)["components"] == load(outs[0])["components"]


def test_no_dev_drops_optional_components(tree: Path, tmp_path: Path) -> None:
    full, prod = tmp_path / "full.json", tmp_path / "prod.json"
    assert sbom_cli(tree, full) == ExitCode.OK
    assert sbom_cli(tree, prod, "--no-dev") == ExitCode.OK
    names = {c["name"] for c in load(full)["components"]}
    prod_names = {c["name"] for c in load(prod)["components"]}
    assert "pytest" in names
    assert names - prod_names == {"pytest"}


def test_malformed_inputs_are_warnings_and_the_rest_is_inventoried(
    tree: Path, tmp_path: Path
) -> None:
    (tree / "broken").mkdir()
    (tree / "broken" / "pyproject.toml").write_text("[project\nname = 'x'\n")
    (tree / "broken" / "requirements.txt").write_bytes(b"\x00\x01\x02\xff junk \x00")
    (tree / "broken" / "environment.yml").write_text("dependencies: [unclosed\n")
    (tree / "broken" / "Dockerfile").write_text("FROM ${NOPE}\n")
    (tree / "broken" / "x.dvc").write_text("outs: 3\n")
    out = tmp_path / "result.json"
    scan = ["-q", "scan", str(tree), "--no-vulns", "--no-models", "--fail-on", "none"]
    rc = main([*scan, "--json", str(out)])
    assert rc == ExitCode.OK
    data = load(out)
    warned = {w["path"] for w in data["warnings"]}
    assert {
        "broken/pyproject.toml",
        "broken/requirements.txt",
        "broken/environment.yml",
        "broken/Dockerfile",
        "broken/x.dvc",
    } <= warned
    docker = next(w for w in data["warnings"] if w["path"] == "broken/Dockerfile")
    assert docker["line"] == 1
    refs = {c["bom_ref"] for c in data["components"]}
    assert {"pkg:pypi/torch@2.3.1", "model:models/head.txt", "data:data/train.csv"} <= refs
    # --strict turns the same warnings into exit code 2, for scan and sbom alike.
    assert main([*scan, "--strict"]) == ExitCode.ERROR
    assert sbom_cli(tree, tmp_path / "s.json", "--strict") == ExitCode.ERROR
    assert (tmp_path / "s.json").exists()  # the SBOM of what could be read is still written


def test_sbom_to_stdout(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "sbom", str(tree), "--reproducible"]) == ExitCode.OK
    data = json.loads(capsys.readouterr().out)
    assert data["bomFormat"] == "CycloneDX"
    assert data["metadata"]["component"]["name"] == "repo"
