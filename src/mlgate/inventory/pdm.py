"""``pdm.lock``: exact versions, file hashes, groups and dependencies.

Packages outside the ``default`` group are optional. Lock files older than format 4 keep
their hashes under ``[metadata.files]`` keyed by ``"name version"``.
"""

from __future__ import annotations

from typing import Any

from mlgate.inventory.interface import ExtractContext, Extractor, ExtractResult, SourceFile
from mlgate.inventory.pypi import (
    PROP_GROUP,
    Declared,
    FastMatch,
    RequirementError,
    canonical,
    hashes_from_entries,
    lock_scope,
    parse_pep508,
    pypi_component,
)
from mlgate.inventory.pyproject import sibling_direct_names
from mlgate.inventory.tomlindex import TomlIndex, load_toml, lock_packages
from mlgate.model import Location


def _source(pkg: dict[str, Any]) -> dict[str, Any]:
    for vcs in ("git", "hg", "svn", "bzr"):
        if isinstance(pkg.get(vcs), str):
            ref = pkg.get("revision") or pkg.get("ref")
            url = f"{vcs}+{pkg[vcs]}" + (f"@{ref}" if ref else "")
            return {"source": "vcs", "url": url, "ref": ref}
    if isinstance(pkg.get("path"), str):
        return {"source": "path", "url": pkg["path"], "editable": bool(pkg.get("editable"))}
    if isinstance(pkg.get("url"), str):
        return {"source": "url", "url": pkg["url"]}
    return {}


def _dep_names(values: Any) -> list[str]:
    names = []
    for value in values if isinstance(values, list) else ():
        if isinstance(value, str):
            try:
                names.append(parse_pep508(value).name)
            except RequirementError:
                continue
    return names


class PdmLockExtractor(FastMatch, Extractor):
    """Packages of a ``pdm.lock``."""

    name = "pdm-lock"
    patterns = ("pdm.lock", "pdm.*.lock")

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        doc = load_toml(text)
        index = TomlIndex(text)
        result = ExtractResult()
        direct = sibling_direct_names(ctx, file)
        metadata = doc.get("metadata")
        meta_files = metadata.get("files") if isinstance(metadata, dict) else None
        legacy: dict[tuple[str, str], Any] = {}
        for key, value in (meta_files if isinstance(meta_files, dict) else {}).items():
            key_name, _, key_version = str(key).partition(" ")
            legacy[(canonical(key_name), key_version)] = value
        packages = lock_packages(
            doc, index, "package", file.relpath, result.warnings, versioned=True
        )
        for _, pkg, line in packages:
            name, version = pkg["name"], pkg["version"]
            groups = pkg.get("groups")
            groups = [str(g) for g in groups] if isinstance(groups, list) else []
            hashes = hashes_from_entries(pkg.get("files")) or hashes_from_entries(
                legacy.get((canonical(name), version))
            )
            result.components.append(
                pypi_component(
                    Declared(name=name, version=version, **_source(pkg)),
                    Location(file.relpath, line),
                    scope=lock_scope(name, direct),
                    optional=bool(groups) and "default" not in groups,
                    hashes=hashes,
                    properties=[(PROP_GROUP, g) for g in groups if g != "default"],
                    depends_on=_dep_names(pkg.get("dependencies")),
                )
            )
        return result
