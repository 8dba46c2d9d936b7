"""``poetry.lock``: exact versions, file hashes, groups and the dependency graph.

Handles lock format 1.x (``category = "dev"``, hashes under ``[metadata.files]``) and 2.x
(``files`` per package, ``groups``). Scope comes from the ``pyproject.toml`` beside the lock.
"""

from __future__ import annotations

from typing import Any

from mlgate.inventory.interface import ExtractContext, Extractor, ExtractResult, SourceFile
from mlgate.inventory.pypi import (
    PROP_GROUP,
    PROP_INDEX,
    Declared,
    FastMatch,
    canonical,
    hashes_from_entries,
    lock_scope,
    pypi_component,
)
from mlgate.inventory.pyproject import sibling_direct_names
from mlgate.inventory.tomlindex import TomlIndex, load_toml, lock_packages
from mlgate.model import Location


def _source(version: str, source: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Declared fields and properties for a package's ``[package.source]``."""
    if not isinstance(source, dict):
        return {"version": version}, []
    kind, url = source.get("type"), str(source.get("url", ""))
    if kind == "legacy":
        return {"version": version}, [(PROP_INDEX, url)]
    if kind in ("git", "hg", "svn", "bzr"):
        ref = source.get("resolved_reference") or source.get("reference")
        full = f"{kind}+{url}@{ref}" if ref else f"{kind}+{url}"
        return {"version": version, "source": "vcs", "url": full, "ref": ref}, []
    if kind in ("directory", "file"):
        return {"version": version, "source": "path", "url": url}, []
    if kind == "url":
        return {"version": version, "source": "url", "url": url}, []
    return {"version": version}, []


class PoetryLockExtractor(FastMatch, Extractor):
    """Packages of a ``poetry.lock``."""

    name = "poetry-lock"
    patterns = ("poetry.lock",)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        doc = load_toml(text)
        index = TomlIndex(text)
        result = ExtractResult()
        direct = sibling_direct_names(ctx, file)
        metadata = doc.get("metadata")
        meta_files = metadata.get("files") if isinstance(metadata, dict) else None
        if not isinstance(meta_files, dict):
            meta_files = {}
        legacy = {canonical(k): v for k, v in meta_files.items()}
        packages = lock_packages(
            doc, index, "package", file.relpath, result.warnings, versioned=True
        )
        for _, pkg, line in packages:
            name, version = pkg["name"], pkg["version"]
            groups = pkg.get("groups")
            groups = [str(g) for g in groups] if isinstance(groups, list) else []
            optional = (
                (bool(groups) and "main" not in groups)
                or pkg.get("category") == "dev"
                or pkg.get("optional") is True
            )
            fields, props = _source(version, pkg.get("source"))
            props += [(PROP_GROUP, g) for g in groups if g != "main"]
            if pkg.get("category") == "dev":
                props.append((PROP_GROUP, "dev"))
            hashes = hashes_from_entries(pkg.get("files")) or hashes_from_entries(
                legacy.get(canonical(name))
            )
            deps = pkg.get("dependencies")
            result.components.append(
                pypi_component(
                    Declared(name=name, **fields),
                    Location(file.relpath, line),
                    scope=lock_scope(name, direct),
                    optional=optional,
                    hashes=hashes,
                    properties=props,
                    depends_on=deps.keys() if isinstance(deps, dict) else (),
                )
            )
        return result
