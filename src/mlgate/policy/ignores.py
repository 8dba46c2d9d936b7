"""Ignores: accepted risks that suppress matching findings until they expire.

An entry matches a finding by the advisory's id or any alias, or by the finding's rule id; it may
be narrowed to a package, a version range (PEP 440 for PyPI, exact elsewhere) and path globs.
An expired entry no longer suppresses and is itself reported; an entry that matched nothing is
reported as stale, so the list of accepted risks does not rot.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, replace

from mlgate.model import Finding, Location, Severity, Suppression
from mlgate.policy.config import IgnoreRule, Policy

RULE_EXPIRED = "MLG-POLICY-IGNORE-EXPIRED"
RULE_STALE = "MLG-POLICY-IGNORE-STALE"
DEFAULT_POLICY_NAME = ".mlgate.yml"
# CycloneDX VEX analysis of an accepted risk, read by mlgate.report.vex.
VEX_JUSTIFICATION = "vex:justification"
VEX_RESPONSE = "vex:response"


@dataclass(frozen=True)
class PackageRef:
    """Ecosystem, name and version of the component a finding is about (from its bom-ref)."""

    ecosystem: str  # purl type ("pypi", "npm" ...) or the OSV ecosystem, lower case
    name: str
    version: str | None


def package_of(bom_ref: str | None) -> PackageRef | None:
    """Parse a finding's component reference: a purl, or mlgate's ``kind:Ecosystem/name@v``."""
    if not bom_ref:
        return None
    ref = bom_ref.split("#", 1)[0]
    if ref.startswith("pkg:"):
        from packageurl import PackageURL  # imports here keep `mlgate models` start-up short

        try:
            purl = PackageURL.from_string(ref)
        except ValueError:
            return None
        name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
        return PackageRef(purl.type.lower(), name, purl.version)
    _, _, rest = ref.partition(":")
    eco, slash, name_ver = rest.partition("/")
    if not slash:
        return None
    name, _, version = name_ver.rpartition("@") if "@" in name_ver else (name_ver, "", "")
    return PackageRef(eco.lower(), name, version or None)


def _is_pypi(ecosystem: str) -> bool:
    return ecosystem in {"pypi", "pip"}


def _same_package(rule_pkg: str, pkg: PackageRef) -> bool:
    if _is_pypi(pkg.ecosystem):
        from packaging.utils import canonicalize_name

        return canonicalize_name(rule_pkg) == canonicalize_name(pkg.name)
    return rule_pkg.lower() == pkg.name.lower()


def _version_matches(spec: str, pkg: PackageRef) -> bool:
    if pkg.version is None:
        return False
    if _is_pypi(pkg.ecosystem):
        from packaging.specifiers import InvalidSpecifier, SpecifierSet
        from packaging.version import InvalidVersion, Version

        try:
            return SpecifierSet(spec).contains(Version(pkg.version), prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            pass  # not a specifier: compare as an exact version below
    return spec.strip().removeprefix("==").strip() == pkg.version


def path_matches(path: str, pattern: str) -> bool:
    """Glob over a POSIX path; ``dir/`` and ``dir/**`` cover everything below ``dir``."""
    pat = pattern.strip().removeprefix("./")
    if pat.endswith("/"):
        pat += "**"
    if pat.endswith("/**") and (path == pat[:-3] or path.startswith(pat[:-2])):
        return True
    if fnmatch.fnmatchcase(path, pat):
        return True
    return pat.startswith("**/") and fnmatch.fnmatchcase(path, pat[3:])


def rule_matches(rule: IgnoreRule, finding: Finding) -> bool:
    wanted = rule.id.casefold()
    ids = {finding.rule_id.casefold()}
    if finding.advisory is not None:
        ids.update(i.casefold() for i in finding.advisory.ids)
    if wanted not in ids:
        return False
    if rule.package or rule.versions:
        pkg = package_of(finding.component)
        if pkg is None:
            return False
        if rule.package and not _same_package(rule.package, pkg):
            return False
        if rule.versions and not _version_matches(rule.versions, pkg):
            return False
    return not rule.paths or any(path_matches(finding.location.path, p) for p in rule.paths)


def _candidates(by_id: dict[str, list[IgnoreRule]], finding: Finding) -> list[IgnoreRule]:
    """The rules naming one of the finding's ids, in policy order (the first live one wins)."""
    ids = [finding.rule_id, *(finding.advisory.ids if finding.advisory is not None else ())]
    found: dict[int, IgnoreRule] = {}
    for i in ids:
        for rule in by_id.get(i.casefold(), ()):
            found[rule.index] = rule
    return [found[k] for k in sorted(found)]


def _describe(rule: IgnoreRule) -> str:
    text = rule.id
    if rule.package:
        text += f" ({rule.package}{' ' + rule.versions if rule.versions else ''})"
    return text


def apply_ignores(
    findings: Sequence[Finding],
    policy: Policy,
    today: dt.date,
    *,
    vulns_checked: bool = True,
) -> tuple[list[Finding], list[Finding]]:
    """Suppress what live ignores match; return (findings, policy findings about the ignores)."""
    rules = policy.ignores
    by_id: dict[str, list[IgnoreRule]] = {}
    for rule in rules:
        by_id.setdefault(rule.id.casefold(), []).append(rule)
    matched: set[int] = set()
    out: list[Finding] = []
    for finding in findings:
        if finding.suppressed:
            out.append(finding)
            continue
        hit = None
        for rule in _candidates(by_id, finding):
            if rule_matches(rule, finding):
                matched.add(rule.index)
                if not rule.expired(today) and hit is None:
                    hit = rule
        if hit is None:
            out.append(finding)
            continue
        expires = hit.expires.isoformat() if hit.expires else None
        props = list(finding.properties)
        if hit.justification:
            props.append((VEX_JUSTIFICATION, hit.justification))
        if hit.response:
            props.append((VEX_RESPONSE, ",".join(hit.response)))
        out.append(
            replace(
                finding,
                suppression=Suppression("ignore", hit.reason, expires),
                properties=tuple(props),
            )
        )
    notes: list[Finding] = []
    where = policy.path or DEFAULT_POLICY_NAME
    for rule in rules:
        loc = Location(where, rule.line)
        if rule.expired(today):
            assert rule.expires is not None
            notes.append(
                Finding(
                    rule_id=RULE_EXPIRED,
                    kind="policy",
                    severity=Severity.LOW,
                    message=f"ignore of {_describe(rule)} expired on {rule.expires.isoformat()}"
                    f" and no longer suppresses"
                    + (" anything" if rule.index not in matched else " the findings it matches"),
                    location=loc,
                    trigger=_describe(rule),
                    fix="fix the finding, or renew the ignore with a new expiry and reason",
                )
            )
        elif rule.index not in matched:
            if not vulns_checked and not rule.id.upper().startswith("MLG-"):
                continue  # advisories were not looked up in this run: cannot tell if stale
            notes.append(
                Finding(
                    rule_id=RULE_STALE,
                    kind="policy",
                    severity=Severity.INFO,
                    message=f"ignore of {_describe(rule)} matched no finding",
                    location=loc,
                    trigger=_describe(rule),
                    fix="remove the entry if the risk it accepted is gone",
                )
            )
    return out, notes
