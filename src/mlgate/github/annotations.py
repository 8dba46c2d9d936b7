"""``::error``/``::warning``/``::notice`` annotations at file and line for the top findings."""

from __future__ import annotations

from typing import TextIO

from mlgate.github.commands import issue
from mlgate.model import Finding, ScanResult, Severity
from mlgate.report.sarif import repo_path

# The runner shows at most 10 annotations of each level per step (50 per job): beyond that they
# are dropped silently, so we send the most severe ones ourselves.
MAX_ANNOTATIONS = 10
MAX_MESSAGE = 1_000

LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "notice",
    Severity.INFO: "notice",
}


def title(finding: Finding, result: ScanResult) -> str:
    comp = result.component(finding.component) if finding.component else None
    text = f"{finding.rule_id} ({finding.severity.value})"
    if finding.advisory is not None:
        text = f"{finding.advisory.id} ({finding.severity.value})"
    if comp is not None:
        text += f": {comp.name} {comp.version or comp.spec or ''}".rstrip()
    return text[:200]


def annotate(
    result: ScanResult, prefix: str = "", out: TextIO | None = None, limit: int = MAX_ANNOTATIONS
) -> int:
    """Print annotations for the ``limit`` most severe unsuppressed findings; returns the count."""
    active = sorted(
        (f for f in result.findings if not f.suppressed and f.severity in LEVEL),
        key=Finding.sort_key,
    )
    count = 0
    for finding in active[:limit]:
        loc = finding.location
        message = finding.message
        if loc.member:
            message += f" (archive member: {loc.member})"
        if finding.fix:
            message += f"\nFix: {finding.fix}"
        issue(
            LEVEL[finding.severity],
            message[:MAX_MESSAGE],
            out,
            file=repo_path(prefix, loc.path),
            line=loc.line,
            col=loc.column,
            title=title(finding, result),
        )
        count += 1
    return count
