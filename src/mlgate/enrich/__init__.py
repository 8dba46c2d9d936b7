"""Stage 2: vulnerabilities (OSV) for every package of the inventory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from mlgate.model import Component, Coverage, Finding, ScanWarning
from mlgate.options import ScanOptions


@dataclass
class EnrichResult:
    findings: list[Finding] = field(default_factory=list)
    coverage: Coverage | None = None
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def enrich(components: Sequence[Component], options: ScanOptions) -> EnrichResult:
    """Look every pinned package up in OSV (online or offline). Placeholder until implemented."""
    return EnrichResult()
