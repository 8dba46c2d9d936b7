"""OSV records -> merged :class:`Advisory` values -> ``MLG-VULN`` findings.

Records that describe one vulnerability under several ids (PYSEC, GHSA, CVE ...) are merged into
one advisory per package. The primary id is chosen from the records themselves, never from a bare
alias: a GHSA record first (GitHub tracks alerts by GHSA id and GHSA carries a severity label), then
PYSEC, then any other database, then CVE; ties by id. The choice depends only on the set of
records, so the online and the offline source name a vulnerability the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlgate.enrich.interface import PackageQuery, Record
from mlgate.enrich.matching import fixed_versions, smallest_fix_above
from mlgate.enrich.versions import scheme_for
from mlgate.model import Advisory, Component, Finding, Location, Severity

RULE_VULN = "MLG-VULN"
_LABELS = {
    "LOW": Severity.LOW,
    "MODERATE": Severity.MEDIUM,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
}
_PREFIX_RANK = {"GHSA": 0, "PYSEC": 1, "CVE": 3}
MAX_TEXT = 20_000  # advisory details are untrusted text of any length: keep reports bounded


class MalformedRecordError(ValueError):
    """A record that does not follow the OSV schema closely enough to be used."""


def validate(raw: Any) -> Record:
    """Check the fields we rely on; unknown fields are ignored."""
    if not isinstance(raw, dict):
        raise MalformedRecordError("record is not a JSON object")
    rid = raw.get("id")
    if not isinstance(rid, str) or not rid or len(rid) > 200:
        raise MalformedRecordError("record has no string 'id'")
    if not isinstance(raw.get("modified", ""), str):
        raise MalformedRecordError(f"{rid}: 'modified' is not a string")
    for name in ("aliases", "affected", "severity", "references"):
        if name in raw and raw[name] is not None and not isinstance(raw[name], list):
            raise MalformedRecordError(f"{rid}: '{name}' is not a list")
    return raw


def is_withdrawn(record: Record) -> bool:
    return bool(record.get("withdrawn"))


def _score(kind: str, vector: str) -> float | None:
    from cvss import CVSS2, CVSS3, CVSS4, CVSSError

    try:
        if kind == "CVSS_V2":
            return float(CVSS2(vector).base_score)
        if kind == "CVSS_V3":
            return float(CVSS3(vector).base_score)
        if kind == "CVSS_V4":
            return float(CVSS4(vector).base_score)
    except (CVSSError, ValueError, KeyError, IndexError, TypeError):
        return None
    return None


def severity_of(record: Record) -> tuple[Severity | None, float | None, str | None]:
    """Highest CVSS base score of the record (and of its entries), else its database label."""
    entries: list[Any] = [record.get("severity") or []]
    affected = [e for e in record.get("affected") or () if isinstance(e, dict)]
    entries += [e.get("severity") or [] for e in affected]
    best: tuple[float, str] | None = None
    for severities in entries:
        for sev in severities if isinstance(severities, list) else ():
            if not isinstance(sev, dict):
                continue
            kind, vector = sev.get("type"), sev.get("score")
            if not isinstance(kind, str) or not isinstance(vector, str):
                continue
            score = _score(kind, vector)
            if score is not None and (best is None or score > best[0]):
                best = (score, vector)
    if best is not None:
        return Severity.from_score(best[0]), best[0], best[1]
    labels = [record.get("database_specific")]
    labels += [
        e.get("ecosystem_specific") for e in record.get("affected") or () if isinstance(e, dict)
    ]
    found: list[Severity] = []
    for spec in labels:
        if isinstance(spec, dict):
            label = spec.get("severity")
            if isinstance(label, str) and label.upper() in _LABELS:
                found.append(_LABELS[label.upper()])
    if found:
        return max(found, key=lambda s: s.rank), None, None
    return None, None, None


_severities: dict[int, tuple[Record, tuple[Severity | None, float | None, str | None]]] = {}


def _severity_cached(record: Record) -> tuple[Severity | None, float | None, str | None]:
    """``severity_of`` once per record object (CVSS parsing is the costly part of a merge)."""
    hit = _severities.get(id(record))
    if hit is not None and hit[0] is record:
        return hit[1]
    if len(_severities) > 500_000:
        _severities.clear()
    value = severity_of(record)
    _severities[id(record)] = (record, value)
    return value


def _id_rank(rid: str) -> tuple[int, str]:
    return (_PREFIX_RANK.get(rid.split("-", 1)[0], 2), rid)


def group_records(records: Sequence[Record]) -> list[list[Record]]:
    """Records connected through ids or aliases, each group ordered by preference."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for rec in records:
        for alias in rec.get("aliases") or ():
            if isinstance(alias, str):
                parent[find(alias)] = find(rec["id"])
        find(rec["id"])
    groups: dict[str, dict[str, Record]] = {}
    for rec in records:
        groups.setdefault(find(rec["id"]), {})[rec["id"]] = rec
    out = [sorted(g.values(), key=lambda r: _id_rank(r["id"])) for g in groups.values()]
    return sorted(out, key=lambda g: _id_rank(g[0]["id"]))


