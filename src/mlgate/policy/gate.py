"""The decision: unknown severities mapped, ignores and baseline applied, threshold checked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from mlgate.model import Finding, ScanWarning, Severity, Verdict
from mlgate.options import ScanOptions
from mlgate.policy.baseline import apply_baseline, load_baseline
from mlgate.policy.config import Policy
from mlgate.policy.ignores import apply_ignores

UNKNOWN_SEVERITY_PROPERTY = ("severity-unknown", "true")
MAX_REASON_LINES = 25


def map_unknown_severity(findings: Sequence[Finding], severity: Severity) -> list[Finding]:
    """Advisories the database gave no severity get the policy's ``unknown-severity``."""
    out = []
    for f in findings:
        if UNKNOWN_SEVERITY_PROPERTY in f.properties and f.severity is not severity:
            f = replace(f, severity=severity)
        out.append(f)
    return out


def _label(f: Finding) -> str:
    what = f.advisory.id if f.advisory is not None else (f.trigger or f.message)
    text = f"[{f.severity.value}] {f.rule_id} {what} at {f.location}"
    if f.component and f.advisory is not None:
        text += f" ({f.component})"
    return text


def decide(
    findings: Sequence[Finding], fail_on: Severity, fixed: Sequence[Finding] = ()
) -> Verdict:
    """Pass/fail with the fingerprints and a human account of what decided it."""
    deciding = [f for f in findings if not f.suppressed and f.severity.at_least(fail_on)]
    reasons: list[str] = []
    if fail_on is Severity.NONE:
        reasons.append("fail-on is 'none': findings are reported but never fail the gate")
    elif deciding:
        reasons.append(
            f"failed: {len(deciding)} unsuppressed finding(s) at or above '{fail_on.value}'"
        )
        reasons += [_label(f) for f in deciding[:MAX_REASON_LINES]]
        if len(deciding) > MAX_REASON_LINES:
            reasons.append(f"... and {len(deciding) - MAX_REASON_LINES} more")
    else:
        reasons.append(f"passed: no unsuppressed finding at or above '{fail_on.value}'")
    by_kind: dict[str, int] = {}
    for f in findings:
        if f.suppression is not None:
            by_kind[f.suppression.kind] = by_kind.get(f.suppression.kind, 0) + 1
    reasons += [f"{n} finding(s) suppressed by {kind}" for kind, n in sorted(by_kind.items())]
    if fixed:
        reasons.append(f"{len(fixed)} baseline finding(s) fixed")
        reasons += [f"fixed: {_label(f)}" for f in fixed[:MAX_REASON_LINES]]
        if len(fixed) > MAX_REASON_LINES:
            reasons.append(f"... and {len(fixed) - MAX_REASON_LINES} more fixed")
    return Verdict(
        passed=not deciding,
        fail_on=fail_on,
        deciding=tuple(f.fingerprint for f in deciding),
        reasons=tuple(reasons),
        fixed=tuple(fixed),
    )


def evaluate(
    findings: Sequence[Finding],
    policy: Policy,
    options: ScanOptions,
    *,
    today: dt.date | None = None,
) -> tuple[list[Finding], Verdict, list[ScanWarning]]:
    """Apply ignores and the baseline, then decide pass/fail against the threshold."""
    today = today or dt.datetime.now(dt.UTC).date()
    current = map_unknown_severity(findings, policy.unknown_severity)
    current, notes = apply_ignores(current, policy, today, vulns_checked=options.vulns)
    current += notes
    fixed: list[Finding] = []
    if policy.baseline is not None:
        skip = set()
        if not options.vulns:
            skip.add("vulnerability")
        if not options.models:
            skip.add("model")
        current, fixed = apply_baseline(
            current, load_baseline(policy.baseline), skip_fixed_kinds=frozenset(skip)
        )
    current.sort(key=Finding.sort_key)
    return current, decide(current, policy.fail_on, fixed), []
