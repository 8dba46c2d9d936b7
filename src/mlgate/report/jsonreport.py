"""The machine-readable result (``--json``, schema in docs/json-result.md) and its reader.

The result is complete enough to be read back into a :class:`ScanResult` (``mlgate merge`` joins
the results of CI-matrix shards, ``--baseline`` compares with a previous run); ``result_from_json``
is the writer's inverse and lives beside it so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError
from mlgate.model import (
    RESULT_SCHEMA_VERSION,
    Advisory,
    Component,
    ComponentKind,
    Coverage,
    Finding,
    Hash,
    Inventory,
    Location,
    PackageSource,
    ScanResult,
    ScanWarning,
    Scope,
    Severity,
    Suppression,
    Verdict,
)
from mlgate.options import ScanOptions


def _pairs_json(out: dict[str, Any], key: str, pairs: Sequence[tuple[str, str]]) -> None:
    """``key`` as an object; a list of pairs beside it when a name repeats (the object cannot)."""
    out[key] = dict(pairs)
    if len(out[key]) != len(pairs):
        out[f"{key}_all"] = [list(p) for p in pairs]


def component_json(comp: Component) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bom_ref": comp.bom_ref,
        "kind": comp.kind.value,
        "ecosystem": comp.ecosystem,
        "name": comp.name,
        "version": comp.version,
        "spec": comp.spec,
        "purl": comp.purl,
        "scope": comp.scope.value,
        "optional": comp.optional,
        "locations": [loc.to_json() for loc in comp.declared_in],
        "licenses": list(comp.licenses),
        "depends_on": list(comp.depends_on),
    }
    _pairs_json(out, "hashes", [(h.alg, h.value) for h in comp.hashes])
    _pairs_json(out, "properties", comp.properties)
    return out


def finding_json(finding: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rule_id": finding.rule_id,
        "kind": finding.kind,
        "severity": finding.severity.value,
        "message": finding.message,
        "location": finding.location.to_json(),
        "component": finding.component,
        "fix": finding.fix,
        "trigger": finding.trigger,
        "fingerprint": finding.fingerprint,
        "suppressed": finding.suppressed,
    }
    if finding.advisory is not None:
        adv = finding.advisory
        out["advisory"] = {
            "id": adv.id,
            "aliases": list(adv.aliases),
            "summary": adv.summary,
            "severity": adv.severity.value if adv.severity else None,
            "score": adv.score,
            "vector": adv.vector,
            "fixed": list(adv.fixed),
            "references": list(adv.references),
            "details": adv.details,
            "published": adv.published,
            "modified": adv.modified,
            "withdrawn": adv.withdrawn,
        }
    if finding.suppression is not None:
        out["suppression"] = {
            "kind": finding.suppression.kind,
            "justification": finding.suppression.justification,
            "expires": finding.suppression.expires,
        }
    if finding.properties:
        _pairs_json(out, "properties", finding.properties)
    return out


def result_json(result: ScanResult) -> dict[str, Any]:
    cov = result.coverage
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "tool": {"name": "mlgate", "version": result.tool_version},
        "root": result.root,
        "files_seen": result.inventory.files_seen,
        # null when the scan finished; otherwise why it stopped (the rest is a partial result)
        "incomplete": result.incomplete,
        "verdict": {
            "passed": result.verdict.passed,
            "fail_on": result.verdict.fail_on.value,
            "deciding": list(result.verdict.deciding),
            "reasons": list(result.verdict.reasons),
            "fixed": [finding_json(f) for f in result.verdict.fixed],
        },
        "coverage": None
        if cov is None
        else {
            "checked": cov.checked,
            "total": cov.total,
            "unchecked": [{"component": ref, "reason": why} for ref, why in cov.unchecked],
            "source": cov.source,
        },
        "components": [component_json(c) for c in result.inventory.components],
        "findings": [finding_json(f) for f in result.findings],
        "warnings": [
            {"path": w.path, "line": w.line, "code": w.code, "message": w.message}
            for w in result.all_warnings
        ],
        "sources": [
            {"kind": s.kind, "url": s.url, "location": s.location.to_json()}
            for s in result.inventory.sources
        ],
        "stats": dict(result.stats),
    }


def render(result: ScanResult, options: ScanOptions) -> str:
    data = result_json(result)
    if options.reproducible:
        data["stats"] = {}
    # No indent: json's C encoder only runs without one, and with tens of thousands of findings
    # the pure-Python indenting encoder costs seconds. Pipe through `jq .` to read it.
    return json.dumps(data, separators=(",", ":")) + "\n"


# -- reading a result back ------------------------------------------------------------------------


def read_json_file(path: Path, limit: int, what: str, error: type[MlgateError]) -> Any:
    """The JSON document in ``path`` (at most ``limit`` bytes); ``error`` naming ``what`` if not."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise error(f"{path}: {what} larger than {limit} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{path}: {what} is not JSON: {exc}") from None


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _pairs(item: dict[str, Any], key: str) -> tuple[tuple[str, str], ...]:
    listed = item.get(f"{key}_all")
    if isinstance(listed, list):
        return tuple(
            (p[0], p[1])
            for p in listed
            if isinstance(p, list) and len(p) == 2 and all(isinstance(v, str) for v in p)
        )
    value = item.get(key)
    if not isinstance(value, dict):
        return ()
    return tuple((k, v) for k, v in value.items() if isinstance(v, str))


