"""safetensors header checks: real files from the safetensors package, and hand-made abuses."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.inspect.scanhelp import scan

RULE = "MLG-SAFETENSORS-HEADER"


def _write(path: Path, header: object, data: bytes = b"", raw: bytes | None = None) -> Path:
    body = raw if raw is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(body)) + body + data)
    return path


def test_real_safetensors_file_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    save_file(
        {
            "w": np.ones((4, 3), dtype=np.float32),
            "b": np.zeros(3, dtype=np.float16),
            "ids": np.arange(5, dtype=np.int64),
            "mask": np.array([True, False]),
        },
        str(path),
        metadata={"format": "np"},
    )
    assert scan(path) == []


def test_benign_header_written_by_hand_is_clean(tmp_path: Path) -> None:
    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
    assert scan(_write(tmp_path / "m.safetensors", header, b"\0" * 8)) == []


@pytest.mark.parametrize(
    ("technique", "header", "data", "trigger"),
    [
        (
            "unknown dtype",
            {"a": {"dtype": "PICKLE", "shape": [1], "data_offsets": [0, 1]}},
            b"\0",
            "a",
        ),
        (
            "offsets past the end of the file",
            {"a": {"dtype": "U8", "shape": [64], "data_offsets": [0, 64]}},
            b"\0" * 8,
            "a",
        ),
        (
            "size inconsistent with shape x dtype",
            {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}},
            b"\0" * 8,
            "a",
        ),
        (
            "overlapping tensors",
            {
                "a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
                "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]},
            },
            b"\0" * 12,
            "b",
        ),
        (
            "gap between tensors hides bytes",
            {
                "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                "b": {"dtype": "U8", "shape": [4], "data_offsets": [8, 12]},
            },
            b"\0" * 12,
            "b",
        ),
        (
            "trailing payload after the last tensor (polyglot)",
            {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}},
            b"\0" * 4 + b"PK\x03\x04" + b"\0" * 60,
            "trailing-bytes",
        ),
        (
            "non-string metadata",
            {
                "__metadata__": {"n": 1},
                "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
            },
            b"\0",
            "__metadata__",
        ),
        (
            "negative shape",
            {"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 0]}},
            b"",
            "a",
        ),
        ("header is a JSON list", [1, 2], b"", "not-json"),
    ],
)
def test_header_abuse_is_high(
    tmp_path: Path, technique: str, header: object, data: bytes, trigger: str
) -> None:
    path = _write(tmp_path / "abuse.safetensors", header, data)
    findings = scan(path)
    assert any(f.rule_id == RULE and f.trigger == trigger for f in findings), (technique, findings)
    assert all(f.severity.value == "high" for f in findings if f.rule_id == RULE)


def test_duplicate_keys_are_tampering(tmp_path: Path) -> None:
    body = (
        b'{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},'
        b' "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}'
    )
    findings = scan(_write(tmp_path / "dup.safetensors", None, b"\0", raw=body))
    assert [f.trigger for f in findings] == ["duplicate-key"]


def test_invalid_json_is_a_finding(tmp_path: Path) -> None:
    findings = scan(_write(tmp_path / "bad.safetensors", None, b"", raw=b'{"a": [1, 2'))
    assert [f.trigger for f in findings] == ["not-json"]


def test_header_larger_than_file_is_a_finding(tmp_path: Path) -> None:
    # sniffed by name and header: a declared size past the end is reported, never allocated
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 50) + b'{"a": 1}')
    findings = scan(path)
    assert findings, "oversized declared header must be reported"
    assert all(f.severity.value in ("high", "info") for f in findings)


def test_header_size_over_the_bound_is_reported_without_allocation(tmp_path: Path) -> None:
    from mlgate.inspect.interface import ScanContext, ScanTarget
    from mlgate.inspect.safetensors import SafetensorsScanner

    path = tmp_path / "bomb.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b'{"a": 1}')
    target = ScanTarget("bomb.safetensors", "safetensors", 2**41, lambda: path.open("rb"))
    findings = list(SafetensorsScanner().scan(target, ScanContext()))
    assert [f.trigger for f in findings] == ["header-size"]
    assert "exceeds" in findings[0].message
