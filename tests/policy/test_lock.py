"""Model provenance: models.lock.json written by `mlgate models lock`, checked by the gate."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
from pathlib import Path

import pytest

from mlgate.cli import main
from mlgate.exitcodes import ExitCode
from mlgate.inventory.build import build_inventory
from mlgate.policy.config import ModelPolicy
from mlgate.policy.lock import (
    RULE_FORMAT_DENIED,
    RULE_FORMAT_NOT_ALLOWED,
    RULE_GONE,
    RULE_INVALID,
    RULE_MISMATCH,
    RULE_UNLOCKED,
    check_formats,
    check_lock,
)

from .helpers import rules, scan


def safetensors_bytes(values: int = 1) -> bytes:
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [values], "data_offsets": [0, 4 * values]}}
    ).encode()
    return struct.pack("<Q", len(header)) + header + b"\x00" * (4 * values)


def make_repo(root: Path) -> Path:
    (root / "models").mkdir(parents=True)
    (root / "models/encoder.safetensors").write_bytes(safetensors_bytes())
    # A real pickle produced here, never loaded by anything.
    (root / "models/head.pkl").write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    return root


def lock(root: Path, *extra: str) -> dict:  # type: ignore[type-arg]
    assert main(["-q", "models", "lock", str(root), *extra]) == 0
    return json.loads((root / "models.lock.json").read_text())


def test_models_lock_writes_every_model_with_hash_size_format(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    data = lock(repo)
    assert data["version"] == 1
    entries = {e["path"]: e for e in data["models"]}
    assert sorted(entries) == ["models/encoder.safetensors", "models/head.pkl"]
    enc = entries["models/encoder.safetensors"]
    raw = (repo / "models/encoder.safetensors").read_bytes()
    assert enc["sha256"] == hashlib.sha256(raw).hexdigest()
    assert enc["size"] == len(raw)
    assert enc["format"] == "safetensors"
    assert entries["models/head.pkl"]["format"] == "pickle"


def test_relock_keeps_source_revision_card(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    data = lock(repo)
    data["models"][0]["source"] = "https://hub.example/org/encoder"
    data["models"][0]["revision"] = "0123456789abcdef0123456789abcdef01234567"
    data["models"][0]["card"] = "docs/encoder.md"
    (repo / "models.lock.json").write_text(json.dumps(data))
    again = lock(repo)
    first = again["models"][0]
    assert first["source"] == "https://hub.example/org/encoder"
    assert first["card"] == "docs/encoder.md"


def test_lock_to_another_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out = tmp_path / "elsewhere.json"
    assert main(["-q", "models", "lock", str(repo), "-o", str(out)]) == 0
    assert len(json.loads(out.read_text())["models"]) == 2
    assert not (repo / "models.lock.json").exists()


def test_a_locked_tree_passes(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock(repo)
    inv = build_inventory(repo)
    assert check_lock(repo, inv, ModelPolicy()) == []


def test_unlocked_model_is_a_finding(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock(repo)
    (repo / "models/new.safetensors").write_bytes(safetensors_bytes(2))
    out = check_lock(repo, build_inventory(repo), ModelPolicy())
    assert [(f.rule_id, f.location.path, f.severity.value) for f in out] == [
        (RULE_UNLOCKED, "models/new.safetensors", "high")
    ]


def test_changed_hash_is_a_finding(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock(repo)
    # The technique: swap a reviewed model for another file under the same name.
    (repo / "models/head.pkl").write_bytes(pickle.dumps({"weights": [6.0]}, protocol=4))
    out = check_lock(repo, build_inventory(repo), ModelPolicy())
    assert [(f.rule_id, f.location.path) for f in out] == [(RULE_MISMATCH, "models/head.pkl")]
    assert "changed" in out[0].message


def test_locked_model_that_disappeared(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock(repo)
    (repo / "models/head.pkl").unlink()
    out = check_lock(repo, build_inventory(repo), ModelPolicy())
    assert [(f.rule_id, f.severity.value, f.location.path) for f in out] == [
        (RULE_GONE, "medium", "models.lock.json")
    ]


def test_excluded_model_is_not_reported_gone(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock(repo)
    inv = build_inventory(repo, exclude=("models/head.pkl",))
    assert check_lock(repo, inv, ModelPolicy()) == []


def test_no_lock_no_check(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    assert check_lock(repo, build_inventory(repo), ModelPolicy()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot be used"),
        ('{"version": 9, "models": []}', "unsupported lock version"),
        ('{"version": 1, "models": [{"path": "x"}]}', "needs 'sha256'"),
    ],
)
def test_configured_lock_missing_or_invalid_fails_closed(
    tmp_path: Path, content: str | None, message: str
) -> None:
    repo = make_repo(tmp_path / "repo")
    if content is not None:
        (repo / "reviewed.json").write_text(content)
    out = check_lock(repo, build_inventory(repo), ModelPolicy(lock="reviewed.json"))
    assert [f.rule_id for f in out] == [RULE_INVALID]
    assert out[0].severity.value == "high"
    assert message in out[0].message


@pytest.mark.parametrize("configured", [None, "models.lock.json", "../outside.lock.json"])
def test_lock_out_of_the_root_is_never_read(tmp_path: Path, configured: str | None) -> None:
    """Technique: the lock is a symlink (or a ../ path) to a file outside the scanned tree."""
    repo = make_repo(tmp_path / "repo")
    outside = tmp_path / "outside.lock.json"
    main(["-q", "models", "lock", str(repo), "-o", str(outside)])  # a valid lock for this tree
    assert outside.is_file()
    if configured != "../outside.lock.json":
        (repo / "models.lock.json").symlink_to(outside)
    out = check_lock(repo, build_inventory(repo), ModelPolicy(lock=configured))
    assert [(f.rule_id, f.trigger) for f in out] == [(RULE_INVALID, "outside-root")]
    assert "leads out of the scanned root" in out[0].message


def test_deny_pickle_covers_pickle_based_formats(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out = check_formats(build_inventory(repo), ModelPolicy(deny_formats=("pickle",)))
    assert [(f.rule_id, f.location.path, f.trigger) for f in out] == [
        (RULE_FORMAT_DENIED, "models/head.pkl", "pickle")
    ]


def test_require_formats(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    out = check_formats(build_inventory(repo), ModelPolicy(require_formats=("safetensors",)))
    assert [(f.rule_id, f.location.path) for f in out] == [
        (RULE_FORMAT_NOT_ALLOWED, "models/head.pkl")
    ]


def test_gate_end_to_end_with_lock_from_policy(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / ".mlgate.yml").write_text("models: {lock: models.lock.json}\n")
    code, data = scan(repo, "--no-models")
    assert code == ExitCode.FINDINGS
    assert rules(data) == [RULE_INVALID]
    lock(repo)
    code, data = scan(repo, "--no-models")
    assert (code, rules(data)) == (ExitCode.OK, [])
    (repo / "models/extra.safetensors").write_bytes(safetensors_bytes(3))
    code, data = scan(repo, "--no-models")
    assert (code, rules(data)) == (ExitCode.FINDINGS, [RULE_UNLOCKED])
    assert data["verdict"]["deciding"] == [data["findings"][0]["fingerprint"]]


def test_lock_present_at_root_is_used_without_configuration(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    lock(repo)
    (repo / "models/encoder.safetensors").write_bytes(safetensors_bytes(5))
    code, data = scan(repo, "--no-models")
    assert code == ExitCode.FINDINGS
    assert rules(data) == [RULE_MISMATCH]