def severity_from_json(value: Any, default: Severity = Severity.INFO) -> Severity:
    try:
        return Severity(str(value).lower())
    except ValueError:
        return default


def location_from_json(value: Any) -> Location:
    loc = value if isinstance(value, dict) else {}
    return Location(
        _str(loc.get("path")),
        _opt_int(loc.get("line")),
        _opt_int(loc.get("column")),
        member=_opt_str(loc.get("member")),
    )


def _advisory_from_json(adv: Any) -> Advisory | None:
    if not isinstance(adv, dict) or not _str(adv.get("id")):
        return None
    score = adv.get("score")
    return Advisory(
        id=_str(adv["id"]),
        aliases=_strs(adv.get("aliases")),
        summary=_str(adv.get("summary")),
        details=_str(adv.get("details")),
        severity=severity_from_json(sev) if isinstance(sev := adv.get("severity"), str) else None,
        score=float(score) if isinstance(score, int | float) else None,
        vector=_opt_str(adv.get("vector")),
        fixed=_strs(adv.get("fixed")),
        references=_strs(adv.get("references")),
        published=_opt_str(adv.get("published")),
        modified=_opt_str(adv.get("modified")),
        withdrawn=_opt_str(adv.get("withdrawn")),
    )


def finding_from_json(item: dict[str, Any]) -> Finding:
    """A finding of a ``--json`` result; missing or mistyped fields get their defaults."""
    sup = item.get("suppression")
    suppression = None
    if isinstance(sup, dict):
        suppression = Suppression(
            kind=_str(sup.get("kind"), "ignore"),
            justification=_str(sup.get("justification")),
            expires=_opt_str(sup.get("expires")),
        )
    return Finding(
        rule_id=_str(item.get("rule_id")),
        kind=_str(item.get("kind")),
        severity=severity_from_json(item.get("severity")),
        message=_str(item.get("message")),
        location=location_from_json(item.get("location")),
        component=_opt_str(item.get("component")),
        advisory=_advisory_from_json(item.get("advisory")),
        fix=_opt_str(item.get("fix")),
        trigger=_opt_str(item.get("trigger")),
        suppression=suppression,
        fingerprint=_str(item.get("fingerprint")),
        properties=_pairs(item, "properties"),
    )


def component_from_json(item: dict[str, Any]) -> Component:
    try:
        kind = ComponentKind(_str(item.get("kind"), "library"))
        scope = Scope(_str(item.get("scope"), "unknown"))
    except ValueError as exc:
        raise ValueError(f"component {item.get('bom_ref')!r}: {exc}") from None
    return Component(
        ecosystem=_str(item.get("ecosystem")),
        name=_str(item.get("name")),
        version=_opt_str(item.get("version")),
        kind=kind,
        purl=_opt_str(item.get("purl")),
        scope=scope,
        optional=item.get("optional") is True,
        spec=_opt_str(item.get("spec")),
        declared_in=tuple(location_from_json(loc) for loc in item.get("locations") or ()),
        licenses=_strs(item.get("licenses")),
        hashes=tuple(Hash(alg, value) for alg, value in _pairs(item, "hashes")),
        properties=_pairs(item, "properties"),
        depends_on=_strs(item.get("depends_on")),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    return (v for v in value if isinstance(v, dict)) if isinstance(value, list) else ()


def result_from_json(data: dict[str, Any]) -> ScanResult:
    """The :class:`ScanResult` a ``--json`` result was written from (inventory warnings and the
    scan's own warnings come back as one list)."""
    verdict = _dict(data.get("verdict"))
    cov = data.get("coverage")
    coverage = None
    if isinstance(cov, dict):
        coverage = Coverage(
            checked=_opt_int(cov.get("checked")) or 0,
            total=_opt_int(cov.get("total")) or 0,
            unchecked=tuple(
                (_str(u.get("component")), _str(u.get("reason")))
                for u in _dicts(cov.get("unchecked"))
            ),
            source=_str(cov.get("source")),
        )
    stats = _dict(data.get("stats"))
    tool = _dict(data.get("tool"))
    return ScanResult(
        root=_str(data.get("root")),
        inventory=Inventory(
            components=tuple(component_from_json(c) for c in _dicts(data.get("components"))),
            sources=tuple(
                PackageSource(
                    _str(s.get("kind")), _str(s.get("url")), location_from_json(s.get("location"))
                )
                for s in _dicts(data.get("sources"))
            ),
            files_seen=_opt_int(data.get("files_seen")) or 0,
        ),
        findings=tuple(finding_from_json(f) for f in _dicts(data.get("findings"))),
        verdict=Verdict(
            passed=verdict.get("passed") is not False,
            fail_on=severity_from_json(verdict.get("fail_on"), Severity.HIGH),
            deciding=_strs(verdict.get("deciding")),
            reasons=_strs(verdict.get("reasons")),
            fixed=tuple(finding_from_json(f) for f in _dicts(verdict.get("fixed"))),
        ),
        coverage=coverage,
        warnings=tuple(
            ScanWarning(
                path=_str(w.get("path")),
                message=_str(w.get("message")),
                line=_opt_int(w.get("line")),
                code=_str(w.get("code"), "input"),
            )
            for w in _dicts(data.get("warnings"))
        ),
        stats=tuple(sorted((k, float(v)) for k, v in stats.items() if isinstance(v, int | float))),
        tool_version=_str(tool.get("version")),
        incomplete=_str(data.get("incomplete")) or None,
    )
