"""The Jenkinsfile: parsed by Groovy itself (never run) and linted by npm-groovy-lint."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mlgate.ci.options import CiOptions, Platform, parse_options
from mlgate.ci.render import QUALITY_GATES, _render, render
from mlgate.model import Severity
from tests.ci import extract
from tests.ci.test_render import GROOVY_INJECTION, SNAPSHOTS
from tests.ci.tools import groovy, npm_tool

HERE = Path(__file__).parent


def _groovy_ast(files: list[Path]) -> dict[str, dict[str, Any]]:
    exe, env = groovy()
    proc = subprocess.run(
        [str(exe), str(HERE / "groovy_ast.groovy"), *map(str, files)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_groovy_parses_and_values_stay_strings(tmp_path: Path) -> None:
    """Technique: Groovy string break-out and `${}` interpolation, checked on Groovy's own AST."""
    plain = tmp_path / "plain.Jenkinsfile"
    plain.write_text(render(Platform.JENKINS, CiOptions()))
    hostile = tmp_path / "hostile.Jenkinsfile"
    # built directly: the checker refuses `$`, the Groovy quoting must hold on its own
    opts = CiOptions(
        policy=GROOVY_INJECTION, osv_db="${env.SECRET}", scan_images=(GROOVY_INJECTION, "$(id)")
    )
    hostile.write_text(_render(Platform.JENKINS, opts))
    snapshot = SNAPSHOTS / "Jenkinsfile"
    broken = tmp_path / "broken.Jenkinsfile"
    broken.write_text("pipeline { stages { stage('x') { steps { sh 'a' } }\n")

    exe, env = groovy()
    proc = subprocess.run(
        [str(exe), str(HERE / "groovy_ast.groovy"), str(broken)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode != 0  # the parser does reject a broken file

    ast = _groovy_ast([plain, hostile, snapshot])
    a_plain, a_hostile, a_snap = (ast[str(p)] for p in (plain, hostile, snapshot))
    print("groovy AST calls:", a_snap["calls"])
    for tree in (a_plain, a_hostile, a_snap):
        assert tree["gstrings"] == 0  # no interpolated string anywhere
        assert tree["calls"][:3] == ["pipeline", "agent", "docker"]
    # the hostile values added no call and no step: they are two constant strings
    assert a_hostile["calls"] == a_plain["calls"]
    assert a_hostile["assignments"]["MLGATE_POLICY"] == GROOVY_INJECTION
    assert a_hostile["assignments"]["MLGATE_OSV_DB"] == "${env.SECRET}"
    assert a_hostile["assignments"]["MLGATE_SCAN_IMAGES"] == GROOVY_INJECTION + " $(id)"
    assert a_hostile["sh"] == a_plain["sh"]
    # the Python reader used by the equivalence test agrees with Groovy
    env_py, steps_py = extract.jenkins_job(snapshot.read_text())
    assert a_snap["sh"] == steps_py
    assert {k: v for k, v in a_snap["assignments"].items() if k in env_py} == env_py
    # secrets: the token is bound by withCredentials and only read by the shell
    assert "withCredentials" in a_snap["calls"]
    assert all("MLGATE_GITLAB_TOKEN" not in s for s in a_snap["sh"][:1])


@pytest.mark.parametrize("fail_on", list(Severity))
def test_quality_gate_follows_fail_on(fail_on: Severity) -> None:
    text = render(Platform.JENKINS, parse_options({"fail_on": fail_on.value}))
    for gate in QUALITY_GATES[fail_on]:
        assert f"type: '{gate}'" in text
    assert text.count("[threshold: 1, type:") == len(QUALITY_GATES[fail_on])
    criticality = "UNSTABLE" if fail_on is Severity.CRITICAL else "FAILURE"
    if QUALITY_GATES[fail_on]:
        assert f"criticality: '{criticality}'" in text


def test_npm_groovy_lint(tmp_path: Path) -> None:
    """npm-groovy-lint with the Jenkinsfile rule set (tests/ci/groovylintrc.json, see README)."""
    lint = npm_tool("npm-groovy-lint")
    shutil.copy(HERE / "groovylintrc.json", tmp_path / ".groovylintrc.json")
    (tmp_path / "Jenkinsfile").write_text((SNAPSHOTS / "Jenkinsfile").read_text())
    proc = subprocess.run(
        [
            str(lint),
            "--noserver",
            "--failon",
            "info",
            "--output",
            "json",
            "Jenkinsfile",
            "default.Jenkinsfile",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = json.loads(proc.stdout[proc.stdout.index("{") :])
    print("npm-groovy-lint summary:", json.dumps(out["summary"]))
    assert out["summary"]["totalFilesLinted"] == 1
    issues = {path: file["errors"] for path, file in out["files"].items()}
    assert all(not errs for errs in issues.values()), issues
    assert proc.returncode == 0, proc.stderr
