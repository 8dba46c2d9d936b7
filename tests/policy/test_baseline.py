"""New findings only: JSON result and CycloneDX SBOM baselines, fixed findings reported."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from mlgate.errors import PolicyError
from mlgate.exitcodes import ExitCode
from mlgate.model import Severity
from mlgate.options import ScanOptions
from mlgate.policy import evaluate, parse_policy_text
from mlgate.policy.baseline import apply_baseline, load_baseline, parse_baseline

from .helpers import model_finding, rules, scan, vuln

TODAY = dt.date(2026, 6, 1)


def test_json_baseline_suppresses_known_and_reports_fixed(tmp_path: Path) -> None:
    known, gone, new = vuln(), model_finding(path="old.pkl"), model_finding(path="new.pkl")
    base = tmp_path / "base.json"
    base.write_text(
        json.dumps(
            {
                "findings": [
                    {
                        "rule_id": f.rule_id,
                        "kind": f.kind,
                        "severity": f.severity.value,
                        "message": f.message,
                        "location": f.location.to_json(),
                        "fingerprint": f.fingerprint,
                    }
                    for f in (known, gone)
                ]
            }
        )
    )
    policy = parse_policy_text(f"baseline: {base}")
    findings, verdict, _ = evaluate([known, new], policy, ScanOptions(root=tmp_path), today=TODAY)
    state = {f.location.path: f.suppression.kind if f.suppression else None for f in findings}
    assert state == {"requirements.txt": "baseline", "new.pkl": None}
    assert not verdict.passed
    assert verdict.deciding == (new.fingerprint,)
    assert [f.fingerprint for f in verdict.fixed] == [gone.fingerprint]
    assert any(r.startswith("1 baseline finding(s) fixed") for r in verdict.reasons)


def test_cyclonedx_baseline_matches_vulnerabilities_by_alias_and_component() -> None:
    sbom = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "components": [{"bom-ref": "pkg:pypi/jinja2@2.10", "name": "jinja2", "version": "2.10"}],
        "vulnerabilities": [
            {
                "id": "CVE-2019-10906",
                "affects": [{"ref": "pkg:pypi/jinja2@2.10"}],
                "ratings": [{"severity": "high"}],
            },
            {"id": "GHSA-gone-gone-gone", "affects": [{"ref": "pkg:pypi/jinja2@2.10"}]},
        ],
    }
    baseline = parse_baseline(sbom, "sbom.json")
    same = vuln()  # GHSA id, CVE alias: matched through the alias
    other_pkg = vuln(package="jinja2", version="3.0.0")
    out, fixed = apply_baseline([same, other_pkg], baseline)
    assert [f.suppressed for f in out] == [True, False]
    assert [f.advisory.id for f in fixed if f.advisory] == ["GHSA-gone-gone-gone"]


def test_sbom_baseline_never_hides_non_vulnerability_findings() -> None:
    sbom = {"bomFormat": "CycloneDX", "components": [{"bom-ref": "model:m/model.pkl"}]}
    finding = model_finding()
    out, _ = apply_baseline([finding], parse_baseline(sbom, "sbom.json"))
    assert not out[0].suppressed


def test_kinds_not_looked_for_are_not_reported_fixed(tmp_path: Path) -> None:
    base = tmp_path / "b.json"
    base.write_text(
        json.dumps(
            {
                "findings": [
                    {
                        "rule_id": "MLG-VULN",
                        "kind": "vulnerability",
                        "severity": "high",
                        "message": "m",
                        "location": {"path": "requirements.txt"},
                        "fingerprint": "abc",
                    }
                ]
            }
        )
    )
    policy = parse_policy_text(f"baseline: {base}")
    _, verdict, _ = evaluate([], policy, ScanOptions(root=tmp_path, vulns=False), today=TODAY)
    assert verdict.fixed == ()
    _, verdict, _ = evaluate([], policy, ScanOptions(root=tmp_path), today=TODAY)
    assert len(verdict.fixed) == 1


def test_ignored_findings_stay_ignored_not_baselined(tmp_path: Path) -> None:
    f = vuln()
    base = tmp_path / "b.json"
    base.write_text(json.dumps({"findings": [{"fingerprint": f.fingerprint}]}))
    text = f"baseline: {base}\nignore:\n  - {{id: CVE-2019-10906, reason: accepted}}\n"
    findings, _, _ = evaluate([f], parse_policy_text(text), ScanOptions(root=tmp_path), today=TODAY)
    assert findings[0].suppression is not None
    assert findings[0].suppression.kind == "ignore"


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not JSON"), ('{"something": 1}', "not a baseline"), (None, "cannot read")],
)
def test_bad_baseline_is_a_usage_error(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "b.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(PolicyError, match=message):
        load_baseline(path)


def test_cli_baseline_fails_only_on_new_findings(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM python:3.11\n")
    (repo / ".mlgate.yml").write_text("fail-on: medium\n")
    code, base = scan(repo, out=tmp_path / "base.json")
    assert code == ExitCode.FINDINGS
    assert rules(base) == ["MLG-SOURCE-IMAGE-UNPINNED"]

    # Same tree against its own result: nothing new, the gate passes.
    code, data = scan(repo, "--baseline", str(tmp_path / "base.json"))
    assert code == ExitCode.OK
    assert data["findings"][0]["suppression"]["kind"] == "baseline"
    assert data["verdict"]["fixed"] == []

    # A new unpinned image fails; the old one stays baselined.
    (repo / "Dockerfile").write_text("FROM python:3.11\nFROM node:20\n")
    code, data = scan(repo, "--baseline", str(tmp_path / "base.json"))
    assert code == ExitCode.FINDINGS
    new = [f for f in data["findings"] if not f["suppressed"]]
    assert [f["fingerprint"] for f in new] == data["verdict"]["deciding"]
    assert "node" in new[0]["message"]

    # The old one fixed: reported in verdict.fixed.
    (repo / "Dockerfile").write_text("FROM node:20\n")
    code, data = scan(repo, "--baseline", str(tmp_path / "base.json"))
    assert code == ExitCode.FINDINGS
    assert [f["rule_id"] for f in data["verdict"]["fixed"]] == ["MLG-SOURCE-IMAGE-UNPINNED"]
    assert "python" in data["verdict"]["fixed"][0]["message"]
    assert Severity(data["verdict"]["fixed"][0]["severity"]) is Severity.MEDIUM
