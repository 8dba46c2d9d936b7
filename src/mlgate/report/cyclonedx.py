"""CycloneDX 1.6 JSON SBOM (an ML-BOM: libraries, models, data sets and container images).

Built with cyclonedx-python-lib. The output is deterministic: components, dependencies, hashes
and properties are sorted, bom-refs come from :attr:`mlgate.model.Component.bom_ref`, and with
``options.reproducible`` the serial number is a UUIDv5 of the inventory's content and the
timestamp is ``SOURCE_DATE_EPOCH`` (or 1970-01-01), so two runs over the same tree are
byte-identical.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePath
from types import GeneratorType
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.bom_ref import BomRef
from cyclonedx.model.component import Component as CdxComponent
from cyclonedx.model.component import ComponentScope, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import License, LicenseExpression
from cyclonedx.model.tool import ToolRepository
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema.schema import SchemaVersion1Dot6
from packageurl import PackageURL

from mlgate import __version__
from mlgate.model import Component, ComponentKind, Location, ScanResult, Scope
from mlgate.options import ScanOptions

PROPERTY_PREFIX = "mlgate:"
# Fixed namespace for the serial numbers of reproducible SBOMs (a UUIDv5 of the content).
SERIAL_NAMESPACE = uuid.UUID("0b6f3c1e-6a47-5e55-9a6e-6d6c67617465")
ROOT_REF = "mlgate:root"
PROP_CONTAINER = "mlgate:container"  # bom-ref of the image a component was found in
TOOL_REF = "mlgate:tool"
SCHEMA_URI = "http://cyclonedx.org/schema/bom-1.6.schema.json"
# Up to this many components the library serialises the SBOM itself; above it the direct writer
# (same bytes, verified by the tests) keeps large SBOMs fast: the library's sorted sets over
# nested components cost about 2.4 s for one image of 838 packages, the direct writer 0.1 s.
LIBRARY_MAX = 250

_TYPES = {
    ComponentKind.LIBRARY: ComponentType.LIBRARY,
    ComponentKind.MODEL: ComponentType.MACHINE_LEARNING_MODEL,
    ComponentKind.DATA: ComponentType.DATA,
    ComponentKind.CONTAINER: ComponentType.CONTAINER,
    ComponentKind.OS_PACKAGE: ComponentType.LIBRARY,
}
# The schema's hash-content pattern: hex of one of the digest lengths CycloneDX knows.
_HASH_CONTENT = re.compile(
    r"^(?:[a-fA-F0-9]{32}|[a-fA-F0-9]{40}|[a-fA-F0-9]{64}|[a-fA-F0-9]{96}|[a-fA-F0-9]{128})$"
)


def _timestamp(reproducible: bool) -> datetime:
    if not reproducible:
        return datetime.now(UTC).replace(microsecond=0)
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    seconds = int(epoch) if epoch.isdigit() else 0
    return datetime.fromtimestamp(seconds, UTC)


def _scope(comp: Component) -> ComponentScope | None:
    if comp.optional:
        return ComponentScope.OPTIONAL
    if comp.scope in (Scope.DIRECT, Scope.TRANSITIVE):
        return ComponentScope.REQUIRED
    return None


def _licenses(values: Sequence[str]) -> list[License]:
    return list(_licenses_cached(tuple(sorted(set(values)))))


@functools.lru_cache(maxsize=4096)
def _licenses_cached(values: tuple[str, ...]) -> tuple[License, ...]:
    """SPDX ids and expressions through the library's factory.

    CycloneDX allows either a list of licenses or one expression; several declarations that
    include an expression are joined into one ``AND`` expression.
    """
    # Parsing SPDX expressions is slow and a monorepo repeats the same few licenses: cached.
    if not values:
        return ()
    factory = LicenseFactory()
    made = tuple(factory.make_from_string(v) for v in values)
    if len(made) == 1 or not any(isinstance(m, LicenseExpression) for m in made):
        return made
    return (factory.make_from_string(" AND ".join(f"({v})" for v in values)),)


def _hashes(comp: Component) -> tuple[list[HashType], list[tuple[str, str]]]:
    """Valid hashes, and the others as properties (the schema would reject them)."""
    good: list[HashType] = []
    rest: list[tuple[str, str]] = []
    for h in comp.hashes:
        try:
            alg = HashAlgorithm(h.alg)
        except ValueError:
            rest.append((f"hash:{h.alg}", h.value))
            continue
        if _HASH_CONTENT.match(h.value):
            good.append(HashType(alg=alg, content=h.value.lower()))
        else:
            rest.append((f"hash:{h.alg}", h.value))
    return good, rest


def _purl(comp: Component) -> tuple[PackageURL | None, list[tuple[str, str]]]:
    if not comp.purl:
        return None, []
    try:
        return PackageURL.from_string(comp.purl), []
    except ValueError:
        return None, [("purl", comp.purl)]


def _occurrences(ref: str, locations: Sequence[Location]) -> list[Occurrence]:
    """One occurrence per declaration, in the inventory's order.

    The library orders occurrences by their bom-ref first, and occurrences without one compare
    as neither smaller nor larger (their order would follow memory addresses); a numbered
    bom-ref keeps the output byte-identical from run to run.
    """
    width = len(str(len(locations)))
    occ = []
    for i, loc in enumerate(locations):
        where = f"{loc.path}!{loc.member}" if loc.member else loc.path
        occ.append(
            Occurrence(bom_ref=f"{ref}#occurrence-{i:0{width}d}", location=where, line=loc.line)
        )
    return occ


def _properties(comp: Component, extra: Iterable[tuple[str, str]]) -> list[Property]:
    props = {(k, v) for k, v in comp.properties}
    props.update(extra)
    if comp.scope is not Scope.UNKNOWN:
        props.add(("scope", comp.scope.value))
    if comp.ecosystem:
        props.add(("ecosystem", comp.ecosystem))
    if comp.kind is ComponentKind.LIBRARY or comp.kind is ComponentKind.OS_PACKAGE:
        props.add(("pinned", "true" if comp.pinned else "false"))
    if comp.spec and not comp.version:
        props.add(("spec", comp.spec))
    if comp.optional:
        props.add(("optional", "true"))
    # Keys already in the mlgate namespace keep their spelling; the rest get the prefix.
    named = {(k if k.startswith(PROPERTY_PREFIX) else PROPERTY_PREFIX + k, v) for k, v in props}
    return [Property(name=k, value=v) for k, v in sorted(named)]


def _unique_refs(components: Sequence[Component]) -> list[str]:
    """``bom_ref`` of each component, suffixed (deterministically) on the rare collision."""
    seen: dict[str, int] = {}
    refs = []
    for comp in components:
        ref = comp.bom_ref
        n = seen.get(ref, 0)
        seen[ref] = n + 1
        refs.append(ref if n == 0 else f"{ref}#{n}")
    return refs


def dependency_graph(components: Sequence[Component], refs: Sequence[str]) -> dict[str, set[str]]:
    """bom-ref -> bom-refs it depends on, from the ``depends_on`` names lockfiles give.

    A name resolves to the component of the same ecosystem and name declared in the same file
    (the pinned ones when there are both); failing that, to the only component of that name.
    """
    by_name: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, comp in enumerate(components):
        if comp.kind is ComponentKind.LIBRARY:
            by_name[(comp.ecosystem, comp.normalized_name)].append(i)
    graph: dict[str, set[str]] = {ref: set() for ref in refs}
    for i, comp in enumerate(components):
        if not comp.depends_on:
            continue
        files = {loc.path for loc in comp.declared_in}
        for dep in comp.depends_on:
            candidates = by_name.get((comp.ecosystem, dep), [])
            same_file = [
                j for j in candidates if files & {loc.path for loc in components[j].declared_in}
            ]
            # Edges come from lockfiles, which pin: a declared range of the same name in a
            # manifest that also declares this package is not what the lock resolved.
            pinned = [j for j in same_file if components[j].pinned]
            chosen = pinned or same_file or (candidates if len(candidates) == 1 else [])
            graph[refs[i]].update(refs[j] for j in chosen if j != i)
    return graph


def nested_components(components: Sequence[Component], refs: Sequence[str]) -> dict[str, list[str]]:
    """Container ref -> refs of the components its ``mlgate:container`` property puts inside it.

    A package found in several images (merged into one component) is nested in the first of
    them; the others still depend on it.
    """
    containers = {
        comp.bom_ref: ref
        for comp, ref in zip(components, refs, strict=True)
        if comp.kind is ComponentKind.CONTAINER
    }
    nested: dict[str, list[str]] = {}
    if not containers:
        return nested
    for comp, ref in zip(components, refs, strict=True):
        parents = sorted(
            containers[v] for k, v in comp.properties if k == PROP_CONTAINER and v in containers
        )
        if parents and parents[0] != ref:
            nested.setdefault(parents[0], []).append(ref)
    return nested


def _serial(result: ScanResult, components: Sequence[Component], root_name: str) -> uuid.UUID:
    """A UUIDv5 of everything the SBOM says, so equal trees get equal serial numbers."""
    digest = hashlib.sha256()
    digest.update(f"{root_name}\x1f{result.tool_version or __version__}\n".encode())
    for comp in components:
        record = [
            comp.bom_ref,
            comp.kind.value,
            comp.name,
            comp.version or "",
            comp.scope.value,
            str(comp.optional),
            [str(loc) for loc in comp.declared_in],
            sorted(comp.licenses),
            [(h.alg, h.value) for h in comp.hashes],
            sorted(comp.properties),
            sorted(comp.depends_on),
        ]
        digest.update(json.dumps(record, separators=(",", ":")).encode())
        digest.update(b"\n")
    return uuid.uuid5(SERIAL_NAMESPACE, digest.hexdigest())


@dataclass(frozen=True)
class _Plan:
    """Everything both writers need, computed once: the SBOM's content before its spelling."""

    components: list[Component]
    refs: list[str]
    root_name: str
    tool_version: str
    serial: uuid.UUID
    timestamp: datetime
    graph: dict[str, set[str]]
    top: list[str]
    nested: dict[str, list[str]]  # container ref -> refs of the components found inside it


