"""``uv.lock``: exact versions, sdist/wheel hashes, sources and the dependency graph.

The project itself and its workspace members (``source = { editable = "." }`` or ``virtual``)
are not dependencies: their dependencies are the direct ones. A package reachable only through a
member's optional dependencies or dev groups is optional.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from mlgate.inventory.interface import ExtractContext, Extractor, ExtractResult, SourceFile
from mlgate.inventory.pypi import (
    PROP_INDEX,
    Declared,
    FastMatch,
    canonical,
    lock_scope,
    parse_hash,
    pypi_component,
)
from mlgate.inventory.pyproject import sibling_direct_names
from mlgate.inventory.tomlindex import TomlIndex, load_toml, lock_packages
from mlgate.model import Hash, Location, Scope


def _deps(value: Any) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(canonical name, extras) of each ``{ name = ..., extra = [...] }`` entry."""
    for dep in value if isinstance(value, list) else ():
        if isinstance(dep, dict) and isinstance(dep.get("name"), str):
            extras = dep.get("extra")
            yield canonical(dep["name"]), tuple(extras) if isinstance(extras, list) else ()


def _grouped(pkg: dict[str, Any], key: str) -> dict[str, Any]:
    value = pkg.get(key)
    return value if isinstance(value, dict) else {}


def _hashes(pkg: dict[str, Any]) -> list[Hash]:
    wheels = pkg.get("wheels")
    artifacts = [pkg.get("sdist"), *(wheels if isinstance(wheels, list) else [])]
    out = []
    for art in artifacts:
        if isinstance(art, dict) and isinstance(art.get("hash"), str):
            h = parse_hash(art["hash"])
            if h is not None:
                out.append(h)
    return out


def _source(source: Any) -> tuple[dict[str, Any], list[tuple[str, str]], bool]:
    """(Declared fields, properties, is a project member) of a package's ``source``."""
    if not isinstance(source, dict):
        return {}, [], False
    if "registry" in source:
        return {}, [(PROP_INDEX, str(source["registry"]))], False
    if "git" in source:
        url = str(source["git"])
        ref = urlsplit(url).fragment or None
        return {"source": "vcs", "url": f"git+{url}", "ref": ref}, [], False
    if "virtual" in source:
        return {}, [], True
    if "editable" in source:
        return {"source": "path", "url": str(source["editable"]), "editable": True}, [], False
    for key in ("path", "directory"):
        if key in source:
            return {"source": "path", "url": str(source[key])}, [], False
    if "url" in source:
        return {"source": "url", "url": str(source["url"])}, [], False
    return {}, [], False


class UvLockExtractor(FastMatch, Extractor):
    """Packages of a ``uv.lock``."""

    name = "uv-lock"
    patterns = ("uv.lock",)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        doc = load_toml(text)
        index = TomlIndex(text)
        result = ExtractResult()
        manifest = doc.get("manifest")
        listed = manifest.get("members") if isinstance(manifest, dict) else None
        members = {canonical(str(m)) for m in (listed if isinstance(listed, list) else [])}

        entries: list[tuple[int, dict[str, Any], int | None]] = []
        by_name: dict[str, list[dict[str, Any]]] = {}
        roots: list[dict[str, Any]] = []
        packages = lock_packages(
            doc, index, "package", file.relpath, result.warnings, versioned=False
        )
        for i, pkg, line in packages:
            source = pkg.get("source")
            is_root = isinstance(source, dict) and (
                "virtual" in source
                or (
                    "editable" in source
                    and (source["editable"] == "." or canonical(pkg["name"]) in members)
                )
            )
            if is_root:
                roots.append(pkg)
                continue
            entries.append((i, pkg, line))
            by_name.setdefault(canonical(pkg["name"]), []).append(pkg)

        # Direct dependencies and what is required (not optional) come from the members.
        direct: frozenset[str] | None
        required: set[str] = set()
        if roots:
            names: set[str] = set()
            start: list[tuple[str, tuple[str, ...]]] = []
            for root in roots:
                start += _deps(root.get("dependencies"))
                names.update(n for n, _ in _deps(root.get("dependencies")))
                for key in ("optional-dependencies", "dev-dependencies"):
                    for group in _grouped(root, key).values():
                        names.update(n for n, _ in _deps(group))
            direct = frozenset(names)
            required = self._reachable(start, by_name)
        else:
            direct = sibling_direct_names(ctx, file)

        for _, pkg, line in entries:
            name = pkg["name"]
            version = pkg.get("version")
            fields, props, _member = _source(pkg.get("source"))
            deps = [n for n, _ in _deps(pkg.get("dependencies"))]
            optional = bool(roots) and canonical(name) not in required
            result.components.append(
                pypi_component(
                    Declared(
                        name=name, version=str(version) if version is not None else None, **fields
                    ),
                    Location(file.relpath, line),
                    scope=lock_scope(name, direct) if direct is not None else Scope.UNKNOWN,
                    optional=optional,
                    hashes=_hashes(pkg),
                    properties=props,
                    depends_on=deps,
                )
            )
        return result

    @staticmethod
    def _reachable(
        start: list[tuple[str, tuple[str, ...]]], by_name: dict[str, list[dict[str, Any]]]
    ) -> set[str]:
        """Names reachable from ``start`` through dependencies (and requested extras)."""
        seen: set[tuple[str, tuple[str, ...]]] = set()
        names: set[str] = set()
        queue = deque(start)
        while queue:
            name, extras = queue.popleft()
            if (name, extras) in seen:
                continue
            seen.add((name, extras))
            names.add(name)
            for pkg in by_name.get(name, ()):
                queue.extend(_deps(pkg.get("dependencies")))
                optional = _grouped(pkg, "optional-dependencies")
                for extra in extras:
                    queue.extend(_deps(optional.get(extra)))
        return names
