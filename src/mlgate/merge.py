"""``mlgate merge``: join the ``--json`` results of CI-matrix shards into one scan result.

Each shard scans the same root with ``--include SUBPATH``, so every location is relative to one
root and a shard reports what the single run would for its files. Joining then mirrors the
single run: components are merged as the inventory merges them; a finding anchored at a
component's first declaration moves to the merged component's first declaration (where the single
run puts it) and gets its fingerprint again; findings are de-duplicated by fingerprint; coverage is
recounted over the merged inventory; one verdict is decided with the shards' ``fail-on``. The
reports are the same writers ``mlgate scan`` uses.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from mlgate.enrich import QUERYABLE_KINDS, is_osv_ecosystem
from mlgate.errors import MlgateError, UsageError
from mlgate.exitcodes import ExitCode
from mlgate.inventory.build import merge_components
from mlgate.model import (
    Component,
    Coverage,
    Finding,
    Inventory,
    PackageSource,
    ScanResult,
    Severity,
)
from mlgate.options import CommentMode, ScanOptions
from mlgate.policy.gate import decide
from mlgate.policy.ignores import RULE_STALE
from mlgate.report.jsonreport import read_json_file, result_from_json

MAX_RESULT_BYTES = 512 * 1024 * 1024
OTHER_LOCATIONS = "other-locations"  # the property MLG-VULN findings list further declarations in


class MergeError(MlgateError):
    """A shard result that cannot be read or does not fit the others."""


def load_result(path: Path) -> ScanResult:
    """One shard's ``--json`` result."""
    data = read_json_file(path, MAX_RESULT_BYTES, "the shard result", MergeError)
    version = data.get("schema_version") if isinstance(data, dict) else None
    if not isinstance(version, str) or not isinstance(data.get("findings"), list):
        raise MergeError(f"{path}: not an mlgate --json result", hint="scan with --json FILE")
    major, _, minor = version.partition(".")
    if major != "1" or not minor.isdigit() or int(minor) < 1:
        raise MergeError(
            f"{path}: result schema {version} cannot be merged (needs 1.1 or later 1.x)",
            hint="scan the shards with this version of mlgate",
        )
    try:
        return result_from_json(data)
    except ValueError as exc:
        raise MergeError(f"{path}: {exc}") from None


def counted_in_coverage(comp: Component) -> bool:
    """Whether the vulnerability lookup counts ``comp`` (a pinned package OSV knows)."""
    return (
        comp.kind in QUERYABLE_KINDS
        and bool(comp.ecosystem)
        and is_osv_ecosystem(comp.ecosystem)
        and comp.version is not None
    )


def _anchor(finding: Finding, shard: Component | None, merged: Component | None) -> Finding:
    """The finding as the single run reports it against the merged component."""
    if shard is None or merged is None or not shard.declared_in or not merged.declared_in:
        return finding
    if finding.location != shard.declared_in[0]:
        return finding  # anchored elsewhere (a file of its own): the same in every run
    props = finding.properties
    if any(key == OTHER_LOCATIONS for key, _ in props) or len(merged.declared_in) > 1:
        kept = [p for p in props if p[0] != OTHER_LOCATIONS]
        if len(merged.declared_in) > 1:
            extra = (OTHER_LOCATIONS, ";".join(str(loc) for loc in merged.declared_in[1:]))
            at = next((i for i, p in enumerate(kept) if p[0] == "severity-unknown"), len(kept))
            kept.insert(at, extra)
        props = tuple(kept)
    if finding.location == merged.declared_in[0] and props == finding.properties:
        return finding
    return replace(finding, location=merged.declared_in[0], properties=props, fingerprint="")


def _coverage(results: Sequence[ScanResult], components: Sequence[Component]) -> Coverage | None:
    shards = [r.coverage for r in results if r.coverage is not None]
    if not shards:
        return None
    unchecked: dict[str, str] = {}
    for cov in shards:
        for ref, why in cov.unchecked:
            unchecked.setdefault(ref, why)
    total = sum(1 for c in components if counted_in_coverage(c))
    sources = list(dict.fromkeys(cov.source for cov in shards if cov.source))
    return Coverage(
        checked=max(total - len(unchecked), 0),
        total=total,
        unchecked=tuple(sorted(unchecked.items())),
        source="; ".join(sources),
    )