def _plan(result: ScanResult, options: ScanOptions) -> _Plan:
    components = sorted(result.inventory.components, key=lambda c: (c.bom_ref, c.key))
    refs = _unique_refs(components)
    root_name = PurePath(result.root).name or "root"
    graph = dependency_graph(components, refs)
    nested = nested_components(components, refs)
    for container, inside in nested.items():
        graph[container].update(inside)  # an image depends on everything it ships
    depended_on: set[str] = set().union(*graph.values()) if graph else set()
    # The root depends on what the repository declares directly, and on whatever nothing else
    # in the graph pulls in (so that every component is reachable from the root).
    top = sorted(
        ref
        for comp, ref in zip(components, refs, strict=True)
        if comp.scope is Scope.DIRECT or ref not in depended_on
    )
    return _Plan(
        components=components,
        refs=refs,
        root_name=root_name,
        tool_version=result.tool_version or __version__,
        serial=_serial(result, components, root_name) if options.reproducible else uuid.uuid4(),
        timestamp=_timestamp(options.reproducible),
        graph=graph,
        top=top,
        nested=nested,
    )


def _cdx_component(comp: Component, ref: str) -> CdxComponent:
    hashes, bad_hashes = _hashes(comp)
    purl, bad_purl = _purl(comp)
    return CdxComponent(
        name=comp.name,
        type=_TYPES[comp.kind],
        version=comp.version,
        bom_ref=ref,
        purl=purl,
        scope=_scope(comp),
        hashes=hashes,
        licenses=_licenses(comp.licenses),
        properties=_properties(comp, [*bad_hashes, *bad_purl]),
        evidence=ComponentEvidence(occurrences=_occurrences(ref, comp.declared_in))
        if comp.declared_in
        else None,
    )


