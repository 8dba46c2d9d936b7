"""The short terminal summary printed after a scan."""

from __future__ import annotations

from collections import Counter

from mlgate.model import ComponentKind, ScanResult, Severity
from mlgate.textsafe import for_terminal


def render_text(result: ScanResult) -> str:
    comps = result.inventory.components
    kinds = Counter(c.kind for c in comps)
    active = [f for f in result.findings if not f.suppressed]
    by_sev = Counter(f.severity for f in active)
    lines = [
        *([for_terminal(f"INCOMPLETE: {result.incomplete}", 400)] if result.incomplete else []),
        f"mlgate {result.tool_version}: "
        + ("PASSED" if result.verdict.passed else "FAILED")
        + f" (fail-on: {result.verdict.fail_on.value})",
        "inventory: "
        + ", ".join(f"{kinds.get(k, 0)} {k.value}" for k in ComponentKind if kinds.get(k))
        + f" ({result.inventory.files_seen} files)",
        "findings: "
        + (
            ", ".join(f"{by_sev[s]} {s.value}" for s in Severity if by_sev.get(s))
            if active
            else "none"
        )
        + (
            f" ({len(result.findings) - len(active)} suppressed)"
            if len(active) != len(result.findings)
            else ""
        ),
    ]
    if result.coverage is not None:
        cov = result.coverage
        lines.append(f"vulnerability coverage: checked {cov.checked} of {cov.total} packages")
        if cov.source:
            lines.append(for_terminal(f"OSV: {cov.source}", 300))
    lines.extend(
        for_terminal(f"  [{f.severity.value}] {f.rule_id} {f.location}: {f.message}", 160)
        for f in active[:15]
    )
    if len(active) > 15:
        lines.append(f"  ... and {len(active) - 15} more")
    if result.all_warnings:
        lines.append(f"warnings: {len(result.all_warnings)} input(s) not fully read (see log)")
    return "\n".join(lines)
