"""The shared options model: every value checked before anything is rendered."""

from __future__ import annotations

import pytest

from mlgate.ci.options import DEFAULT_IMAGE, CiOptions, GitLabKind, parse_options
from mlgate.cli import main
from mlgate.errors import UsageError
from mlgate.model import Severity


def test_defaults_and_conversions() -> None:
    opts = parse_options(
        {"path": "services/api", "fail_on": "medium", "image": None, "policy": None},
        [
            "timeout_minutes=12",
            "gitlab-kind=template",
            "extra_args=--no-dev --exclude=tests",
            "mr_note=yes",
            "scan_images=registry.example/app:1,oci/layout:v2 image.tar",
            "scan_platform=linux/arm/v7",
        ],
    )
    assert opts.path == "services/api"
    assert opts.fail_on is Severity.MEDIUM
    assert opts.image == DEFAULT_IMAGE
    assert opts.timeout_minutes == 12
    assert opts.gitlab_kind is GitLabKind.TEMPLATE
    assert opts.extra_args == ("--no-dev", "--exclude=tests")
    assert opts.mr_note is True
    assert opts.markdown == "mlgate.md"  # the note needs a body
    assert opts.scan_images == ("registry.example/app:1", "oci/layout:v2", "image.tar")
    assert opts.scan_platform == "linux/arm/v7"
    assert parse_options({}).scan_images == ()
    assert parse_options({}, ["scan_platform="]).scan_platform is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["colour=blue"], "unknown option(s): colour"),
        (["fail_on=severe"], "fail_on: 'severe' is not one of"),
        (["image=registry.example/mlgate latest"], "is not an image reference"),
        (["image=registry.example/mlgate\nfoo: bar"], "is not an image reference"),
        (["image=Registry.Example/UPPER"], "is not an image reference"),
        (["path=../elsewhere"], "must not leave the repository"),
        (["path=sub/../../x"], "must not leave the repository"),
        (["sarif=/tmp/out.sarif"], "must be relative"),
        (["sbom=-x"], "would be read as an option"),
        (["policy=a\nb"], "control or line-break"),
        (["policy=a\u202eb"], "control or line-break"),
        (["osv_url=ftp://osv.example"], "is not an http(s) URL"),
        (["osv_url=https://osv.example/ x"], "is not an http(s) URL"),
        (["extra_args=--exclude=*.pkl"], "characters the shell would interpret"),
        (["extra_args=;id"], "characters the shell would interpret"),
        (["gitlab_report_version=16.0.0"], "is not supported"),
        (["timeout_minutes=0"], "not within 1-1440"),
        (["timeout_minutes=soon"], "is not an integer"),
        (["mr_note=maybe"], "is not a boolean"),
        (["job_name=my job"], "must match"),
        (["credentials_id=a'b"], "is not a credentials id"),
        (["credentials_id=gitlab-token", "mr_note=false"], "set mr_note"),
        (["novalue"], "expected KEY=VALUE"),
        (["scan_images=registry.example/app:$(id)"], "which CI systems expand"),
        (["scan_images=`id`.tar"], "which CI systems expand"),
        (["scan_images=it's.tar"], "neither an image reference nor a plain relative path"),
        (['scan_images=a"b'], "neither an image reference nor a plain relative path"),
        (["scan_images=layouts/*"], "neither an image reference nor a plain relative path"),
        (["scan_images=../outside.tar"], "must not leave the repository"),
        (["scan_images=/abs/image.tar"], "must be relative"),
        (["scan_images=-x"], "would be read as an option"),
        (["scan_platform=linux"], "is not a platform"),
        (["scan_platform=linux/amd64 x"], "is not a platform"),
    ],
)
def test_invalid_values_are_usage_errors(settings: list[str], message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_options({}, settings)
    assert message in err.value.message


def test_empty_optional_value_means_unset() -> None:
    assert parse_options({"policy": ""}, ["osv_url="]).policy is None


def test_quotes_and_spaces_are_legitimate_in_paths() -> None:
    """File names may hold quotes, spaces and semicolons: they are quoted, not refused."""
    opts = parse_options({"policy": 'conf/it\'s a "policy"; v2.yml'})
    assert opts.policy == 'conf/it\'s a "policy"; v2.yml'


@pytest.mark.parametrize("value", ["${env.SECRET}", "$HOME/p.yml", "$[[ inputs.x ]]", "`id`"])
def test_expansion_syntax_is_refused(value: str) -> None:
    """Jenkins' environment directive, GitLab and GitHub would each expand these."""
    with pytest.raises(UsageError, match="which CI systems expand"):
        parse_options({"policy": value})


def test_direct_construction_is_checked_by_render() -> None:
    from mlgate.ci.render import render

    with pytest.raises(UsageError):
        render("gitlab", CiOptions(path="../x"))


def test_cli_rejects_before_writing(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ci.yml"
    code = main(["ci", "render", "gitlab", "--set", "nope=1", "-o", str(out)])
    assert code == 2
    assert not out.exists()
    assert "unknown option(s): nope" in capsys.readouterr().err


def test_cli_rejects_unknown_platform(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["ci", "render", "circleci"]) == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("ref", ["registry.example/app:1\n", "a.tar\nfoo: bar", "a.tar\x00"])
def test_scan_image_line_breaks_are_refused(ref: str) -> None:
    """Built directly (``--set`` splits on whitespace): a line break is refused, even a last one."""
    with pytest.raises(UsageError):
        CiOptions(scan_images=(ref,)).check()
