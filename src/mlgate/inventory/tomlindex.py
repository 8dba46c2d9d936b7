"""Lines of keys and strings in a TOML document (tomllib gives values, never positions).

One pass over the text records every table header; a lookup then only scans the body of the
table it asks about, so locating every declaration of a file stays linear in its size.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

import tomli

from mlgate.inventory.interface import ExtractError
from mlgate.model import ScanWarning

_HEADER = re.compile(r"\s*(\[\[?)\s*([^\[\]#]+?)\s*(\]\]?)\s*(?:#.*)?")
_KEY_PART = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([A-Za-z0-9_-]+))\s*(\.|$)')
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')

TomlPath = tuple[str, ...]


def load_toml(text: str) -> dict[str, Any]:
    """tomli.loads (the stdlib's tomllib, compiled) with errors as ExtractError with a line."""
    try:
        return tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        line = getattr(exc, "lineno", None)
        if line is None:
            m = re.search(r"line (\d+)", str(exc))
            line = int(m.group(1)) if m else None
        raise ExtractError(f"invalid TOML: {exc}", line=line) from None


def lock_packages(
    doc: Mapping[str, Any],
    index: TomlIndex,
    table: str,
    relpath: str,
    warnings: list[ScanWarning],
    *,
    versioned: bool,
) -> Iterator[tuple[int, dict[str, Any], int | None]]:
    """``(occurrence, package, line)`` for each ``[[table]]`` entry of a TOML lock file.

    An entry without a string ``name`` (or ``version`` when ``versioned``) is a warning naming
    its line, never a component.
    """
    packages = doc.get(table)
    what = "package without name or version" if versioned else "package without name"
    for i, pkg in enumerate(packages if isinstance(packages, list) else ()):
        line = index.key_line((table,), "name", occurrence=i)
        if (
            not isinstance(pkg, dict)
            or not isinstance(pkg.get("name"), str)
            or (versioned and not isinstance(pkg.get("version"), str))
        ):
            warnings.append(ScanWarning(relpath, what, line=line))
            continue
        yield i, pkg, line


@lru_cache(maxsize=4096)
def split_key(text: str) -> TomlPath | None:
    """``tool."poetry".dependencies`` -> ("tool", "poetry", "dependencies"); None if not a key."""
    parts: list[str] = []
    pos = 0
    while pos < len(text):
        m = _KEY_PART.match(text, pos)
        if not m:
            return None
        parts.append(next(g for g in m.groups()[:3] if g is not None))
        pos = m.end()
        if m.group(4) == "" and pos < len(text):
            return None
    return tuple(parts) if parts else None


@lru_cache(maxsize=1024)
def _key_regex(parts: TomlPath) -> re.Pattern[str]:
    alts = [rf"""(?:{re.escape(p)}|"{re.escape(p)}"|'{re.escape(p)}')""" for p in parts]
    return re.compile(r"\s*" + r"\s*\.\s*".join(alts) + r"\s*=")


class TomlIndex:
    """Header positions of one TOML text; answers "on which line is this key / string"."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers: dict[TomlPath, list[int]] = {}  # path -> 0-based line of each occurrence
        self._starts: list[int] = []
        in_multiline: str | None = None
        depth = 0  # open brackets of a multi-line array value
        for i, line in enumerate(self.lines):
            if in_multiline is not None:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            if "[" not in line and "]" not in line and "'''" not in line and '"""' not in line:
                continue  # most lines: nothing that opens a table, an array or a long string
            if depth == 0 and line.lstrip().startswith("["):
                m = _HEADER.fullmatch(line)
                path = split_key(m.group(2)) if m and len(m.group(1)) == len(m.group(3)) else None
                if path is not None:
                    self.headers.setdefault(path, []).append(i)
                    self._starts.append(i)
                    continue
            for quote in ('"""', "'''"):
                if quote in line and line.count(quote) % 2 == 1:
                    in_multiline = quote
            if in_multiline is None and ("[" in line or "]" in line):
                bare = _STRINGS.sub("", line).split("#", 1)[0]
                depth = max(0, depth + bare.count("[") - bare.count("]"))

    def tables(self, path: TomlPath) -> list[int]:
        """1-based lines of the headers of ``path`` (several for an array of tables)."""
        return [i + 1 for i in self.headers.get(path, ())]

    def _span(self, path: TomlPath, occurrence: int) -> tuple[TomlPath, int, int] | None:
        """(rest of the path, first body line, end) of the deepest table holding ``path``."""
        for cut in range(len(path), -1, -1):
            head = path[:cut]
            if cut == 0:
                start = 0
            else:
                found = self.headers.get(head)
                if not found:
                    continue
                idx = occurrence if cut == len(path) else 0
                if idx >= len(found):
                    return None
                start = found[idx] + 1
            nxt = bisect_right(self._starts, start - 1)
            end = self._starts[nxt] if nxt < len(self._starts) else len(self.lines)
            return path[cut:], start, end
        return None  # pragma: no cover - cut == 0 always answers

    def key_line(self, table: TomlPath, key: str | None = None, occurrence: int = 0) -> int | None:
        """1-based line of ``key = ...`` inside ``table`` (or of the table's header)."""
        found = self._key(table, key, occurrence)
        return None if found is None else found + 1

    def _key(self, table: TomlPath, key: str | None, occurrence: int) -> int | None:
        found = self._key_in_body(table, key, occurrence)
        if found is None and key is not None and occurrence == 0:
            # the value may be a sub-table of its own: [tool.poetry.dependencies.torch]
            sub = self.headers.get((*table, key))
            if sub:
                return sub[0]
        return found

    def _key_in_body(self, table: TomlPath, key: str | None, occurrence: int) -> int | None:
        span = self._span(table, occurrence)
        if span is None:
            return None
        rest, start, end = span
        parts = (*rest, key) if key is not None else rest
        if not parts:
            return start - 1 if start > 0 else None
        if len(parts) == 1:
            forms = (parts[0], f'"{parts[0]}"', f"'{parts[0]}'")
            for i in range(start, end):
                text = self.lines[i].lstrip()
                for form in forms:
                    if text.startswith(form) and text[len(form) :].lstrip().startswith("="):
                        return i
            return None
        regex = _key_regex(tuple(parts))  # a dotted key: rare, worth a regex
        for i in range(start, end):
            if regex.match(self.lines[i]):
                return i
        return None

    def string_lines(
        self, table: TomlPath, key: str, values: Sequence[str], occurrence: int = 0
    ) -> list[int | None]:
        """1-based line of each string of the array ``key = [...]``, in order.

        The search moves forward from one value to the next, so it is linear in the array's size.
        A value that cannot be found gets the key's line.
        """
        key_at = self._key(table, key, occurrence)
        if key_at is None:
            return [None] * len(values)
        fallback = key_at + 1
        nxt = bisect_right(self._starts, key_at)
        end = self._starts[nxt] if nxt < len(self._starts) else len(self.lines)
        out: list[int | None] = []
        line, col = key_at, self.lines[key_at].find("=") + 1
        for value in values:
            found = self._find_string(value, line, col, end)
            if found is None:
                out.append(fallback)
                continue
            line, col = found
            out.append(line + 1)
        return out

    def _find_string(self, value: str, line: int, col: int, end: int) -> tuple[int, int] | None:
        needles = (f'"{value}"', f"'{value}'", '"' + value.replace('"', '\\"') + '"')
        for i in range(line, end):
            text = self.lines[i]
            start = col if i == line else 0
            for needle in needles:
                pos = text.find(needle, start)
                if pos >= 0:
                    return i, pos + len(needle)
        return None
