"""Stage 4: the gate. Loads `.mlgate.yml`, adds policy findings, applies ignores, decides."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mlgate.model import Component, Finding, Inventory, ScanWarning, Severity, Verdict
from mlgate.options import ScanOptions


@dataclass(frozen=True)
class Policy:
    fail_on: Severity = Severity.HIGH
    unknown_severity: Severity = Severity.HIGH
    allow_globals: tuple[str, ...] = ()
    path: str | None = None


@dataclass
class PolicyChecks:
    findings: list[Finding] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)


def load_policy(options: ScanOptions) -> Policy:
    """Find and validate the policy file; command-line values win. Placeholder."""
    policy = Policy()
    if options.fail_on is not None:
        policy = Policy(fail_on=options.fail_on)
    return policy


def check(root: Path, inventory: Inventory, policy: Policy, options: ScanOptions) -> PolicyChecks:
    """Policy findings about the inventory (sources, licenses, model lock ...). Placeholder."""
    return PolicyChecks()


def evaluate(
    findings: Sequence[Finding], policy: Policy, options: ScanOptions
) -> tuple[list[Finding], Verdict, list[ScanWarning]]:
    """Apply ignores and the baseline, then decide pass/fail against the threshold."""
    deciding = tuple(
        f.fingerprint for f in findings if not f.suppressed and f.severity.at_least(policy.fail_on)
    )
    verdict = Verdict(passed=not deciding, fail_on=policy.fail_on, deciding=deciding)
    return list(findings), verdict, []
