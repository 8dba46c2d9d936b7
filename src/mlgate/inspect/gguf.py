"""GGUF: a streaming walk of the header, bounds on every declared length, and chat templates.

Layout (ggml's gguf spec): ``"GGUF"``, ``u32 version`` (1, 2 or 3), tensor count and key/value
count (``u32`` in version 1, ``u64`` after), then ``kv_count`` entries of ``string key``,
``u32 type`` and a typed value, then the tensor infos. Strings are a length (``u32`` / ``u64``) and
UTF-8 bytes; arrays are ``u32 element type``, a count and the elements. Files written on
big-endian machines use the same layout byte-swapped.

Nothing is allocated from a declared length before it has been checked against the bytes that are
actually left in the file: a string or array larger than the file is a finding, not a MemoryError.
Arrays of fixed-size values are skipped by seeking; only ``tokenizer.chat_template*`` strings are
kept, and they are handed to :mod:`mlgate.inspect.chat_template`.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO

from mlgate.inspect.chat_template import analyse
from mlgate.inspect.interface import (
    ModelScanner,
    ScanContext,
    ScanTarget,
    ScanTimeout,
    model_finding,
)
from mlgate.model import Finding, Severity

MAX_KV = 1_000_000
MAX_TENSORS = 10_000_000
MAX_KEY = 65_536
MAX_TEMPLATE = 1024 * 1024
MAX_ARRAY_DEPTH = 4
MAX_DIMS = 8
TEMPLATE_KEY = "tokenizer.chat_template"

# value type -> struct code of the fixed-size types (gguf_type)
_FIXED = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class GgufError(Exception):
    """The header is malformed or declares more than the file holds."""


@dataclass
class _Reader:
    stream: IO[bytes]
    size: int
    wide: bool  # u64 counts and lengths (version >= 2)
    endian: str = "<"
    pos: int = 0
    alignment: int = 32
    templates: dict[str, str] = field(default_factory=dict)
    oversized: list[str] = field(default_factory=list)

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        if len(data) != n:
            raise GgufError(f"truncated at byte {self.pos + len(data)}")
        self.pos += n
        return data

    def skip(self, n: int) -> None:
        self.need(n, "skipped data")
        if n <= 4096:
            self.read(n)
            return
        try:
            self.stream.seek(n, io.SEEK_CUR)
            self.pos += n
        except (OSError, ValueError):  # not seekable (a member streamed out of an archive)
            while n:
                step = min(n, 1 << 20)
                self.read(step)
                n -= step

    def need(self, n: int, what: str) -> None:
        if n > self.size - self.pos:
            raise GgufError(
                f"{what} declares {n} bytes at byte {self.pos} but only "
                f"{self.size - self.pos} are left in the file"
            )

    def unpack(self, code: str) -> int:
        size = struct.calcsize(code)
        (value,) = struct.unpack(self.endian + code, self.read(size))
        return int(value)

    def count(self) -> int:
        return self.unpack("Q" if self.wide else "I")

    def string(self, what: str, keep: int = 0) -> str | None:
        """Read (up to ``keep`` bytes kept) or skip one string."""
        length = self.count()
        self.need(length, what)
        if length <= keep:
            return self.read(length).decode("utf-8", errors="replace")
        self.skip(length)
        return None


def _walk(r: _Reader, ctx: ScanContext) -> tuple[int, int]:
    n_tensors, n_kv = r.count(), r.count()
    if n_kv > MAX_KV:
        raise GgufError(f"{n_kv} metadata entries declared (bound {MAX_KV})")
    if n_tensors > MAX_TENSORS:
        raise GgufError(f"{n_tensors} tensors declared (bound {MAX_TENSORS})")
    for _ in range(n_kv):
        ctx.check_time()
        key = r.string("a metadata key", MAX_KEY)
        if key is None:
            raise GgufError(f"metadata key longer than {MAX_KEY} bytes at byte {r.pos}")
        vtype = r.unpack("I")
        if vtype == _STRING and (key == TEMPLATE_KEY or key.startswith(TEMPLATE_KEY + ".")):
            text = r.string(f"value of {key}", MAX_TEMPLATE)
            if text is None:
                r.oversized.append(key)
            else:
                r.templates[key] = text
        elif key == "general.alignment" and vtype == 4:
            r.alignment = r.unpack("I")
        else:
            _value(r, vtype, key, 0, ctx)
    last_offset = -1
    for i in range(n_tensors):
        if i % 4096 == 0:
            ctx.check_time()
        r.string("a tensor name", MAX_KEY)
        n_dims = r.unpack("I")
        if n_dims > MAX_DIMS:
            raise GgufError(f"tensor {i} declares {n_dims} dimensions (bound {MAX_DIMS})")
        r.skip(8 * n_dims + 4)  # dims, ggml type
        last_offset = max(last_offset, r.unpack("Q"))
    if last_offset >= 0:
        align = r.alignment if r.alignment > 0 else 32
        data_start = -(-r.pos // align) * align
        if data_start + last_offset >= r.size:
            raise GgufError(
                f"tensor data at offset {last_offset} starts past the end of the file "
                f"({r.size} bytes): truncated or tampered"
            )
    return n_tensors, n_kv


def _value(r: _Reader, vtype: int, key: str, depth: int, ctx: ScanContext) -> None:
    if vtype in _FIXED:
        r.skip(struct.calcsize(_FIXED[vtype]))
    elif vtype == _STRING:
        r.string(f"value of {key}")
    elif vtype == _ARRAY:
        if depth >= MAX_ARRAY_DEPTH:
            raise GgufError(f"arrays nested deeper than {MAX_ARRAY_DEPTH} in {key}")
        etype, count = r.unpack("I"), r.count()
        if etype in _FIXED:
            r.skip(count * struct.calcsize(_FIXED[etype]))
        elif etype in (_STRING, _ARRAY):
            # every element needs at least its length/header: bound the count by what is left
            r.need(count * (8 if r.wide else 4), f"array {key} of {count} elements")
            for i in range(count):
                if i % 65536 == 0:
                    ctx.check_time()
                _value(r, etype, key, depth + 1, ctx)
        else:
            raise GgufError(f"array {key} has unknown element type {etype}")
    else:
        raise GgufError(f"metadata {key} has unknown value type {vtype}")


class GgufScanner(ModelScanner):
    """Header bounds and chat-template injection in GGUF files."""

    name = "gguf"
    formats = ("gguf",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        error: str | None = None
        reader: _Reader | None = None
        try:
            with target.open() as stream:
                head = stream.read(8)
                if len(head) < 8 or head[:4] != b"GGUF":
                    error = "no GGUF magic and version"
                else:
                    (version,) = struct.unpack("<I", head[4:])
                    endian = "<"
                    if version not in (1, 2, 3) and struct.unpack(">I", head[4:])[0] in (2, 3):
                        endian, version = ">", struct.unpack(">I", head[4:])[0]
                    if version not in (1, 2, 3):
                        error = f"unknown GGUF version {version}"
                    else:
                        reader = _Reader(stream, target.size, version >= 2, endian, pos=8)
                        _walk(reader, ctx)
        except (GgufError, struct.error) as exc:
            error = str(exc)
        except ScanTimeout:
            error = "time bound reached before the end of the header"
        except (OSError, ValueError) as exc:
            error = f"unreadable: {exc}"
        if reader is not None:
            yield from _template_findings(reader, target)
        if error is not None:
            yield model_finding(
                "MLG-GGUF-MALFORMED",
                Severity.HIGH,
                f"malformed GGUF header: {error}; loaders disagree on such files and metadata "
                "past this point was not inspected",
                target,
                trigger="malformed",
            )


def _template_findings(reader: _Reader, target: ScanTarget) -> Iterable[Finding]:
    for key in reader.oversized:
        yield model_finding(
            "MLG-GGUF-MALFORMED",
            Severity.HIGH,
            f"{key} is larger than {MAX_TEMPLATE} bytes and was not inspected",
            target,
            trigger=key,
        )
    for key, text in reader.templates.items():
        for issue in analyse(text):
            yield model_finding(
                "MLG-GGUF-TEMPLATE",
                Severity.HIGH,
                f"chat template {key}: {issue.message}; rendering it (llama.cpp servers, "
                "transformers, Ollama) can reach Python internals and run commands",
                target,
                trigger=f"{key}:{issue.trigger}",
                fix="replace the chat template with a known-good one before serving the model",
                properties=(("template_key", key),),
            )
