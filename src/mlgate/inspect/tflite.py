"""TensorFlow Lite flatbuffers: custom operators, and TensorFlow ops run through Flex delegates.

A ``.tflite`` model is a flatbuffer (identifier ``TFL3``) whose ``Model.operator_codes`` list every
operator the graph uses. Builtin operators are kernels of the runtime; ``custom_code`` names an
operator the application must register itself (code from outside the file). Names starting with
``Flex`` run the TensorFlow op of that name through the Select-TF-ops delegate, so the SavedModel
op list applies to them (``FlexReadFile``, ``FlexWriteFile`` ...). The format has no other known
code-execution surface. Only the operator table is read, by seeking; weights are never touched.

Flatbuffer layout: a root ``uoffset`` (u32) to the root table; a table starts with an ``soffset``
(i32) back to its vtable (u16 vtable size, u16 table size, u16 offset per field, 0 = absent);
vectors and strings are a u32 length then the items; offsets to sub-objects are relative to where
they are stored. Model fields: 0 version, 1 operator_codes; OperatorCode: 1 custom_code.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from typing import IO

from mlgate.inspect.interface import ModelScanner, ScanContext, ScanTarget, model_finding
from mlgate.inspect.savedmodel import op_severity
from mlgate.model import Finding, Severity

MAX_OPCODES = 100_000
_MODEL_OPERATOR_CODES = 1
_OPCODE_CUSTOM_CODE = 1


class FlatbufferError(Exception):
    pass


class _Buf:
    def __init__(self, stream: IO[bytes], size: int) -> None:
        self.stream = stream
        self.size = size

    def at(self, pos: int, n: int) -> bytes:
        if pos < 0 or pos + n > self.size:
            raise FlatbufferError(f"offset {pos} (+{n}) outside the file ({self.size} bytes)")
        self.stream.seek(pos)
        data = self.stream.read(n)
        if len(data) != n:
            raise FlatbufferError(f"truncated at byte {pos}")
        return data

    def u32(self, pos: int) -> int:
        return int(struct.unpack("<I", self.at(pos, 4))[0])

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of a table field, or None when absent."""
        vtable = table - int(struct.unpack("<i", self.at(table, 4))[0])
        vt_size = int(struct.unpack("<H", self.at(vtable, 2))[0])
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        off = int(struct.unpack("<H", self.at(vtable + slot, 2))[0])
        return table + off if off else None

    def deref(self, pos: int) -> int:
        return pos + self.u32(pos)

    def string(self, pos: int, limit: int = 1024) -> str:
        length = self.u32(pos)
        return self.at(pos + 4, min(length, limit)).decode("utf-8", errors="replace")


def custom_ops(stream: IO[bytes], size: int) -> list[str]:
    """The ``custom_code`` of every operator code of a TFLite model."""
    buf = _Buf(stream, size)
    root = buf.deref(0)
    codes_field = buf.field(root, _MODEL_OPERATOR_CODES)
    if codes_field is None:
        return []
    vec = buf.deref(codes_field)
    count = buf.u32(vec)
    if count > MAX_OPCODES:
        raise FlatbufferError(f"{count} operator codes declared (bound {MAX_OPCODES})")
    names = []
    for i in range(count):
        elem = vec + 4 + 4 * i
        table = buf.deref(elem)
        custom = buf.field(table, _OPCODE_CUSTOM_CODE)
        if custom is not None:
            names.append(buf.string(buf.deref(custom)))
    return names


class TfliteScanner(ModelScanner):
    """Custom and Flex operators of TFLite models."""

    name = "tflite"
    formats = ("tflite",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        try:
            with target.open() as raw:
                stream: IO[bytes] = raw
                if not raw.seekable():
                    stream = io.BytesIO(raw.read(ctx.limits.max_header_bytes))
                names = custom_ops(stream, target.size)
        except (FlatbufferError, struct.error, OSError, ValueError) as exc:
            yield model_finding(
                "MLG-TFLITE-MALFORMED",
                Severity.HIGH,
                f"TFLite flatbuffer does not parse: {exc}",
                target,
                trigger="malformed",
            )
            return
        for name in dict.fromkeys(names):
            tf_op = name.removeprefix("Flex") if name.startswith("Flex") else None
            severity = op_severity(tf_op) if tf_op else None
            if severity is not None:
                yield model_finding(
                    "MLG-TFLITE-OP",
                    severity,
                    f"operator {name} runs the TensorFlow op {tf_op} through the Flex delegate "
                    "(file access or Python execution)",
                    target,
                    trigger=name,
                    fix="rebuild the model without this op, or only load it from a trusted source",
                )
            elif tf_op is None:
                yield model_finding(
                    "MLG-TFLITE-CUSTOM-OP",
                    Severity.LOW,
                    f"custom operator {name!r}: the application must register its kernel "
                    "(native code from outside the model)",
                    target,
                    trigger=name,
                )
