"""Scan results built in code for the report and publishing tests (no scan needed)."""

from __future__ import annotations

from mlgate.model import (
    Advisory,
    Component,
    Coverage,
    Finding,
    Inventory,
    Location,
    ScanResult,
    ScanWarning,
    Severity,
    Suppression,
    Verdict,
)

ROOT = "/src/project"


def requests_component() -> Component:
    return Component(
        "PyPI",
        "requests",
        "2.19.0",
        purl="pkg:pypi/requests@2.19.0",
        declared_in=(Location("requirements.txt", 3),),
    )


def vuln_finding(comp: Component, adv: Advisory, line: int | None, **kw: object) -> Finding:
    return Finding(
        rule_id="MLG-VULN",
        kind="vulnerability",
        severity=adv.severity or Severity.HIGH,
        message=f"{comp.name} {comp.version}: {adv.id} {adv.summary}".strip(),
        location=Location(comp.declared_in[0].path, line),
        component=comp.bom_ref,
        advisory=adv,
        **kw,  # type: ignore[arg-type]
    )


def sample_result(*, passed: bool = False, extra: tuple[Finding, ...] = ()) -> ScanResult:
    """Findings of every category: an OSV advisory, a pickle in an archive, a policy finding,
    a suppressed finding and an unreadable input."""
    req = requests_component()
    numpy = Component(
        "PyPI",
        "numpy",
        "1.21.0",
        purl="pkg:pypi/numpy@1.21.0",
        declared_in=(Location("services/api/requirements.txt", 7),),
    )
    adv = Advisory(
        "GHSA-x84v-xcm2-53pg",
        aliases=("CVE-2018-18074", "PYSEC-2018-28"),
        summary="Insufficiently Protected Credentials in Requests",
        details="Requests sends an HTTP Authorization header to an http URI upon redirect.",
        severity=Severity.HIGH,
        score=7.5,
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        fixed=("2.20.0",),
    )
    adv_np = Advisory(
        "PYSEC-2021-857",
        summary="NumPy buffer overflow in array_from_pyobj",
        severity=Severity.MEDIUM,
        fixed=("1.22.0",),
    )
    findings = [
        Finding(
            rule_id="MLG-PICKLE-EXEC",
            kind="model",
            severity=Severity.CRITICAL,
            message="pickle calls posix.system: arbitrary code runs when the file is loaded",
            location=Location("models/classifier.pt", None, member="archive/data.pkl"),
            trigger="posix.system",
            fix="replace the checkpoint with a safetensors file",
            properties=(("format", "pytorch-zip"),),
        ),
        vuln_finding(req, adv, 3),
        vuln_finding(numpy, adv_np, 7),
        Finding(
            rule_id="MLG-POLICY-INDEX",
            kind="policy",
            severity=Severity.MEDIUM,
            message="extra index URL https://pypi.internal.example/simple is not approved",
            location=Location("requirements.txt", 1),
            trigger="--extra-index-url",
        ),
        Finding(
            rule_id="MLG-VULN",
            kind="vulnerability",
            severity=Severity.LOW,
            message="numpy 1.21.0: GHSA-fpfv-jqm9-f5jm",
            location=Location("services/api/requirements.txt", 7),
            component=numpy.bom_ref,
            advisory=Advisory("GHSA-fpfv-jqm9-f5jm", summary="Incorrect comparison", score=None),
            suppression=Suppression("ignore", "not reachable from our code", "2027-06-30"),
        ),
        *extra,
    ]
    active = [f for f in findings if not f.suppressed]
    deciding = () if passed else tuple(f.fingerprint for f in active if f.severity.rank >= 3)
    return ScanResult(
        root=ROOT,
        inventory=Inventory(
            components=(req, numpy),
            warnings=(ScanWarning("poetry.lock", "not valid TOML", 12),),
            files_seen=9,
        ),
        findings=tuple(findings),
        verdict=Verdict(passed=passed, fail_on=Severity.HIGH, deciding=deciding),
        coverage=Coverage(checked=2, total=3, unchecked=(("pkg:pypi/torch@2.1.0", "HTTP 503"),)),
        tool_version="0.1.0",
    )


def clean_result() -> ScanResult:
    return ScanResult(
        root=ROOT,
        inventory=Inventory(components=(requests_component(),), files_seen=1),
        verdict=Verdict(passed=True, fail_on=Severity.HIGH),
        coverage=Coverage(checked=1, total=1),
        tool_version="0.1.0",
    )
