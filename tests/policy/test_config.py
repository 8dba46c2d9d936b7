"""The policy file: schema, defaults, errors that name the file, line and key."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from mlgate.cli import main
from mlgate.errors import PolicyError
from mlgate.exitcodes import ExitCode
from mlgate.model import Severity
from mlgate.options import ScanOptions
from mlgate.policy import Policy, load_policy, parse_policy_text
from mlgate.policy.config import policy_schema

POLICY_DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


def policy_doc_example() -> str:
    """The complete example of docs/policy.md (it moved there from the README)."""
    text = POLICY_DOC.read_text(encoding="utf-8")
    section = text.split("# Policy file (`.mlgate.yml`)", 1)[1].split("\n# ", 1)[0]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match, "docs/policy.md has no yaml example"
    return match.group(1)


def test_docs_policy_example_is_valid_against_the_schema() -> None:
    data = yaml.safe_load(policy_doc_example())
    data["ignore"][0]["expires"] = str(data["ignore"][0]["expires"])
    jsonschema.Draft202012Validator.check_schema(policy_schema())
    jsonschema.Draft202012Validator(policy_schema()).validate(data)


def test_docs_policy_example_loads_into_a_policy() -> None:
    policy = parse_policy_text(policy_doc_example(), "docs/policy.md")
    assert policy.fail_on is Severity.HIGH
    assert policy.ignores[0].id == "GHSA-462w-v97r-4m45"
    assert policy.ignores[0].package == "jinja2"
    assert policy.ignores[0].expires == dt.date(2027, 1, 31)
    assert policy.ignores[1].justification == "code_not_reachable"
    assert policy.licenses.allow == ("MIT", "Apache-2.0", "BSD-3-Clause")
    assert policy.licenses.deny == ("GPL-3.0-only",)
    assert policy.models.lock == "models.lock.json"
    assert policy.models.deny_formats == ("pickle",)
    assert policy.allow_globals == ("acme.nets.Classifier",)
    assert policy.sources.indexes == ("https://pypi.internal.example/simple",)
    assert policy.sources.registries == ("registry.example/acme",)
    assert policy.sources.require_digest is True


def test_issue_example_shape_is_accepted() -> None:
    text = """
fail-on: high
unknown-severity: high
ignore:
  - id: GHSA-462w-v97r-4m45
    package: jinja2
    reason: "template sandbox not used"
    expires: 2027-01-31
