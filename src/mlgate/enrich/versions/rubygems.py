"""RubyGems: ``Gem::Version`` order (a letter makes a prerelease; trailing zeros do not count)."""

from __future__ import annotations

import re
from typing import Any

from mlgate.enrich.versions import InvalidVersionError, VersionScheme

_VALID = re.compile(r"^\s*[0-9]+(?:[.-]?[0-9A-Za-z-]+)*\s*$")
_SEGMENT = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)


def segments(version: str) -> list[int | str]:
    if not _VALID.match(version):
        raise InvalidVersionError(version)
    text = version.strip().replace("-", ".pre.")
    segs: list[int | str] = [int(s) if s.isdigit() else s for s in _SEGMENT.findall(text)]
    # Gem::Version#canonical_segments: drop trailing zeros of the release and prerelease parts.
    first_str = next((i for i, s in enumerate(segs) if isinstance(s, str)), len(segs))
    out: list[int | str] = []
    for part in (segs[:first_str], segs[first_str:]):
        while part and part[-1] == 0:
            part = part[:-1]
        out += part
    return out


def _seg_key(seg: int | str) -> tuple[int, int, str]:
    # A string segment (prerelease) sorts before any number.
    return (1, seg, "") if isinstance(seg, int) else (0, 0, seg)


class RubyGemsScheme(VersionScheme):
    name = "RubyGems"

    def key(self, version: str) -> Any:
        segs = segments(version)
        return _GemKey(tuple(_seg_key(s) for s in segs))


class _GemKey:
    """Missing segments compare as 0, the way ``Gem::Version#<=>`` pads the shorter side."""

    __slots__ = ("segs",)

    def __init__(self, segs: tuple[tuple[int, int, str], ...]) -> None:
        self.segs = segs

    def _cmp(self, other: _GemKey) -> int:
        zero = (1, 0, "")
        for i in range(max(len(self.segs), len(other.segs))):
            a = self.segs[i] if i < len(self.segs) else zero
            b = other.segs[i] if i < len(other.segs) else zero
            if a != b:
                return -1 if a < b else 1
        return 0

    def __lt__(self, other: _GemKey) -> bool:
        return self._cmp(other) < 0

    def __gt__(self, other: _GemKey) -> bool:
        return self._cmp(other) > 0

    def __le__(self, other: _GemKey) -> bool:
        return self._cmp(other) <= 0

    def __ge__(self, other: _GemKey) -> bool:
        return self._cmp(other) >= 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GemKey) and self._cmp(other) == 0

    def __hash__(self) -> int:
        return hash(self.segs)
