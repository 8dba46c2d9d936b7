"""Stage 3: static inspection of model/data files and source references (nothing is loaded)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from mlgate.formats import FormatKind, sniff
from mlgate.model import Component, ComponentKind, Finding, Inventory, ScanWarning
from mlgate.options import ScanOptions


@dataclass
class InspectResult:
    findings: list[Finding] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)  # e.g. remote models seen in code
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def model_files(
    root: Path,
    exclude: tuple[str, ...],
    warnings: list[ScanWarning],
    inventory: Inventory | None,
    include: tuple[str, ...] = (),
) -> list[str]:
    """Every file of the tree whose content is a model, pointer or archive format, plus the files
    of the inventory's model/data components (sniffed again here rather than trusted)."""
    from mlgate.inventory.walk import walk

    seen: dict[str, None] = {}
    for file in walk(root, exclude, warnings, include):
        try:
            # no path: every zip kind is kept, the dispatcher classifies it when it scans it
            found = sniff(file.head, file.name, file.size)
        except Exception:  # sniffing must never stop the walk: let the dispatcher report it
            seen[file.relpath] = None
            continue
        if found is not None and found.kind is not FormatKind.DATA:
            seen[file.relpath] = None
    if inventory is not None:
        for comp in inventory.components:
            if comp.kind in (ComponentKind.MODEL, ComponentKind.DATA) and comp.declared_in:
                rel = comp.declared_in[0].path
                if rel not in seen and (root / rel).is_file() and not (root / rel).is_symlink():
                    seen[rel] = None
    return sorted(seen)


def inspect_models(
    root: Path, inventory: Inventory, options: ScanOptions, allow_globals: tuple[str, ...] = ()
) -> InspectResult:
    """Scan every model file of the tree by content (the inventory's model files included)."""
    from mlgate.inspect.dispatch import Dispatcher

    result = InspectResult()
    start = time.perf_counter()
    files = model_files(root, options.exclude, result.warnings, inventory, options.include)
    dispatcher = Dispatcher(root, allow_globals)
    for report in dispatcher.scan_files(files):
        result.findings.extend(report.findings)
    result.stats["model_files"] = float(len(files))
    result.stats["model_scan_seconds"] = time.perf_counter() - start
    return result
