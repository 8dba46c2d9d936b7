"""RPM distributions (Red Hat, Rocky, Alma, SUSE ...): rpm's order of ``[epoch:]version-release``.

``rpmvercmp`` as rpm implements it: runs of ASCII digits compare as numbers and beat runs of
letters, other characters only separate, ``~`` sorts before anything (even the end) and ``^``
after the end but before anything else. Epoch first (missing is 0), then version, then release.
"""

from __future__ import annotations

import re

from mlgate.enrich.versions import EpochScheme

_EVR = re.compile(r"^(?:(\d+):)?([^:\s-][^:\s]*?)(?:-([^:\s-]+))?$")


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


def rpmvercmp(a: str, b: str) -> int:
    """-1, 0 or 1, as rpm's ``rpmvercmp`` compares two version (or release) strings."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not _alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < len(b) and not _alnum(b[j]) and b[j] not in "~^":
            j += 1
        ca, cb = a[i : i + 1], b[j : j + 1]  # "" at the end
        if "~" in (ca, cb):
            if ca != "~":
                return 1
            if cb != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if "^" in (ca, cb):
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != "^":
                return 1
            if cb != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (ca and cb):
            break
        numeric = ca.isdigit()
        same_kind = str.isdigit if numeric else str.isalpha
        si, sj = i, j
        while i < len(a) and a[i].isascii() and same_kind(a[i]):
            i += 1
        while j < len(b) and b[j].isascii() and same_kind(b[j]):
            j += 1
        sa, sb = a[si:i], b[sj:j]
        if not sb:  # a number against letters: the number is newer
            return 1 if numeric else -1
        if numeric:
            sa, sb = sa.lstrip("0"), sb.lstrip("0")
            if len(sa) != len(sb):
                return 1 if len(sa) > len(sb) else -1
        if sa != sb:
            return 1 if sa > sb else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


class RpmScheme(EpochScheme):
    name = "rpm"
    pattern = _EVR
    compare_part = staticmethod(rpmvercmp)
