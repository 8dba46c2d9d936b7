"""Threshold, unknown severity, ignores (id, alias, narrowing, expiry, stale), verdict."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mlgate.model import Finding, Location, Severity
from mlgate.options import ScanOptions
from mlgate.policy import evaluate, parse_policy_text
from mlgate.policy.ignores import RULE_EXPIRED, RULE_STALE, package_of, path_matches

from .helpers import model_finding, vuln

TODAY = dt.date(2026, 6, 1)
OPTIONS = ScanOptions(root=Path("."))


def run(findings: list[Finding], policy_text: str = "", options: ScanOptions = OPTIONS):  # type: ignore[no-untyped-def]
    policy = parse_policy_text(policy_text or "{}", ".mlgate.yml")
    return evaluate(findings, policy, options, today=TODAY)


def active(findings: list[Finding]) -> list[str]:
    return [f.rule_id for f in findings if not f.suppressed]


# -- threshold ---------------------------------------------------------------------------------


def test_default_threshold_is_high_over_every_kind() -> None:
    findings, verdict, _ = run([model_finding(Severity.HIGH)])
    assert not verdict.passed
    assert verdict.fail_on is Severity.HIGH
    assert verdict.deciding == (findings[0].fingerprint,)
    assert any("MLG-PICKLE-EXEC" in r for r in verdict.reasons)


def test_below_threshold_passes_and_says_why() -> None:
    _, verdict, _ = run([vuln(severity=Severity.MEDIUM)])
    assert verdict.passed
    assert verdict.deciding == ()
    assert verdict.reasons[0] == "passed: no unsuppressed finding at or above 'high'"


def test_threshold_from_policy_file() -> None:
    _, verdict, _ = run([vuln(severity=Severity.LOW)], "fail-on: low")
    assert not verdict.passed


def test_fail_on_none_never_fails() -> None:
    _, verdict, _ = run([model_finding(Severity.CRITICAL)], "fail-on: none")
    assert verdict.passed
    assert "never fail" in verdict.reasons[0]


def test_deciding_lists_only_findings_at_or_above_threshold() -> None:
    high, low = vuln(severity=Severity.HIGH), model_finding(Severity.LOW)
    _, verdict, _ = run([high, low])
    assert verdict.deciding == (high.fingerprint,)


# -- unknown severity --------------------------------------------------------------------------


def unknown_vuln() -> Finding:
    return vuln(severity=Severity.MEDIUM, properties=(("severity-unknown", "true"),))


def test_unknown_severity_defaults_to_high() -> None:
    findings, verdict, _ = run([unknown_vuln()])
    assert findings[0].severity is Severity.HIGH
    assert not verdict.passed


def test_unknown_severity_is_configurable() -> None:
    findings, verdict, _ = run([unknown_vuln()], "unknown-severity: low")
    assert findings[0].severity is Severity.LOW
    assert verdict.passed


# -- ignores -----------------------------------------------------------------------------------

IGNORE = """
ignore:
  - id: {id}
    reason: "template sandbox not used"
{extra}
"""


def ignore(id_: str, **extra: str) -> str:
    lines = "".join(f"    {k}: {v!r}\n" for k, v in extra.items())
    return IGNORE.format(id=id_, extra=lines)


def test_ignore_by_advisory_id_suppresses_and_keeps_the_finding() -> None:
    findings, verdict, _ = run([vuln()], ignore("GHSA-462w-v97r-4m45"))
    assert verdict.passed
    (f,) = findings
    assert f.suppression is not None
    assert f.suppression.kind == "ignore"
    assert f.suppression.justification == "template sandbox not used"
    assert any("suppressed by ignore" in r for r in verdict.reasons)


def test_ignore_by_alias_matches() -> None:
    findings, verdict, _ = run([vuln()], ignore("CVE-2019-10906"))
    assert verdict.passed and findings[0].suppressed


def test_ignore_id_is_case_insensitive() -> None:
    findings, _, _ = run([vuln()], ignore("pysec-2019-217"))
    assert findings[0].suppressed


def test_ignore_by_rule_id() -> None:
    findings, verdict, _ = run([model_finding()], ignore("MLG-PICKLE-EXEC"))
    assert verdict.passed and findings[0].suppressed


def test_ignore_narrowed_to_another_package_does_not_match() -> None:
    findings, verdict, _ = run([vuln()], ignore("CVE-2019-10906", package="markupsafe"))
    assert not verdict.passed
    assert RULE_STALE in [f.rule_id for f in findings]


def test_ignore_package_name_is_normalised_for_pypi() -> None:
    f = vuln(package="ruamel-yaml", version="0.17.0")
    findings, _, _ = run([f], ignore("CVE-2019-10906", package="Ruamel.YAML"))
    assert findings[0].suppressed


def test_ignore_version_range_pep440() -> None:
    inside, outside = vuln(version="2.10"), vuln(version="2.11.3", path="b/requirements.txt")
    findings, _, _ = run([inside, outside], ignore("CVE-2019-10906", versions="<2.10.1"))
    by_version = {f.component: f.suppressed for f in findings if f.component}
    assert by_version == {"pkg:pypi/jinja2@2.10": True, "pkg:pypi/jinja2@2.11.3": False}


def test_ignore_version_is_exact_outside_pypi() -> None:
    a = vuln(ecosystem="npm", package="lodash", version="4.17.20")
    b = vuln(ecosystem="npm", package="lodash", version="4.17.21", path="web/package-lock.json")
    findings, _, _ = run([a, b], ignore("CVE-2019-10906", package="lodash", versions="4.17.20"))
    assert [f.suppressed for f in findings if f.component] == [True, False]


def test_ignore_path_glob() -> None:
    a = vuln(path="services/api/requirements.txt")
    b = vuln(path="tools/requirements.txt")
    findings, _, _ = run([a, b], ignore("CVE-2019-10906", paths="services/**"))
    state = {f.location.path: f.suppressed for f in findings if f.rule_id == "MLG-VULN"}
    assert state == {"services/api/requirements.txt": True, "tools/requirements.txt": False}


def test_path_glob_forms() -> None:
    assert path_matches("a/b/c.txt", "a/")
    assert path_matches("a/b/c.txt", "a/**")
    assert path_matches("x.txt", "**/x.txt")
    assert path_matches("d/x.txt", "**/x.txt")
    assert not path_matches("ab/c.txt", "a/**")


def test_package_of_parses_purls_and_internal_refs() -> None:
    assert package_of("pkg:npm/%40scope/name@1.0.0") == package_of("pkg:npm/@scope/name@1.0.0")
    ref = package_of("pkg:npm/%40scope/name@1.0.0")
    assert ref is not None and ref.name == "@scope/name" and ref.version == "1.0.0"
    ref = package_of("library:PyPI/jinja2@2.10")
    assert ref is not None and (ref.ecosystem, ref.name, ref.version) == ("pypi", "jinja2", "2.10")
    assert package_of(None) is None


def test_expired_ignore_no_longer_suppresses_and_is_reported() -> None:
    findings, verdict, _ = run([vuln()], ignore("CVE-2019-10906", expires="2026-05-31"))
    assert not verdict.passed
    expired = [f for f in findings if f.rule_id == RULE_EXPIRED]
    assert len(expired) == 1
    assert expired[0].location == Location(".mlgate.yml", 3)
    assert "expired on 2026-05-31" in expired[0].message
    assert not next(f for f in findings if f.rule_id == "MLG-VULN").suppressed


def test_ignore_expiring_today_still_suppresses() -> None:
    findings, verdict, _ = run([vuln()], ignore("CVE-2019-10906", expires="2026-06-01"))
    assert verdict.passed
    assert findings[0].suppression is not None
    assert findings[0].suppression.expires == "2026-06-01"


def test_stale_ignore_is_reported_at_its_line() -> None:
    findings, verdict, _ = run([], ignore("GHSA-xxxx-yyyy-zzzz"))
    assert verdict.passed
    (stale,) = findings
    assert stale.rule_id == RULE_STALE
    assert stale.severity is Severity.INFO
    assert stale.location.line == 3


def test_stale_advisory_ignores_not_judged_without_vulnerability_lookup() -> None:
    opts = ScanOptions(root=Path("."), vulns=False)
    findings, _, _ = run([], ignore("GHSA-xxxx-yyyy-zzzz"), opts)
    assert findings == []
    findings, _, _ = run([], ignore("MLG-PICKLE-EXEC"), opts)
    assert [f.rule_id for f in findings] == [RULE_STALE]


def test_expired_ignore_can_fail_a_low_threshold() -> None:
    text = "fail-on: low\n" + ignore("CVE-1", expires="2020-01-01")
    _, verdict, _ = run([], text)
    assert not verdict.passed


def test_first_live_ignore_wins_over_an_expired_one() -> None:
    text = """
ignore:
  - {id: CVE-2019-10906, reason: old, expires: 2020-01-01}
  - {id: CVE-2019-10906, reason: renewed, expires: 2030-01-01}
"""
    findings, verdict, _ = run([vuln()], text)
    assert verdict.passed
    vulns = [f for f in findings if f.rule_id == "MLG-VULN"]
    assert vulns[0].suppression is not None
    assert vulns[0].suppression.justification == "renewed"
    assert [f.rule_id for f in findings if f.kind == "policy"] == [RULE_EXPIRED]
