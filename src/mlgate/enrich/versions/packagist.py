"""Packagist: PHP's ``version_compare`` order, as Composer and OSV use it."""

from __future__ import annotations

import functools
import re
from typing import Any

from mlgate.enrich.versions import VersionScheme

# Special forms by prefix, in PHP's order; any other word sorts before "dev".
_SPECIAL = [("dev", 0), ("alpha", 1), ("a", 1), ("beta", 2), ("b", 2), ("RC", 3), ("rc", 3),
            ("#", 4), ("pl", 5), ("p", 5)]  # fmt: skip


def canonical_parts(version: str) -> list[str]:
    text = version.strip()
    if text[:1] in "vV" and text[1:2].isdigit():
        text = text[1:]
    text = re.sub(r"[-_+]", ".", text)
    text = re.sub(r"(?<=\d)(?=[^\d.])|(?<=[^\d.])(?=\d)", ".", text)
    return [p for p in text.split(".") if p != ""]


def _special(word: str) -> int:
    for form, order in _SPECIAL:
        if word.startswith(form):
            return order
    return -1


def _cmp_part(a: str, b: str) -> int:
    if a.isdigit() and b.isdigit():
        x, y = int(a), int(b)
    elif not a.isdigit() and not b.isdigit():
        x, y = _special(a), _special(b)
    elif a.isdigit():
        x, y = _special("#"), _special(b)
    else:
        x, y = _special(a), _special("#")
    return (x > y) - (x < y)


def compare(a: str, b: str) -> int:
    pa, pb = canonical_parts(a), canonical_parts(b)
    for x, y in zip(pa, pb, strict=False):
        result = _cmp_part(x, y)
        if result:
            return result
    if len(pa) == len(pb):
        return 0
    # The longer side wins when its next part is a number, else its word is weighed against "#".
    longer, sign = (pa, 1) if len(pa) > len(pb) else (pb, -1)
    rest = longer[min(len(pa), len(pb))]
    return sign * (1 if rest.isdigit() else _cmp_part(rest, "#"))


class PackagistScheme(VersionScheme):
    name = "Packagist"

    def key(self, version: str) -> Any:
        return functools.cmp_to_key(compare)(version)
