"""The gate from the command line: exit codes, --fail-on, --policy, ignores over real OSV data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mlgate.cli import main
from mlgate.exitcodes import ExitCode
from tests.servers.osv_server import OsvServer

from .helpers import rules, scan


def test_clean_tree_passes(tmp_path: Path) -> None:
    assert scan(tmp_path)[0] == ExitCode.OK


def test_policy_file_threshold_and_cli_override(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "Dockerfile").write_text("FROM python:3.11\n")  # an unpinned image: medium
    assert scan(repo)[0] == ExitCode.OK
    policy = tmp_path / "strict.yml"
    policy.write_text("fail-on: medium\n")
    code, data = scan(repo, "--policy", str(policy))
    assert code == ExitCode.FINDINGS
    assert data["verdict"]["fail_on"] == "medium"
    assert scan(repo, "--policy", str(policy), "--fail-on", "high")[0] == ExitCode.OK


def test_invalid_policy_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    policy = tmp_path / "p.yml"
    policy.write_text("ignore:\n  - id: CVE-1\n")
    assert main(["scan", str(tmp_path), "--no-vulns", "--policy", str(policy)]) == ExitCode.ERROR
    assert "ignore[0]: missing required key 'reason'" in capsys.readouterr().err


def test_missing_baseline_exit_2(tmp_path: Path) -> None:
    code = main(["-q", "scan", str(tmp_path), "--no-vulns", "--baseline", str(tmp_path / "x")])
    assert code == ExitCode.ERROR


def test_remote_model_components_reach_the_sbom(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "train.py").write_text(
        "from transformers import AutoModel as M\n"
        "M.from_pretrained('org/bert', revision='0123456789abcdef0123456789abcdef01234567')\n"
    )
    sbom = tmp_path / "sbom.json"
    code, _ = scan(repo, "--sbom", str(sbom))
    assert code == ExitCode.OK
    doc = json.loads(sbom.read_text())
    models = [c for c in doc["components"] if c["type"] == "machine-learning-model"]
    assert [m["purl"] for m in models] == [
        "pkg:huggingface/org/bert@0123456789abcdef0123456789abcdef01234567"
    ]


# -- real OSV data through a local OSV server ------------------------------------------------


def record(rid: str, aliases: list[str], severity: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": rid,
        "modified": "2024-01-01T00:00:00Z",
        "aliases": aliases,
        "summary": f"{rid} in jinja2",
        "severity": severity,
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "jinja2"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}
                ],
            }
        ],
    }


CVSS_HIGH = [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"}]


@pytest.fixture
def osv() -> Any:
    srv = OsvServer(
        [
            record("GHSA-462w-v97r-4m45", ["CVE-2019-10906"], CVSS_HIGH),
            record("PYSEC-2099-1", [], []),  # no severity: the policy's unknown-severity
        ]
    ).start()
    yield srv
    srv.stop()


def osv_scan(repo: Path, srv: Any, *extra: str) -> tuple[int, dict[str, Any]]:
    out = repo.parent / "r.json"
    argv = ["-q", "scan", str(repo), "--no-models", "--osv-url", srv.url, "--no-cache"]
    code = main([*argv, "--json", str(out), *extra])
    return code, json.loads(out.read_text()) if code != 2 else {}


def test_ignores_over_real_advisories(tmp_path: Path, osv: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("jinja2==2.10\n")
    code, data = osv_scan(repo, osv)
    assert code == ExitCode.FINDINGS
    sev = {f["advisory"]["id"]: f["severity"] for f in data["findings"] if f.get("advisory")}
    assert sev == {"GHSA-462w-v97r-4m45": "high", "PYSEC-2099-1": "high"}

    (repo / ".mlgate.yml").write_text(
        "unknown-severity: low\n"
        "ignore:\n"
        "  - id: CVE-2019-10906\n"  # an alias
        "    package: Jinja2\n"
        "    versions: '<2.10.1'\n"
        "    reason: template sandbox not used\n"
        "    expires: 2999-12-31\n"
        "  - id: GHSA-0000-0000-0000\n"
        "    reason: long gone\n"
    )
    vex = tmp_path / "vex.json"
    code, data = osv_scan(repo, osv, "--vex", str(vex))
    assert code == ExitCode.OK
    by_id = {f["advisory"]["id"]: f for f in data["findings"] if f.get("advisory")}
    assert by_id["GHSA-462w-v97r-4m45"]["suppression"] == {
        "kind": "ignore",
        "justification": "template sandbox not used",
        "expires": "2999-12-31",
    }
    assert by_id["PYSEC-2099-1"]["severity"] == "low"
    assert rules(data) == ["MLG-POLICY-IGNORE-STALE", "MLG-VULN", "MLG-VULN"]
    text = vex.read_text()
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    assert [v["id"] for v in json.loads(text)["vulnerabilities"]] == ["GHSA-462w-v97r-4m45"]


def test_expired_ignore_fails_again(tmp_path: Path, osv: Any) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("jinja2==2.10\n")
    (repo / ".mlgate.yml").write_text(
        "unknown-severity: low\n"
        "ignore:\n  - {id: GHSA-462w-v97r-4m45, reason: accepted, expires: 2001-01-01}\n"
    )
    code, data = osv_scan(repo, osv)
    assert code == ExitCode.FINDINGS
    assert "MLG-POLICY-IGNORE-EXPIRED" in rules(data)
    assert not any(f["suppressed"] for f in data["findings"])
