"""Rendering: deterministic, snapshot-stable, schema-valid, and inert against injected values."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from mlgate.ci.options import CiOptions, GitLabKind, Platform, parse_options
from mlgate.ci.render import _render, groovy_quote, render, yaml_quote
from mlgate.cli import main
from mlgate.errors import UsageError
from tests.ci import extract
from tests.ci.tools import REPO, venv_tool

SNAPSHOTS = Path(__file__).parent / "snapshots"
# one option set for the snapshots: every optional feature switched on
SNAPSHOT_SETTINGS = [
    "image=registry.example/mlgate/mlgate:0.1.0@sha256:" + "0" * 64,
    "policy=.mlgate.yml",
    "osv_url=https://osv-mirror.example",
    "extra_args=--no-dev --exclude=tests",
    "mr_note=true",
    "scan_images=registry.example/ml/serving:2.1@sha256:" + "1" * 64 + ",build/image.tar",
    "scan_platform=linux/arm64",
]
SNAPSHOT_CASES = {
    "gitlab-component.yml": (Platform.GITLAB, ["gitlab_kind=component"]),
    "gitlab-template.yml": (Platform.GITLAB, ["gitlab_kind=template"]),
    "Jenkinsfile": (Platform.JENKINS, ["credentials_id=gitlab-project-token"]),
    "github.yml": (Platform.GITHUB, []),
}


def _snapshot_text(name: str) -> str:
    platform, extra = SNAPSHOT_CASES[name]
    return render(platform, parse_options({"fail_on": "medium"}, SNAPSHOT_SETTINGS + extra))


@pytest.mark.parametrize("name", sorted(SNAPSHOT_CASES))
def test_snapshot(name: str) -> None:
    text = _snapshot_text(name)
    path = SNAPSHOTS / name
    if os.environ.get("MLGATE_UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"re-render with MLGATE_UPDATE_SNAPSHOTS=1: {name}"
    )


def test_committed_component_is_the_default_render() -> None:
    """templates/mlgate.yml is what a CI/CD catalog project publishes: it must stay current."""
    committed = (REPO / "templates" / "mlgate.yml").read_text(encoding="utf-8")
    assert committed == render(Platform.GITLAB, CiOptions())


@pytest.mark.parametrize("platform", list(Platform))
def test_deterministic(platform: Platform) -> None:
    opts = parse_options({}, ["policy=p.yml", "extra_args=--no-dev"])
    assert render(platform, opts) == render(platform, opts)


def test_cli_writes_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "Jenkinsfile"
    assert main(["-q", "ci", "render", "jenkins", "--fail-on", "low", "-o", str(out)]) == 0
    assert out.read_text() == render(Platform.JENKINS, parse_options({"fail_on": "low"}))


# -- injection: YAML ----------------------------------------------------------------------------

YAML_INJECTION = '"\nfoo: bar\nscript: ["id"]\n'


@pytest.mark.parametrize("kind", list(GitLabKind))
def test_yaml_key_injection_stays_a_string_gitlab(kind: GitLabKind) -> None:
    """Technique: YAML key injection through a line break in a value (the checker refuses it;
    the renderer alone must still keep it inside one scalar)."""
    opts = CiOptions(path=YAML_INJECTION, policy=YAML_INJECTION, gitlab_kind=kind)
    text = _render(Platform.GITLAB, opts)
    config = extract.gitlab_config(text)
    assert set(config) == {"mlgate"}
    job = config["mlgate"]
    assert "foo" not in job
    assert set(job) == {
        "stage",
        "image",
        "variables",
        "rules",
        "timeout",
        "interruptible",
        "script",
        "artifacts",
    }
    env, script = extract.gitlab_job(text)
    assert env["MLGATE_PATH"] == YAML_INJECTION
    assert env["MLGATE_POLICY"] == YAML_INJECTION
    assert len(script) == 2


def test_yaml_key_injection_stays_a_string_github() -> None:
    opts = CiOptions(path=YAML_INJECTION, default_branch="main")
    text = _render(Platform.GITHUB, opts)
    config = yaml.safe_load(text)
    # `on` is YAML 1.1's true
    assert set(config) == {"name", True, "permissions", "concurrency", "jobs"}
    env, _ = extract.github_job(text)
    assert env["MLGATE_PATH"] == YAML_INJECTION
    assert "foo" not in config["jobs"]["mlgate"]


def test_github_expression_injection_is_kept_literal() -> None:
    """Technique: GitHub Actions expression injection (`${{ }}` is evaluated in any string)."""
    value = "${{ secrets.TOKEN }}/policy.yml"
    with pytest.raises(UsageError):
        parse_options({"policy": value})  # refused; and the renderer alone keeps it literal:
    text = _render(Platform.GITHUB, CiOptions(policy=value))
    env, _ = extract.github_job(text)
    assert "${{ secrets" not in text
    # GitHub evaluates `${{ '${{' }}` to the two characters `${{`: the value arrives unchanged
    assert env["MLGATE_POLICY"] == value.replace("${{", "${{ '${{' }}")


def test_yaml_quote_round_trips() -> None:
    for value in ["plain", 'quote " and \\ back', "# not a comment", "key: value", "- item", "é"]:
        assert yaml.safe_load(f"k: {yaml_quote(value)}") == {"k": value}


# -- injection: Groovy --------------------------------------------------------------------------

GROOVY_INJECTION = "x'; sh \"id\"; '${System.exit(1)}\\"


def test_groovy_quote_round_trips_in_python_reader() -> None:
    for value in [GROOVY_INJECTION, "a\nb", "tab\there", "\\'", "$HOME ${x}"]:
        assert extract.groovy_unescape(groovy_quote(value)[1:-1]) == value


def test_groovy_code_injection_stays_a_string() -> None:
    """Technique: Groovy string break-out (`'; sh "id"; '`) and GString `${}` interpolation."""
    with pytest.raises(UsageError):
        parse_options({"policy": GROOVY_INJECTION})  # `$` is refused; the quoting alone:
    assert parse_options({"policy": "x'; sh \"id\"; '"}).policy == "x'; sh \"id\"; '"
    opts = CiOptions(policy=GROOVY_INJECTION, osv_db="db'${env.SECRET}")
    text = _render(Platform.JENKINS, opts)
    env, steps = extract.jenkins_job(text)
    assert env["MLGATE_POLICY"] == GROOVY_INJECTION
    assert env["MLGATE_OSV_DB"] == "db'${env.SECRET}"
    assert len(steps) == 1
    assert '"id"' not in steps[0]


# -- validators -------------------------------------------------------------------------------


def _check_jsonschema(schema: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = venv_tool("check-jsonschema")
    return subprocess.run(
        [str(tool), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gitlab_outputs_validate_against_gitlab_ci_schema(tmp_path: Path) -> None:
    files = []
    for name in ("gitlab-component.yml", "gitlab-template.yml"):
        text = _snapshot_text(name)
        if "\n---\n" in text:
            spec, job = text.split("\n---\n", 1)
            files += [tmp_path / f"{name}.spec.yml", tmp_path / f"{name}.job.yml"]
            files[-2].write_text(spec)
            files[-1].write_text(job)
        else:
            files.append(tmp_path / name)
            files[-1].write_text(text)
    files.append(tmp_path / "default-component.job.yml")
    files[-1].write_text(render(Platform.GITLAB, CiOptions()).split("\n---\n", 1)[1])
    proc = _check_jsonschema("vendor.gitlab-ci", files)
    print(proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok -- validation done" in proc.stdout


def test_gitlab_schema_check_can_fail(tmp_path: Path) -> None:
    """The validator really rejects a broken job (so the test above can fail)."""
    bad = tmp_path / "bad.yml"
    config = extract.gitlab_config(_snapshot_text("gitlab-template.yml"))
    config["mlgate"]["artifacts"]["when"] = "sometimes"
    bad.write_text(json.dumps(config))
    assert _check_jsonschema("vendor.gitlab-ci", [bad]).returncode != 0


def test_github_workflow_validates(tmp_path: Path) -> None:
    wf = tmp_path / "mlgate.yml"
    wf.write_text(_snapshot_text("github.yml"))
    proc = _check_jsonschema("vendor.github-workflows", [wf])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    actionlint = venv_tool("actionlint")
    proc = subprocess.run([str(actionlint), str(wf)], capture_output=True, text=True, timeout=60)
    print("actionlint:", proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout
    zizmor = venv_tool("zizmor")
    proc = subprocess.run(
        [str(zizmor), "--offline", "--persona", "auditor", str(wf)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    print("zizmor:", proc.returncode, proc.stdout, proc.stderr)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr
