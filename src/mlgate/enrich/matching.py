"""OSV's ``affected`` semantics: is one package version affected by a record, and what fixes it."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from mlgate.enrich.interface import PackageQuery, Record
from mlgate.enrich.versions import InvalidVersionError, VersionScheme, base_ecosystem, scheme_for
from mlgate.model import normalize_name

ORDERED_RANGES = {"ECOSYSTEM", "SEMVER"}  # GIT ranges need the repository: ignored offline


def ecosystem_matches(query_ecosystem: str, record_ecosystem: str) -> bool:
    """Exact match; a query without a release suffix (``Debian``) matches every release."""
    if query_ecosystem == record_ecosystem:
        return True
    return ":" not in query_ecosystem and base_ecosystem(record_ecosystem) == query_ecosystem


def affected_entries(record: Record, query: PackageQuery) -> Iterator[dict[str, Any]]:
    """The ``affected`` entries of ``record`` that name the queried package."""
    for entry in record.get("affected") or ():
        if not isinstance(entry, dict):
            continue
        pkg = entry.get("package")
        if not isinstance(pkg, dict):
            continue
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not isinstance(name, str):
            continue
        if ecosystem_matches(query.ecosystem, eco) and (
            normalize_name(base_ecosystem(eco), name) == query.name
        ):
            yield entry


def _events(rng: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for event in rng.get("events") or ():
        if isinstance(event, dict):
            for kind in ("introduced", "fixed", "last_affected", "limit"):
                value = event.get(kind)
                if isinstance(value, str):
                    out.append((kind, value))
    return out


def in_range(version: str, rng: dict[str, Any], scheme: VersionScheme) -> bool:
    """The OSV specification's evaluation of one ECOSYSTEM/SEMVER range."""
    v = scheme.key(version)
    events = []
    limits = []
    for kind, value in _events(rng):
        if value == "0" and kind == "introduced":
            events.append((0, None, kind))
            continue
        k = cached_key(scheme, value)
        if k is None:
            continue  # an event we cannot order cannot move the boundary
        if kind == "limit":
            limits.append(k)
        else:
            events.append((1, k, kind))
    events.sort(key=lambda e: (e[0], e[1]) if e[1] is not None else (e[0],))
    vulnerable = False
    for _, k, kind in events:
        if kind == "introduced" and (k is None or v >= k):
            vulnerable = True
        elif (kind == "fixed" and v >= k) or (kind == "last_affected" and v > k):
            vulnerable = False
    if limits and not any(v < lim for lim in limits):
        return False
    return vulnerable


@functools.lru_cache(maxsize=262_144)
def cached_key(scheme: VersionScheme, text: str) -> Any:
    """``scheme.key`` memoised (records are matched again and again); None when unorderable."""
    try:
        return scheme.key(text)
    except InvalidVersionError:
        return None


def entry_affects(entry: dict[str, Any], query: PackageQuery, scheme: VersionScheme | None) -> bool:
    """In the ``versions`` list, or in an ordered range (ranges win when the list is stale)."""
    versions = entry.get("versions") or ()
    if query.version in versions:
        return True
    if scheme is None:
        return False
    key = cached_key(scheme, query.version)
    if key is None:
        canonical = scheme.canonical(query.version)
        return any(isinstance(v, str) and scheme.canonical(v) == canonical for v in versions)
    for rng in entry.get("ranges") or ():
        if (
            isinstance(rng, dict)
            and rng.get("type") in ORDERED_RANGES
            and in_range(query.version, rng, scheme)
        ):
            return True
    # The same version spelled differently ("1.1" and "1.1.0" in PEP 440).
    return any(isinstance(v, str) and cached_key(scheme, v) == key for v in versions)


def record_affects(record: Record, query: PackageQuery) -> bool:
    scheme = scheme_for(query.ecosystem)
    return any(entry_affects(e, query, scheme) for e in affected_entries(record, query))


def fixed_versions(record: Record, query: PackageQuery) -> list[str]:
    """Every ``fixed`` event for the queried package (ordered ranges only)."""
    out: list[str] = []
    for entry in affected_entries(record, query):
        for rng in entry.get("ranges") or ():
            if isinstance(rng, dict) and rng.get("type") in ORDERED_RANGES:
                out += [v for k, v in _events(rng) if k == "fixed" and v not in out]
    return out


def smallest_fix_above(versions: list[str], installed: str, ecosystem: str) -> str | None:
    """The smallest of ``versions`` above ``installed`` in the ecosystem's order, if known."""
    scheme = scheme_for(ecosystem)
    if scheme is None:
        return None
    try:
        current = scheme.key(installed)
    except InvalidVersionError:
        return None
    best: tuple[Any, str] | None = None
    for text in versions:
        try:
            k = scheme.key(text)
        except InvalidVersionError:
            continue
        if k > current and (best is None or k < best[0]):
            best = (k, text)
    return best[1] if best else None
