"""SARIF 2.1.0 for GitHub code scanning, built with sarif-om.

One run per category (dependencies, models, policy), each with its own ``automationDetails.id``:
GitHub rejects several runs of one tool under one category. Every category is always emitted, even
empty, so that alerts fixed since the previous upload are closed instead of left open.

Vulnerabilities get one rule per advisory (``MLG-VULN/<advisory id>``, a hierarchical rule id):
the alert title is then the advisory and its ``security-severity`` the advisory's CVSS score.
Other findings get one rule per rule id. Message texts are plain text (SARIF does not render them
as Markdown); only ``help.markdown`` is Markdown, and its untrusted parts are escaped.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import attrs
import sarif_om as om

from mlgate.model import Advisory, Finding, ScanResult, ScanWarning, Severity
from mlgate.options import ScanOptions
from mlgate.report.categories import CATEGORIES, category_of
from mlgate.report.markdown import code_escape, md_escape

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
TOOL_NAME = "mlgate"
SRCROOT = "%SRCROOT%"
FINGERPRINT_KEY = "mlgate/v1"
OSV_URL = "https://osv.dev/vulnerability/"


# GitHub's documented limits for an upload (docs: "SARIF support for code scanning").
MAX_RUNS = 20
MAX_RESULTS_PER_RUN = 25_000
MAX_RULES_PER_RUN = 25_000
MAX_TAGS_PER_RULE = 10  # 20 accepted, only 10 kept
MAX_GZIP_BYTES = 10 * 1024 * 1024
MAX_TEXT = 8_000  # bound on any one untrusted text we copy into the log

# security-severity chosen inside GitHub's bands (>9.0 critical, 7.0-8.9 high, 4.0-6.9 medium,
# 0.1-3.9 low). Info findings get none: they are not security alerts.
SECURITY_SEVERITY = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
}
LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
    Severity.NONE: "none",
}
_KIND_TEXT = {
    "vulnerability": "Known vulnerability in a dependency",
    "model": "Unsafe or unverifiable content in a model file",
    "provenance": "Model provenance cannot be verified",
    "source": "Code loads a remote model unsafely",
    "policy": "Repository policy violation",
    "license": "License policy violation",
    "inventory": "Dependency inventory problem",
}
# sarif-om attributes whose default value we still write out, because readers rely on them.
_KEEP_DEFAULTS = frozenset({"level"})


@dataclass(frozen=True)
class SarifLimits:
    max_results_per_run: int = MAX_RESULTS_PER_RUN
    max_gzip_bytes: int = MAX_GZIP_BYTES


def automation_id(category: str) -> str:
    return f"{TOOL_NAME}/{category}/"


def to_json(obj: Any) -> Any:
    """sarif-om (attrs) objects to plain JSON, with SARIF's property names.

    ``None`` and values equal to the attribute's default are dropped (SARIF readers apply the same
    defaults), except the few in ``_KEEP_DEFAULTS`` that are clearer written out.
    """
    if attrs.has(type(obj)):
        out: dict[str, Any] = {}
        for field in attrs.fields(type(obj)):
            value = getattr(obj, field.name)
            if value is None:
                continue
            default = field.default
            if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                default = default.factory()
            if value == default and field.name not in _KEEP_DEFAULTS:
                continue
            out[field.metadata.get("schema_property_name", field.name)] = to_json(value)
        return out
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    return obj


def _bounded(text: str, limit: int = MAX_TEXT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def source_prefix(root: str) -> str:
    """The scanned root relative to the repository root ("" when they are the same).

    GitHub maps results to files by repository-relative paths, so a scan of ``services/ml`` must
    say ``services/ml/requirements.txt``. The repository root is ``$GITHUB_WORKSPACE`` when the
    scanned root is inside it, otherwise the nearest folder holding ``.git``.
    """
    scanned = Path(root)
    workspace = os.environ.get("GITHUB_WORKSPACE")
    candidates: list[Path] = []
    if workspace:
        candidates.append(Path(workspace))
    candidates.extend(p for p in (scanned, *scanned.parents) if (p / ".git").exists())
    for base in candidates:
        try:
            rel = scanned.resolve().relative_to(base.resolve())
        except (ValueError, OSError):
            continue
        text = rel.as_posix()
        return "" if text == "." else text + "/"
    return ""


def repo_path(prefix: str, path: str) -> str:
    return str(PurePosixPath(prefix + path)) if prefix else path


def _severity_score(finding: Finding, advisory: Advisory | None) -> str | None:
    if advisory is not None and advisory.score is not None and advisory.score > 0:
        return f"{min(max(advisory.score, 0.1), 10.0):.1f}"
    return SECURITY_SEVERITY.get(finding.severity)


def _rule_id(finding: Finding) -> str:
    if finding.kind == "vulnerability" and finding.advisory is not None:
        return f"{finding.rule_id}/{finding.advisory.id}"
    return finding.rule_id


def _ecosystem(result: ScanResult, finding: Finding) -> str:
    comp = result.component(finding.component) if finding.component else None
    return comp.ecosystem if comp is not None else ""


def _advisory_rule(rule_id: str, finding: Finding, result: ScanResult) -> om.ReportingDescriptor:
    adv = finding.advisory
    assert adv is not None
    ids = ", ".join(adv.ids)
    summary = _bounded(adv.summary.strip() or f"Vulnerability {adv.id}", 1_000)
    details = _bounded(adv.details.strip() or summary)
    fixed = ", ".join(adv.fixed) or "no fixed version published"
    url = OSV_URL + quote(adv.id, safe="")
    text = f"{summary}\n\nIdentifiers: {ids}\nFixed in: {fixed}\nDetails: {url}\n\n{details}"
    md = (
        f"**{md_escape(summary, 1_000)}**\n\n"
        f"| Identifiers | Fixed in | Severity |\n| --- | --- | --- |\n"
        f"| {md_escape(ids, 500)} | {md_escape(fixed, 500)} | "
        f"{md_escape(_score_text(adv), 200)} |\n\n"
        f"{md_escape(details, MAX_TEXT, keep_newlines=True)}\n\n"
        f"[{md_escape(adv.id, 200)} on OSV]({url})"
    )
    return om.ReportingDescriptor(
        id=rule_id,
        name="VulnerableDependency" + re.sub(r"[^A-Za-z0-9]", "", adv.id),
        short_description=om.MultiformatMessageString(text=_bounded(f"{adv.id}: {summary}", 1_000)),
        full_description=om.MultiformatMessageString(text=_bounded(f"{summary} ({ids})", 2_000)),
        help=om.MultiformatMessageString(text=text, markdown=md),
        help_uri=url,
        default_configuration=om.ReportingConfiguration(level=LEVEL[finding.severity]),
        properties=_rule_properties(finding, result),
    )


def _score_text(adv: Advisory) -> str:
    parts = []
    if adv.severity is not None:
        parts.append(adv.severity.value)
    if adv.score is not None:
        parts.append(f"{adv.score:.1f}")
    if adv.vector:
        parts.append(adv.vector)
    return " ".join(parts) or "unknown"


def _pascal(rule_id: str) -> str:
    return "".join(p.capitalize() for p in rule_id.replace("_", "-").split("-") if p)


def _plain_rule(
    rule_id: str, findings: Sequence[Finding], result: ScanResult
) -> om.ReportingDescriptor:
    first = findings[0]
    what = _KIND_TEXT.get(first.kind, "mlgate finding")
    fix = next((f.fix for f in findings if f.fix), None)
    text = f"{what} ({rule_id})."
    if fix:
        text += f"\n\nFix: {_bounded(fix, 2_000)}"
    md = f"**{md_escape(what)}** ({code_escape(rule_id, 100)})"
    if fix:
        md += f"\n\nFix: {md_escape(fix, 2_000)}"
    return om.ReportingDescriptor(
        id=rule_id,
        name=_pascal(rule_id),
        short_description=om.MultiformatMessageString(text=f"{rule_id}: {what}"),
        full_description=om.MultiformatMessageString(text=text.split("\n\n")[0]),
        help=om.MultiformatMessageString(text=text, markdown=md),
        default_configuration=om.ReportingConfiguration(level=LEVEL[first.severity]),
        properties=_rule_properties(max(findings, key=lambda f: f.severity.rank), result),
    )


def _rule_properties(finding: Finding, result: ScanResult) -> dict[str, Any]:
    tags = ["security", finding.kind]
    eco = _ecosystem(result, finding)
    if eco:
        tags.append(eco)
    props: dict[str, Any] = {"tags": list(dict.fromkeys(tags))[:MAX_TAGS_PER_RULE]}
    score = _severity_score(finding, finding.advisory)
    if score is not None:
        props["security-severity"] = score
    props["precision"] = "high" if finding.kind == "vulnerability" else "medium"
    return props


def _message(finding: Finding, result: ScanResult) -> str:
    text = finding.message
    if finding.location.member:
        text += f" (archive member: {finding.location.member})"
    if finding.advisory is not None and finding.advisory.fixed and "fix" not in text.lower():
        text += f". Fixed in {', '.join(finding.advisory.fixed)}"
    return _bounded(text)


def _artifact(prefix: str, path: str) -> om.ArtifactLocation:
    """A path of the scanned tree, relative to the source root; an absolute one (an image read
    from a layout or tarball outside the tree: ``/ci/serve.tar:/etc/os-release``) as a file URI
    of its own, since a URI with a base must be relative."""
    if path.startswith("/"):
        return om.ArtifactLocation(uri="file://" + quote(path, safe="/"))
    return om.ArtifactLocation(uri=quote(repo_path(prefix, path), safe="/"), uri_base_id=SRCROOT)


def _location(prefix: str, finding: Finding) -> om.Location:
    loc = finding.location
    region = om.Region(start_line=loc.line if loc.line and loc.line > 0 else 1)
    if loc.column and loc.column > 0:
        region.start_column = loc.column
    return om.Location(
        physical_location=om.PhysicalLocation(
            artifact_location=_artifact(prefix, loc.path), region=region
        )
    )


def _result(
    finding: Finding, rule_index: int, rule_id: str, prefix: str, result: ScanResult
) -> om.Result:
    props: dict[str, Any] = {"severity": finding.severity.value, "kind": finding.kind}
    if finding.location.member:
        props["member"] = finding.location.member
    if finding.location.line is None:
        props["lineKnown"] = False
    if finding.component:
        props["component"] = finding.component
    if finding.trigger:
        props["trigger"] = _bounded(finding.trigger, 500)
    if finding.fix:
        props["fix"] = _bounded(finding.fix, 2_000)
    for key, value in finding.properties:
        props.setdefault(key, value)
    res = om.Result(
        message=om.Message(text=_message(finding, result)),
        rule_id=rule_id,
        rule_index=rule_index,
        level=LEVEL[finding.severity],
        locations=[_location(prefix, finding)],
        partial_fingerprints={FINGERPRINT_KEY: finding.fingerprint},
        properties=props,
    )
    if finding.suppression is not None:
        sup = finding.suppression
        res.suppressions = [
            om.Suppression(
                kind="external",  # the policy file, not an in-source comment
                justification=_bounded(sup.justification, 2_000),
                properties={"mlgate-kind": sup.kind}
                | ({"expires": sup.expires} if sup.expires else {}),
            )
        ]
    return res


def _notification(warning: ScanWarning, prefix: str) -> om.Notification:
    region = om.Region(start_line=warning.line) if warning.line else None
    return om.Notification(
        message=om.Message(text=_bounded(warning.message, 2_000)),
        level="warning",
        locations=[
            om.Location(
                physical_location=om.PhysicalLocation(
                    artifact_location=_artifact(prefix, warning.path), region=region
                )
            )
        ]
        if warning.path
        else None,
        properties={"code": warning.code},
    )


def _warning_category(warning: ScanWarning) -> str:
    code = warning.code.lower()
    if code.startswith(("policy", "license")):
        return "policy"
    if code.startswith(("model", "inspect", "format")):
        return "models"
    return "dependencies"


def _run(
    category: str,
    findings: Sequence[Finding],
    result: ScanResult,
    prefix: str,
    root_uri: str,
    warnings: Iterable[ScanWarning],
    omitted: Counter[str],
) -> om.Run:
    rules: list[om.ReportingDescriptor] = []
    index: dict[str, int] = {}
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(_rule_id(f), []).append(f)
    for rule_id, group in by_rule.items():
        index[rule_id] = len(rules)
        if group[0].kind == "vulnerability" and group[0].advisory is not None:
            rules.append(_advisory_rule(rule_id, group[0], result))
        else:
            rules.append(_plain_rule(rule_id, group, result))
    results = [_result(f, index[_rule_id(f)], _rule_id(f), prefix, result) for f in findings]

    notifications = [_notification(w, prefix) for w in warnings]
    run_props: dict[str, Any] = {"category": category}
    if category == "dependencies" and result.coverage is not None:
        cov = result.coverage
        run_props["coverage"] = {"checked": cov.checked, "total": cov.total}
        if cov.source:
            run_props["coverage"]["source"] = _bounded(cov.source, 2_000)
        notifications.extend(
            om.Notification(
                message=om.Message(text=_bounded(f"{ref} was not checked: {why}", 2_000)),
                level="warning",
                properties={"code": "unchecked", "component": ref},
            )
            for ref, why in cov.unchecked
        )
    if result.incomplete:
        run_props["incomplete"] = True
        notifications.append(
            om.Notification(
                message=om.Message(text=_bounded(f"scan incomplete: {result.incomplete}", 2_000)),
                level="error",
                properties={"code": "incomplete"},
            )
        )
    if omitted[category]:
        note = (
            f"{omitted[category]} lower-severity results were left out to stay within GitHub's "
            "code scanning limits; the JSON result has all of them."
        )
        run_props["truncated"] = True
        run_props["omittedResults"] = omitted[category]
        notifications.append(
            om.Notification(
                message=om.Message(text=note), level="warning", properties={"code": "truncated"}
            )
        )
    invocation = om.Invocation(
        execution_successful=result.incomplete is None,
        tool_execution_notifications=notifications or None,
    )
    tool = om.Tool(
        driver=om.ToolComponent(
            name=TOOL_NAME,
            version=result.tool_version or None,
            semantic_version=result.tool_version or None,
            rules=rules,
        )
    )
    return om.Run(
        tool=tool,
        automation_details=om.RunAutomationDetails(id=automation_id(category)),
        original_uri_base_ids={
            SRCROOT: om.ArtifactLocation(
                uri=root_uri,
                description=om.Message(text="The root of the repository that was scanned."),
            )
        },
        column_kind="unicodeCodePoints",
        invocations=[invocation],
        results=results,
        properties=run_props,
    )


def _root_uri(result: ScanResult, prefix: str) -> str:
    root = Path(result.root)
    depth = prefix.count("/")
    for _ in range(depth):
        root = root.parent
    uri = root.as_uri() if root.is_absolute() else Path("/", root).as_uri()
    return uri if uri.endswith("/") else uri + "/"


def build_log(result: ScanResult, limits: SarifLimits = SarifLimits()) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict, within ``limits``."""
    prefix = source_prefix(result.root)
    root_uri = _root_uri(result, prefix)
    ranked = sorted(result.findings, key=lambda f: (f.suppressed, f.sort_key()))
    grouped: dict[str, list[Finding]] = {c: [] for c in CATEGORIES}
    for f in ranked:
        grouped[category_of(f)].append(f)
    warnings: dict[str, list[ScanWarning]] = {c: [] for c in CATEGORIES}
    for w in result.all_warnings:
        warnings[_warning_category(w)].append(w)

    omitted: Counter[str] = Counter()
    for cat, items in grouped.items():
        if len(items) > limits.max_results_per_run:
            omitted[cat] = len(items) - limits.max_results_per_run
            del items[limits.max_results_per_run :]

    while True:
        runs = [
            _run(c, grouped[c], result, prefix, root_uri, warnings[c], omitted) for c in CATEGORIES
        ]
        body = to_json(om.SarifLog(version=SARIF_VERSION, schema_uri=SARIF_SCHEMA_URI, runs=runs))
        log = {"$schema": body.pop("$schema"), "version": body.pop("version"), **body}
        size = len(gzip.compress(_dumps(log).encode(), compresslevel=6))
        if size <= limits.max_gzip_bytes:
            return log
        # Over the size limit: drop the lowest-ranked quarter of the largest run and try again.
        cat = max(CATEGORIES, key=lambda c: len(grouped[c]))
        items = grouped[cat]
        if not items:
            return log  # nothing left to drop: notifications alone are never this big
        cut = max(1, len(items) // 4)
        omitted[cat] += cut
        del items[len(items) - cut :]


def _dumps(log: Any) -> str:
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def render(result: ScanResult, options: ScanOptions) -> str:
    return _dumps(build_log(result))
