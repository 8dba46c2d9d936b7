"""apk-tools' database ``/lib/apk/db/installed``: one ``X:value`` line per field, blank line
between packages (``P`` name, ``V`` version, ``A`` arch, ``L`` license, ``o`` origin = the
source package Alpine's advisories are keyed on; ``F``/``R`` the folders and files installed)."""

from __future__ import annotations

from dataclasses import dataclass

METADATA_NAMES = ("METADATA", "PKG-INFO")


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
    # files of the package (``F:`` folder, ``R:`` name) that are Python core metadata: the
    # inventory leaves those distributions to apk
    python_metadata: tuple[str, ...] = ()


def parse_installed(text: str) -> tuple[list[ApkPackage], list[tuple[int, str]]]:
    out: list[ApkPackage] = []
    problems: list[tuple[int, str]] = []
    fields: dict[str, str] = {}
    owned: list[str] = []
    folder = ""
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
                python_metadata=tuple(owned),
            )
        )

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            flush()
            fields, owned, folder = {}, [], ""
            continue
        if len(line) < 2 or line[1] != ":":
            raise ApkFormatError(f"not an 'X:value' line: {line[:60]!r}", lineno)
        if not fields:
            start = lineno
        if line[0] == "F":
            folder = line[2:]
        elif line[0] == "R" and (line[2:] in METADATA_NAMES or line.endswith(".egg-info")):
            owned.append(f"/{folder}/{line[2:]}" if folder else f"/{line[2:]}")
        # file lists (F:, R:, Z: ...) repeat keys; only the package's own fields are kept
        fields.setdefault(line[0], line[2:])
    flush()
    return out, problems
