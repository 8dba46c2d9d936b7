"""Proof by running: gitlab-ci-local executes the rendered GitLab job with its shell executor.

The job's `image` is set aside by `--force-shell-executor` (there is no container engine here), so
the job's own script runs in a shell with this checkout's `mlgate` first on PATH, on a copy of the
examples project, against a local OSV-compatible server and a local GitLab-compatible API server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlgate.ci.options import Platform, parse_options
from mlgate.ci.render import render
from tests.ci.gitlab_server import GitLabServer
from tests.ci.tools import REPO, VENV_BIN, npm_tool
from tests.image.builder import Image, Layer, write_oci_layout
from tests.servers.osv_server import OsvServer

SHARED_SCHEMAS = REPO.parent / "shared" / "schemas" / "gitlab"
JINJA_ADVISORY = {
    "id": "GHSA-h5c8-rqwp-cp95",
    "aliases": ["CVE-2024-22195"],
    "summary": "Jinja vulnerable to HTML attribute injection when passing user input as keys",
    "details": "The xmlattr filter accepts keys containing spaces.",
    "modified": "2024-01-11T15:20:48Z",
    "published": "2024-01-11T15:20:48Z",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "jinja2", "purl": "pkg:pypi/jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.3"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-22195"}],
}


def _project(tmp_path: Path) -> Path:
    """A git repository holding a copy of the examples project (or a small one)."""
    if shutil.which("git") is None or shutil.which("rsync") is None:
        pytest.skip("gitlab-ci-local needs git and rsync (`make tools` installs rsync)")
    proj = tmp_path / "project"
    examples = REPO / "examples"
    if (examples / "requirements.txt").is_file():
        shutil.copytree(examples, proj, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        proj.mkdir()
    # the package the local OSV server knows about, whatever the examples pin
    (proj / "requirements-ci.txt").write_text("jinja2==2.11.2\n")
    return proj


def _git(proj: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.email=ci@example.com", "-c", "user.name=ci", "commit", "-qm", "init"],
        ["remote", "add", "origin", "https://gitlab.example.com/group/project.git"],
        # the default branch gitlab-ci-local reads from origin/HEAD
        ["update-ref", "refs/remotes/origin/main", "HEAD"],
        ["symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main"],
    ):
        subprocess.run(["git", *args], cwd=proj, check=True, env=env, capture_output=True)


def _run(proj: Path, *args: str) -> subprocess.CompletedProcess[str]:
    tool = npm_tool("gitlab-ci-local")
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MLGATE_OSV_URL", None)
    proc = subprocess.run(
        [
            str(tool),
            "--force-shell-executor",
            "--no-color",
            "--ignore-predefined-vars",
            "CI_PIPELINE_SOURCE,CI_COMMIT_BRANCH,CI_MERGE_REQUEST_IID,CI_PROJECT_ID,CI_API_V4_URL",
            *args,
        ],
        cwd=proj,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    print(f"$ gitlab-ci-local {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _schema() -> dict[str, Any] | None:
    path = SHARED_SCHEMAS / "dependency-scanning-report-format-15.1.4.json"
    return json.loads(path.read_text()) if path.is_file() else None


def test_component_job_runs_and_writes_valid_reports(tmp_path: Path) -> None:
    npm_tool("gitlab-ci-local")
    proj = _project(tmp_path)
    opts = parse_options({"image": "registry.example/mlgate/mlgate:ci-local"}, ["mr_note=true"])
    (proj / "templates").mkdir()
    (proj / "templates" / "mlgate.yml").write_text(render(Platform.GITLAB, opts))
    # an image built in an earlier job, handed over as an OCI layout in the project
    os_release = b"ID=alpine\nVERSION_ID=3.19.1\n"
    write_oci_layout(proj / "build" / "layout", Image([Layer({"/etc/os-release": os_release})]))
    with OsvServer([JINJA_ADVISORY]) as osv, GitLabServer() as gitlab:
        (proj / ".gitlab-ci.yml").write_text(
            yaml.safe_dump(
                {
                    "include": [
                        {
                            "local": "templates/mlgate.yml",
                            "inputs": {
                                "osv_url": osv.url,
                                "fail_on": "critical",
                                # gitlab-ci-local keeps its state in the project folder
                                "extra_args": "--exclude=.gitlab-ci-local --exclude=build",
                                "scan_images": "build/layout",
                                "scan_platform": "linux/amd64",
                            },
                        }
                    ]
                }
            )
        )
        _git(proj)
        proc = _run(
            proj,
            "--variable", "CI_PIPELINE_SOURCE=merge_request_event",
            "--variable", "CI_MERGE_REQUEST_IID=3",
            "--variable", "CI_PROJECT_ID=42",
            "--variable", f"CI_API_V4_URL={gitlab.api_url}",
            "--variable", f"MLGATE_GITLAB_TOKEN={gitlab.state.token}",
            "--variable", "SECURE_LOG_LEVEL=info",
        )  # fmt: skip
        notes = gitlab.state.notes.get(("42", 3), [])
    out = proc.stdout + proc.stderr
    assert "mlgate ci gitlab-note" in out  # after_script ran
    assert "PASS" in out or "FAIL" in out
    assert ".gitlab-ci-local/" not in (proj / opts.json).read_text()
    # the gate decides the job's fate; the reports exist either way (artifacts: when: always)
    report = json.loads((proj / opts.gitlab_report).read_text())
    result = json.loads((proj / opts.json).read_text())
    quality = json.loads((proj / opts.codequality).read_text())
    sbom = json.loads((proj / opts.sbom).read_text())
    sarif = json.loads((proj / opts.sarif).read_text())
    assert sbom["bomFormat"] == "CycloneDX"
    # the image input reached `mlgate scan --image`: the layout is a container in the SBOM
    assert "build/layout" in [c["name"] for c in sbom["components"] if c["type"] == "container"]
    assert sarif["version"] == "2.1.0"
    assert report["scan"]["type"] == "dependency_scanning"
    vuln_ids = {i["value"] for v in report["vulnerabilities"] for i in v["identifiers"]}
    assert "GHSA-h5c8-rqwp-cp95" in vuln_ids  # from the local OSV server, through the job
    advisories = {f["advisory"]["id"] for f in result["findings"] if f.get("advisory")}
    assert len(report["vulnerabilities"]) == len(
        [f for f in result["findings"] if f.get("advisory") and not f["suppressed"]]
    )
    assert "GHSA-h5c8-rqwp-cp95" in advisories
    assert len(quality) == len(
        [f for f in result["findings"] if not f.get("advisory") and not f["suppressed"]]
    )
    schema = _schema()
    if schema is not None:
        jsonschema.Draft7Validator(schema).validate(report)
    # the sticky note reached the (local) GitLab API with the Markdown report as its body
    assert len(notes) == 1
    assert notes[0]["body"].startswith("<!-- mlgate:gitlab-note -->")
    assert (proj / "mlgate.md").read_text().strip()[:40] in notes[0]["body"]


def test_disabled_and_rules(tmp_path: Path) -> None:
    """MLGATE_DISABLED removes the job; a push to another branch does not run it."""
    npm_tool("gitlab-ci-local")
    proj = _project(tmp_path)
    opts = parse_options({}, ["gitlab_kind=template"])
    (proj / ".gitlab-ci.yml").write_text(render(Platform.GITLAB, opts))
    _git(proj)
    listed = _run(proj, "--list-csv")
    assert "mlgate" in listed.stdout  # default branch pipeline: the job is there
    disabled = _run(proj, "--list-csv", "--variable", "MLGATE_DISABLED=true")
    assert "mlgate" not in disabled.stdout.replace("name;", "")
    branch = _run(proj, "--list-csv", "--variable", "CI_COMMIT_BRANCH=feature")
    assert "mlgate" not in branch.stdout.replace("name;", "")
