"""The orchestrator: joins the five stages. It owns no logic of its own beyond ordering them."""

from __future__ import annotations

import time
from dataclasses import replace

from mlgate import __version__
from mlgate.enrich import enrich
from mlgate.inspect import inspect_models
from mlgate.inventory import build_inventory
from mlgate.inventory.build import merge_components
from mlgate.model import Finding, ScanResult
from mlgate.options import ScanOptions
from mlgate.policy import Policy, check, evaluate, load_policy
from mlgate.progress import Progress, aborting


def run_scan(options: ScanOptions, policy: Policy | None = None) -> ScanResult:
    """Inventory, enrich, inspect, evaluate. Reports are written by the caller.

    An unexpected exception in any stage becomes :class:`~mlgate.errors.ScanAborted` carrying the
    result of the stages before it, marked incomplete, so the caller can still write reports.
    """
    with aborting(Progress(str(options.root.resolve()))) as progress:
        return _run(options, policy, progress)
    raise AssertionError("unreachable")  # mypy: the context manager does not swallow


def _run(options: ScanOptions, policy: Policy | None, progress: Progress) -> ScanResult:
    stats = progress.stats
    t0 = time.perf_counter()
    root = options.root.resolve()
    if policy is None:
        policy = load_policy(options)
    progress.fail_on = policy.fail_on
    inventory = build_inventory(
        root,
        exclude=options.exclude,
        include=options.include,
        no_dev=options.no_dev,
        max_manifest_bytes=options.max_manifest_bytes,
    )
    progress.inventory = inventory
    stats["inventory_seconds"] = time.perf_counter() - t0
    findings = progress.findings
    warnings = progress.warnings

    if options.images:
        # before enrich and policy: image packages are looked up in OSV, the image is checked
        from mlgate.image import scan_images

        images = scan_images(options.images, options, policy.allow_globals)
        inventory = replace(
            inventory,
            components=tuple(merge_components([*inventory.components, *images.components])),
            warnings=inventory.warnings + tuple(images.warnings),
        )
        findings += images.findings
        stats.update(images.stats)

    if options.vulns:
        t = time.perf_counter()
        enriched = enrich(inventory.components, options)
        findings += enriched.findings
        warnings += enriched.warnings
        progress.coverage = enriched.coverage
        stats.update(enriched.stats)
        stats["enrich_seconds"] = time.perf_counter() - t

    extra_components = []
    if options.models:
        t = time.perf_counter()
        inspected = inspect_models(root, inventory, options, policy.allow_globals)
        findings += inspected.findings
        warnings += inspected.warnings
        extra_components += inspected.components
        stats.update(inspected.stats)
        stats["inspect_seconds"] = time.perf_counter() - t

    checks = check(root, inventory, policy, options)
    findings += checks.findings
    warnings += checks.warnings
    extra_components += checks.components
    if extra_components:
        inventory = replace(
            inventory,
            components=tuple(merge_components([*inventory.components, *extra_components])),
        )
        progress.inventory = inventory

    findings.sort(key=Finding.sort_key)
    kept, verdict, policy_warnings = evaluate(findings, policy, options)
    warnings += policy_warnings
    stats["total_seconds"] = time.perf_counter() - t0
    return ScanResult(
        root=str(root),
        inventory=inventory,
        findings=tuple(kept),
        verdict=verdict,
        coverage=progress.coverage,
        warnings=tuple(warnings),
        stats=tuple(sorted(stats.items())),
        tool_version=__version__,
    )
