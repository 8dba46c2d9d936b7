"""Accepted risks as a CycloneDX 1.6 VEX document (``--vex FILE``).

Each vulnerability finding suppressed by a policy ignore becomes one ``vulnerabilities`` entry,
affecting the component it was found in (the component is included so the reference resolves).

The analysis state follows what the team actually asserted. An ignore is, by default, an
*accepted risk*: the vulnerable code is present and the team chose not to act on it (for now),
which CycloneDX expresses as ``state: exploitable`` with ``response: [will_not_fix]`` and the
reason as ``detail``. Claiming ``not_affected`` is a stronger statement that downstream tools use
to drop the vulnerability entirely, so it is only made when the ignore gives a CycloneDX
``justification`` (``code_not_reachable``, ``requires_configuration`` ...).
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from cyclonedx.model import Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentType
from cyclonedx.model.impact_analysis import (
    ImpactAnalysisJustification,
    ImpactAnalysisResponse,
    ImpactAnalysisState,
)
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityReference,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from mlgate import __version__
from mlgate.model import Component, ComponentKind, Finding, ScanResult
from mlgate.options import ScanOptions

VEX_JUSTIFICATION = "vex:justification"
VEX_RESPONSE = "vex:response"
OSV_VULN_URL = "https://osv.dev/vulnerability/"
VEX_NAMESPACE = uuid.UUID("5c0a4b8e-1f0e-5d7a-9c61-766578766578")

_TYPES = {
    ComponentKind.LIBRARY: ComponentType.LIBRARY,
    ComponentKind.MODEL: ComponentType.MACHINE_LEARNING_MODEL,
    ComponentKind.DATA: ComponentType.DATA,
    ComponentKind.CONTAINER: ComponentType.CONTAINER,
    ComponentKind.OS_PACKAGE: ComponentType.LIBRARY,
}


def accepted_risks(result: ScanResult) -> list[Finding]:
    """Vulnerability findings suppressed by a policy ignore, in a stable order."""
    found = [
        f
        for f in result.findings
        if f.advisory is not None and f.suppression is not None and f.suppression.kind == "ignore"
    ]
    return sorted(
        found,
        key=lambda f: (f.advisory.id if f.advisory else "", f.component or "", f.sort_key()),
    )


def _source(vuln_id: str) -> VulnerabilitySource:
    return VulnerabilitySource(name="OSV", url=XsUri(OSV_VULN_URL + vuln_id))


def _cdx_component(ref: str, comp: Component | None) -> CdxComponent:
    if comp is None:
        return CdxComponent(name=ref, type=ComponentType.LIBRARY, bom_ref=ref)
    purl = None
    if comp.purl:
        try:
            purl = PackageURL.from_string(comp.purl)
        except ValueError:
            purl = None
    return CdxComponent(
        name=comp.name,
        version=comp.version,
        type=_TYPES[comp.kind],
        purl=purl,
        bom_ref=ref,
    )


def _analysis(
    finding: Finding, justification: str | None, responses: tuple[str, ...]
) -> VulnerabilityAnalysis:
    assert finding.suppression is not None
    detail = finding.suppression.justification
    if finding.suppression.expires:
        detail += f" (accepted until {finding.suppression.expires})"
    if justification:
        return VulnerabilityAnalysis(
            state=ImpactAnalysisState.NOT_AFFECTED,
            justification=ImpactAnalysisJustification(justification),
            detail=detail,
        )
    return VulnerabilityAnalysis(
        state=ImpactAnalysisState.EXPLOITABLE,
        responses=[ImpactAnalysisResponse(r) for r in responses or ("will_not_fix",)],
        detail=detail,
    )


def build_vex(result: ScanResult, options: ScanOptions) -> Bom:
    """The VEX document of a scan result's accepted risks."""
    risks = accepted_risks(result)
    if options.reproducible:
        epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
        stamp = datetime.fromtimestamp(int(epoch) if epoch.isdigit() else 0, UTC)
    else:
        stamp = datetime.now(UTC).replace(microsecond=0)
    tool = CdxComponent(
        name="mlgate",
        type=ComponentType.APPLICATION,
        version=result.tool_version or __version__,
        bom_ref="mlgate:tool",
    )
    bom = Bom(metadata=BomMetaData(tools=ToolRepository(components=[tool]), timestamp=stamp))
    if options.reproducible:
        key = "\n".join(f"{f.fingerprint}:{f.suppression}" for f in risks)
        bom.serial_number = uuid.uuid5(VEX_NAMESPACE, key)
    components: dict[str, CdxComponent] = {}
    by_id: dict[str, list[Finding]] = {}
    for finding in risks:
        assert finding.advisory is not None
        by_id.setdefault(finding.advisory.id, []).append(finding)
    vulns = []
    for vuln_id, findings in sorted(by_id.items()):
        first = findings[0]
        assert first.advisory is not None
        refs = sorted({f.component or f"mlgate:unknown:{f.location.path}" for f in findings})
        for ref in refs:
            if ref not in components:
                components[ref] = _cdx_component(ref, result.component(ref))
        justification, responses = vex_fields(first)
        vulns.append(
            Vulnerability(
                bom_ref=f"vex:{vuln_id}",
                id=vuln_id,
                source=_source(vuln_id),
                references=[
                    VulnerabilityReference(id=alias, source=_source(alias))
                    for alias in sorted(set(first.advisory.aliases))
                ],
                description=first.advisory.summary or None,
                analysis=_analysis(first, justification, responses),
                affects=[BomTarget(ref=components[ref].bom_ref.value or ref) for ref in refs],
                properties=[
                    Property(name="mlgate:fingerprint", value=f.fingerprint) for f in findings
                ],
            )
        )
    bom.components = list(components.values())
    bom.vulnerabilities = vulns
    return bom


def vex_fields(finding: Finding) -> tuple[str | None, tuple[str, ...]]:
    """The ignore's CycloneDX justification and responses, carried as finding properties."""
    props = dict(finding.properties)
    responses = tuple(r for r in props.get(VEX_RESPONSE, "").split(",") if r)
    return props.get(VEX_JUSTIFICATION), responses


def render(result: ScanResult, options: ScanOptions) -> str:
    """The VEX document as CycloneDX 1.6 JSON text."""
    return JsonV1Dot6(build_vex(result, options)).output_as_string(indent=2) + "\n"
