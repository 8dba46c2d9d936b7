"""apk-tools' database ``/lib/apk/db/installed``: one ``X:value`` line per field, blank line
between packages (``P`` name, ``V`` version, ``A`` arch, ``L`` license, ``o`` origin = the
source package Alpine's advisories are keyed on)."""

from __future__ import annotations

from dataclasses import dataclass


class ApkFormatError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class ApkPackage:
    name: str
    version: str
    arch: str
    license: str
    origin: str
    line: int


def parse_installed(text: str) -> tuple[list[ApkPackage], list[tuple[int, str]]]:
    out: list[ApkPackage] = []
    problems: list[tuple[int, str]] = []
    fields: dict[str, str] = {}
    start = 0

    def flush() -> None:
        if not fields:
            return
        name, version = fields.get("P", ""), fields.get("V", "")
        if not name or not version:
            problems.append((start, "package entry without P: or V:; skipped"))
            return
        out.append(
            ApkPackage(
                name=name,
                version=version,
                arch=fields.get("A", ""),
                license=fields.get("L", ""),
                origin=fields.get("o", "") or name,
                line=start,
            )
        )

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            flush()
            fields = {}
            continue
        if len(line) < 2 or line[1] != ":":
            raise ApkFormatError(f"not an 'X:value' line: {line[:60]!r}", lineno)
        if not fields:
            start = lineno
        # file lists (F:, R:, Z: ...) repeat keys; only the package's own fields are kept
        fields.setdefault(line[0], line[2:])
    flush()
    return out, problems
