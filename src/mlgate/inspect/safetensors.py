"""safetensors headers: size bound, valid JSON, known dtypes, offsets inside the file, no overlaps.

A safetensors file is ``u64 little-endian N`` + ``N`` bytes of JSON + the tensor buffer. The format
cannot run code; the risks are parser confusion (a header other parsers read differently, duplicate
keys, offsets that overlap or leave the file) and bytes hidden where no tensor points (a polyglot
file that is also a zip or a pickle). Only the header is read; the buffer is never touched.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from mlgate.inspect.interface import ModelScanner, ScanContext, ScanTarget, model_finding
from mlgate.model import Finding, Severity

RULE = "MLG-SAFETENSORS-HEADER"
MAX_HEADER = 100 * 1024 * 1024  # the reference implementation's own limit
MAX_TENSORS = 1_000_000
MAX_FINDINGS = 20

# dtype -> size in bits (safetensors' Dtype enum)
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "C64": 64,
    "F64": 64,
    "I64": 64,
    "U64": 64,
}


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def check_header(header: Any, buffer_size: int) -> Iterator[tuple[str, str]]:
    """Yield ``(trigger, message)`` for every problem of a decoded header."""
    if not isinstance(header, dict):
        yield "not-an-object", "the header is not a JSON object"
        return
    meta = header.get("__metadata__")
    if meta is not None and not (
        isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())
    ):
        yield (
            "__metadata__",
            "__metadata__ is not a map of strings (the reference loader rejects it)",
        )
    if len(header) > MAX_TENSORS:
        yield "tensor-count", f"{len(header)} tensors declared (bound {MAX_TENSORS})"
        return
    spans: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        problem = _check_tensor(info, buffer_size)
        if isinstance(problem, str):
            yield name, f"tensor {name!r}: {problem}"
        else:
            spans.append((problem[0], problem[1], name))
    spans.sort()
    covered = 0
    for begin, end, name in spans:
        if begin < covered:
            yield name, f"tensor {name!r} overlaps another tensor's bytes ({begin} < {covered})"
        elif begin > covered:
            yield name, f"{begin - covered} bytes before tensor {name!r} belong to no tensor"
        covered = max(covered, end)
    if covered < buffer_size:
        yield (
            "trailing-bytes",
            f"{buffer_size - covered} bytes after the last tensor belong to no tensor "
            "(room for a hidden payload; the reference loader rejects the file)",
        )


def _check_tensor(info: Any, buffer_size: int) -> str | tuple[int, int]:
    if not isinstance(info, dict):
        return "entry is not an object"
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        return f"unknown dtype {dtype!r}"
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        return f"shape {shape!r} is not a list of non-negative integers"
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        return f"data_offsets {offsets!r} is not a pair of integers"
    begin, end = offsets
    if begin < 0 or end < begin:
        return f"data_offsets {offsets!r} are negative or reversed"
    if end > buffer_size:
        return f"data_offsets end at {end}, past the end of the data ({buffer_size} bytes)"
    bits = math.prod(shape) * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - begin:
        return (
            f"{end - begin} bytes do not hold shape {shape} of {dtype} "
            f"({bits / 8:g} bytes expected)"
        )
    return begin, end


class SafetensorsScanner(ModelScanner):
    """Header sanity of safetensors files; the tensor data is never read."""

    name = "safetensors"
    formats = ("safetensors",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        limit = min(MAX_HEADER, ctx.limits.max_header_bytes)
        try:
            with target.open() as stream:
                prefix = stream.read(8)
                if len(prefix) < 8:
                    yield _finding(target, "truncated", "file shorter than the 8-byte header size")
                    return
                (size,) = struct.unpack("<Q", prefix)
                if size > limit:
                    yield _finding(
                        target,
                        "header-size",
                        f"declared header of {size} bytes exceeds the {limit}-byte bound "
                        "(a loader would allocate it)",
                    )
                    return
                if size > target.size - 8:
                    yield _finding(
                        target,
                        "header-size",
                        f"declared header of {size} bytes is larger than the file",
                    )
                    return
                raw = stream.read(size)
        except OSError as exc:
            yield _finding(target, "unreadable", f"could not be read: {exc}")
            return
        if len(raw) != size:
            yield _finding(target, "truncated", "the header is cut short")
            return
        if not raw.lstrip(b" ").startswith(b"{"):
            yield _finding(target, "not-json", "the header does not start with a JSON object")
            return
        try:
            header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except _Duplicate as dup:
            yield _finding(
                target,
                "duplicate-key",
                f"key {str(dup)!r} appears twice in the header: parsers disagree on which wins",
            )
            return
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            yield _finding(target, "not-json", f"the header is not valid JSON ({exc})")
            return
        problems = check_header(header, target.size - 8 - size)
        for i, (trigger, message) in enumerate(problems):
            if i >= MAX_FINDINGS:
                break
            yield _finding(target, trigger, message)


def _finding(target: ScanTarget, trigger: str, message: str) -> Finding:
    return model_finding(
        RULE,
        Severity.HIGH,
        f"malformed safetensors header: {message}",
        target,
        trigger=trigger,
        fix="re-export the tensors with the safetensors library from a trusted copy",
    )
