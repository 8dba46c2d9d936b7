"""What an extractor is: a plugin that says "this file is mine" and extracts components from it."""

from __future__ import annotations

import fnmatch
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mlgate.model import Component, PackageSource, ScanWarning

HEAD_BYTES = 512  # read from every file so formats can be recognised by content (tar: 257)


class ExtractError(Exception):
    """An extractor could not parse its file; becomes a warning naming the file (and line)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class SourceFile:
    """A regular file inside the scanned root, as seen by the walker."""

    root: Path
    relpath: str  # POSIX, relative to root
    size: int
    head: bytes  # the first HEAD_BYTES bytes

    @property
    def path(self) -> Path:
        return self.root / self.relpath

    @property
    def name(self) -> str:
        # string split, not PurePosixPath: asked for every file by every extractor
        return self.relpath.rpartition("/")[2]

    @property
    def parent(self) -> str:
        return self.relpath.rpartition("/")[0]


@dataclass
class ExtractResult:
    components: list[Component] = field(default_factory=list)
    sources: list[PackageSource] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)


@dataclass(frozen=True)
class ExtractContext:
    """What an extractor may use besides its own file."""

    root: Path
    max_bytes: int

    def read_text(self, file: SourceFile) -> str:
        """Read a manifest as text; raises ExtractError for oversized or binary content."""
        return read_text_bounded(file.path, file.relpath, self.max_bytes)


def read_text_bounded(path: Path, relpath: str, max_bytes: int) -> str:
    with path.open("rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ExtractError(f"larger than the {max_bytes}-byte bound for manifests; not read")
    if b"\x00" in data:
        raise ExtractError("binary content (NUL bytes) where a text manifest was expected")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExtractError(f"not valid UTF-8 text (byte {exc.start})") from None


class Extractor(ABC):
    """Base class; every concrete subclass registers itself.

    ``patterns`` are matched against the file's base name (fnmatch, case-sensitive). Extractors
    that recognise files by content override :meth:`matches`.
    """

    name: ClassVar[str]
    patterns: ClassVar[tuple[str, ...]] = ()
    registry: ClassVar[list[type[Extractor]]] = []

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not getattr(cls, "__abstractmethods__", None):
            Extractor.registry.append(cls)

    def matches(self, file: SourceFile) -> bool:
        return any(fnmatch.fnmatchcase(file.name, pat) for pat in self.patterns)

    @abstractmethod
    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        """Return the components declared in ``file``; raise ExtractError when it cannot parse."""
