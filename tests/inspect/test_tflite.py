"""TFLite: custom operators and Flex (TensorFlow) ops in hand-built flatbuffers.

The builder lays the flatbuffer out forward: header (root uoffset + "TFL3"), the Model vtable and
table (field 0 version, field 1 operator_codes), the vector of OperatorCode offsets, then one
vtable + table + string per custom operator (OperatorCode field 1 custom_code; field 3
builtin_code; builtin 32 is CUSTOM).
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.inspect.scanhelp import rules, scan


def tflite(custom_codes: list[str | None]) -> bytes:
    out = bytearray(struct.pack("<I", 16) + b"TFL3")
    out += struct.pack("<HHHH", 8, 12, 4, 8)  # Model vtable at 8
    vec = 28
    out += struct.pack("<iII", 16 - 8, 3, vec - 24)  # Model table at 16; opcodes uoffset at 24
    out += struct.pack("<I", len(custom_codes))
    slots = len(out)
    out += b"\0" * 4 * len(custom_codes)
    for i, code in enumerate(custom_codes):
        vt = len(out)
        if code is None:  # builtin op: only builtin_code (field 3)
            out += struct.pack("<HHHHHH", 12, 8, 0, 0, 0, 4)
            table = len(out)
            out += struct.pack("<ii", table - vt, 9)  # FULLY_CONNECTED
        else:
            out += struct.pack("<HHHHHH", 12, 12, 0, 4, 0, 8)
            table = len(out)
            text = code.encode()
            string_at = table + 12
            out += struct.pack("<iIi", table - vt, string_at - (table + 4), 32)
            out += struct.pack("<I", len(text)) + text + b"\0"
            out += b"\0" * (-len(out) % 4)
        struct.pack_into("<I", out, slots + 4 * i, table - (slots + 4 * i))
    return bytes(out)


def _write(tmp_path: Path, data: bytes, name: str = "model.tflite") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_builtin_only_model_is_clean(tmp_path: Path) -> None:
    assert scan(_write(tmp_path, tflite([None, None]))) == []


@pytest.mark.parametrize(("op", "severity"), [("FlexReadFile", "high"), ("FlexPyFunc", "critical")])
def test_flex_op_with_file_or_python_access(tmp_path: Path, op: str, severity: str) -> None:
    # technique: TensorFlow op smuggled into TFLite through the Flex (select TF ops) delegate
    findings = scan(_write(tmp_path, tflite([None, op, "FlexMatMul"])))
    assert [(f.rule_id, f.severity.value, f.trigger) for f in findings] == [
        ("MLG-TFLITE-OP", severity, op)
    ]


def test_custom_op_is_low(tmp_path: Path) -> None:
    findings = scan(_write(tmp_path, tflite(["MyVendorOp"]), "model.bin"))
    assert [(f.rule_id, f.severity.value) for f in findings] == [("MLG-TFLITE-CUSTOM-OP", "low")]


def test_broken_flatbuffer_is_malformed(tmp_path: Path) -> None:
    data = bytearray(tflite(["MyVendorOp"]))
    struct.pack_into("<I", data, 0, 10_000_000)  # root offset outside the file
    assert rules(scan(_write(tmp_path, bytes(data)))) == {"MLG-TFLITE-MALFORMED"}
