"""``mlgate merge``: the shards of one tree (``scan ROOT --include SUB``) join into one run."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.cli import main
from mlgate.exitcodes import ExitCode
from tests.enrich.conftest import record
from tests.servers.osv_server import OsvServer

CRITICAL = [("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]
RECORDS = [
    record("VULN-REQ-1", "requests", fixed="2.20.0", severity=CRITICAL),
    record("VULN-JINJA-1", "jinja2", fixed="2.11.3"),
]


def unsafe_pickle() -> bytes:
    """Protocol 2: GLOBAL posix.system, a one-string tuple, REDUCE (never loaded)."""
    command = b"echo pwned"
    return (
        b"\x80\x02cposix\nsystem\nq\x00X"
        + struct.pack("<I", len(command))
        + command
        + b"q\x01\x85q\x02Rq\x03."
    )


@pytest.fixture
def osv() -> Iterator[OsvServer]:
    with OsvServer(RECORDS) as srv:
        yield srv


def make_tree(root: Path) -> None:
    (root / "svc-a").mkdir(parents=True)
    (root / "svc-b" / "models").mkdir(parents=True)
    # requests is declared in both shards: the single run reports its finding once, at svc-a
    (root / "svc-a" / "requirements.txt").write_text("requests==2.19.0\njinja2==2.11.2\n")
    (root / "svc-a" / "train.py").write_text(
        "from transformers import AutoModel\nm = AutoModel.from_pretrained('acme/base')\n"
    )
    (root / "svc-b" / "requirements.txt").write_text("numpy==1.24.3\nrequests==2.19.0\n")
    (root / "svc-b" / "pyproject.toml").write_text(
        '[project]\nname = "b"\nversion = "1"\ndependencies = ["jinja2>=2.11"]\n'
    )
    (root / "svc-b" / "models" / "head.pkl").write_bytes(unsafe_pickle())
    (root / ".mlgate.yml").write_text(
        "fail-on: high\nignore:\n  - id: VULN-JINJA-1\n    reason: not reachable here\n"
    )


def scan(root: Path, osv: OsvServer, out: Path, *extra: str) -> int:
    out.mkdir(parents=True, exist_ok=True)
    argv = ["scan", str(root), "--osv-url", osv.url, "--cache-dir", str(out / "cache")]
    argv += ["--reproducible", "--json", str(out / "result.json")]
    argv += ["--sbom", str(out / "sbom.cdx.json"), "--sarif", str(out / "result.sarif")]
    return main([*argv, *extra])


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def sarif_fingerprints(path: Path) -> list[tuple[str, str]]:
    return sorted(
        (res["ruleId"], json.dumps(res.get("partialFingerprints"), sort_keys=True))
        for run in load(path)["runs"]
        for res in run["results"]
    )


def test_merged_shards_equal_the_single_run(tmp_path: Path, osv: OsvServer) -> None:
    root = tmp_path / "repo"
    make_tree(root)
    single_rc = scan(root, osv, tmp_path / "single")
    assert scan(root, osv, tmp_path / "a", "--include", "svc-a") == ExitCode.FINDINGS
    assert scan(root, osv, tmp_path / "b", "--include", "./svc-b/") == ExitCode.FINDINGS
    merged = tmp_path / "merged"
    argv = ["merge", str(tmp_path / "a" / "result.json"), str(tmp_path / "b" / "result.json")]
    argv += ["--reproducible", "--json", str(merged / "result.json")]
    argv += ["--sbom", str(merged / "sbom.cdx.json"), "--sarif", str(merged / "result.sarif")]
    assert main(argv) == single_rc == ExitCode.FINDINGS

    one, joined = load(tmp_path / "single" / "result.json"), load(merged / "result.json")
    shard_a = load(tmp_path / "a" / "result.json")
    # the tree is such that the shards really differ from the whole (not a vacuous equality)
    assert 0 < len(shard_a["components"]) < len(one["components"])
    assert [c["locations"] for c in one["components"] if c["name"] == "requests"] == [
        [
            {"path": "svc-a/requirements.txt", "line": 1},
            {"path": "svc-b/requirements.txt", "line": 2},
        ]
    ]
    assert joined["components"] == one["components"]
    assert joined["findings"] == one["findings"]
    assert [f["fingerprint"] for f in joined["findings"]] == [
        f["fingerprint"] for f in one["findings"]
    ]
    assert {f["rule_id"] for f in one["findings"]} >= {"MLG-VULN", "MLG-PICKLE-EXEC"}
    assert any(f["suppressed"] for f in one["findings"])  # the policy's ignore survived
    assert joined["verdict"] == one["verdict"]
    assert joined["coverage"] == one["coverage"]
    assert joined["sources"] == one["sources"]

    cdx_one, cdx_joined = (
        load(tmp_path / "single" / "sbom.cdx.json"),
        load(merged / "sbom.cdx.json"),
    )
    for key in ("components", "dependencies", "vulnerabilities"):
        assert cdx_joined.get(key) == cdx_one.get(key), key
    assert sarif_fingerprints(merged / "result.sarif") == sarif_fingerprints(
        tmp_path / "single" / "result.sarif"
    )


def test_merge_refuses_what_is_not_a_result(tmp_path: Path, capsys: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"bomFormat": "CycloneDX"}')
    assert main(["merge", str(bad)]) == ExitCode.ERROR
    assert "not an mlgate --json result" in capsys.readouterr().err
    old = tmp_path / "old.json"
    old.write_text('{"schema_version": "1.0", "findings": []}')
    assert main(["merge", str(old)]) == ExitCode.ERROR
    assert "needs 1.1" in capsys.readouterr().err


def test_shards_with_different_thresholds_need_fail_on(tmp_path: Path, osv: OsvServer) -> None:
    root = tmp_path / "repo"
    make_tree(root)
    scan(root, osv, tmp_path / "a", "--include", "svc-a", "--fail-on", "critical")
    scan(root, osv, tmp_path / "b", "--include", "svc-b", "--fail-on", "low")
    shards = [str(tmp_path / s / "result.json") for s in ("a", "b")]
    assert main(["merge", *shards]) == ExitCode.ERROR
    # critical: only the pickle (svc-b) fails the gate; none is what svc-a alone would say
    assert main(["merge", *shards, "--fail-on", "critical"]) == ExitCode.FINDINGS
    assert main(["merge", *shards, "--fail-on", "none"]) == ExitCode.OK


def test_include_of_a_missing_path_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    argv = ["scan", str(tmp_path / "repo"), "--no-vulns", "--include", "nope"]
    assert main(argv) == ExitCode.ERROR


def test_the_json_result_reads_back_into_the_same_result(tmp_path: Path, osv: OsvServer) -> None:
    """What merge relies on: writing the result and reading it back loses nothing."""
    from mlgate.report.jsonreport import result_from_json, result_json

    root = tmp_path / "repo"
    make_tree(root)
    (root / "svc-a" / "requirements.txt").write_text(
        "requests==2.19.0 --hash=sha256:" + "a" * 64 + " --hash=sha256:" + "b" * 64 + "\n"
    )
    scan(root, osv, tmp_path / "out")
    data = load(tmp_path / "out" / "result.json")
    requests = next(c for c in data["components"] if c["name"] == "requests")
    assert len(requests["hashes_all"]) == 2  # two values of one algorithm: the object holds one
    again = result_json(result_from_json(data))
    again["stats"] = {}  # --reproducible wrote none
    assert again == data


def test_merge_publishes_to_github_like_scan(
    tmp_path: Path, osv: OsvServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge job of a sharded workflow: one sticky PR comment, the summary and outputs."""
    from tests.github.test_commands import parse_output_file
    from tests.servers.github_server import GitHubServer, GitHubState

    root = tmp_path / "repo"
    make_tree(root)
    for shard in ("svc-a", "svc-b"):
        scan(root, osv, tmp_path / shard, "--include", shard, "--fail-on", "none")
    event = tmp_path / "event.json"
    repo = {"full_name": "acme/ml-service"}
    pull = {"number": 7, "head": {"sha": "0" * 40, "repo": repo}, "base": {"repo": repo}}
    event.write_text(json.dumps({"number": 7, "pull_request": pull, "repository": repo}))
    output, summary = tmp_path / "github_output", tmp_path / "summary.md"
    with GitHubServer(GitHubState(token="ghs_merge_token")) as github:
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(root),
            "GITHUB_EVENT_NAME": "pull_request",
            "GITHUB_EVENT_PATH": str(event),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(summary),
            "GITHUB_API_URL": github.url,
            "GITHUB_REPOSITORY": "acme/ml-service",
            "GITHUB_TOKEN": "ghs_merge_token",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        shards = [str(tmp_path / s / "result.json") for s in ("svc-a", "svc-b")]
        argv = ["merge", *shards, "--fail-on", "high", "--github", "--comment", "always"]
        for _ in range(2):  # a second push edits the comment, it does not add one
            assert main(argv) == ExitCode.FINDINGS
        comments = github.state.comments_of("acme/ml-service", 7)
    assert len(comments) == 1
    assert "MLG-PICKLE-EXEC" in comments[0]["body"] and "VULN-REQ-1" in comments[0]["body"]
    outputs = parse_output_file(output.read_text(encoding="utf-8"))
    assert outputs["verdict"] == "fail" and outputs["highest-severity"] == "critical"
    assert "mlgate" in summary.read_text(encoding="utf-8")


