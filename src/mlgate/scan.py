"""The orchestrator: joins the five stages. It owns no logic of its own beyond ordering them."""

from __future__ import annotations

import time
from dataclasses import replace

from mlgate import __version__
from mlgate.enrich import enrich
from mlgate.inspect import inspect_models
from mlgate.inventory import build_inventory
from mlgate.inventory.build import merge_components
from mlgate.model import Finding, ScanResult, ScanWarning
from mlgate.options import ScanOptions
from mlgate.policy import Policy, check, evaluate, load_policy


def run_scan(options: ScanOptions, policy: Policy | None = None) -> ScanResult:
    """Inventory, enrich, inspect, evaluate. Reports are written by the caller."""
    stats: dict[str, float] = {}
    t0 = time.perf_counter()
    root = options.root.resolve()
    if policy is None:
        policy = load_policy(options)
    inventory = build_inventory(
        root,
        exclude=options.exclude,
        no_dev=options.no_dev,
        max_manifest_bytes=options.max_manifest_bytes,
    )
    stats["inventory_seconds"] = time.perf_counter() - t0
    findings: list[Finding] = []
    warnings: list[ScanWarning] = []
    coverage = None

    if options.vulns:
        t = time.perf_counter()
        enriched = enrich(inventory.components, options)
        findings += enriched.findings
        warnings += enriched.warnings
        coverage = enriched.coverage
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

    findings.sort(key=Finding.sort_key)
    findings, verdict, policy_warnings = evaluate(findings, policy, options)
    warnings += policy_warnings
    stats["total_seconds"] = time.perf_counter() - t0
    return ScanResult(
        root=str(root),
        inventory=inventory,
        findings=tuple(findings),
        verdict=verdict,
        coverage=coverage,
        warnings=tuple(warnings),
        stats=tuple(sorted(stats.items())),
        tool_version=__version__,
    )
