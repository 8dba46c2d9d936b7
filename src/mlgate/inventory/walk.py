"""One walk of the scanned tree: skips .git, honours excludes, never leaves the root."""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlgate.inventory.interface import HEAD_BYTES, SourceFile
from mlgate.model import ScanWarning

SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


def is_excluded(relpath: str, patterns: Sequence[str]) -> bool:
    """True when ``relpath`` (POSIX) matches an exclude glob, by full path or base name.

    A pattern matches a directory and everything below it: ``build``, ``build/``, ``build/**``
    and ``*/build`` all exclude ``build/x.txt``.
    """
    if not patterns:
        return False
    name = relpath.rsplit("/", 1)[-1]
    for raw in patterns:
        pat = raw.strip().removeprefix("./")
        if not pat:
            continue
        pat = pat.rstrip("/")
        if pat.endswith("/**"):
            prefix = pat[:-3]
            if relpath == prefix or relpath.startswith(prefix + "/"):
                return True
        if fnmatch.fnmatchcase(relpath, pat) or fnmatch.fnmatchcase(name, pat):
            return True
    return False


def normalize_include(paths: Sequence[str]) -> tuple[str, ...]:
    """Sub-paths of the root as POSIX prefixes without ``./`` or trailing slashes."""
    out = []
    for raw in paths:
        path = raw.strip().replace("\\", "/").strip("/")
        while path.startswith("./"):
            path = path[2:]
        out.append("" if path in ("", ".") else path)
    return tuple(out)


def in_include(relpath: str, include: Sequence[str], *, directory: bool = False) -> bool:
    """True when ``relpath`` lies under an included sub-path (or, for a directory, leads to one).

    No include means the whole root.
    """
    if not include:
        return True
    for inc in include:
        if not inc or relpath == inc or relpath.startswith(inc + "/"):
            return True
        if directory and inc.startswith(relpath + "/"):
            return True
    return False


def _inside(root: Path, target: Path) -> bool:
    try:
        target.relative_to(root)
    except ValueError:
        return False
    return True


def walk(
    root: Path,
    exclude: Sequence[str],
    warnings: list[ScanWarning],
    include: Sequence[str] = (),
) -> Iterator[SourceFile]:
    """Yield every regular file below ``root`` in a stable (sorted) order.

    ``include`` limits the walk to sub-paths of the root (a shard of a CI matrix); paths stay
    relative to ``root``, so the shards of one tree report the same locations as one scan.
    Symbolic links are never followed: one that points out of the root is reported, one that
    stays inside is skipped because its target is visited in its own place.
    """
    root = root.resolve()
    include = normalize_include(include)
    stack: list[str] = [""]
    while stack:
        reldir = stack.pop()
        absdir = root / reldir if reldir else root
        try:
            with os.scandir(absdir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            warnings.append(ScanWarning(reldir or ".", f"directory not readable: {exc.strerror}"))
            continue
        subdirs: list[str] = []
        for entry in entries:
            rel = f"{reldir}/{entry.name}" if reldir else entry.name
            if is_excluded(rel, exclude) or not in_include(rel, include, directory=True):
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                warnings.append(ScanWarning(rel, f"not readable: {exc.strerror}"))
                continue
            if stat.S_ISLNK(st.st_mode):
                target = Path(os.path.realpath(entry.path))
                if not _inside(root, target):
                    warnings.append(
                        ScanWarning(
                            rel,
                            "symbolic link leads out of the scanned root; not followed",
                            code="symlink-escape",
                        )
                    )
                continue
            if stat.S_ISDIR(st.st_mode):
                if entry.name not in SKIP_DIRS:
                    subdirs.append(rel)
                continue
            if not stat.S_ISREG(st.st_mode) or not in_include(rel, include):
                continue
            try:
                with open(entry.path, "rb") as fh:
                    head = fh.read(HEAD_BYTES)
            except OSError as exc:
                warnings.append(ScanWarning(rel, f"not readable: {exc.strerror}"))
                continue
            yield SourceFile(root=root, relpath=rel, size=st.st_size, head=head)
        stack.extend(reversed(subdirs))
