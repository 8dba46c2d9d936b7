"""SemVer 2.0 (npm, crates.io, Hex, Pub), Go module versions and NuGet versions."""

from __future__ import annotations

import re
from typing import Any

from mlgate.enrich.versions import InvalidVersionError, VersionScheme

_SEMVER = re.compile(
    r"^\s*[v=]?\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?((?:\.\d+)*)"
    r"(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?\s*$"
)


def _prerelease_key(pre: str | None, *, fold_case: bool = False) -> tuple[Any, ...]:
    # A release sorts after all of its prereleases; numeric identifiers sort before alphanumerics.
    if not pre:
        return (1,)
    parts: list[tuple[int, int, str]] = []
    for ident in pre.split("."):
        if ident.isdigit():
            parts.append((0, int(ident), ""))
        else:
            parts.append((1, 0, ident.lower() if fold_case else ident))
    return (0, tuple(parts))


def _parse(version: str, *, parts: int, fold_case: bool = False) -> tuple[Any, ...]:
    m = _SEMVER.match(version)
    if not m:
        raise InvalidVersionError(version)
    numbers = [int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0)]
    numbers += [int(x) for x in m.group(4).split(".")[1:]] if m.group(4) else []
    if len(numbers) > parts:
        raise InvalidVersionError(version)
    numbers += [0] * (parts - len(numbers))
    return (tuple(numbers), _prerelease_key(m.group(5), fold_case=fold_case))


class SemverScheme(VersionScheme):
    """SemVer 2.0: build metadata ignored, prereleases before their release."""

    name = "SemVer"

    def key(self, version: str) -> Any:
        return _parse(version, parts=3)


class GoScheme(VersionScheme):
    """Go modules: ``v`` prefix optional, ``+incompatible`` ignored, pseudo-versions sort as
    the prereleases they are."""

    name = "Go"

    def key(self, version: str) -> Any:
        return _parse(version.removesuffix("+incompatible"), parts=3)

    def canonical(self, version: str) -> str:
        return version.removeprefix("v")


class NuGetScheme(VersionScheme):
    """NuGet: up to four numeric parts, case-insensitive prerelease labels."""

    name = "NuGet"

    def key(self, version: str) -> Any:
        return _parse(version, parts=4, fold_case=True)

    def canonical(self, version: str) -> str:
        return version.lower()
