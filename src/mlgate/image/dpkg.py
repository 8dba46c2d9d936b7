"""dpkg's database: ``/var/lib/dpkg/status`` and distroless ``/var/lib/dpkg/status.d/*``.

Both are deb822 paragraphs. Only packages whose ``Status`` says *installed* count (removed ones
keep a ``config-files`` paragraph). ``Source: name (version)`` names the source package and,
when it differs, its version: Debian and Ubuntu advisories are per source package.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_SOURCE = re.compile(r"^\s*([^\s(]+)\s*(?:\(\s*([^)\s]+)\s*\))?\s*$")


class DebFormatError(ValueError):
    """A status file that is not deb822 text."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    arch: str
    source: str
    source_version: str
    line: int  # of the paragraph's first line


def _joined(fields: dict[str, list[str]]) -> dict[str, str]:
    return {key: "\n".join(lines) for key, lines in fields.items()}


def paragraphs(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line, fields) of each paragraph; continuation lines are joined with newlines.

    Lines are collected and joined once per paragraph: appending each to a growing string copies
    it every time, quadratic in a hostile field of a million lines.
    """
    fields: dict[str, list[str]] = {}
    start = 0
    key = ""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            if fields:
                yield start, _joined(fields)
            fields, key = {}, ""
            continue
        if line[0] in " \t":
            if not key:
                raise DebFormatError("continuation line outside a field", lineno)
            fields[key].append(line[1:])
            continue
        name, sep, value = line.partition(":")
        if not sep or not name or " " in name:
            raise DebFormatError(f"not a 'Field: value' line: {line[:60]!r}", lineno)
        if not fields:
            start = lineno
        key = name.strip()
        fields[key] = [value.strip()]
    if fields:
        yield start, _joined(fields)


def parse_status(text: str) -> tuple[list[DebPackage], list[tuple[int, str]]]:
    """Installed packages, and (line, problem) for paragraphs that could not be used.

    A line that is not deb822 at all raises :class:`DebFormatError` (the file is not a status
    file); a paragraph lacking a name or version is skipped with a problem noted.
    """
    out: list[DebPackage] = []
    problems: list[tuple[int, str]] = []
    for line, fields in paragraphs(text):
        status = fields.get("Status", "install ok installed").split()
        if len(status) < 3 or status[2] != "installed":
            continue
        name, version = fields.get("Package", ""), fields.get("Version", "")
        if not name or not version:
            problems.append((line, "package paragraph without Package or Version; skipped"))
            continue
        source, source_version = name, version
        if fields.get("Source"):
            m = _SOURCE.match(fields["Source"])
            if m:
                source = m.group(1)
                source_version = m.group(2) or version
            else:
                problems.append((line, f"{name}: unreadable Source field; binary name used"))
        out.append(
            DebPackage(
                name=name,
                version=version,
                arch=fields.get("Architecture", ""),
                source=source,
                source_version=source_version,
                line=line,
            )
        )
    return out, problems