licenses: {allow: [MIT, Apache-2.0, BSD-3-Clause], deny: [GPL-3.0-only], unknown: warn}
models: {lock: models.lock.json, deny-formats: [pickle], allow-globals: ["acme.nets.Classifier"]}
sources: {indexes: ["https://pypi.internal.example/simple"], \
registries: ["registry.example/acme"], require-digest: true}
"""
    policy = parse_policy_text(text)
    assert policy.ignores[0].reason == "template sandbox not used"


def test_defaults_are_the_safe_ones(tmp_path: Path) -> None:
    policy = load_policy(ScanOptions(root=tmp_path))
    assert policy == Policy()
    assert policy.fail_on is Severity.HIGH
    assert policy.unknown_severity is Severity.HIGH
    assert policy.sources.require_digest is True
    assert policy.licenses.unknown == "warn"
    assert policy.licenses.online is False
    assert policy.models.scan_code is True


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    (tmp_path / ".mlgate.yml").write_text("# nothing yet\n")
    assert load_policy(ScanOptions(root=tmp_path)).fail_on is Severity.HIGH


def test_found_at_root_under_either_name(tmp_path: Path) -> None:
    (tmp_path / ".mlgate.yaml").write_text("fail-on: low\n")
    assert load_policy(ScanOptions(root=tmp_path)).fail_on is Severity.LOW


def test_command_line_wins_over_the_file(tmp_path: Path) -> None:
    (tmp_path / ".mlgate.yml").write_text("fail-on: low\nlicenses: {deny: [GPL-3.0-only]}\n")
    policy = load_policy(
        ScanOptions(
            root=tmp_path,
            fail_on=Severity.CRITICAL,
            licenses_online=True,
            deps_dev_url="http://127.0.0.1:1",
        )
    )
    assert policy.fail_on is Severity.CRITICAL
    assert policy.licenses.online is True
    assert policy.licenses.deps_dev_url == "http://127.0.0.1:1"
    assert policy.licenses.deny == ("GPL-3.0-only",)


def test_explicit_policy_file_outside_the_root(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.yml"
    other.write_text("fail-on: medium\n")
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".mlgate.yml").write_text("fail-on: low\n")
    policy = load_policy(ScanOptions(root=tmp_path / "repo", policy=other))
    assert policy.fail_on is Severity.MEDIUM


def test_missing_explicit_policy_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(ScanOptions(root=tmp_path, policy=tmp_path / "nope.yml"))


def test_found_policy_symlinked_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    """Technique: .mlgate.yml is a symlink to a secret file, so that validation errors echo it."""
    secret = tmp_path / "git-credentials"
    secret.write_text("sources: {indexes: https://user:s3cret@git.example}\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / ".mlgate.yml").symlink_to(secret)
    with pytest.raises(PolicyError) as info:
        load_policy(ScanOptions(root=repo))
    assert "leads out of the scanned root" in info.value.diagnostics()
    assert "s3cret" not in info.value.diagnostics()


def test_yaml_alias_bomb_is_an_error_not_a_hang() -> None:
    """Technique: "billion laughs" - nested YAML aliases that expand to 10**8 values."""
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    lines.append("ignore: *h")
    with pytest.raises(PolicyError, match=r"more than \d+ values \(YAML aliases"):
        parse_policy_text("\n".join(lines) + "\n")


def _error(tmp_path: Path, text: str) -> str:
    (tmp_path / ".mlgate.yml").write_text(text)
    with pytest.raises(PolicyError) as info:
        load_policy(ScanOptions(root=tmp_path))
    return info.value.diagnostics()


def test_unknown_key_is_named_with_line_and_suggestion(tmp_path: Path) -> None:
    text = _error(tmp_path, "fail-on: high\nlicenses:\n  allow: [MIT]\n  alow: [BSD-3-Clause]\n")
    assert ".mlgate.yml:4: licenses.alow: unknown key 'alow' (did you mean 'allow'?)" in text
    assert "allowed keys: allow, deny" in text


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = _error(tmp_path, "fail_on: high\n")
    assert ".mlgate.yml:1: fail_on: unknown key 'fail_on' (did you mean 'fail-on'?)" in text


def test_ignore_without_reason_names_the_entry(tmp_path: Path) -> None:
    text = _error(tmp_path, "ignore:\n  - id: CVE-1\n  - id: CVE-2\n    package: x\n")
    assert ".mlgate.yml:2: ignore[0]: missing required key 'reason'" in text
    assert ".mlgate.yml:3: ignore[1]: missing required key 'reason'" in text


def test_blank_reason_is_rejected(tmp_path: Path) -> None:
    text = _error(tmp_path, "ignore:\n  - id: CVE-1\n    reason: '   '\n")
    assert "ignore[0].reason" in text


def test_bad_threshold_lists_the_choices(tmp_path: Path) -> None:
    text = _error(tmp_path, "fail-on: hgh\n")
    assert "fail-on: 'hgh' is not one of: critical, high, medium, low, info, none" in text


def test_bad_expiry_date(tmp_path: Path) -> None:
    text = _error(tmp_path, "ignore:\n  - {id: CVE-1, reason: r, expires: 2027-02-30}\n")
    assert "ignore[0].expires" in text


def test_wrong_type(tmp_path: Path) -> None:
    text = _error(tmp_path, "sources: {indexes: https://x.example/simple}\n")
    assert "sources.indexes" in text and "is not of type 'array'" in text


def test_not_yaml(tmp_path: Path) -> None:
    text = _error(tmp_path, "fail-on: [high\n")
    assert "not valid YAML" in text and ".mlgate.yml:" in text


def test_not_a_mapping(tmp_path: Path) -> None:
    assert "must be a mapping" in _error(tmp_path, "- high\n")


def test_invalid_policy_is_exit_2_on_the_command_line(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / ".mlgate.yml").write_text("models:\n  deny-format: [pickle]\n")
    assert main(["scan", str(tmp_path), "--no-vulns"]) == ExitCode.ERROR
    err = capsys.readouterr().err
    assert ".mlgate.yml:2: models.deny-format: unknown key 'deny-format'" in err
    assert "did you mean 'deny-formats'?" in err
