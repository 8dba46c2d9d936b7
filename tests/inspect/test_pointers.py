"""Git LFS and DVC pointers are reported as not scanned (info), with the command that fixes it."""

from __future__ import annotations

from pathlib import Path

from tests.inspect.scanhelp import scan

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"


def test_lfs_pointer_is_info_with_fix(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"  # the name says safetensors; the content is a pointer
    path.write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 13421772800\n"
    )
    findings = scan(path)
    assert [(f.rule_id, f.severity.value) for f in findings] == [("MLG-MODEL-NOT-SCANNED", "info")]
    assert "not scanned: the LFS object is not checked out" in findings[0].message
    assert "13421772800 bytes" in findings[0].message
    assert findings[0].fix and "git lfs pull" in findings[0].fix
    assert findings[0].trigger == f"sha256:{OID}"


def test_dvc_pointer_lists_its_outputs(tmp_path: Path) -> None:
    path = tmp_path / "model.pkl.dvc"
    path.write_text(
        "outs:\n- md5: 0cc175b9c0f1b6a831c399e269772661\n  size: 1048576\n  path: model.pkl\n"
        "- md5: 92eb5ffee6ae2fec3ad71c777531578f\n  size: 12\n  path: vocab.json\n"
    )
    findings = scan(path)
    assert [(f.severity.value, f.trigger) for f in findings] == [
        ("info", "model.pkl"),
        ("info", "vocab.json"),
    ]
    assert all(f.fix and "dvc pull" in f.fix for f in findings)


def test_text_that_only_mentions_lfs_is_not_a_pointer(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text("Install it: version https://git-lfs.github.com/spec/v1 is the spec.\n")
    assert scan(path) == []


def test_dvc_pointer_alias_bomb_is_not_expanded(tmp_path: Path) -> None:
    """Technique: "billion laughs" - a DVC output path that is a YAML alias of nested lists."""
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    lines.append("outs:\n- path: *g\n- path: model.pkl")
    path = tmp_path / "model.pkl.dvc"
    path.write_text("\n".join(lines) + "\n")
    findings = scan(path)
    assert [f.trigger for f in findings] == ["model.pkl"]
    assert all(len(f.message) < 200 for f in findings)
