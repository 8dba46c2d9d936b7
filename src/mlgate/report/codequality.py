"""GitLab Code Quality report: the model, policy and source findings as CodeClimate issues.

Vulnerabilities go to the dependency-scanning report; everything else mlgate finds about the
repository (unsafe model files, policy breaches, unpinned sources...) is shown by GitLab in the
merge request's code-quality widget from this file. GitLab reads a subset of the CodeClimate
format: ``description``, ``check_name``, ``fingerprint`` (unique per issue), ``severity`` and
``location.path`` with ``location.lines.begin``.
"""

from __future__ import annotations

import json
from typing import Any

from mlgate.model import Finding, ScanResult, Severity
from mlgate.options import ScanOptions
from mlgate.textsafe import for_terminal

SEVERITY = {
    Severity.CRITICAL: "blocker",
    Severity.HIGH: "critical",
    Severity.MEDIUM: "major",
    Severity.LOW: "minor",
    Severity.INFO: "info",
    Severity.NONE: "info",
}
MAX_DESCRIPTION = 2_000


def _issue(finding: Finding) -> dict[str, Any]:
    loc = finding.location
    text = finding.message
    if loc.member:
        text = f"{text} ({loc.member})"
    if finding.fix:
        text = f"{text}. Fix: {finding.fix}"
    return {
        "type": "issue",
        "check_name": finding.rule_id,
        # one line, control and bidi characters escaped: GitLab shows it as plain text
        "description": for_terminal(text, MAX_DESCRIPTION),
        "categories": ["Security"],
        "fingerprint": finding.fingerprint,
        "severity": SEVERITY[finding.severity],
        "location": {"path": loc.path or ".", "lines": {"begin": loc.line or 1}},
        "engine_name": "mlgate",
    }


def issues(result: ScanResult) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for finding in result.findings:
        if finding.advisory is not None or finding.suppressed:
            continue
        if finding.fingerprint in seen:  # GitLab drops issues whose fingerprint repeats
            continue
        seen.add(finding.fingerprint)
        out.append(_issue(finding))
    return out


def render(result: ScanResult, options: ScanOptions) -> str:
    return json.dumps(issues(result), indent=2, ensure_ascii=False) + "\n"
