"""Alpine: apk-tools' order (``1.2.3a_rc1_p2-r4``: numbers, a letter, suffixes, revision)."""

from __future__ import annotations

import re
from typing import Any

from mlgate.enrich.versions import InvalidVersionError, VersionScheme

_VERSION = re.compile(
    r"^(\d+(?:\.\d+)*)([a-z]?)((?:_(?:alpha|beta|pre|rc|cvs|svn|git|hg|p)\d*)*)(?:-r(\d+))?$"
)
_SUFFIX = re.compile(r"_(alpha|beta|pre|rc|cvs|svn|git|hg|p)(\d*)")
# Pre-release suffixes sort before the bare version (rank 0 stands for "no more suffixes").
_SUFFIX_RANK = {"alpha": -4, "beta": -3, "pre": -2, "rc": -1, "cvs": 1, "svn": 2, "git": 3,
                "hg": 4, "p": 5}  # fmt: skip


class ApkScheme(VersionScheme):
    name = "apk"

    def key(self, version: str) -> Any:
        m = _VERSION.match(version.strip())
        if not m:
            raise InvalidVersionError(version)
        numbers = tuple(int(x) for x in m.group(1).split("."))
        suffixes = [(_SUFFIX_RANK[s], int(n or 0)) for s, n in _SUFFIX.findall(m.group(3))]
        suffixes.append((0, 0))  # the end of the suffixes sorts between pre- and post-releases
        return (numbers, m.group(2), tuple(suffixes), int(m.group(4) or 0))
