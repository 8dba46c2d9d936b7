"""The three configs run the same image with the same command line and the same values."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from mlgate.ci.options import SCAN_COMMAND, CiOptions, GitLabKind, Platform, parse_options
from mlgate.ci.render import render
from mlgate.cli import build_parser, options_from_args
from mlgate.errors import UsageError
from mlgate.model import Severity
from tests.ci import extract
from tests.ci.tools import REPO

SETTINGS = [
    "policy=conf/it's a policy.yml",
    "osv_url=https://osv-mirror.example",
    "osv_db=",
    "extra_args=--no-dev --exclude=tests",
    "mr_note=true",
    # a registry reference and an OCI tarball in the repository, comma separated as --set takes
    "scan_images=registry.example/ml/serving:2.1@sha256:" + "ab" * 32 + ",build/image.tar",
    "scan_platform=linux/arm64",
]
SCAN_IMAGES = ("registry.example/ml/serving:2.1@sha256:" + "ab" * 32, "build/image.tar")


def _configs(opts: CiOptions) -> dict[str, tuple[str, dict[str, str], str]]:
    """platform -> (image, environment, mlgate command line) as each platform would run it."""
    out: dict[str, tuple[str, dict[str, str], str]] = {}
    for kind in GitLabKind:
        text = render(Platform.GITLAB, replace(opts, gitlab_kind=kind))
        config = extract.gitlab_config(text)
        env, script = extract.gitlab_job(text)
        commands = [line for line in script if line.startswith("mlgate ")]
        assert len(commands) == 1
        out[f"gitlab-{kind}"] = (config["mlgate"]["image"]["name"], env, commands[0])
    text = render(Platform.GITHUB, opts)
    env, run = extract.github_job(text)
    out["github"] = (yaml.safe_load(text)["jobs"]["mlgate"]["container"]["image"], env, run)
    text = render(Platform.JENKINS, opts)
    env, steps = extract.jenkins_job(text)
    env.pop("MLGATE_LOG_FLAGS")  # GitLab derives it from SECURE_LOG_LEVEL in the script
    image = text.split("image '", 1)[1].split("'", 1)[0]
    out["jenkins"] = (image, env, extract.one_line(steps[0]))
    return out


def test_same_image_environment_and_command() -> None:
    opts = parse_options({}, SETTINGS)
    configs = _configs(opts)
    assert set(configs) == {"gitlab-component", "gitlab-template", "github", "jenkins"}
    for name, (image, env, command) in configs.items():
        assert image == opts.image, name
        assert env == opts.env(), name
        assert command == SCAN_COMMAND, name


def test_same_argv_through_a_real_shell() -> None:
    """Each platform's command, expanded by sh with its own environment, gives one argv; and
    mlgate's own parser reads that argv back as the options that were rendered."""
    opts = parse_options({"fail_on": "medium", "path": "services/my api"}, SETTINGS)
    argvs = {
        name: extract.shell_argv([command], env)
        for name, (_, env, command) in _configs(opts).items()
    }
    first = next(iter(argvs.values()))
    assert all(argv == first for argv in argvs.values()), argvs
    assert first[:2] == ["scan", "services/my api"]
    args = build_parser().parse_args(first)
    scan = options_from_args(args)
    assert str(scan.root) == "services/my api"
    assert scan.fail_on is Severity.MEDIUM
    assert str(scan.policy) == "conf/it's a policy.yml"
    assert scan.osv_url == "https://osv-mirror.example"
    assert scan.osv_db is None
    assert scan.no_dev is True
    assert scan.exclude == ("tests",)
    assert str(scan.gitlab_report) == opts.gitlab_report
    assert scan.gitlab_report_version == opts.gitlab_report_version
    assert str(scan.codequality) == opts.codequality
    assert str(scan.markdown) == "mlgate.md"
    assert opts.scan_images == SCAN_IMAGES
    assert scan.images == SCAN_IMAGES
    assert scan.platform == "linux/arm64"
    assert (str(scan.sbom), str(scan.sarif), str(scan.json)) == (opts.sbom, opts.sarif, opts.json)


