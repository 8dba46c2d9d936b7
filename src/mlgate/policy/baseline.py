"""New findings only: compare this run with a previous one.

A baseline is a previous ``--json`` result (its findings' fingerprints, the same ones SARIF uses)
or a CycloneDX SBOM (its vulnerabilities: an id or alias and the component it affects). Findings
present in the baseline are suppressed with kind ``baseline``; baseline findings that are gone are
reported as fixed. An SBOM knows nothing about non-vulnerability findings, so against an SBOM
those always count as new: a model file replaced under the same path must not pass as known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlgate.errors import PolicyError
from mlgate.model import Advisory, Finding, Location, Severity, Suppression
from mlgate.report.jsonreport import finding_from_json, read_json_file, severity_from_json

MAX_BASELINE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True)
class Baseline:
    source: str  # "json" | "cyclonedx"
    path: str
    fingerprints: frozenset[str] = frozenset()
    vulns: frozenset[tuple[str, str]] = frozenset()  # (casefolded id or alias, bom-ref)
    findings: tuple[Finding, ...] = field(default=())  # what the baseline held, for "fixed"

    def contains(self, finding: Finding) -> bool:
        if finding.fingerprint in self.fingerprints:
            return True
        if finding.advisory is not None and finding.component:
            return any(
                (i.casefold(), finding.component) in self.vulns for i in finding.advisory.ids
            )
        return False


def _walk_components(items: Iterable[Any]) -> Iterable[dict[str, Any]]:
    for item in items:
        if isinstance(item, dict):
            yield item
            yield from _walk_components(item.get("components") or ())


def _from_cyclonedx(data: dict[str, Any], display: str) -> Baseline:
    names = {
        c.get("bom-ref"): f"{c.get('name', '')}@{c.get('version', '')}"
        for c in _walk_components(data.get("components") or ())
    }
    vulns: set[tuple[str, str]] = set()
    fingerprints: set[str] = set()
    findings: list[Finding] = []
    for vuln in data.get("vulnerabilities") or ():
        if not isinstance(vuln, dict) or not vuln.get("id"):
            continue
        ids = [str(vuln["id"])]
        ids += [
            str(r["id"]) for r in vuln.get("references") or () if isinstance(r, dict) and "id" in r
        ]
        for prop in vuln.get("properties") or ():
            if isinstance(prop, dict) and prop.get("name") == "mlgate:fingerprint":
                fingerprints.add(str(prop.get("value")))
        ratings = [r for r in vuln.get("ratings") or () if isinstance(r, dict)]
        sev = severity_from_json(ratings[0].get("severity")) if ratings else Severity.INFO
        for target in vuln.get("affects") or ():
            ref = target.get("ref") if isinstance(target, dict) else None
            if not isinstance(ref, str):
                continue
            vulns.update((i.casefold(), ref) for i in ids)
            findings.append(
                Finding(
                    rule_id="MLG-VULN",
                    kind="vulnerability",
                    severity=sev,
                    message=f"{ids[0]} in {names.get(ref, ref)}",
                    location=Location(display),
                    component=ref,
                    advisory=Advisory(id=ids[0], aliases=tuple(ids[1:])),
                )
            )
    return Baseline(
        source="cyclonedx",
        path=display,
        fingerprints=frozenset(fingerprints),
        vulns=frozenset(vulns),
        findings=tuple(findings),
    )


def parse_baseline(data: Any, display: str) -> Baseline:
    if isinstance(data, dict) and data.get("bomFormat") == "CycloneDX":
        return _from_cyclonedx(data, display)
    if isinstance(data, dict) and isinstance(data.get("findings"), list):
        findings = tuple(
            finding_from_json(item) for item in data["findings"] if isinstance(item, dict)
        )
        return Baseline(
            source="json",
            path=display,
            fingerprints=frozenset(f.fingerprint for f in findings),
            findings=findings,
        )
    raise PolicyError(
        f"{display}: not a baseline: expected an mlgate --json result or a CycloneDX SBOM"
    )


def load_baseline(path: Path) -> Baseline:
    data = read_json_file(path, MAX_BASELINE_BYTES, "the baseline", PolicyError)
    return parse_baseline(data, str(path))


def apply_baseline(
    findings: Sequence[Finding],
    baseline: Baseline,
    *,
    skip_fixed_kinds: frozenset[str] = frozenset(),
) -> tuple[list[Finding], list[Finding]]:
    """Suppress findings already in the baseline; return (findings, fixed baseline findings).

    ``skip_fixed_kinds`` names finding kinds this run did not look for (``vulnerability`` with
    ``--no-vulns``), so their absence is not mistaken for a fix.
    """
    out: list[Finding] = []
    seen_fps: set[str] = set()
    seen_vulns: set[tuple[str, str]] = set()
    note = f"present in the baseline {baseline.path}"
    for finding in findings:
        seen_fps.add(finding.fingerprint)
        if finding.advisory is not None and finding.component:
            seen_vulns.update((i.casefold(), finding.component) for i in finding.advisory.ids)
        if finding.suppressed or not baseline.contains(finding):
            out.append(finding)
            continue
        out.append(replace(finding, suppression=Suppression("baseline", note)))
    fixed = []
    for old in baseline.findings:
        if old.kind in skip_fixed_kinds or old.fingerprint in seen_fps:
            continue
        if old.advisory is not None and old.component:
            keys = {(i.casefold(), old.component) for i in old.advisory.ids}
            if keys & seen_vulns:
                continue
        fixed.append(old)
    return out, fixed
