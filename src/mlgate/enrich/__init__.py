"""Stage 2: vulnerabilities (OSV) for every package of the inventory.

Which components are looked up:

* a pinned library in an ecosystem OSV knows -> queried; counted in the coverage total;
* an unpinned one (a range, no lockfile) -> never queried as if pinned: an ``MLG-UNPINNED``
  finding (severity low) carrying the declared spec; not in the coverage total;
* a conda package -> OSV has no conda ecosystem: *not applicable*, outside the coverage total
  (counted in the ``osv_not_applicable`` statistic), as are models, data files and container
  images (images are the policy stage's business).

A package whose lookup failed is in ``Coverage.unchecked`` with the reason; it is never clean.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from mlgate.enrich.advisories import advisories_for, finding_for
from mlgate.enrich.interface import AdvisorySource, LookupResult, PackageQuery, SourceError
from mlgate.model import (
    Component,
    ComponentKind,
    Coverage,
    Finding,
    Location,
    ScanWarning,
    Severity,
    normalize_name,
)
from mlgate.options import ScanOptions

RULE_UNPINNED = "MLG-UNPINNED"
# OSV's ecosystem names (https://ossf.github.io/osv-schema/#affectedpackage-field); a release
# suffix (``Debian:12``) is allowed after any of them.
OSV_ECOSYSTEMS = frozenset(
    {
        "AlmaLinux", "Alpine", "Android", "Bioconductor", "Bitnami", "Chainguard", "ConanCenter",
        "CRAN", "crates.io", "Debian", "GHC", "GitHub Actions", "Go", "Hackage", "Hex", "Linux",
        "Mageia", "Maven", "MinimOS", "npm", "NuGet", "openEuler", "openSUSE", "OSS-Fuzz",
        "Packagist", "Photon OS", "Pub", "PyPI", "Red Hat", "Rocky Linux", "RubyGems", "SUSE",
        "SwiftURL", "Ubuntu", "Wolfi",
    }
)  # fmt: skip
QUERYABLE_KINDS = (ComponentKind.LIBRARY, ComponentKind.OS_PACKAGE)


@dataclass
class EnrichResult:
    findings: list[Finding] = field(default_factory=list)
    coverage: Coverage | None = None
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


def is_osv_ecosystem(ecosystem: str) -> bool:
    return ecosystem.split(":", 1)[0] in OSV_ECOSYSTEMS


def open_source(options: ScanOptions, warnings: list[ScanWarning]) -> AdvisorySource:
    """The offline database when ``--osv-db`` is given, else the OSV API (with its cache), backed
    by ``--osv-fallback-db`` when the network is unreachable."""
    from mlgate.enrich.cache import OsvCache, default_cache_dir

    cache_dir = options.cache_dir or default_cache_dir()
    if options.osv_db is not None:
        from mlgate.enrich.offline import OfflineSource

        index_dir = None if options.no_cache else cache_dir  # --no-cache: a throw-away index
        return OfflineSource(options.osv_db, cache_dir=index_dir)
    from mlgate.enrich.osv import DEFAULT_OSV_URL, OsvClient

    base = (options.osv_url or DEFAULT_OSV_URL).rstrip("/").removesuffix("/v1")
    cache = None
    if not options.no_cache:
        try:
            cache = OsvCache(cache_dir / "osv", base)
        except (OSError, sqlite3.Error) as exc:
            warnings.append(
                ScanWarning(str(cache_dir), f"OSV cache not used: {exc}", code="osv-cache")
            )
    client = OsvClient(base, cache=cache)
    if options.osv_fallback_db is None:
        return client
    from mlgate.enrich.fallback import FallbackSource

    return FallbackSource(
        client, options.osv_fallback_db, cache_dir=None if options.no_cache else cache_dir
    )


PROP_OSV_NAME = "mlgate:osv-name"  # OS packages: the source package OSV keys advisories on
PROP_OSV_VERSION = "mlgate:osv-version"


def query_for(comp: Component, version: str) -> PackageQuery:
    """What OSV is asked about ``comp``: its own name and version, or for an OS package from
    an image the source package's (Debian, Ubuntu and Alpine advise per source package)."""
    name = comp.prop(PROP_OSV_NAME) or comp.name
    version = comp.prop(PROP_OSV_VERSION) or version
    return PackageQuery(comp.ecosystem, normalize_name(comp.ecosystem, name), version, name)


def unpinned_finding(component: Component) -> Finding:
    spec = component.spec or "any version"
    return Finding(
        rule_id=RULE_UNPINNED,
        kind="inventory",  # about how the dependency is declared; no advisory behind it
        severity=Severity.LOW,
        message=(
            f"{component.name} is not pinned ({spec}): the version that gets installed, and its "
            "vulnerabilities, are unknown until a lockfile pins it"
        ),
        location=(component.declared_in or (Location("."),))[0],
        component=component.bom_ref,
        fix=f"pin {component.name} to an exact version (or commit a lockfile)",
        trigger=spec,
        properties=(("ecosystem", component.ecosystem), ("spec", spec)),
    )


def enrich(
    components: Sequence[Component],
    options: ScanOptions,
    *,
    source: AdvisorySource | None = None,
) -> EnrichResult:
    """Look every pinned package up in OSV (online or offline); fail closed on lookup errors."""
    out = EnrichResult()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    wanted: dict[PackageQuery, list[Component]] = {}
    not_applicable = 0
    for comp in components:
        if comp.kind not in QUERYABLE_KINDS or not comp.ecosystem:
            continue
        if not is_osv_ecosystem(comp.ecosystem):
            not_applicable += 1
            continue
        if comp.version is None:
            out.findings.append(unpinned_finding(comp))
            continue
        query = query_for(comp, comp.version)
        wanted.setdefault(query, []).append(comp)
    out.stats["osv_not_applicable"] = not_applicable
    out.stats["osv_unpinned"] = len(out.findings)
    total = sum(len(c) for c in wanted.values())
    if not wanted:
        out.coverage = Coverage(checked=0, total=0)
        return out
    owned = source is None
    result: LookupResult
    described = ""
    try:
        if source is None:
            source = open_source(options, out.warnings)
        result = source.lookup(sorted(wanted))
        described = source.describe()
    except SourceError as exc:
        result = LookupResult(failed=dict.fromkeys(wanted, exc.message))
    except (OSError, sqlite3.Error) as exc:
        # An unreadable database or index: nothing was checked, and the scan says so.
        reason = f"OSV source failed: {type(exc).__name__}: {exc}"
        result = LookupResult(failed=dict.fromkeys(wanted, reason))
    finally:
        if owned and source is not None:
            source.close()
    out.warnings += result.warnings
    out.stats.update(result.stats)
    checked = 0
    unchecked: list[tuple[str, str]] = []
    for query, comps in sorted(wanted.items()):
        if query in result.failed or query not in result.records:
            reason = result.failed.get(query, "no answer for this package")
            unchecked += [(c.bom_ref, reason) for c in comps]
            continue
        checked += len(comps)
        items = advisories_for(result.records[query], query)
        out.findings += [finding_for(c, item) for c in comps for item in items]
    out.coverage = Coverage(
        checked=checked, total=total, unchecked=tuple(unchecked), source=described
    )
    out.stats["osv_packages_queried"] = len(wanted)
    out.stats["osv_seconds"] = time.perf_counter() - t0
    out.stats["osv_cpu_seconds"] = time.process_time() - cpu0  # wall time varies with load
    return out