@pytest.mark.parametrize(
    ("level", "flags"), [("debug", ["-vv"]), ("info", ["-v"]), ("error", ["-q"]), ("", [])]
)
def test_gitlab_secure_log_level(level: str, flags: list[str]) -> None:
    text = render(Platform.GITLAB, parse_options({}))
    env, script = extract.gitlab_job(text)
    argv = extract.shell_argv(script, env, {"SECURE_LOG_LEVEL": level})
    assert argv[: len(flags) + 1] == [*flags, "scan"]
    assert build_parser().parse_args(argv).command == "scan"


def test_github_action_inputs_give_the_same_scan_options() -> None:
    """The reusable workflow runs the Docker action instead: the same options passed as action
    inputs, mapped by the action's own entrypoint, parse to the same scan options."""
    path = REPO / "entrypoint.py"
    if not path.is_file():
        pytest.skip("entrypoint.py is absent")
    spec = importlib.util.spec_from_file_location("mlgate_action_entrypoint", path)
    assert spec is not None and spec.loader is not None
    entrypoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entrypoint)

    opts = parse_options({"fail_on": "low", "path": "svc"}, SETTINGS)
    args = [
        "--gitlab-report", opts.gitlab_report,
        "--gitlab-report-version", opts.gitlab_report_version,
        "--codequality", opts.codequality,
        *opts.extra_args,
    ]  # fmt: skip
    inputs = {
        "path": opts.path,
        "fail-on": opts.fail_on.value,
        "sbom": opts.sbom,
        "sarif": opts.sarif,
        "json": opts.json,
        "markdown": opts.markdown or "",
        "policy": opts.policy or "",
        "osv-url": opts.osv_url or "",
        "osv-db": opts.osv_db or "",
        "image": "\n".join(opts.scan_images),  # the action also splits on newlines
        "platform": opts.scan_platform or "",
        "args": " ".join(args),
    }
    env = {f"INPUT_{k.upper()}": v for k, v in inputs.items()}
    workspace = Path("/ws")
    action = options_from_args(build_parser().parse_args(entrypoint.build_argv(env, workspace)))
    _, env_vars, command = _configs(opts)["github"]
    ours = options_from_args(build_parser().parse_args(extract.shell_argv([command], env_vars)))

    def norm(value: object) -> object:
        if isinstance(value, Path) and value.is_absolute():
            return value.relative_to(workspace)
        return value

    skip = {"github", "comment", "upload_sarif"}  # publishing, not scanning
    fields = [f for f in vars(ours) if f not in skip]
    assert "images" in fields and ours.images == SCAN_IMAGES
    assert {f: norm(getattr(action, f)) for f in fields} == {f: getattr(ours, f) for f in fields}


def test_no_images_no_image_flags() -> None:
    """Without scan_images the command gives no --image and no --platform at all."""
    opts = parse_options({})
    for name, (_, env, command) in _configs(opts).items():
        argv = extract.shell_argv([command], env)
        assert not [a for a in argv if a.startswith(("--image", "--platform"))], name
        assert build_parser().parse_args(argv).image == [], name


def test_shell_never_runs_an_image_value(tmp_path: Path) -> None:
    """The image list is split into words like extra_args, never parsed as code: even values the
    checker refuses (built here directly) reach mlgate as text, and nothing runs."""
    marker = tmp_path / "ran"
    hostile = (f"$(touch {marker})", f"`touch {marker}`", "a;touch", "q'uote\"")
    opts = replace(parse_options({}), scan_images=hostile)
    for kind in GitLabKind:
        with pytest.raises(UsageError):
            render(Platform.GITLAB, replace(opts, gitlab_kind=kind))
    env, command = opts.env(), SCAN_COMMAND
    argv = extract.shell_argv([command], env)
    images = [a.removeprefix("--image=") for a in argv if a.startswith("--image=")]
    assert images == " ".join(hostile).split()
    assert not marker.exists()
