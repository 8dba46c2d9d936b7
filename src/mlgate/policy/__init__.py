"""Stage 4: the gate. Loads `.mlgate.yml`, adds policy findings, applies ignores, decides.

``load_policy`` finds and validates the policy file; ``check`` adds what the policy has to say
about the inventory (licenses, model lock and formats, remote models in code, sources);
``evaluate`` applies ignores and the baseline and decides pass/fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlgate.model import Component, Finding, Inventory, ScanWarning
from mlgate.options import ScanOptions
from mlgate.policy.config import (
    IgnoreRule,
    ImagePolicy,
    LicensePolicy,
    ModelPolicy,
    Policy,
    SourcePolicy,
    load_policy,
    parse_policy_text,
)
from mlgate.policy.gate import evaluate

__all__ = [
    "IgnoreRule",
    "ImagePolicy",
    "LicensePolicy",
    "ModelPolicy",
    "Policy",
    "PolicyChecks",
    "SourcePolicy",
    "check",
    "evaluate",
    "load_policy",
    "parse_policy_text",
]


@dataclass
class PolicyChecks:
    findings: list[Finding] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)


def _cache_dir(options: ScanOptions) -> Path | None:
    if options.no_cache:
        return None
    import platformdirs

    base = options.cache_dir or Path(platformdirs.user_cache_dir("mlgate"))
    return base / "deps.dev"


def check(root: Path, inventory: Inventory, policy: Policy, options: ScanOptions) -> PolicyChecks:
    """Policy findings about the inventory, and components it adds or completes."""
    # imported here: `mlgate models` only needs load_policy and evaluate, and these cost start-up
    from mlgate.inspect.remote_code import scan_code
    from mlgate.inventory.walk import walk
    from mlgate.policy.images import check_image_configs
    from mlgate.policy.licenses import (
        license_findings,
        online_licenses,
        tree_licenses,
        with_licenses,
    )
    from mlgate.policy.lock import check_formats, check_lock
    from mlgate.policy.sources import check_sources

    out = PolicyChecks()
    root = root.resolve()
    # The inventory already reported unreadable paths; this walk only lists file names.
    relpaths = [f.relpath for f in walk(root, options.exclude, [], options.include)]

    by_ref = {c.bom_ref: c for c in inventory.components}
    for comp in with_licenses(inventory.components, tree_licenses(root, relpaths, out.warnings)):
        by_ref[comp.bom_ref] = comp
        out.components.append(comp)
    if policy.licenses.online:
        online, warnings = online_licenses(
            list(by_ref.values()), policy.licenses, _cache_dir(options)
        )
        out.warnings += warnings
        for comp in online:
            by_ref[comp.bom_ref] = comp
            out.components.append(comp)
    out.findings += license_findings(list(by_ref.values()), policy.licenses)

    out.findings += check_lock(root, inventory, policy.models)
    out.findings += check_formats(inventory, policy.models)
    if policy.models.scan_code:
        code = scan_code(root, relpaths, unpinned_severity=policy.models.unpinned_severity)
        out.findings += code.findings
        out.components += code.components
        out.warnings += code.warnings
    out.findings += check_sources(root, inventory, relpaths, policy.sources, out.warnings)
    out.findings += check_image_configs(inventory.components, policy.images)
    return out