def _text(value: Any) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def merge(group: Sequence[Record], query: PackageQuery) -> Advisory:
    """One advisory from records that are the same vulnerability (group[0] is the primary)."""
    primary = group[0]
    ids = {r["id"] for r in group}
    aliases = {a for r in group for a in r.get("aliases") or () if isinstance(a, str)}
    best: tuple[Severity | None, float | None, str | None] = (None, None, None)
    for rec in group:
        sev = _severity_cached(rec)
        if sev[0] is None:
            continue
        if best[0] is None or (sev[1] or -1, sev[0].rank) > (best[1] or -1, best[0].rank):
            best = sev
    fixed: dict[str, None] = {}  # ordered sets
    refs: dict[str, None] = {}
    for rec in group:
        fixed.update(dict.fromkeys(fixed_versions(rec, query)))
        for ref in rec.get("references") or ():
            url = ref.get("url") if isinstance(ref, dict) else None
            if isinstance(url, str):
                refs.setdefault(url)
    dates = [r.get("published") for r in group if isinstance(r.get("published"), str)]
    modified = [r.get("modified") for r in group if isinstance(r.get("modified"), str)]
    return Advisory(
        id=primary["id"],
        aliases=tuple(sorted((ids | aliases) - {primary["id"]})),
        summary=next((_text(r.get("summary")) for r in group if r.get("summary")), ""),
        details=next((_text(r.get("details")) for r in group if r.get("details")), ""),
        severity=best[0],
        score=best[1],
        vector=best[2],
        fixed=tuple(fixed),
        references=tuple(refs),
        published=min(dates) if dates else None,  # type: ignore[type-var]
        modified=max(modified) if modified else None,  # type: ignore[type-var]
    )


def fix_for(group: Sequence[Record], query: PackageQuery) -> str | None:
    """The smallest fixed version above the installed one; across merged records the highest of
    those, so that following the hint fixes every record of the group."""
    fixes = []
    for rec in group:
        fix = smallest_fix_above(fixed_versions(rec, query), query.version, query.ecosystem)
        if fix is not None:
            fixes.append(fix)
    if not fixes:
        return None
    scheme = scheme_for(query.ecosystem)
    assert scheme is not None  # fixes were only found through a scheme
    return max(fixes, key=scheme.key)


@dataclass(frozen=True)
class PackageAdvisory:
    advisory: Advisory
    fix: str | None


def advisories_for(records: Sequence[Record], query: PackageQuery) -> list[PackageAdvisory]:
    """Merged advisories of one package version (withdrawn records dropped)."""
    live = [r for r in records if not is_withdrawn(r)]
    return [PackageAdvisory(merge(g, query), fix_for(g, query)) for g in group_records(live)]


def finding_for(component: Component, item: PackageAdvisory) -> Finding:
    """The ``MLG-VULN`` finding of one vulnerable package and one (merged) advisory."""
    adv = item.advisory
    locations = component.declared_in or (Location("."),)
    props: list[tuple[str, str]] = [
        ("ecosystem", component.ecosystem),
        ("installed-version", component.version or ""),
    ]
    if adv.aliases:
        props.append(("aliases", ",".join(adv.aliases)))
    if len(locations) > 1:
        props.append(("other-locations", ";".join(str(loc) for loc in locations[1:])))
    if adv.severity is None:
        # The policy stage re-maps unknown severities through its own setting.
        props.append(("severity-unknown", "true"))
    summary = adv.summary or (adv.details.splitlines()[0] if adv.details else "")
    message = f"{component.name} {component.version}: {adv.id}"
    if summary:
        message += f": {summary[:300]}"
    fix = f"upgrade {component.name} to >= {item.fix}" if item.fix else None
    return Finding(
        rule_id=RULE_VULN,
        kind="vulnerability",
        severity=adv.severity or Severity.HIGH,
        message=message,
        location=locations[0],
        component=component.bom_ref,
        advisory=adv,
        fix=fix,
        properties=tuple(props),
    )