def test_a_shard_that_stopped_early_makes_the_merge_incomplete(
    tmp_path: Path, osv: OsvServer, capsys: Any
) -> None:
    """Shards with package sources merge (sources sort by their total key), and a shard marked
    incomplete leaves the merged verdict undecided: exit 2 and every report says why."""
    root = tmp_path / "repo"
    make_tree(root)
    (root / "svc-b" / "requirements.txt").write_text(
        "--extra-index-url https://mirror.example/simple\nnumpy==1.24.3\n"
    )
    (root / "svc-a" / "requirements.txt").write_text(
        "--index-url https://pypi-mirror.example/simple\nrequests==2.19.0\n"
    )
    scan(root, osv, tmp_path / "a", "--include", "svc-a")
    scan(root, osv, tmp_path / "b", "--include", "svc-b")
    shard_b = load(tmp_path / "b" / "result.json")
    shards = [str(tmp_path / "a" / "result.json"), str(tmp_path / "b" / "result.json")]
    out = tmp_path / "merged.json"
    assert main(["-q", "merge", *shards, "--json", str(out)]) == ExitCode.FINDINGS
    assert {s["url"] for s in load(out)["sources"]} == {
        "https://mirror.example/simple",
        "https://pypi-mirror.example/simple",
    }
    shard_b["incomplete"] = "svc-b/models/head.pkl: the scan stopped (RuntimeError)"
    (tmp_path / "b" / "result.json").write_text(json.dumps(shard_b))
    assert main(["-q", "merge", *shards, "--json", str(out)]) == ExitCode.ERROR
    assert load(out)["incomplete"] == shard_b["incomplete"]
    assert "a shard did not finish" in capsys.readouterr().err
