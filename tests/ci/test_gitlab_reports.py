"""GitLab report formats written by mlgate: dependency scanning (schema-validated) and code quality.

They live here, beside the CI templates that upload them (report/gitlab.py, report/codequality.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlgate.errors import UsageError
from mlgate.model import (
    Advisory,
    Component,
    Coverage,
    Finding,
    Inventory,
    Location,
    ScanResult,
    ScanWarning,
    Scope,
    Severity,
    Suppression,
)
from mlgate.options import ScanOptions
from mlgate.report import codequality, gitlab

VERSIONS = ("15.1.4", "15.1.5", "15.2.4")


def _result() -> ScanResult:
    req = Component(
        "PyPI",
        "requests",
        "2.19.0",
        purl="pkg:pypi/requests@2.19.0",
        scope=Scope.DIRECT,
        declared_in=(Location("requirements.txt", 3),),
    )
    torch = Component(
        "PyPI", "torch", None, spec=">=2", declared_in=(Location("sub/requirements.txt", 1),)
    )
    adv = Advisory(
        id="GHSA-x84v-xcm2-53pg",
        aliases=("CVE-2018-18074", "PYSEC-2018-28"),
        summary="Insufficiently Protected Credentials in Requests",
        details="Requests sends an HTTP Authorization header to an http URI upon redirect.",
        severity=Severity.HIGH,
        score=7.5,
        vector="CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N",
        fixed=("2.20.0",),
        references=("https://nvd.nist.gov/vuln/detail/CVE-2018-18074", "not a url"),
    )
    unrated = Advisory(id="OSV-2024-1", summary="", severity=None, vector="CVSS:4.0/AV:N")
    findings = (
        Finding(
            "MLG-VULN",
            "vulnerability",
            Severity.HIGH,
            "requests 2.19.0: GHSA-x84v-xcm2-53pg",
            Location("requirements.txt", 3),
            component=req.bom_ref,
            advisory=adv,
        ),
        Finding(
            "MLG-VULN",
            "vulnerability",
            Severity.MEDIUM,
            "requests: OSV-2024-1",
            Location("requirements.txt", 3),
            component=req.bom_ref,
            advisory=unrated,
        ),
        Finding(
            "MLG-VULN",
            "vulnerability",
            Severity.LOW,
            "suppressed one",
            Location("requirements.txt", 3),
            component=req.bom_ref,
            advisory=Advisory(id="CVE-2000-0001"),
            suppression=Suppression("ignore", "not reachable"),
        ),
        Finding(
            "MLG-UNPINNED",
            "vulnerability",
            Severity.LOW,
            "torch is not pinned (>=2)",
            Location("sub/requirements.txt", 1),
            component=torch.bom_ref,
            trigger=">=2",
        ),
        Finding(
            "MLG-PICKLE-EXEC",
            "model",
            Severity.CRITICAL,
            "pickle calls os.system\n::error::\u202eforged",
            Location("models/m.pt", None, None, "archive/data.pkl"),
            fix="convert to safetensors",
            trigger="os.system",
        ),
        Finding(
            "MLG-POLICY-LICENSE",
            "policy",
            Severity.MEDIUM,
            "GPL-3.0 is denied",
            Location("requirements.txt", 3),
        ),
    )
    return ScanResult(
        root="/repo",
        inventory=Inventory(components=(req, torch)),
        findings=findings,
        coverage=Coverage(checked=1, total=2, unchecked=(("pkg:pypi/x@1", "timeout"),)),
        warnings=(ScanWarning("poetry.lock", "not valid TOML", 7),),
        stats=(("total_seconds", 3.5),),
        tool_version="0.1.0",
    )


def _schema(shared_dir: Path, version: str) -> dict[str, Any]:
    path = shared_dir / "schemas" / "gitlab" / f"dependency-scanning-report-format-{version}.json"
    if not path.is_file():
        pytest.skip(f"{path.name} is absent")
    return json.loads(path.read_text())  # type: ignore[no-any-return]


@pytest.mark.shared
@pytest.mark.parametrize("version", VERSIONS)
def test_dependency_scanning_report_is_schema_valid(shared_dir: Path, version: str) -> None:
    schema = _schema(shared_dir, version)
    options = ScanOptions(root=Path("."), gitlab_report_version=version)
    data = json.loads(gitlab.render(_result(), options))
    jsonschema.Draft7Validator(schema).validate(data)
    assert data["version"] == version == schema["self"]["version"]


@pytest.mark.shared
def test_schema_validation_can_fail(shared_dir: Path) -> None:
    schema = _schema(shared_dir, "15.1.4")
    data = json.loads(gitlab.render(_result(), ScanOptions(root=Path("."))))
    data["vulnerabilities"][0]["severity"] = "Severe"
    del data["scan"]["end_time"]
    errors = list(jsonschema.Draft7Validator(schema).iter_errors(data))
    assert len(errors) == 2


def test_dependency_scanning_content() -> None:
    data = json.loads(gitlab.render(_result(), ScanOptions(root=Path("."))))
    assert data["version"] == "15.1.4"
    assert data["scan"]["type"] == "dependency_scanning"
    assert data["scan"]["analyzer"]["id"] == "mlgate"
    assert [m["level"] for m in data["scan"]["messages"]] == ["warn", "warn"]
    vulns = data["vulnerabilities"]
    assert len(vulns) == 2  # the suppressed one and the unpinned package are not here
    high, unrated = vulns
    assert high["severity"] == "High"
    assert unrated["severity"] == "Unknown"  # OSV gave no severity
    assert [i["type"] for i in high["identifiers"]] == ["ghsa", "cve", "osv"]
    assert high["identifiers"][0]["url"] == "https://github.com/advisories/GHSA-x84v-xcm2-53pg"
    assert high["location"] == {
        "file": "requirements.txt",
        "dependency": {"package": {"name": "requests"}, "version": "2.19.0", "direct": True},
    }
    assert high["solution"] == "Upgrade requests to 2\\.20\\.0 or later\\."  # Markdown-escaped
    assert high["links"] == [{"url": "https://nvd.nist.gov/vuln/detail/CVE-2018-18074"}]
    assert high["cvss_vectors"][0]["vector"].startswith("CVSS:3.1/")
    assert "cvss_vectors" not in unrated  # a v4 vector is not in the 15.x schema
    assert data["dependency_files"][0]["path"] == "requirements.txt"
    assert data["dependency_files"][0]["package_manager"] == "pip"


def test_dependency_scanning_ids_are_stable_and_reproducible(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    opts = ScanOptions(root=Path("."), reproducible=True)
    first = gitlab.render(_result(), opts)
    assert first == gitlab.render(_result(), opts)
    assert json.loads(first)["scan"]["start_time"] == "2023-11-14T22:13:20"


def test_advisory_text_cannot_inject_markdown() -> None:
    """Technique: Markdown/HTML injection through OSV advisory text shown by GitLab."""
    import dataclasses

    base = _result()
    hostile = Advisory(
        id="GHSA-aaaa-bbbb-cccc",
        summary="<img src=x onerror=alert(1)> @security-team",
        details="![pixel](https://tracker.example/p.png) [click](javascript:alert(1)) #1",
        severity=Severity.LOW,
    )
    finding = dataclasses.replace(base.findings[0], advisory=hostile, fingerprint="")
    result = dataclasses.replace(base, findings=(finding,))
    vuln = json.loads(gitlab.render(result, ScanOptions(root=Path("."))))["vulnerabilities"][0]
    assert "<img" not in vuln["name"] and "&lt;img" in vuln["name"]
    assert "@security-team" not in vuln["name"]  # no mention
    assert "![" not in vuln["description"] and "](" not in vuln["description"]


def test_unsupported_report_version() -> None:
    with pytest.raises(UsageError, match="not supported"):
        gitlab.render(_result(), ScanOptions(root=Path("."), gitlab_report_version="14.0.0"))


def test_code_quality_report() -> None:
    issues = json.loads(codequality.render(_result(), ScanOptions(root=Path("."))))
    assert [i["check_name"] for i in issues] == [
        "MLG-UNPINNED",
        "MLG-PICKLE-EXEC",
        "MLG-POLICY-LICENSE",
    ]
    model = issues[1]
    assert model["severity"] == "blocker"
    assert model["location"] == {"path": "models/m.pt", "lines": {"begin": 1}}
    # untrusted text: one line, control and bidi characters escaped
    assert "\n" not in model["description"] and "\u202e" not in model["description"]
    assert "(archive/data.pkl)" in model["description"]
    assert "Fix: convert to safetensors" in model["description"]
    assert issues[0]["location"]["lines"]["begin"] == 1
    assert issues[2]["severity"] == "major"
    assert len({i["fingerprint"] for i in issues}) == len(issues)
    for issue in issues:
        assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
