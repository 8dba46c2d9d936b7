"""Join the walk to the extractors and merge what they found into one inventory."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from mlgate.current import working_on
from mlgate.inventory.interface import ExtractContext, ExtractError, Extractor, ExtractResult
from mlgate.inventory.walk import walk
from mlgate.model import Component, Inventory, Location, PackageSource, ScanWarning, Scope

log = logging.getLogger(__name__)

# Modules holding extractors; importing one registers its classes. A module that does not exist
# yet is skipped so that stages can be developed independently.
EXTRACTOR_MODULES = (
    "mlgate.inventory.requirements",
    "mlgate.inventory.pyproject",
    "mlgate.inventory.poetry",
    "mlgate.inventory.uvlock",
    "mlgate.inventory.pdm",
    "mlgate.inventory.pipfile",
    "mlgate.inventory.pylock",
    "mlgate.inventory.conda",
    "mlgate.inventory.dockerfile",
    "mlgate.inventory.modelfiles",
    "mlgate.inventory.wheels",
)


def load_extractors() -> list[Extractor]:
    for module in EXTRACTOR_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
    return [cls() for cls in Extractor.registry]


_SCOPE_ORDER = {Scope.DIRECT: 0, Scope.TRANSITIVE: 1, Scope.UNKNOWN: 2}


def merge_components(components: Iterable[Component]) -> list[Component]:
    """One component per package: locations, hashes, licenses and edges of duplicates joined.

    The merged scope is the most direct one seen, and a component is optional only when every
    declaration of it is optional.
    """
    # Group first and join each group once: re-sorting the growing union at every duplicate
    # is quadratic for a package declared in thousands of files of a monorepo.
    groups: dict[tuple[str, ...], list[Component]] = {}
    for comp in components:
        groups.setdefault(comp.key, []).append(comp)
    merged: list[Component] = []
    for group in groups.values():
        first = group[0]
        if len(group) == 1:
            merged.append(first)
            continue
        merged.append(
            replace(
                first,
                declared_in=tuple(
                    sorted({loc for c in group for loc in c.declared_in}, key=Location.sort_key)
                ),
                hashes=tuple(sorted({h for c in group for h in c.hashes})),
                licenses=tuple(sorted({lic for c in group for lic in c.licenses})),
                properties=tuple(sorted({p for c in group for p in c.properties})),
                depends_on=tuple(sorted({d for c in group for d in c.depends_on})),
                scope=min((c.scope for c in group), key=_SCOPE_ORDER.__getitem__),
                optional=all(c.optional for c in group),
                purl=next((c.purl for c in group if c.purl), None),
            )
        )
    return sorted(merged, key=Component.sort_key)


def build_inventory(
    root: Path,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    no_dev: bool = False,
    max_manifest_bytes: int = 64 * 1024 * 1024,
    extractors: Sequence[Extractor] | None = None,
) -> Inventory:
    """Walk ``root`` once and ask every extractor about every file."""
    root = root.resolve()
    exts = list(extractors) if extractors is not None else load_extractors()
    ctx = ExtractContext(root=root, max_bytes=max_manifest_bytes)
    warnings: list[ScanWarning] = []
    components: list[Component] = []
    sources: list[PackageSource] = []
    files = 0
    for file in walk(root, exclude, warnings, include):
        files += 1
        for ext in exts:
            try:
                with working_on("inventory", file.relpath):
                    if not ext.matches(file):
                        continue
                    result: ExtractResult = ext.extract(file, ctx)
            except ExtractError as exc:
                warnings.append(ScanWarning(file.relpath, f"{ext.name}: {exc}", line=exc.line))
                continue
            except Exception as exc:
                # A parser bug or hostile input must not abort the whole inventory.
                log.debug("%s: %s failed", file.relpath, ext.name, exc_info=True)
                warnings.append(
                    ScanWarning(file.relpath, f"{ext.name}: could not parse: {exc!r:.300}")
                )
                continue
            components.extend(result.components)
            sources.extend(result.sources)
            warnings.extend(result.warnings)
    if no_dev:
        components = [c for c in components if not c.optional]
    return Inventory(
        components=tuple(merge_components(components)),
        sources=tuple(sorted(set(sources), key=PackageSource.sort_key)),
        warnings=tuple(warnings),
        files_seen=files,
    )
