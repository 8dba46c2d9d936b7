"""The GitHub Action end to end: action.yml's inputs set exactly as the runner does, entrypoint.py
run as a process on a copy of examples/, against a local GitHub-API-compatible server."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.github.test_commands import parse_output_file
from tests.servers.github_server import GitHubServer, GitHubState

REPO = Path(__file__).resolve().parent.parent
SHA = "0123456789abcdef0123456789abcdef01234567"
TOKEN = "ghs_e2e_secret_token_value"


def runner_env(inputs: dict[str, str], with_: dict[str, str]) -> dict[str, str]:
    """INPUT_* as the runner sets them: every declared input with a default gets the default
    (expressions evaluated), then the step's ``with:`` values; names upper-cased, spaces to '_',
    dashes kept."""
    env: dict[str, str] = {}
    for name, spec in inputs.items():
        value = with_.get(name, spec.get("default"))  # type: ignore[union-attr]
        if value is None:
            continue
        if value == "${{ github.token }}":
            value = TOKEN
        env[f"INPUT_{name.replace(' ', '_').upper()}"] = str(value)
    return env


def load_action() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8")))


def project(tmp_path: Path) -> Path:
    """A copy of examples/, or a small project when it is not there."""
    workspace = tmp_path / "workspace"
    examples = REPO / "examples"
    if (examples / "requirements.txt").is_file():
        shutil.copytree(examples, workspace, ignore=shutil.ignore_patterns("*.pkl", "out"))
    else:
        workspace.mkdir()
        (workspace / "requirements.txt").write_text("requests==2.19.0\n", encoding="utf-8")
    return workspace


RUNNER_UID = 1001  # the runner user's uid/gid on GitHub-hosted runners


def run_action(
    tmp_path: Path,
    server: GitHubServer,
    with_: dict[str, str],
    event: dict[str, Any],
    owner: tuple[int, int] | None = None,
    prepare: Callable[[Path], None] | None = None,
) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, str]]:
    action = load_action()
    workspace = project(tmp_path)
    if prepare is not None:
        prepare(workspace)
    if owner is not None:
        os.chown(workspace, *owner)
        # a report left by an earlier step: replaced by the run, and handed back as well
        (workspace / "mlgate-result.json").write_text("{}", encoding="utf-8")
    event_path = tmp_path / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    output = tmp_path / "github_output"
    summary = tmp_path / "step_summary.md"
    output.touch()
    summary.touch()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_API_URL": server.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "acme/ml-service",
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_RUN_ID": "1234",
        "MLGATE_OSV_URL": "",
        **runner_env(action["inputs"], with_),
    }
    proc = subprocess.run(
        [sys.executable, str(REPO / "entrypoint.py")],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc, workspace, parse_output_file(output.read_text(encoding="utf-8"))


def pr_event(head: str = "acme/ml-service") -> dict[str, Any]:
    return {
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"sha": SHA, "repo": {"full_name": head}},
            "base": {"repo": {"full_name": "acme/ml-service"}},
        },
        "repository": {"full_name": "acme/ml-service"},
    }


def _with() -> dict[str, str]:
    """The step's ``with:``: no OSV (no network here); the SBOM only once its renderer exists."""
    values = {"vulns": "false", "upload-sarif": "true", "markdown": "reports/comment.md"}
    if importlib.util.find_spec("mlgate.report.cyclonedx") is None:
        values["sbom"] = ""
    return values


def test_action_inputs_are_declared_like_the_peers() -> None:
    action = load_action()
    assert action["runs"] == {"using": "docker", "image": "Dockerfile"}
    for name in (
        "path",
        "fail-on",
        "sbom",
        "sarif",
        "json",
        "comment",
        "upload-sarif",
        "github-token",
        "osv-url",
        "osv-db",
        "policy",
        "exclude",
    ):
        assert name in action["inputs"], name
    assert action["inputs"]["github-token"]["default"] == "${{ github.token }}"
    assert runner_env(action["inputs"], {})["INPUT_FAIL-ON"] == "high"
    for name in ("verdict", "highest-severity", "sarif", "json", "sbom", "critical", "high"):
        assert name in action["outputs"], name


@pytest.fixture
def server() -> Any:
    with GitHubServer(GitHubState(token=TOKEN, installation_token=True)) as srv:
        yield srv


IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def test_entrypoint_end_to_end(tmp_path: Path, server: GitHubServer) -> None:
    owner = (RUNNER_UID, RUNNER_UID) if IS_ROOT else None
    proc, workspace, outputs = run_action(tmp_path, server, _with(), pr_event(), owner)
    assert proc.returncode in (0, 1), proc.stderr
    # every declared output is written
    declared = set(load_action()["outputs"])
    assert declared - {"checked", "total"} <= set(outputs), declared - set(outputs)
    assert outputs["verdict"] == ("pass" if proc.returncode == 0 else "fail")
    assert outputs["sarif"] == "mlgate.sarif"
    assert outputs["json"] == "mlgate-result.json"
    assert outputs["markdown"] == "reports/comment.md"
    counts = {s: int(outputs[s]) for s in ("critical", "high", "medium", "low", "info")}
    assert sum(counts.values()) == int(outputs["findings"])
    result = json.loads((workspace / outputs["json"]).read_text(encoding="utf-8"))
    active = [f for f in result["findings"] if not f["suppressed"]]
    assert len(active) == int(outputs["findings"])
    assert outputs["highest-severity"] == (
        max(
            active, key=lambda f: ["info", "low", "medium", "high", "critical"].index(f["severity"])
        )["severity"]
        if active
        else "none"
    )
    sarif = json.loads((workspace / outputs["sarif"]).read_text(encoding="utf-8"))
    assert [r["automationDetails"]["id"] for r in sarif["runs"]] == [
        "mlgate/dependencies/",
        "mlgate/models/",
        "mlgate/policy/",
    ]
    if outputs["sbom"]:
        assert (workspace / outputs["sbom"]).is_file()
    # the job summary and the sticky comment
    summary = (tmp_path / "step_summary.md").read_text(encoding="utf-8")
    assert "mlgate: " in summary
    (comment,) = server.state.comments_of("acme/ml-service", 7)
    assert comment["body"].startswith("<!-- mlgate-report -->")
    assert comment["user"]["login"] == "github-actions[bot]"
    assert comment["body"] == (workspace / "reports/comment.md").read_text(encoding="utf-8")
    # the SARIF upload went to the code-scanning endpoint with the commit and ref
    (upload,) = server.state.sarifs.values()
    assert upload["body"]["commit_sha"] == SHA
    assert upload["body"]["ref"] == "refs/pull/7/merge"
    assert upload["log"]["runs"][0]["automationDetails"]["id"] == "mlgate/dependencies/"
    # the token reached the API and nowhere else
    assert all(r.headers.get("Authorization") == f"token {TOKEN}" for r in server.state.requests)
    printed = proc.stdout + proc.stderr
    assert [line for line in printed.splitlines() if TOKEN in line] == [f"::add-mask::{TOKEN}"]
    assert TOKEN not in summary and TOKEN not in comment["body"]
    # reports handed back to the workspace's owner (the container runs as root), and only them
    if IS_ROOT:
        for rel in (outputs["sarif"], outputs["json"], "reports", "reports/comment.md"):
            st = (workspace / rel).lstat()
            assert (st.st_uid, st.st_gid) == (RUNNER_UID, RUNNER_UID), rel
        assert (workspace / "requirements.txt").stat().st_uid != RUNNER_UID
    # a second run (a new push to the PR) edits the same comment instead of adding one
    run_action(tmp_path / "rerun", server, _with(), pr_event())
    assert len(server.state.comments_of("acme/ml-service", 7)) == 1
    posts = [r for r in server.state.requests if r.method == "POST" and "comments" in r.path]
    assert len(posts) == 1
    assert (
        any(r.method == "PATCH" for r in server.state.requests)
        or comment["body"] == (server.state.comments_of("acme/ml-service", 7)[0]["body"])
    )


def test_fork_pull_request_still_writes_summary_and_outputs(
    tmp_path: Path, server: GitHubServer
) -> None:
    proc, _, outputs = run_action(tmp_path, server, _with(), pr_event(head="someone/fork"))
    assert proc.returncode in (0, 1), proc.stderr
    assert server.state.requests == []
    assert "::notice title=mlgate::pull request from a fork" in proc.stdout
    assert outputs["verdict"] in ("pass", "fail")
    assert (tmp_path / "step_summary.md").read_text(encoding="utf-8").strip()


def test_bad_boolean_input_is_a_clear_error(tmp_path: Path, server: GitHubServer) -> None:
    proc, _, _ = run_action(tmp_path, server, {**_with(), "upload-sarif": "maybe"}, pr_event())
    assert proc.returncode == 2
    assert "input 'upload-sarif' must be true or false" in proc.stdout


def test_unclosed_quote_in_args_is_a_clear_error(tmp_path: Path, server: GitHubServer) -> None:
    proc, _, _ = run_action(tmp_path, server, {**_with(), "args": "--exclude 'build"}, pr_event())
    assert proc.returncode == 2
    assert "::error title=mlgate::input 'args' cannot be split: No closing quotation" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_image_input_scans_a_tarball_and_a_layout(tmp_path: Path, server: GitHubServer) -> None:
    """``image:`` with two workspace-relative images (newline separated), built by the test."""
    from tests.image.builder import Image, Layer, write_docker_save, write_oci_layout
    from tests.inspect.samples import call

    status = b"Package: zlib1g\nStatus: install ok installed\nVersion: 1:1.2.13.dfsg-1\n"
    image = Image(
        [
            Layer(
                {"/etc/os-release": b"ID=debian\nVERSION_ID=12\n", "/var/lib/dpkg/status": status}
            ),
            Layer({"/srv/model.pkl": call("os", "system", "id")}),
        ]
    )

    def build(workspace: Path) -> None:
        (workspace / "images").mkdir()
        write_docker_save(
            workspace / "images/serve.tar", image, repo_tag="registry.example/serve:1"
        )
        write_oci_layout(workspace / "images/layout", image)

    with_ = {**_with(), "image": "images/serve.tar\n  images/layout", "fail-on": "critical"}
    proc, workspace, outputs = run_action(tmp_path, server, with_, pr_event(), prepare=build)
    assert proc.returncode in (0, 1), proc.stderr
    result = json.loads((workspace / outputs["json"]).read_text(encoding="utf-8"))
    containers = sorted(c["name"] for c in result["components"] if c["kind"] == "container")
    assert str(workspace / "images/layout") in containers
    assert "registry.example/serve" in containers
    os_packages = [c for c in result["components"] if c["kind"] == "os-package"]
    assert {c["name"] for c in os_packages} == {"zlib1g"}
    model_paths = {f["location"]["path"] for f in result["findings"] if f["kind"] == "model"}
    assert f"{workspace / 'images/serve.tar'}:/srv/model.pkl" in model_paths
    assert any(p.startswith(f"{workspace / 'images/layout'}@sha256:") for p in model_paths)
    assert proc.returncode == 1 and outputs["verdict"] == "fail"
