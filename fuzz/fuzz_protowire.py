"""Fuzz harness: the protobuf wire walk (mlgate.inspect.protowire.WireReader).

Invariant: walking every field, recursively into length-delimited ones, returns or raises
WireError only.
"""

from __future__ import annotations

import io

from fuzz import seeds as seed_inputs

NAME = "protowire"
MAX_DEPTH = 8


def seeds() -> list[bytes]:
    return [*seed_inputs.protowire_messages(), seed_inputs.nested_varint(12)]


def _walk(data: bytes, depth: int) -> None:
    from mlgate.inspect.protowire import LEN, WireReader

    reader = WireReader(io.BytesIO(data), len(data))
    for _number, wire, value in reader.fields(len(data)):
        if wire == LEN and depth < MAX_DEPTH:
            start = reader.pos - value if reader.pos >= value else 0
            _walk(data[start : reader.pos], depth + 1)


def check(data: bytes) -> None:
    from mlgate.inspect.protowire import WireError

    try:
        _walk(data, 0)
    except WireError:
        return
