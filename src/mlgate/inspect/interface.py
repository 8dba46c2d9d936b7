"""What a model scanner is: a self-registering plugin for one or more formats of mlgate.formats.

Scanners read bytes, never load or import anything. Nested content (a pickle inside a zip inside a
tar) is handed back to the dispatcher through :meth:`ScanContext.scan_nested`, which applies the
depth and size bounds in one place.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import IO, ClassVar

from mlgate.model import Finding, Location, Severity


@dataclass(frozen=True)
class Limits:
    max_depth: int = 5  # archives inside archives
    max_members: int = 10_000  # per archive
    max_total_bytes: int = 16 * 1024**3  # uncompressed bytes read out of one top-level file
    max_ratio: float = 200.0  # uncompressed/compressed: above it a member is a bomb
    max_header_bytes: int = 100 * 1024 * 1024  # safetensors / GGUF / config headers
    seconds_per_file: float = 120.0


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


class ScanTimeout(Exception):
    """The per-file time bound ran out."""


@dataclass
class ScanContext:
    allow_globals: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    depth: int = 0
    deadline: float = float("inf")
    bytes_budget: list[int] = field(default_factory=lambda: [0])  # shared across nesting
    nested: Callable[[ScanTarget, ScanContext], list[Finding]] | None = None

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScanTimeout

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