def merge_results(results: Sequence[ScanResult], fail_on: Severity | None = None) -> ScanResult:
    """One result from the shards' results (see the module docstring)."""
    if not results:
        raise UsageError("nothing to merge")
    if fail_on is None:
        levels = {r.verdict.fail_on for r in results}
        if len(levels) > 1:
            raise UsageError(
                "the shards were scanned with different fail-on thresholds: "
                + ", ".join(sorted(s.value for s in levels)),
                hint="pass --fail-on to decide the merged verdict",
            )
        fail_on = levels.pop()
    components = merge_components(c for r in results for c in r.inventory.components)
    by_ref = {c.bom_ref: c for c in components}
    chosen: dict[str, tuple[bool, Finding]] = {}
    for result in results:
        shard_refs = {c.bom_ref: c for c in result.inventory.components}
        for finding in result.findings:
            ref = finding.component
            merged = _anchor(
                finding,
                shard_refs.get(ref) if ref else None,
                by_ref.get(ref) if ref else None,
            )
            moved = merged is not finding
            previous = chosen.get(merged.fingerprint)
            # The shard that declared the anchor itself judged the finding the single run keeps
            # (a path-scoped ignore, for one): it wins over a copy moved there.
            if previous is None or (previous[0] and not moved):
                chosen[merged.fingerprint] = (moved, merged)
    # "This ignore matched nothing" holds for the whole tree only when it held in every shard.
    stale_in = Counter(
        f.fingerprint for r in results for f in r.findings if f.rule_id == RULE_STALE
    )
    findings = sorted(
        (
            f
            for _, f in chosen.values()
            if f.rule_id != RULE_STALE or stale_in[f.fingerprint] == len(results)
        ),
        key=Finding.sort_key,
    )
    # A baseline finding is fixed only when no shard still has it.
    fixed_in_all = set.intersection(*({f.fingerprint for f in r.verdict.fixed} for r in results))
    fixed = {f.fingerprint: f for r in results for f in r.verdict.fixed}
    warnings = list(dict.fromkeys(w for r in results for w in r.all_warnings))
    stats: dict[str, float] = {"merged_shards": float(len(results))}
    for result in results:
        for key, value in result.stats:
            stats[key] = stats.get(key, 0.0) + value
    return ScanResult(
        root=results[0].root,
        inventory=Inventory(
            components=tuple(components),
            sources=tuple(
                sorted(
                    {s for r in results for s in r.inventory.sources},
                    key=PackageSource.sort_key,
                )
            ),
            files_seen=sum(r.inventory.files_seen for r in results),
        ),
        findings=tuple(findings),
        verdict=decide(
            findings,
            fail_on,
            sorted((fixed[fp] for fp in fixed_in_all), key=Finding.sort_key),
        ),
        coverage=_coverage(results, components),
        warnings=tuple(warnings),
        stats=tuple(sorted(stats.items())),
        tool_version=results[0].tool_version,
        # a shard that stopped early leaves the whole tree undecided: every report says so
        incomplete="; ".join(dict.fromkeys(r.incomplete for r in results if r.incomplete)) or None,
    )


def cmd_merge(args: argparse.Namespace) -> int:
    from mlgate.cli import finish
    from mlgate.report import write_reports

    results = [load_result(Path(p)) for p in args.results]
    fail_on = Severity(args.fail_on) if args.fail_on else None
    result = merge_results(results, fail_on)
    options = ScanOptions(
        root=Path(result.root or "."),
        strict=args.strict,
        allow_incomplete=args.allow_incomplete,
        sbom=args.sbom,
        json=args.json,
        sarif=args.sarif,
        markdown=args.markdown,
        gitlab_report=args.gitlab_report,
        gitlab_report_version=args.gitlab_report_version,
        codequality=args.codequality,
        vex=args.vex,
        reproducible=args.reproducible,
        github=args.github,
        comment=CommentMode(args.comment),
        upload_sarif=args.upload_sarif,
    )
    if not args.quiet:
        print(f"merged {len(results)} shard result(s)")
    code = finish(result, options, write_reports(result, options), quiet=args.quiet)
    if result.incomplete:
        print(f"error: a shard did not finish: {result.incomplete}", file=sys.stderr)
        return int(ExitCode.ERROR)
    return code
