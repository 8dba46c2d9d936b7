"""What a model scanner is: a self-registering plugin for one or more formats of mlgate.formats.

Scanners read bytes, never load or import anything. Nested content (a pickle inside a zip inside a
tar) is handed back to the dispatcher through :meth:`ScanContext.scan_nested`, which applies the
depth and size bounds in one place.

How a scanner plugs in (see :mod:`mlgate.inspect.dispatch`):

1. Put a module in the ``mlgate.inspect`` package; the dispatcher imports every module of the
   package once (heavy optional libraries must be imported lazily inside ``scan``).
2. Subclass :class:`ModelScanner` with ``name`` and ``formats`` (format ids of
   :func:`mlgate.formats.sniff`); the subclass registers itself for those formats.
3. ``scan(target, ctx)`` yields findings (build them with :func:`model_finding`). Call
   ``ctx.check_time()`` in long loops. Any exception escaping ``scan`` becomes an
   ``MLG-MODEL-ERROR`` finding on the file (findings yielded before it are kept), a
   :class:`ScanTimeout` becomes ``MLG-MODEL-TIMEOUT``, an :class:`ArchiveBomb` ``MLG-ARCHIVE-BOMB``.
4. Inner content goes back through ``ctx.scan_nested(target.child(name, open, size))``; leave the
   format empty to have the dispatcher sniff it by content.
"""

from __future__ import annotations

import io
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from mlgate.model import Finding, Location, Severity


@dataclass(frozen=True)
class Limits:
    max_depth: int = 5  # archives inside archives
    max_members: int = 10_000  # per archive
    max_total_bytes: int = 16 * 1024**3  # uncompressed bytes read out of one top-level file
    max_ratio: float = 200.0  # uncompressed/compressed: above it a member is a bomb
    max_header_bytes: int = 100 * 1024 * 1024  # safetensors / GGUF / config headers
    seconds_per_file: float = 120.0
    bomb_min_bytes: int = 64 * 1024**2  # the ratio bound applies above this many output bytes
    spool_memory_bytes: int = 8 * 1024**2  # nested members larger than this spool to disk


@dataclass(frozen=True)
class ScanTarget:
    """One stream to scan: a file of the tree or a member inside one."""

    relpath: str  # the file in the tree (POSIX, relative to the root)
    format: str
    size: int
    open: Callable[[], IO[bytes]]  # a fresh binary stream positioned at the start
    member: str | None = None  # "outer/inner.pkl" chain inside archives, joined with "!"

    @property
    def location(self) -> Location:
        return Location(self.relpath, member=self.member)

    @property
    def display(self) -> str:
        """``file`` or ``file!member!inner`` for messages."""
        return str(self.location)

    def child(
        self, name: str, open: Callable[[], IO[bytes]], size: int, format: str = ""
    ) -> ScanTarget:
        """A member of this target; ``format`` empty: the dispatcher sniffs it by content."""
        member = f"{self.member}!{name}" if self.member else name
        return ScanTarget(self.relpath, format, size, open, member)


class ScanTimeout(Exception):
    """The per-file time bound ran out."""


class ArchiveBomb(Exception):
    """Decompressed content broke a bound (ratio, total bytes, member count)."""


@dataclass
class ScanContext:
    allow_globals: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    depth: int = 0
    deadline: float = float("inf")
    bytes_budget: list[int] = field(default_factory=lambda: [0])  # shared across nesting
    nested: Callable[[ScanTarget, ScanContext], list[Finding]] | None = None
    root: Path | None = None  # the scanned tree (for formats that point at sibling files)

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScanTimeout

    def charge(self, nbytes: int) -> None:
        """Count decompressed bytes against the per-file budget; raises :class:`ArchiveBomb`."""
        self.bytes_budget[0] += nbytes
        if self.bytes_budget[0] > self.limits.max_total_bytes:
            raise ArchiveBomb(
                f"more than {self.limits.max_total_bytes} bytes decompressed from one file"
            )

    def scan_nested(self, target: ScanTarget) -> list[Finding]:
        """Dispatch inner content (one level deeper) to the scanner of its format."""
        if self.nested is None:
            return []
        child = ScanContext(
            allow_globals=self.allow_globals,
            limits=self.limits,
            depth=self.depth + 1,
            deadline=self.deadline,
            bytes_budget=self.bytes_budget,
            nested=self.nested,
            root=self.root,
        )
        return self.nested(target, child)


def model_finding(
    rule_id: str,
    severity: Severity,
    message: str,
    target: ScanTarget,
    *,
    trigger: str | None = None,
    fix: str | None = None,
    properties: tuple[tuple[str, str], ...] = (),
) -> Finding:
    return Finding(
        rule_id=rule_id,
        kind="model",
        severity=severity,
        message=message,
        location=target.location,
        trigger=trigger,
        fix=fix,
        properties=(("format", target.format), *properties),
    )


class ModelScanner(ABC):
    """Base class; every concrete subclass registers itself for its ``formats``."""

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]] = ()
    registry: ClassVar[dict[str, type[ModelScanner]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):
            for fmt in cls.formats:
                ModelScanner.registry[fmt] = cls

    @abstractmethod
    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        """Yield findings for ``target``; malformed input is a finding, never an exception."""


class WindowIO(io.RawIOBase):
    """``length`` bytes at ``start`` of another stream, read lazily (skipped forward when the
    stream cannot seek); closing it closes the inner stream."""

    def __init__(self, inner: IO[bytes], start: int, length: int) -> None:
        self.inner = inner
        self.start = start
        self.length = length
        self.offset = 0
        if inner.seekable():
            inner.seek(start)
        else:
            left = start
            while left > 0:
                chunk = inner.read(min(1 << 20, left))
                if not chunk:
                    break
                left -= len(chunk)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self.inner.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence == 1:
            offset += self.offset
        elif whence == 2:
            offset += self.length
        offset = max(0, min(offset, self.length))
        self.inner.seek(self.start + offset)
        self.offset = offset
        return offset

    def tell(self) -> int:
        return self.offset

    def readinto(self, b: Any) -> int:
        n = min(len(b), self.length - self.offset)
        if n <= 0:
            return 0
        data = self.inner.read(n)
        b[: len(data)] = data
        self.offset += len(data)
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()
