"""The CycloneDX 1.6 SBOM: schema-valid (strict validator), deterministic, complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mlgate.model import (
    Component,
    ComponentKind,
    Hash,
    Inventory,
    Location,
    ScanResult,
    Scope,
)
from mlgate.options import ScanOptions
from mlgate.report.cyclonedx import (
    ROOT_REF,
    render,
    render_direct,
    render_with_library,
)

VALIDATOR = JsonStrictValidator(SchemaVersion.V1_6)
SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def every_kind() -> tuple[Component, ...]:
    lock = "poetry.lock"
    return (
        Component(
            "PyPI",
            "transformers",
            "4.30.0",
            purl="pkg:pypi/transformers@4.30.0",
            scope=Scope.DIRECT,
            declared_in=(Location(lock, 10), Location("requirements.txt", 2)),
            licenses=("Apache-2.0",),
            hashes=(Hash("SHA-256", SHA),),
            depends_on=("requests", "tokenizers", "not-in-the-lock"),
        ),
        Component(
            "PyPI",
            "requests",
            "2.31.0",
            purl="pkg:pypi/requests@2.31.0",
            scope=Scope.TRANSITIVE,
            declared_in=(Location(lock, 30),),
            licenses=("Apache-2.0", "MIT OR BSD-3-Clause"),
            depends_on=("urllib3",),
        ),
        Component(
            "PyPI",
            "urllib3",
            "1.26.5",
            purl="pkg:pypi/urllib3@1.26.5",
            scope=Scope.TRANSITIVE,
            declared_in=(Location(lock, 50),),
            licenses=("MIT",),
        ),
        # Same name in another lockfile: edges resolve inside their own file.
        Component(
            "PyPI",
            "tokenizers",
            "0.13.3",
            purl="pkg:pypi/tokenizers@0.13.3",
            scope=Scope.TRANSITIVE,
            declared_in=(Location(lock, 40),),
            licenses=("Some Custom License",),
        ),
        Component(
            "PyPI",
            "tokenizers",
            "0.19.1",
            purl="pkg:pypi/tokenizers@0.19.1",
            scope=Scope.TRANSITIVE,
            declared_in=(Location("svc/poetry.lock", 7),),
        ),
        Component(
            "PyPI",
            "pytest",
            "8.2.0",
            purl="pkg:pypi/pytest@8.2.0",
            scope=Scope.DIRECT,
            optional=True,
            declared_in=(Location(lock, 60),),
            properties=(("mlgate:group", "dev"),),
        ),
        Component(
            "PyPI",
            "numpy",
            None,
            purl="pkg:pypi/numpy",
            scope=Scope.DIRECT,
            spec=">=1.24",
            declared_in=(Location("pyproject.toml", 8),),
        ),
        Component(
            "",
            "models/classifier.safetensors",
            None,
            kind=ComponentKind.MODEL,
            declared_in=(Location("models/classifier.safetensors"),),
            hashes=(Hash("SHA-256", SHA),),
            properties=(("format", "safetensors"), ("size", "1024"), ("present", "true")),
        ),
        Component(
            "",
            "data/train.csv",
            None,
            kind=ComponentKind.DATA,
            declared_in=(Location("data/train.csv.dvc", 2),),
            hashes=(Hash("MD5", "a304afb96060aad90176268345e10355"), Hash("SHA-1", "not-hex")),
            properties=(("present", "false"), ("pointer", "dvc")),
        ),
        Component(
            "",
            "python",
            "3.11-slim",
            kind=ComponentKind.CONTAINER,
            purl="pkg:docker/python@3.11-slim",
            scope=Scope.DIRECT,
            declared_in=(Location("Dockerfile", 3),),
            properties=(("docker:registry", "docker.io"), ("docker:pinned-by-digest", "false")),
        ),
    )


def result(components: tuple[Component, ...] = ()) -> ScanResult:
    return ScanResult(
        root="/home/someone/projects/demo",
        inventory=Inventory(components=components or every_kind()),
        tool_version="9.9.9",
    )


def sbom(res: ScanResult, *, reproducible: bool = True) -> dict[str, Any]:
    text = render(res, ScanOptions(root=Path("."), reproducible=reproducible))
    errors = VALIDATOR.validate_str(text)
    assert errors is None, errors
    data: dict[str, Any] = json.loads(text)
    return data


def by_ref(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in data["components"]}


def props(comp: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in comp.get("properties", [])}


def test_every_kind_is_schema_valid_with_types_purls_hashes_scopes() -> None:
    data = sbom(result())
    assert data["specVersion"] == "1.6"
    comps = by_ref(data)
    assert {c["type"] for c in comps.values()} == {
        "library",
        "machine-learning-model",
        "data",
        "container",
    }
    tf = comps["pkg:pypi/transformers@4.30.0"]
    assert tf["purl"] == "pkg:pypi/transformers@4.30.0"
    assert tf["scope"] == "required"
    assert tf["hashes"] == [{"alg": "SHA-256", "content": SHA}]
    assert tf["licenses"] == [{"license": {"id": "Apache-2.0"}}]
    assert tf["evidence"]["occurrences"] == [
        {"bom-ref": f"{tf['bom-ref']}#occurrence-0", "line": 10, "location": "poetry.lock"},
        {"bom-ref": f"{tf['bom-ref']}#occurrence-1", "line": 2, "location": "requirements.txt"},
    ]
    assert comps["pkg:pypi/requests@2.31.0"]["scope"] == "required"
    assert comps["pkg:pypi/pytest@8.2.0"]["scope"] == "optional"
    model = comps["model:models/classifier.safetensors"]
    assert model["type"] == "machine-learning-model"
    assert "version" not in model and "scope" not in model
    assert props(model) == {
        "mlgate:format": "safetensors",
        "mlgate:present": "true",
        "mlgate:size": "1024",
    }
    data_comp = comps["data:data/train.csv"]
    assert data_comp["hashes"] == [{"alg": "MD5", "content": "a304afb96060aad90176268345e10355"}]
    # A hash the schema would reject travels as a property instead.
    assert props(data_comp)["mlgate:hash:SHA-1"] == "not-hex"
    image = comps["pkg:docker/python@3.11-slim"]
    assert image["type"] == "container"
    assert props(image)["mlgate:docker:pinned-by-digest"] == "false"


def test_properties_are_prefixed_once_and_sorted() -> None:
    data = sbom(result())
    pytest_comp = by_ref(data)["pkg:pypi/pytest@8.2.0"]
    names = [p["name"] for p in pytest_comp["properties"]]
    assert names == sorted(names)
    assert "mlgate:group" in names and "mlgate:mlgate:group" not in names
    assert all(n.startswith("mlgate:") for n in names)
    numpy = by_ref(data)["pkg:pypi/numpy#spec=>=1.24"]
    assert props(numpy)["mlgate:spec"] == ">=1.24"
    assert props(numpy)["mlgate:pinned"] == "false"


def test_licenses_ids_expressions_and_names() -> None:
    comps = by_ref(sbom(result()))
    # Several declarations with an expression among them become one AND expression.
    assert comps["pkg:pypi/requests@2.31.0"]["licenses"] == [
        {"expression": "(Apache-2.0) AND (MIT OR BSD-3-Clause)"}
    ]
    assert comps["pkg:pypi/tokenizers@0.13.3"]["licenses"] == [
        {"license": {"name": "Some Custom License"}}
    ]


def test_dependency_graph_resolves_names_within_the_same_file() -> None:
    data = sbom(result())
    deps = {d["ref"]: d.get("dependsOn", []) for d in data["dependencies"]}
    assert deps["pkg:pypi/transformers@4.30.0"] == [
        "pkg:pypi/requests@2.31.0",
        "pkg:pypi/tokenizers@0.13.3",  # not 0.19.1, which svc/poetry.lock declares
    ]
    assert deps["pkg:pypi/requests@2.31.0"] == ["pkg:pypi/urllib3@1.26.5"]
    assert deps["pkg:pypi/urllib3@1.26.5"] == []
    # Every component has an entry, and the root reaches every component.
    assert set(deps) == {c["bom-ref"] for c in data["components"]} | {ROOT_REF}
    reached, todo = set(), [ROOT_REF]
    while todo:
        ref = todo.pop()
        for dep in deps[ref]:
            if dep not in reached:
                reached.add(dep)
                todo.append(dep)
    assert reached == {c["bom-ref"] for c in data["components"]}
    assert "pkg:pypi/transformers@4.30.0" in deps[ROOT_REF]
    assert "pkg:pypi/urllib3@1.26.5" not in deps[ROOT_REF]


def test_metadata_tools_and_root_component() -> None:
    data = sbom(result())
    meta = data["metadata"]
    assert meta["tools"]["components"][0]["name"] == "mlgate"
    assert meta["tools"]["components"][0]["version"] == "9.9.9"
    assert meta["component"] == {"bom-ref": ROOT_REF, "name": "demo", "type": "application"}
    # The scanning machine's absolute path never leaks into the SBOM.
    assert "/home/someone" not in json.dumps(data)


def test_reproducible_serial_and_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    first = render(result(), ScanOptions(root=Path("."), reproducible=True))
    second = render(result(), ScanOptions(root=Path("."), reproducible=True))
    assert first == second
    data = json.loads(first)
    assert data["metadata"]["timestamp"].startswith("1970-01-01T00:00:00")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    dated = json.loads(render(result(), ScanOptions(root=Path("."), reproducible=True)))
    assert dated["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")
    assert dated["serialNumber"] == data["serialNumber"]
    # A different inventory gets a different serial number.
    other = json.loads(
        render(result(every_kind()[:3]), ScanOptions(root=Path("."), reproducible=True))
    )
    assert other["serialNumber"] != data["serialNumber"]


def test_non_reproducible_runs_get_fresh_serial_numbers() -> None:
    a = sbom(result(), reproducible=False)
    b = sbom(result(), reproducible=False)
    assert a["serialNumber"] != b["serialNumber"]
    assert not a["metadata"]["timestamp"].startswith("1970")


def test_input_order_does_not_change_the_output() -> None:
    comps = every_kind()
    forward = render(result(comps), ScanOptions(root=Path("."), reproducible=True))
    backward = render(result(comps[::-1]), ScanOptions(root=Path("."), reproducible=True))
    assert forward == backward
    refs = [c["bom-ref"] for c in json.loads(forward)["components"]]
    assert len(refs) == len(set(refs))


def test_colliding_bom_refs_are_made_unique() -> None:
    a = Component("PyPI", "x", "1", purl="pkg:pypi/x@1", declared_in=(Location("a.txt", 1),))
    b = Component("npm", "x", "1", purl="pkg:pypi/x@1", declared_in=(Location("b.txt", 1),))
    refs = sorted(by_ref(sbom(result((a, b)))))
    assert refs == ["pkg:pypi/x@1", "pkg:pypi/x@1#1"]


def test_empty_inventory_is_valid() -> None:
    data = sbom(ScanResult(root="/r", inventory=Inventory()))
    assert data.get("components", []) == []
    assert data["dependencies"] == [{"ref": ROOT_REF}]


def test_invalid_purl_becomes_a_property() -> None:
    comp = Component("PyPI", "odd", "1", purl="not a purl", declared_in=(Location("r.txt", 1),))
    (out,) = sbom(result((comp,)))["components"]
    assert "purl" not in out
    assert props(out)["mlgate:purl"] == "not a purl"


def many_components(n: int) -> tuple[Component, ...]:
    """A generated inventory exercising every field, with shared names across files."""
    kinds = list(ComponentKind)
    out = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        out.append(
            Component(
                "PyPI" if kind is ComponentKind.LIBRARY else "",
                f"pkg{i % 40}" if kind is ComponentKind.LIBRARY else f"files/modèle-{i}.bin",
                None if i % 9 == 0 else f"{i % 5}.{i % 3}",
                kind=kind,
                purl=f"pkg:pypi/pkg{i % 40}@{i % 5}.{i % 3}"
                if kind is ComponentKind.LIBRARY and i % 9
                else None,
                scope=[Scope.DIRECT, Scope.TRANSITIVE, Scope.UNKNOWN][i % 3],
                optional=i % 4 == 0,
                spec=">=1" if i % 9 == 0 else None,
                declared_in=tuple(Location(f"p{j}/uv.lock", i + j) for j in range(i % 3 + 1))
                + ((Location("a.zip", None, member="m.pkl"),) if i % 11 == 0 else ()),
                licenses=(("MIT", "Apache-2.0", "GPL-2.0-only OR MIT", "Weird")[: i % 5]),
                hashes=(Hash("SHA-256", f"{i:064x}"), Hash("MD5", f"{i:032x}"))[: i % 3],
                properties=(("b", str(i)), ("mlgate:a", "x"), ("docker:tag", "t"))[: i % 4],
                depends_on=(f"pkg{(i + 1) % 40}", f"pkg{(i + 2) % 40}") if i % 2 else (),
            )
        )
    return tuple(out)


def test_direct_writer_equals_the_library_byte_for_byte() -> None:
    """The large-inventory writer must say exactly what cyclonedx-python-lib says."""
    options = ScanOptions(root=Path("."), reproducible=True)
    for comps in (every_kind(), many_components(300)):
        res = result(comps)
        assert render_direct(res, options) == render_with_library(res, options)


def test_direct_writer_equals_the_library_without_reproducible() -> None:
    options = ScanOptions(root=Path("."), reproducible=False)
    a = json.loads(render_direct(result(), options))
    b = json.loads(render_with_library(result(), options))
    for doc in (a, b):
        del doc["serialNumber"], doc["metadata"]["timestamp"]
    assert a == b


def test_large_inventories_use_the_direct_writer_and_stay_valid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlgate.report import cyclonedx

    # A lower switch-over keeps the schema validation (slow on big documents) quick.
    monkeypatch.setattr(cyclonedx, "LIBRARY_MAX", 60)
    res = result(many_components(61))
    text = render(res, ScanOptions(root=Path("."), reproducible=True))
    assert VALIDATOR.validate_str(text) is None
    assert len(json.loads(text)["components"]) == 61


def image_inventory_components() -> tuple[Component, ...]:
    """A scanned image and what it holds (as mlgate.image.contents builds them)."""
    digest = "sha256:" + "ab" * 32
    image_ref = f"pkg:oci/serve@{digest}?repository_url=registry.example/serve&tag=1"
    where = f"registry.example/serve@{digest}"
    inside = (("mlgate:container", image_ref), ("mlgate:layer", "sha256:" + "11" * 32))
    return (
        Component(
            "", "registry.example/serve", "1", kind=ComponentKind.CONTAINER, purl=image_ref,
            scope=Scope.DIRECT, declared_in=(Location(where),),
            hashes=(Hash("SHA-256", "ab" * 32),),
        ),
        Component(
            "Debian:12", "libssl3", "3.0.11-1~deb12u2", kind=ComponentKind.OS_PACKAGE,
            purl="pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            scope=Scope.TRANSITIVE, declared_in=(Location(f"{where}:/var/lib/dpkg/status", 7),),
            properties=(*inside, ("mlgate:osv-name", "openssl")),
        ),
        Component(
            "PyPI", "numpy", "1.26.0", purl="pkg:pypi/numpy@1.26.0", scope=Scope.TRANSITIVE,
            declared_in=(Location(f"{where}:/usr/lib/python3/site-packages/numpy-1.26.0.dist-info/METADATA"),),
            properties=inside,
        ),
        Component(
            "", f"{where}:/srv/model.pkl", None, kind=ComponentKind.MODEL,
            declared_in=(Location(f"{where}:/srv/model.pkl"),), hashes=(Hash("SHA-256", SHA),),
            properties=(*inside, ("mlgate:external", "true")),
        ),
    )  # fmt: skip


def test_image_is_a_container_component_with_nested_components() -> None:
    res = result((*image_inventory_components(), *every_kind()))
    data = sbom(res)
    [image] = [c for c in data["components"] if c["name"] == "registry.example/serve"]
    assert image["type"] == "container"
    assert sorted(c["name"] for c in image["components"]) == [
        "libssl3",
        "numpy",
        "registry.example/serve@sha256:" + "ab" * 32 + ":/srv/model.pkl",
    ]
    top_refs = {c["bom-ref"] for c in data["components"]}
    assert not top_refs & {c["bom-ref"] for c in image["components"]}
    deps = {d["ref"]: d.get("dependsOn", []) for d in data["dependencies"]}
    assert sorted(deps[image["bom-ref"]]) == sorted(c["bom-ref"] for c in image["components"])
    assert image["bom-ref"] in deps["mlgate:root"]
    assert all(c["bom-ref"] not in deps["mlgate:root"] for c in image["components"])
    options = ScanOptions(root=Path("."), reproducible=True)
    assert render_direct(res, options) == render_with_library(res, options)
