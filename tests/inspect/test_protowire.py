"""The bounded protobuf wire reader shared by the ONNX and SavedModel scanners."""

from __future__ import annotations

import io

import pytest

from mlgate.inspect.protowire import (
    LEN,
    VARINT,
    WireError,
    WireReader,
    encode_varint,
    field_bytes,
    field_varint,
)


class _Unseekable(io.RawIOBase):
    """A stream that cannot seek, like a member streamed out of a compressed archive."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        chunk = self._inner.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**32, 2**63 - 1])
def test_varint_round_trip(value: int) -> None:
    data = encode_varint(value)
    assert WireReader(io.BytesIO(data), len(data)).varint() == value


@pytest.mark.parametrize("seekable", [True, False])
def test_fields_skip_payloads_the_caller_does_not_read(seekable: bool) -> None:
    data = field_bytes(9, b"\0" * 5000) + field_varint(1, 7) + field_bytes(2, "op")
    stream = io.BytesIO(data) if seekable else _Unseekable(data)
    reader = WireReader(stream, len(data))  # type: ignore[arg-type]
    seen = []
    for number, wire, value in reader.fields(len(data)):
        if number == 2:
            seen.append((number, wire, reader.string(value)))
        else:
            seen.append((number, wire, value))
    assert seen == [(9, LEN, 5000), (1, VARINT, 7), (2, LEN, "op")]


def test_overlong_varint_is_an_error() -> None:
    data = b"\xff" * 11
    with pytest.raises(WireError):
        WireReader(io.BytesIO(data), len(data)).varint()


def test_group_wire_type_is_an_error() -> None:
    data = encode_varint(1 << 3 | 3)
    with pytest.raises(WireError):
        list(WireReader(io.BytesIO(data), len(data)).fields(len(data)))


def test_length_past_the_end_is_remembered_and_clamped() -> None:
    # technique: declared length far beyond the file (a truncated or hostile model)
    data = encode_varint(2 << 3 | LEN) + encode_varint(2**40) + b"abc"
    reader = WireReader(io.BytesIO(data), len(data))
    fields = list(reader.fields(len(data)))
    assert fields == [(2, LEN, 2**40)]
    assert reader.damage and "runs past" in reader.damage
