"""Maven: the rules of ``org.apache.maven.artifact.versioning.ComparableVersion``."""

from __future__ import annotations

import functools
from typing import Any

from mlgate.enrich.versions import VersionScheme

_QUALIFIERS = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"]
_ALIASES = {"ga": "", "final": "", "release": "", "cr": "rc"}
_RELEASE = str(_QUALIFIERS.index(""))

# An item is an int, a str (qualifier) or a list (a sub-version started by "-" or a digit/letter
# boundary); None stands for "missing" when one list is shorter than the other.
Item = int | str | list["Item"]


def _qualifier_rank(q: str) -> str:
    return str(_QUALIFIERS.index(q)) if q in _QUALIFIERS else f"{len(_QUALIFIERS)}-{q}"


def _string_item(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and len(text) == 1:
        text = {"a": "alpha", "b": "beta", "m": "milestone"}.get(text, text)
    return _ALIASES.get(text, text)


def _is_null(item: Item) -> bool:
    if isinstance(item, int):
        return item == 0
    if isinstance(item, str):
        return _qualifier_rank(item) == _RELEASE
    return not item


def _normalize(items: list[Item]) -> None:
    for i in range(len(items) - 1, -1, -1):
        if _is_null(items[i]):
            del items[i]
        elif not isinstance(items[i], list):
            break


def parse(version: str) -> list[Item]:
    version = version.lower()
    root: list[Item] = []
    current = root
    stack = [root]
    is_digit = False
    start = 0

    def item(text: str, digit: bool, followed_by_digit: bool = False) -> Item:
        return int(text) if digit else _string_item(text, followed_by_digit)

    def push() -> None:
        nonlocal current
        sub: list[Item] = []
        current.append(sub)
        current = sub
        stack.append(sub)

    for i, c in enumerate(version):
        if c in ".-":
            current.append(0 if i == start else item(version[start:i], is_digit))
            start = i + 1
            if c == "-":
                push()
        elif c.isdigit():
            if not is_digit and i > start:
                current.append(item(version[start:i], False, followed_by_digit=True))
                start = i
                push()
            is_digit = True
        else:
            if is_digit and i > start:
                current.append(item(version[start:i], True))
                start = i
                push()
            is_digit = False
    if len(version) > start:
        current.append(item(version[start:], is_digit))
    for lst in reversed(stack):
        _normalize(lst)
    return root


def _cmp(a: Item | None, b: Item | None) -> int:
    if a is None:
        return 0 if b is None else -_cmp(b, None)
    if isinstance(a, int):
        if b is None:
            return 0 if a == 0 else 1
        if isinstance(b, int):
            return (a > b) - (a < b)
        return 1  # int > qualifier, int > list
    if isinstance(a, str):
        if b is None:
            ra, rb = _qualifier_rank(a), _RELEASE
            return (ra > rb) - (ra < rb)
        if isinstance(b, str):
            ra, rb = _qualifier_rank(a), _qualifier_rank(b)
            return (ra > rb) - (ra < rb)
        return -1  # qualifier < int, qualifier < list
    if b is None:
        return 0 if not a else _cmp(a[0], None)
    if isinstance(b, int):
        return -1
    if isinstance(b, str):
        return 1
    for i in range(max(len(a), len(b))):
        left = a[i] if i < len(a) else None
        right = b[i] if i < len(b) else None
        result = _cmp(left, right)
        if result:
            return result
    return 0


def compare(a: str, b: str) -> int:
    return _cmp(parse(a), parse(b))


_KEY = functools.cmp_to_key(_cmp)


class MavenScheme(VersionScheme):
    """alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp."""

    name = "Maven"

    def key(self, version: str) -> Any:
        return _KEY(parse(version))
