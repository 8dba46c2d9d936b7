"""What every harness shares: the mutator, a scratch folder, and the invariants.

A harness module defines ``NAME``, ``seeds() -> list[bytes]``, ``check(data: bytes) -> None``
and optionally ``TOKENS`` (interesting byte strings for structure-aware insertion). ``check``
returns normally when the parser behaved: it returned, or raised only its documented error.
Anything else escaping ``check`` is a crash: the runner keeps the input.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

# values that make length, count and offset fields interesting (libFuzzer's favourites)
INTERESTING_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000,
                    0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 2**63 - 1, 2**64 - 1)  # fmt: skip


def _interesting_bytes(rng: random.Random) -> bytes:
    value = rng.choice(INTERESTING_INTS)
    fmt = rng.choice(("<B", "<H", "<I", "<Q", ">H", ">I", ">Q"))
    size = struct.calcsize(fmt)
    return struct.pack(fmt, value & ((1 << (8 * size)) - 1))


class Mutator:
    """Deterministic mutations of seed inputs: byte flips, truncation, insertion of interesting
    values and harness tokens, splicing of two inputs, duplication of a slice."""

    def __init__(self, seeds: Sequence[bytes], tokens: Sequence[bytes], seed: int) -> None:
        self.seeds = [s for s in seeds if s] or [b"\x00"]
        self.tokens = list(tokens)
        self.rng = random.Random(seed)

    def __call__(self) -> bytes:
        rng = self.rng
        data = bytearray(rng.choice(self.seeds))
        for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
            self._one(data)
            if len(data) > 4 * 1024 * 1024:
                del data[4 * 1024 * 1024 :]
        return bytes(data)

    def _one(self, data: bytearray) -> None:
        rng = self.rng
        kind = rng.randrange(8)
        at = rng.randrange(len(data) + 1)
        if kind == 0 and data:  # flip bits
            i = min(at, len(data) - 1)
            data[i] ^= 1 << rng.randrange(8)
        elif kind == 1 and data:  # random bytes
            for _ in range(rng.randint(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2 and len(data) > 1:  # truncate
            del data[rng.randrange(1, len(data)) :]
        elif kind == 3:  # overwrite with an interesting integer
            value = _interesting_bytes(rng)
            data[at : at + len(value)] = value
        elif kind == 4 and self.tokens:  # insert a token of the format
            token = rng.choice(self.tokens)
            data[at:at] = token
        elif kind == 5:  # splice with another seed
            other = rng.choice(self.seeds)
            cut = rng.randrange(len(other) + 1)
            data[at:] = other[cut:]
        elif kind == 6 and data:  # duplicate a slice
            start = rng.randrange(len(data))
            piece = data[start : start + rng.randint(1, 64)]
            data[at:at] = piece * rng.randint(1, 4)
        elif data:  # delete a slice
            del data[at : at + rng.randint(1, 16)]


class Scratch:
    """One temporary folder per harness: the file under test is rewritten in place."""

    def __init__(self) -> None:
        base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
        self.root = Path(tempfile.mkdtemp(prefix="mlgate-fuzz-", dir=base)).resolve()

    def write(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_SCRATCH: Scratch | None = None


def scratch() -> Scratch:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Scratch()
    return _SCRATCH


def extract(extractor: type, filename: str, data: bytes) -> None:
    """Invariant of an inventory extractor: returns, or raises ExtractError; what it returns
    sorts with the total keys and serialises as the JSON result does."""
    from mlgate.inventory.interface import ExtractContext, ExtractError, SourceFile
    from mlgate.model import Component, PackageSource, ScanWarning
    from mlgate.report.jsonreport import component_json

    s = scratch()
    s.write(filename, data)
    file = SourceFile(root=s.root, relpath=filename, size=len(data), head=data[:512])
    ext = extractor()
    if not ext.matches(file):
        return
    try:
        result = ext.extract(file, ExtractContext(root=s.root, max_bytes=8 * 1024 * 1024))
    except ExtractError:
        return
    comps = sorted(result.components, key=Component.sort_key)
    json.dumps([component_json(c) for c in comps])
    sorted(result.sources, key=PackageSource.sort_key)
    sorted(result.warnings, key=ScanWarning.sort_key)
    for c in comps:
        _ = (c.bom_ref, c.key, c.purl)


_DISPATCHER: dict[str, object] = {}


def scan_model(filename: str, data: bytes, *, sarif: bool = True) -> None:
    """Invariant of the model scanners: scanning never raises out of the Dispatcher, and every
    finding sorts and serialises (JSON always, SARIF when asked)."""
    from mlgate.inspect.dispatch import Dispatcher
    from mlgate.inspect.interface import Limits
    from mlgate.model import Finding, Inventory, ScanResult

    s = scratch()
    s.write(filename, data)
    dispatcher = _DISPATCHER.get(str(s.root))
    if dispatcher is None:
        dispatcher = Dispatcher(s.root, limits=Limits(seconds_per_file=20))
        _DISPATCHER[str(s.root)] = dispatcher
    assert isinstance(dispatcher, Dispatcher)
    report = dispatcher.scan_file(filename)
    findings = sorted(report.findings, key=Finding.sort_key)
    result = ScanResult(root=str(s.root), inventory=Inventory(), findings=tuple(findings))
    render(result, sarif=sarif)


def render(result: object, *, sarif: bool) -> None:
    from mlgate.options import ScanOptions
    from mlgate.report import jsonreport
    from mlgate.report import sarif as sarif_report

    options = ScanOptions(root=Path("."))
    json.loads(jsonreport.render(result, options))  # type: ignore[arg-type]
    if sarif:
        json.loads(sarif_report.render(result, options))  # type: ignore[arg-type]


def expect(call: Callable[[], object], *errors: type[BaseException]) -> None:
    """``call()`` returns or raises one of ``errors`` (the parser's documented failures)."""
    try:
        call()
    except errors:
        return


def stream(data: bytes) -> io.BytesIO:
    return io.BytesIO(data)


def read_image(ref: str) -> None:
    """Invariant of the image reader and inventory: ``read_image`` with the inventory's selector
    returns or raises ImageError; what the inventory makes of it sorts and serialises."""
    from mlgate.image.contents import ImageSelector, image_inventory, layer_findings
    from mlgate.image.interface import ImageError
    from mlgate.image.layers import read_image as read
    from mlgate.model import Component, Finding, ScanWarning
    from mlgate.report.jsonreport import component_json

    selector = ImageSelector()
    try:
        with read(ref, selector) as contents:
            inventory = image_inventory(contents, selector)
            findings = layer_findings(contents)
    except ImageError:
        return
    comps = sorted([inventory.container, *inventory.components], key=Component.sort_key)
    json.dumps([component_json(c) for c in comps])
    sorted(inventory.warnings, key=ScanWarning.sort_key)
    sorted(findings, key=Finding.sort_key)
    for c in comps:
        _ = (c.bom_ref, c.key, c.purl)
