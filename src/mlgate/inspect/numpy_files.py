"""NumPy ``.npy`` and ``.npz``: object arrays carry a pickle, which is walked like any other.

``numpy.save`` writes an array of Python objects as ``pickle.dump(array)`` right after the
header; ``numpy.load(allow_pickle=True)`` unpickles it. Numeric arrays carry no code and are not
read past the header. ``.npz`` is a zip of ``.npy`` members (read with the zip reader).
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Iterable, Iterator
from typing import Any

from mlgate.inspect.archives import scan_zip
from mlgate.inspect.interface import ModelScanner, ScanContext, ScanTarget, model_finding
from mlgate.inspect.pickles import scan_pickle_stream
from mlgate.model import Finding, Severity

RULE_HEADER = "MLG-NUMPY-HEADER"
MAX_HEADER = 1024 * 1024
MAGIC = b"\x93NUMPY"


def _has_objects(descr: Any) -> bool:
    if isinstance(descr, str):
        return descr.lstrip("|<>=").startswith("O")
    if isinstance(descr, list):
        for field in descr:
            if isinstance(field, tuple | list) and len(field) >= 2 and _has_objects(field[1]):
                return True
    return False


def read_header(head: bytes) -> tuple[dict[str, Any], int]:
    """(header dict, data offset) of a .npy file; raises ValueError when it is malformed."""
    if not head.startswith(MAGIC) or len(head) < 10:
        raise ValueError("not a .npy file")
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = 10
    elif major in (2, 3):
        (hlen,) = struct.unpack("<I", head[8:12])
        start = 12
    else:
        raise ValueError(f"unknown .npy format version {major}")
    if hlen > MAX_HEADER:
        raise ValueError(f"header of {hlen} bytes")
    raw = head[start : start + hlen]
    if len(raw) < hlen:
        raise ValueError("header runs past the end of the file")
    text = raw.decode("utf-8" if major == 3 else "latin-1")
    value = ast.literal_eval(text.strip())  # a literal only: nothing is evaluated
    if not isinstance(value, dict) or "descr" not in value:
        raise ValueError("header is not a dict with 'descr'")
    return value, start + hlen


class NpyScanner(ModelScanner):
    name = "npy"
    formats = ("npy",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        return _scan_npy(target, ctx)


def _scan_npy(target: ScanTarget, ctx: ScanContext) -> Iterator[Finding]:
    with target.open() as fh:
        head = fh.read(12)
        if len(head) >= 12 and head[6] in (2, 3):
            (hlen,) = struct.unpack("<I", head[8:12])
        elif len(head) >= 10:
            (hlen,) = struct.unpack("<H", head[8:10])
        else:
            hlen = 0
        head += fh.read(min(hlen, MAX_HEADER + 1))
    try:
        header, offset = read_header(head)
    except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
        yield model_finding(
            RULE_HEADER,
            Severity.HIGH,
            f"the .npy header does not parse ({str(exc)[:120]}); loaders disagree on such files",
            target,
            trigger="npy-header",
            fix="regenerate the file with numpy.save",
        )
        return
    if _has_objects(header.get("descr")):
        yield from scan_pickle_stream(
            target,
            ctx,
            start=offset,
            what="numpy.load(allow_pickle=True)",
            follow_on=False,
        )


class NpzScanner(ModelScanner):
    name = "npz"
    formats = ("npz",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        return scan_zip(target, ctx)
