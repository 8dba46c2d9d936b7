"""Render a CI config from :class:`~mlgate.ci.options.CiOptions` with Jinja.

Escaping is automatic: every ``{{ expression }}`` passes through the environment's ``finalize``,
which quotes it for the target language - a YAML/JSON double-quoted scalar for GitLab and GitHub,
a Groovy single-quoted string for Jenkins. Only values wrapped in :class:`Raw` (numbers and
booleans computed here, never user text) are written as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from functools import cache
from typing import Any

import jinja2

from mlgate import __version__
from mlgate.ci.options import GITLAB_LOG_LEVEL, SCAN_COMMAND, CiOptions, GitLabKind, Platform
from mlgate.model import Severity

# Actions pinned by commit (the tag is only a comment): a moved tag cannot change the workflow.
GITHUB_ACTIONS = {
    "checkout": "actions/checkout@34e114876b0b11c390a56381ad16ebd13914f8d5",
    "upload_sarif": "github/codeql-action/upload-sarif@5d4e8d1aca955e8d8589aabd499c5cae939e33c7",
    "upload_artifact": "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02",
}
GITHUB_ACTION_TAGS = {"checkout": "v4.3.1", "upload_sarif": "v4.31.9", "upload_artifact": "v4.6.2"}

# warnings-ng reads SARIF levels as severities: error -> ERROR, warning -> NORMAL, note -> LOW.
# mlgate writes critical/high as error, medium as warning, low/info as note.
QUALITY_GATES: dict[Severity, tuple[str, ...]] = {
    Severity.CRITICAL: ("TOTAL_ERROR",),
    Severity.HIGH: ("TOTAL_ERROR",),
    Severity.MEDIUM: ("TOTAL_ERROR", "TOTAL_NORMAL"),
    Severity.LOW: ("TOTAL",),
    Severity.INFO: ("TOTAL",),
    Severity.NONE: (),
}

_GROOVY_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_GROOVY_SPECIAL = re.compile(r"[\\'\x00-\x1f\x7f-\x9f\u2028\u2029]")


class Raw(str):
    """Text written as it is: numbers, booleans and fixed syntax produced by this module."""


def _literal(value: object) -> str | None:
    """What YAML and Groovy both write unquoted: our own raw syntax, booleans and integers."""
    if isinstance(value, Raw):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return None


def yaml_quote(value: object) -> str:
    """A YAML double-quoted scalar (JSON string syntax, which YAML reads the same way)."""
    literal = _literal(value)
    if literal is not None:
        return literal
    return json.dumps("" if value is None else str(value), ensure_ascii=False)


def github_quote(value: object) -> str:
    """:func:`yaml_quote`, and ``${{`` kept literal: GitHub evaluates it in every string."""
    if isinstance(value, str) and not isinstance(value, Raw):
        value = value.replace("${{", "${{ '${{' }}")
    return yaml_quote(value)


def groovy_quote(value: object) -> str:
    """A Groovy single-quoted string: no ``${}`` interpolation, backslash and quote escaped."""
    literal = _literal(value)
    if literal is not None:
        return literal
    text = "" if value is None else str(value)

    def esc(match: re.Match[str]) -> str:
        ch = match.group()
        return _GROOVY_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"

    return "'" + _GROOVY_SPECIAL.sub(esc, text) + "'"


def groovy_multiline(value: str) -> Raw:
    """A shell command as a triple-single-quoted Groovy string, one option per line.

    Lines break before each `` --option`` with a shell continuation; Groovy's escapes apply
    (``\\`` and ``'``), ``$`` stays literal since single-quoted strings never interpolate.
    """
    text = re.sub(r" (?=--|\$\{MLGATE_)", " \\\n    ", value)
    body = text.replace("\\", "\\\\").replace("'", "\\'")
    return Raw("'''\n" + body + "\n'''")


@cache
def environment(language: str) -> jinja2.Environment:
    finalize: Callable[[object], str] = {
        "yaml": yaml_quote,
        "github": github_quote,
        "groovy": groovy_quote,
    }[language]
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlgate.ci", "templates"),
        finalize=finalize,
        autoescape=False,  # finalize does the escaping; HTML escaping would be wrong here
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["raw"] = Raw
    env.filters["groovy_multiline"] = groovy_multiline
    return env


def render(platform: Platform | str, options: CiOptions) -> str:
    """Check ``options`` and render the config of ``platform``; same input, same bytes."""
    options.check()
    return _render(Platform(platform), options)


def _render(platform: Platform, options: CiOptions) -> str:
    if platform is Platform.GITLAB:
        return environment("yaml").get_template("gitlab.yml.j2").render(gitlab_context(options))
    if platform is Platform.GITHUB:
        return environment("github").get_template("github.yml.j2").render(github_context(options))
    return environment("groovy").get_template("Jenkinsfile.j2").render(jenkins_context(options))


def _base(options: CiOptions) -> dict[str, Any]:
    return {
        "o": options,
        "version": __version__,
        "env": options.env(),
        "command": SCAN_COMMAND,
        "report_files": options.report_files(),
    }


# Component inputs: option field -> (environment variable, description, allowed values).
COMPONENT_INPUTS: tuple[tuple[str, str | None, str], ...] = (
    ("stage", None, "Pipeline stage of the mlgate job"),
    ("image", None, "mlgate container image (pin it by digest)"),
    ("path", "MLGATE_PATH", "Folder to scan, relative to the repository"),
    ("fail_on", "MLGATE_FAIL_ON", "Lowest severity that fails the job"),
    ("policy", "MLGATE_POLICY", "Policy file (empty: .mlgate.yml when present)"),
    ("sbom", "MLGATE_SBOM", "CycloneDX SBOM file (artifacts:reports:cyclonedx)"),
    ("sarif", "MLGATE_SARIF", "SARIF 2.1.0 file"),
    ("json", "MLGATE_JSON", "mlgate JSON result file"),
    ("gitlab_report", "MLGATE_GITLAB_REPORT", "GitLab dependency-scanning report file"),
    ("gitlab_report_version", "MLGATE_GITLAB_REPORT_VERSION", "Security report schema version"),
    ("codequality", "MLGATE_CODEQUALITY", "GitLab code-quality report file"),
    ("markdown", "MLGATE_MARKDOWN", "Markdown report file (body of the merge-request note)"),
    ("osv_url", "MLGATE_OSV_URL", "OSV API base URL (empty: OSV's public API)"),
    ("osv_db", "MLGATE_OSV_DB", "Offline OSV database folder (empty: online)"),
    (
        "scan_images",
        "MLGATE_SCAN_IMAGES",
        "Container images to scan too, space separated: registry references, or OCI layouts"
        " and tarballs relative to the repository",
    ),
    ("scan_platform", "MLGATE_SCAN_PLATFORM", "Platform chosen from multi-platform images"),
    ("extra_args", "MLGATE_EXTRA_ARGS", "More mlgate scan arguments, space separated"),
)


# GitLab checks these inputs before the pipeline starts (RE2); options.py checks each value fully
_IMAGE_WORD = r"[A-Za-z0-9_.][A-Za-z0-9_./:=@+%-]*"
INPUT_REGEX = {
    "gitlab_report_version": r"^15\.[0-2]\.[0-9]+$",
    "scan_images": rf"^({_IMAGE_WORD}( {_IMAGE_WORD})*)?$",
    "scan_platform": r"^([a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?)?$",
}


def _input_default(options: CiOptions, name: str) -> str:
    if name in ("stage", "image"):
        return str(getattr(options, name))
    env_name = next(e for n, e, _ in COMPONENT_INPUTS if n == name)
    assert env_name is not None
    return options.env()[env_name]


def gitlab_context(options: CiOptions) -> dict[str, Any]:
    ctx = _base(options)
    component = options.gitlab_kind is GitLabKind.COMPONENT
    env = options.env()
    if component:
        inputs = []
        for name, _env_name, description in COMPONENT_INPUTS:
            item: dict[str, Any] = {
                "name": name,
                "default": _input_default(options, name),
                "description": description,
            }
            if name == "fail_on":
                item["options"] = [s.value for s in Severity]
            if name in INPUT_REGEX:
                item["regex"] = INPUT_REGEX[name]
            inputs.append(item)
        ctx["inputs"] = inputs
        variables = {e: f"$[[ inputs.{n} ]]" for n, e, _ in COMPONENT_INPUTS if e is not None}
        ref = {n: f"$[[ inputs.{n} ]]" for n, _, _ in COMPONENT_INPUTS}
        ctx["image"] = ref["image"]
        ctx["stage"] = ref["stage"]
        files = [ref["sbom"], ref["sarif"], ref["json"], ref["gitlab_report"], ref["codequality"]]
        if options.markdown:
            files.append(ref["markdown"])
        ctx["artifact_paths"] = files
        ctx["reports"] = {
            "dependency_scanning": ref["gitlab_report"],
            "cyclonedx": ref["sbom"],
            "codequality": ref["codequality"],
        }
    else:
        variables = env
        ctx["image"] = options.image
        ctx["stage"] = options.stage
        ctx["artifact_paths"] = list(options.report_files())
        ctx["reports"] = {
            "dependency_scanning": options.gitlab_report,
            "cyclonedx": options.sbom,
            "codequality": options.codequality,
        }
    ctx["component"] = component
    ctx["variables"] = variables
    ctx["log_level"] = GITLAB_LOG_LEVEL
    ctx["timeout"] = f"{options.timeout_minutes}m"
    ctx["note_command"] = (
        'if [ -n "${MLGATE_GITLAB_TOKEN:-}" ] && [ -n "${CI_MERGE_REQUEST_IID:-}" ]; then'
        ' mlgate ci gitlab-note --markdown "$MLGATE_MARKDOWN"; fi'
    )
    return ctx


def github_context(options: CiOptions) -> dict[str, Any]:
    ctx = _base(options)
    ctx["actions"] = {
        key: Raw(f"{ref} # {GITHUB_ACTION_TAGS[key]}") for key, ref in GITHUB_ACTIONS.items()
    }
    ctx["artifact_path"] = "\n".join(options.report_files()) + "\n"
    # one run per workflow and ref: a new push cancels the scan of the previous one
    ctx["concurrency_group"] = Raw('"mlgate-${{ github.workflow }}-${{ github.ref }}"')
    return ctx


def jenkins_context(options: CiOptions) -> dict[str, Any]:
    ctx = _base(options)
    ctx["quality_gates"] = QUALITY_GATES[options.fail_on]
    # critical and high share the SARIF level "error": for critical the gate can only warn
    ctx["gate_criticality"] = "UNSTABLE" if options.fail_on is Severity.CRITICAL else "FAILURE"
    archive = ["MLGATE_SBOM", "MLGATE_SARIF", "MLGATE_JSON", "MLGATE_GITLAB_REPORT"]
    archive.append("MLGATE_CODEQUALITY")
    if options.markdown:
        archive.append("MLGATE_MARKDOWN")
    ctx["archive"] = archive
    ctx["note_command"] = (
        'if [ -n "${gitlabMergeRequestIid:-}" ]; then'
        ' mlgate ci gitlab-note --markdown "$MLGATE_MARKDOWN"'
        ' --project-id "$gitlabMergeRequestTargetProjectId"'
        ' --mr-iid "$gitlabMergeRequestIid"; fi'
    )
    return ctx
