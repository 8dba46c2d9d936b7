"""Container images and wheels: read what actually ships (see interface.py).

:func:`scan_images` joins the reader (:func:`mlgate.image.layers.read_image`) to the inventory
(:mod:`mlgate.image.contents`) and to the model engine, one image at a time: the spooled model
files live only while their image is open.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlgate.image.contents import ImageInventory, ImageSelector, image_inventory, layer_findings
from mlgate.image.interface import ImageContents
from mlgate.model import Component, Finding, ScanWarning
from mlgate.options import ScanOptions


@dataclass
class ImageScan:
    components: list[Component] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def relocate(finding: Finding, display: str) -> Finding:
    """A model finding on a spooled file, moved to ``<image>:/path`` (fingerprint recomputed
    from the final location, so it is stable across runs and spool folders)."""
    path = "/" + finding.location.path.lstrip("/")
    location = replace(finding.location, path=f"{display}:{path}")
    return replace(finding, location=location, fingerprint="")


def scan_contents(
    contents: ImageContents,
    selector: ImageSelector | None,
    *,
    models: bool = True,
    allow_globals: tuple[str, ...] = (),
) -> tuple[ImageInventory, list[Finding]]:
    """Inventory of one open image, and the findings of the model files it holds."""
    inventory = image_inventory(contents, selector)
    findings: list[Finding] = layer_findings(contents)
    if models and inventory.model_paths and contents.spool_root is not None:
        from mlgate.inspect.dispatch import Dispatcher

        dispatcher = Dispatcher(Path(contents.spool_root), allow_globals)
        for report in dispatcher.scan_files(inventory.model_paths):
            findings += (relocate(f, contents.meta.display) for f in report.findings)
    return inventory, findings


def scan_images(
    refs: Sequence[str], options: ScanOptions, allow_globals: tuple[str, ...] = ()
) -> ImageScan:
    """Read every image once; an unreadable one raises :class:`ImageError` (exit 2)."""
    from mlgate.image.layers import read_image

    out = ImageScan()
    start = time.perf_counter()
    for ref in refs:
        selector = ImageSelector(models=options.models)
        with read_image(
            ref,
            selector,
            platform=options.platform,
            insecure=options.insecure_registries,
        ) as contents:
            inventory, findings = scan_contents(
                contents, selector, models=options.models, allow_globals=allow_globals
            )
            for key, value in contents.stats.items():
                out.stats[f"image_{key}"] = out.stats.get(f"image_{key}", 0.0) + value
        out.components += [inventory.container, *inventory.components]
        out.findings += findings
        out.warnings += inventory.warnings
        out.stats["image_model_files"] = out.stats.get("image_model_files", 0.0) + len(
            inventory.model_paths
        )
    out.stats["images"] = float(len(refs))
    out.stats["image_seconds"] = time.perf_counter() - start
    return out