def build_bom(result: ScanResult, options: ScanOptions) -> Bom:
    """The CycloneDX model of a scan result (cyclonedx-python-lib objects)."""
    return _build_bom(_plan(result, options))


def _build_bom(plan: _Plan) -> Bom:
    root = CdxComponent(name=plan.root_name, type=ComponentType.APPLICATION, bom_ref=ROOT_REF)
    tool = CdxComponent(
        name="mlgate",
        type=ComponentType.APPLICATION,
        version=plan.tool_version,
        bom_ref=TOOL_REF,
    )
    metadata = BomMetaData(
        tools=ToolRepository(components=[tool]),
        component=root,
        timestamp=plan.timestamp,
    )
    bom = Bom(metadata=metadata, serial_number=plan.serial)
    cdx_by_ref = {
        ref: _cdx_component(comp, ref) for comp, ref in zip(plan.components, plan.refs, strict=True)
    }
    inside = {ref for refs in plan.nested.values() for ref in refs}
    for container, refs in plan.nested.items():
        cdx_by_ref[container].components = sorted(
            (cdx_by_ref[ref] for ref in refs), key=_library_order
        )
    # One bulk insert, already in the library's own order (type, name, version, bom-ref; None
    # last): its SortedSet then sorts in linear time instead of comparing whole components.
    bom.components = sorted(
        (cdx for ref, cdx in cdx_by_ref.items() if ref not in inside), key=_library_order
    )
    entries = [Dependency(ref=root.bom_ref, dependencies=_deps(plan.top))]
    entries += (
        Dependency(ref=cdx_by_ref[ref].bom_ref, dependencies=_deps(deps))
        for ref, deps in plan.graph.items()
    )
    bom.dependencies = sorted(entries, key=lambda d: d.ref.value or "")
    return bom


