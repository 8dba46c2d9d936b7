"""The machine-readable result (``--json``); its schema is documented in the README."""

from __future__ import annotations

import json
from typing import Any

from mlgate.model import RESULT_SCHEMA_VERSION, Component, Finding, ScanResult
from mlgate.options import ScanOptions


def component_json(comp: Component) -> dict[str, Any]:
    return {
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
        "hashes": {h.alg: h.value for h in comp.hashes},
        "properties": dict(comp.properties),
        "depends_on": list(comp.depends_on),
    }


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
        }
    if finding.suppression is not None:
        out["suppression"] = {
            "kind": finding.suppression.kind,
            "justification": finding.suppression.justification,
            "expires": finding.suppression.expires,
        }
    if finding.properties:
        out["properties"] = dict(finding.properties)
    return out


def result_json(result: ScanResult) -> dict[str, Any]:
    cov = result.coverage
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "tool": {"name": "mlgate", "version": result.tool_version},
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
