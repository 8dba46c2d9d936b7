"""Helpers of the format tests: scan files through the real dispatcher (sniffing by content)."""

from __future__ import annotations

from pathlib import Path

from mlgate.inspect.dispatch import scan_paths
from mlgate.model import Finding, Severity


def scan(path: Path) -> list[Finding]:
    """Findings of one file, dispatched by its content like ``mlgate models`` does."""
    return scan_paths(path.parent, [path.name])


def rules(findings: list[Finding]) -> set[str]:
    return {f.rule_id for f in findings}


def at_least(findings: list[Finding], severity: Severity) -> list[Finding]:
    return [f for f in findings if f.severity.at_least(severity)]