def _library_order(cdx: CdxComponent) -> tuple[str, str, tuple[int, str], str]:
    version = (1, "") if cdx.version is None else (0, cdx.version)
    return (cdx.type.value, cdx.name, version, cdx.bom_ref.value or "")


def _deps(refs: Iterable[str]) -> list[Dependency]:
    return [Dependency(ref=BomRef(ref)) for ref in sorted(refs)]


class _Json16(JsonV1Dot6):
    """The library's JSON 1.6 output without its ``Bom.validate()`` pre-pass.

    That pass registers a dependency entry per component with a linear search each, which is
    quadratic (minutes for a monorepo of 10^4 components). :func:`build_bom` establishes what it
    checks by construction: unique bom-refs, one dependency entry per component, every
    referenced bom-ref present, and never a license expression beside other licenses.
    """

    def generate(self, force_regeneration: bool = False) -> None:
        if self.generated and not force_regeneration:
            return
        bom = self.get_bom()
        data: dict[str, Any] = json.loads(bom.as_json(view_=SchemaVersion1Dot6))  # type: ignore[attr-defined]
        data.update({"$schema": SCHEMA_URI, "bomFormat": "CycloneDX", "specVersion": "1.6"})
        self._bom_json = data
        self.generated = True


def _license_json(lic: License) -> dict[str, Any]:
    if isinstance(lic, LicenseExpression):
        return {"expression": lic.value}
    if lic.id is not None:
        return {"license": {"id": lic.id}}
    return {"license": {"name": lic.name}}


def _license_order(lic: License) -> tuple[int, str, str]:
    # The library's order: an expression first, then ids, then names.
    if isinstance(lic, LicenseExpression):
        return (0, lic.value, "")
    return (1, "", lic.id or "") if lic.id is not None else (2, lic.name or "", "")


def _component_json(
    comp: Component, ref: str, inside: Sequence[tuple[Component, str]] = ()
) -> dict[str, Any]:
    """One component exactly as the library spells it (keys in its alphabetical order)."""
    hashes, bad_hashes = _hashes(comp)
    purl, bad_purl = _purl(comp)
    licenses = sorted(_licenses(comp.licenses), key=_license_order)
    props = _properties(comp, [*bad_hashes, *bad_purl])
    scope = _scope(comp)
    out: dict[str, Any] = {"bom-ref": ref}
    if inside:
        out["components"] = [_component_json(c, r) for c, r in _direct_order(inside)]
    if comp.declared_in:
        occurrences = []
        for occ in _occurrences(ref, comp.declared_in):
            item: dict[str, Any] = {"bom-ref": occ.bom_ref.value}
            if occ.line is not None:
                item["line"] = occ.line
            item["location"] = occ.location
            occurrences.append(item)
        out["evidence"] = {"occurrences": occurrences}
    if hashes:
        ordered = sorted(hashes, key=lambda h: (h.alg.value, h.content))
        out["hashes"] = [{"alg": h.alg.value, "content": h.content} for h in ordered]
    if licenses:
        out["licenses"] = [_license_json(lic) for lic in licenses]
    out["name"] = comp.name
    if props:
        out["properties"] = [{"name": p.name, "value": p.value} for p in props]
    if purl is not None:
        out["purl"] = purl.to_string()
    if scope is not None:
        out["scope"] = scope.value
    out["type"] = _TYPES[comp.kind].value
    if comp.version is not None:
        out["version"] = comp.version
    return out


