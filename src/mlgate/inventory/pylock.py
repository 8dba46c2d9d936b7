"""``pylock.toml`` and ``pylock.<name>.toml`` (PEP 751): versions, artifact hashes, index.

A package whose ``marker`` depends on ``extras`` or on a dependency group other than the
``default-groups`` is optional. Scope comes from the ``pyproject.toml`` beside the lock.
"""

from __future__ import annotations

import re
from typing import Any

from mlgate.inventory.interface import ExtractContext, Extractor, ExtractResult, SourceFile
from mlgate.inventory.pypi import (
    PROP_INDEX,
    Declared,
    FastMatch,
    hashes_from_mapping,
    lock_scope,
    pypi_component,
)
from mlgate.inventory.pyproject import sibling_direct_names
from mlgate.inventory.tomlindex import TomlIndex, load_toml, lock_packages
from mlgate.model import Hash, Location

_GROUP_IN_MARKER = re.compile(r"""["']([^"']+)["']\s+in\s+dependency_groups""")


def _hashes(pkg: dict[str, Any]) -> list[Hash]:
    artifacts = [pkg.get("sdist"), pkg.get("archive")]
    wheels = pkg.get("wheels")
    artifacts += wheels if isinstance(wheels, list) else []
    out: list[Hash] = []
    for art in artifacts:
        if isinstance(art, dict) and isinstance(art.get("hashes"), dict):
            out += hashes_from_mapping(art["hashes"])
    return out


def _source(pkg: dict[str, Any]) -> dict[str, Any]:
    vcs = pkg.get("vcs")
    if isinstance(vcs, dict):
        kind = str(vcs.get("type", "git"))
        ref = vcs.get("commit-id") or vcs.get("requested-revision")
        url = str(vcs.get("url") or vcs.get("path") or "")
        return {"source": "vcs", "url": f"{kind}+{url}" + (f"@{ref}" if ref else ""), "ref": ref}
    directory = pkg.get("directory")
    if isinstance(directory, dict):
        path = str(directory.get("path", ""))
        return {"source": "path", "url": path, "editable": bool(directory.get("editable"))}
    archive = pkg.get("archive")
    if isinstance(archive, dict):
        if isinstance(archive.get("url"), str):
            return {"source": "url", "url": archive["url"]}
        return {"source": "path", "url": str(archive.get("path", ""))}
    return {}


def _optional(marker: Any, default_groups: set[str]) -> bool:
    if not isinstance(marker, str):
        return False
    groups = set(_GROUP_IN_MARKER.findall(marker))
    if groups:
        return not (groups & default_groups)
    return "extras" in marker


class PylockExtractor(FastMatch, Extractor):
    """Packages of a PEP 751 lock file."""

    name = "pylock"
    patterns = ("pylock.toml", "pylock.*.toml")

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        doc = load_toml(text)
        index = TomlIndex(text)
        result = ExtractResult()
        direct = sibling_direct_names(ctx, file)
        defaults = doc.get("default-groups")
        default_groups = {str(g) for g in defaults} if isinstance(defaults, list) else set()
        packages = lock_packages(
            doc, index, "packages", file.relpath, result.warnings, versioned=False
        )
        for _, pkg, line in packages:
            name = pkg["name"]
            version = pkg.get("version")
            props = [(PROP_INDEX, pkg["index"])] if isinstance(pkg.get("index"), str) else []
            deps = pkg.get("dependencies")
            dep_names = [
                str(d["name"])
                for d in (deps if isinstance(deps, list) else ())
                if isinstance(d, dict) and isinstance(d.get("name"), str)
            ]
            marker = pkg.get("marker")
            result.components.append(
                pypi_component(
                    Declared(
                        name=name,
                        version=str(version) if version is not None else None,
                        marker=str(marker) if isinstance(marker, str) else None,
                        **_source(pkg),
                    ),
                    Location(file.relpath, line),
                    scope=lock_scope(name, direct),
                    optional=_optional(marker, default_groups),
                    hashes=_hashes(pkg),
                    properties=props,
                    depends_on=dep_names,
                )
            )
        return result
