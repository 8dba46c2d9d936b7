"""A bounded, streaming reader of the protobuf wire format (no schema, no protobuf runtime).

ONNX models and TensorFlow SavedModels are protobufs whose bulk is tensor data. Walking the wire
format directly lets a scanner descend only into the fields it cares about (graph nodes, op names,
external-data entries) and *skip* everything else by seeking, so the cost of a scan does not grow
with the size of the weights and nothing large is ever held in memory.

Wire types (protobuf encoding spec): 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32;
3/4 (groups) are obsolete and treated as malformed.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5

MAX_VARINT_BYTES = 10
_SKIP_CHUNK = 1 << 20


class WireError(Exception):
    """The bytes are not a well-formed protobuf message (truncated, bad tag, bad length)."""


class WireReader:
    """Forward-only reader over a binary stream with an absolute position.

    Seekable streams skip by seeking; other streams skip by reading and discarding in chunks.
    """

    def __init__(self, stream: IO[bytes], size: int) -> None:
        self._stream = stream
        self.size = size
        self.pos = 0
        self.damage: str | None = None  # first length overrun seen (walked up to the end)
        self._seekable = _seekable(stream)

    def read(self, n: int) -> bytes:
        data = self._stream.read(n)
        if len(data) != n:
            raise WireError(f"truncated at byte {self.pos + len(data)} (wanted {n} bytes)")
        self.pos += n
        return data

    def skip_to(self, pos: int) -> None:
        if pos < self.pos:
            raise WireError("reader moved backwards")
        if pos > self.size:
            raise WireError(f"field ends at byte {pos}, past the end of the data ({self.size})")
        if self._seekable:
            self._stream.seek(pos - self.pos, io.SEEK_CUR)
            self.pos = pos
            return
        while self.pos < pos:
            self.read(min(_SKIP_CHUNK, pos - self.pos))

    def varint(self) -> int:
        result = 0
        for i in range(MAX_VARINT_BYTES):
            b = self.read(1)[0]
            result |= (b & 0x7F) << (7 * i)
            if not b & 0x80:
                return result
        raise WireError(f"varint longer than {MAX_VARINT_BYTES} bytes at byte {self.pos}")

    def fields(self, end: int) -> Iterator[tuple[int, int, int]]:
        """Yield ``(field_number, wire_type, value)`` for each field up to ``end``.

        For varints and fixed values ``value`` is the number; for length-delimited fields it is the
        payload length and the reader sits at the payload start. The caller may consume the payload
        (read it, or walk it with a nested ``fields`` call); either way the next iteration resumes
        right after it.
        """
        if end > self.size:
            self.damage = self.damage or (
                f"message ends at byte {end}, past the end of the data ({self.size})"
            )
            end = self.size
        while self.pos < end:
            key = self.varint()
            number, wire = key >> 3, key & 7
            if number == 0:
                raise WireError(f"field number 0 at byte {self.pos}")
            if wire == VARINT:
                yield number, wire, self.varint()
            elif wire == FIXED64:
                yield number, wire, int.from_bytes(self.read(8), "little")
            elif wire == FIXED32:
                yield number, wire, int.from_bytes(self.read(4), "little")
            elif wire == LEN:
                length = self.varint()
                stop = self.pos + length
                if stop > end:
                    # keep walking what is there (a truncated file still shows what it holds);
                    # the overrun is remembered and reported by the scanner
                    self.damage = self.damage or (
                        f"field {number} of {length} bytes runs past its message at byte {self.pos}"
                    )
                    stop = end
                yield number, wire, length
                self.skip_to(stop)
            else:
                raise WireError(f"unsupported wire type {wire} at byte {self.pos}")
        if self.pos != end:
            raise WireError(f"message overruns its length at byte {self.pos}")

    def string(self, length: int, limit: int = 1 << 16) -> str:
        """Read a string payload of ``length`` bytes (at most ``limit``; longer ones are cut)."""
        data = self.read(min(length, limit))
        return data.decode("utf-8", errors="replace")


def _seekable(stream: IO[bytes]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


# -- encoding: used by tests and benchmarks to build real messages --------------------------------


def encode_varint(value: int) -> bytes:
    if value < 0:
        value &= (1 << 64) - 1
    out = bytearray()
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def field_bytes(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return encode_varint(number << 3 | LEN) + encode_varint(len(data)) + data