def _direct_order(pairs: Iterable[tuple[Component, str]]) -> list[tuple[Component, str]]:
    """The library's component order: type, name, version (None last), bom-ref."""
    return sorted(
        pairs,
        key=lambda cr: (
            _TYPES[cr[0].kind].value,
            cr[0].name,
            (1, "") if cr[0].version is None else (0, cr[0].version),
            cr[1],
        ),
    )


def _direct_json(plan: _Plan) -> dict[str, Any]:
    """The same document as the library's serializer, written directly.

    cyclonedx-python-lib keeps every collection in a SortedSet compared through whole-object
    tuples and serialises through a pure-Python encoder: fine for a repository, tens of seconds
    and close to a gigabyte for a monorepo of 10^4 components. Above :data:`LIBRARY_MAX` the
    document is written here instead, from the same library objects (hashes, purls, licenses,
    properties); tests check both writers give identical bytes.
    """
    by_ref = dict(zip(plan.refs, plan.components, strict=True))
    inside = {ref for refs in plan.nested.values() for ref in refs}
    pairs = _direct_order(
        [(c, r) for c, r in zip(plan.components, plan.refs, strict=True) if r not in inside]
    )
    deps = [{"dependsOn": plan.top, "ref": ROOT_REF} if plan.top else {"ref": ROOT_REF}]
    deps += (
        {"dependsOn": sorted(targets), "ref": ref} if targets else {"ref": ref}
        for ref, targets in plan.graph.items()
    )
    data: dict[str, Any] = {}
    if pairs:
        # Built lazily, one component at a time, by the streaming encoder below.
        data["components"] = (
            _component_json(comp, ref, [(by_ref[r], r) for r in plan.nested.get(ref, ())])
            for comp, ref in pairs
        )
    data["dependencies"] = sorted(deps, key=lambda d: str(d["ref"]))
    data["metadata"] = {
        "component": {"bom-ref": ROOT_REF, "name": plan.root_name, "type": "application"},
        "timestamp": plan.timestamp.isoformat(),
        "tools": {
            "components": [
                {
                    "bom-ref": TOOL_REF,
                    "name": "mlgate",
                    "type": "application",
                    "version": plan.tool_version,
                }
            ]
        },
    }
    data["serialNumber"] = plan.serial.urn
    data["version"] = 1
    data["$schema"] = SCHEMA_URI
    data["bomFormat"] = "CycloneDX"
    data["specVersion"] = "1.6"
    return data


def render_with_library(result: ScanResult, options: ScanOptions) -> str:
    """The SBOM through cyclonedx-python-lib's own model and serializer."""
    return _Json16(_build_bom(_plan(result, options))).output_as_string(indent=2) + "\n"


def _dumps_indented(data: dict[str, Any]) -> str:
    """``json.dumps(data, indent=2) + "\\n"``, element by element for the top-level arrays.

    One ``json.dumps`` of the whole document holds millions of small chunks at once (hundreds
    of megabytes for a monorepo); this holds each element's text once and joins once.
    """
    parts = ["{"]
    for n, (key, value) in enumerate(data.items()):
        parts.append(("\n  " if n == 0 else ",\n  ") + json.dumps(key) + ": ")
        if isinstance(value, (list, GeneratorType)):
            count = 0
            for item in value:
                parts.append("[\n    " if count == 0 else ",\n    ")
                parts.append(json.dumps(item, indent=2).replace("\n", "\n    "))
                count += 1
            parts.append("\n  ]" if count else "[]")
        else:
            parts.append(json.dumps(value, indent=2).replace("\n", "\n  "))
    parts.append("\n}\n")
    return "".join(parts)


def render_direct(result: ScanResult, options: ScanOptions) -> str:
    """The SBOM written directly (same bytes as :func:`render_with_library`)."""
    return _dumps_indented(_direct_json(_plan(result, options)))


def render(result: ScanResult, options: ScanOptions) -> str:
    """The SBOM as CycloneDX 1.6 JSON text."""
    if len(result.inventory.components) <= LIBRARY_MAX:
        return render_with_library(result, options)
    return render_direct(result, options)
