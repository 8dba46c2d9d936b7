"""Stage 3: static inspection of model/data files and source references (nothing is loaded)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlgate.model import Component, Finding, Inventory, ScanWarning
from mlgate.options import ScanOptions


@dataclass
class InspectResult:
    findings: list[Finding] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)  # e.g. remote models seen in code
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def inspect_models(
    root: Path, inventory: Inventory, options: ScanOptions, allow_globals: tuple[str, ...] = ()
) -> InspectResult:
    """Scan every model file of the inventory. Placeholder until implemented."""
    return InspectResult()
