"""OSV's ``affected`` semantics: is one package version affected by a record, and what fixes it.

A record is matched many times in one run (every version of a package, every package of a
monorepo), so its ``affected`` entries are prepared once: names normalised, ``versions`` as a
set, range events parsed and sorted in the ecosystem's order.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from mlgate.enrich.interface import PackageQuery, Record
from mlgate.enrich.versions import VersionScheme, base_ecosystem, scheme_for
from mlgate.model import normalize_name

ORDERED_RANGES = {"ECOSYSTEM", "SEMVER"}  # GIT ranges need the repository: ignored offline
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
_PREPARED_LIMIT = 500_000


@functools.lru_cache(maxsize=262_144)
def cached_key(scheme: VersionScheme, text: str) -> Any:
    """``scheme.key`` memoised (records are matched again and again); None when unorderable."""
    try:
        return scheme.key(text)
    except ValueError:
        return None


def ecosystem_matches(query_ecosystem: str, record_ecosystem: str) -> bool:
    """Exact match; a query without a release suffix (``Debian``) matches every release."""
    if query_ecosystem == record_ecosystem:
        return True
    return ":" not in query_ecosystem and base_ecosystem(record_ecosystem) == query_ecosystem


def _events(rng: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for event in rng.get("events") or ():
        if isinstance(event, dict):
            for kind in _EVENT_KINDS:
                value = event.get(kind)
                if isinstance(value, str):
                    out.append((kind, value))
    return out


class _Range:
    """One ordered range: events sorted by version (``introduced: "0"`` first) and its limits."""

    __slots__ = ("events", "limits")

    def __init__(self, events: list[tuple[str, str]], scheme: VersionScheme) -> None:
        keyed: list[tuple[int, Any, str]] = []
        self.limits: list[Any] = []
        for kind, value in events:
            if kind == "introduced" and value == "0":
                keyed.append((0, None, kind))
                continue
            k = cached_key(scheme, value)
            if k is None:
                continue  # an event we cannot order cannot move the boundary
            if kind == "limit":
                self.limits.append(k)
            else:
                keyed.append((1, k, kind))
        keyed.sort(key=lambda e: (e[0],) if e[1] is None else (e[0], e[1]))
        self.events = [(k, kind) for _, k, kind in keyed]

    def contains(self, v: Any) -> bool:
        """The OSV specification's evaluation of one ECOSYSTEM/SEMVER range."""
        vulnerable = False
        for k, kind in self.events:
            if kind == "introduced" and (k is None or v >= k):
                vulnerable = True
            elif (kind == "fixed" and v >= k) or (kind == "last_affected" and v > k):
                vulnerable = False
        if self.limits and not any(v < lim for lim in self.limits):
            return False
        return vulnerable


class _Entry:
    """One ``affected`` entry of a record, ready for matching."""

    __slots__ = ("_version_keys", "ecosystem", "fixed", "name", "ranges", "scheme", "versions")

    def __init__(self, entry: dict[str, Any], ecosystem: str, name: str) -> None:
        self.ecosystem = ecosystem
        self.name = normalize_name(base_ecosystem(ecosystem), name)
        self.scheme = scheme_for(ecosystem)
        raw_versions = entry.get("versions") or ()
        self.versions = frozenset(v for v in raw_versions if isinstance(v, str))
        self.ranges: list[_Range] = []
        self.fixed: list[str] = []
        for rng in entry.get("ranges") or ():
            if isinstance(rng, dict) and rng.get("type") in ORDERED_RANGES:
                events = _events(rng)
                self.fixed += [v for k, v in events if k == "fixed" and v not in self.fixed]
                if self.scheme is not None:
                    self.ranges.append(_Range(events, self.scheme))
        self._version_keys: set[Any] | list[Any] | None = None

    def listed(self, key: Any) -> bool:
        """The version is in the list under another spelling (``1.1`` and ``1.1.0`` in PEP 440)."""
        if self._version_keys is None:
            assert self.scheme is not None
            keys = [k for k in (cached_key(self.scheme, v) for v in self.versions) if k is not None]
            try:
                self._version_keys = set(keys)  # equal versions hash alike in hashable schemes
            except TypeError:
                self._version_keys = keys  # comparison-only keys (Maven, dpkg ...): a scan
        if isinstance(self._version_keys, set):
            return key in self._version_keys
        return any(k == key for k in self._version_keys)

    def affects(self, version: str) -> bool:
        """In the ``versions`` list, or in an ordered range (ranges win when the list is stale)."""
        if version in self.versions:
            return True
        if self.scheme is None:
            return False
        key = cached_key(self.scheme, version)
        if key is None:
            canonical = self.scheme.canonical(version)
            return any(self.scheme.canonical(v) == canonical for v in self.versions)
        return any(r.contains(key) for r in self.ranges) or (
            bool(self.versions) and self.listed(key)
        )


_prepared: dict[int, tuple[Record, list[_Entry]]] = {}


def _entries(record: Record) -> list[_Entry]:
    # Keyed by object identity (the record is kept alive beside it, so the id cannot be reused).
    hit = _prepared.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    out = []
    for entry in record.get("affected") or ():
        pkg = entry.get("package") if isinstance(entry, dict) else None
        if isinstance(pkg, dict):
            eco, name = pkg.get("ecosystem"), pkg.get("name")
            if isinstance(eco, str) and isinstance(name, str):
                out.append(_Entry(entry, eco, name))
    if len(_prepared) >= _PREPARED_LIMIT:
        _prepared.clear()
    _prepared[id(record)] = (record, out)
    return out


def _matching(record: Record, query: PackageQuery) -> Iterator[_Entry]:
    for entry in _entries(record):
        if entry.name == query.name and ecosystem_matches(query.ecosystem, entry.ecosystem):
            yield entry


def record_affects(record: Record, query: PackageQuery) -> bool:
    return any(e.affects(query.version) for e in _matching(record, query))


def in_range(version: str, rng: dict[str, Any], scheme: VersionScheme) -> bool:
    """One ECOSYSTEM/SEMVER range of a record against one version."""
    return _Range(_events(rng), scheme).contains(scheme.key(version))


def fixed_versions(record: Record, query: PackageQuery) -> list[str]:
    """Every ``fixed`` event for the queried package (ordered ranges only)."""
    out: list[str] = []
    for entry in _matching(record, query):
        out += [v for v in entry.fixed if v not in out]
    return out


def smallest_fix_above(versions: list[str], installed: str, ecosystem: str) -> str | None:
    """The smallest of ``versions`` above ``installed`` in the ecosystem's order, if known."""
    scheme = scheme_for(ecosystem)
    if scheme is None:
        return None
    current = cached_key(scheme, installed)
    if current is None:
        return None
    best: tuple[Any, str] | None = None
    for text in versions:
        k = cached_key(scheme, text)
        if k is not None and k > current and (best is None or k < best[0]):
            best = (k, text)
    return best[1] if best else None
