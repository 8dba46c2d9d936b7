"""``pyproject.toml``: PEP 621, PEP 735 dependency groups, Poetry, uv and PDM tables.

Everything declared here is a direct dependency. Extras, dependency groups and Poetry/PDM/uv dev
groups are optional (dropped by ``--no-dev``). Package indexes named in ``tool.uv.index``,
``tool.poetry.source`` and ``tool.pdm.source`` are recorded for the policy stage.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlgate.inventory.interface import (
    ExtractContext,
    ExtractError,
    Extractor,
    ExtractResult,
    SourceFile,
    read_text_bounded,
)
from mlgate.inventory.pypi import (
    PROP_GROUP,
    PROP_INDEX,
    Declared,
    FastMatch,
    RequirementError,
    canonical,
    parse_pep508,
    poetry_constraint,
    pypi_component,
    redact_userinfo,
)
from mlgate.inventory.tomlindex import TomlIndex, TomlPath, load_toml
from mlgate.model import Location, PackageSource, ScanWarning, Scope

_POETRY_VCS = ("git", "hg", "svn", "bzr")


def _table(doc: Mapping[str, Any], *path: str) -> dict[str, Any]:
    node: Any = doc
    for key in path:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, dict) else {}


class _Reader:
    """Turns one parsed pyproject into components, with the line of every declaration."""

    def __init__(self, relpath: str, doc: dict[str, Any], index: TomlIndex) -> None:
        self.relpath = relpath
        self.doc = doc
        self.index = index
        self.result = ExtractResult()
        self.uv_sources = self._uv_sources()

    def _uv_sources(self) -> dict[str, dict[str, Any]]:
        """``tool.uv.sources``: packages that uv takes from git, a path or a URL, not an index."""
        out: dict[str, dict[str, Any]] = {}
        for name, value in _table(self.doc, "tool", "uv", "sources").items():
            first = value[0] if isinstance(value, list) and value else value
            if not isinstance(first, dict):
                continue
            if isinstance(first.get("git"), str):
                ref = first.get("rev") or first.get("tag") or first.get("branch")
                url = f"git+{first['git']}" + (f"@{ref}" if ref else "")
                out[canonical(name)] = {"source": "vcs", "url": url, "ref": ref}
            elif isinstance(first.get("path"), str):
                editable = bool(first.get("editable"))
                out[canonical(name)] = {
                    "source": "path",
                    "url": first["path"],
                    "editable": editable,
                }
            elif isinstance(first.get("url"), str):
                out[canonical(name)] = {"source": "url", "url": first["url"]}
            elif first.get("workspace") is True:
                out[canonical(name)] = {"source": "path", "url": "workspace"}
        return out

    def warn(self, line: int | None, message: str) -> None:
        self.result.warnings.append(ScanWarning(self.relpath, message, line=line))

    def loc(self, line: int | None) -> Location:
        return Location(self.relpath, line)

    # PEP 508 string arrays ------------------------------------------------------------------
    def pep508_list(
        self,
        table: TomlPath,
        key: str,
        values: Any,
        *,
        optional: bool,
        group: str | None,
        warn: bool = True,
    ) -> None:
        if not isinstance(values, list):
            self.warn(self.index.key_line(table, key), f"{'.'.join((*table, key))}: not a list")
            return
        strings = [v for v in values if isinstance(v, str)]
        lines = self.index.string_lines(table, key, strings)
        props = ((PROP_GROUP, group),) if group else ()
        for text, line in zip(strings, lines, strict=True):
            try:
                decl = parse_pep508(text)
            except RequirementError as exc:
                if warn:
                    self.warn(line, f"not a valid requirement {text!r}: {exc}")
                continue
            override = self.uv_sources.get(canonical(decl.name)) if not decl.source else None
            if override:
                decl = replace(decl, **override)
            self.result.components.append(
                pypi_component(
                    decl, self.loc(line), scope=Scope.DIRECT, optional=optional, properties=props
                )
            )

    def pep621(self) -> None:
        project = _table(self.doc, "project")
        if "dependencies" in project:
            self.pep508_list(
                ("project",), "dependencies", project["dependencies"], optional=False, group=None
            )
        for extra, values in _table(project, "optional-dependencies").items():
            self.pep508_list(
                ("project", "optional-dependencies"), extra, values, optional=True, group=extra
            )

    def dependency_groups(self) -> None:
        """PEP 735 groups; ``{include-group = "x"}`` adds x's requirements to the group."""
        groups = _table(self.doc, "dependency-groups")
        table = ("dependency-groups",)
        for group, values in groups.items():
            self.pep508_list(table, group, values, optional=True, group=group)
        # An included group's requirements also belong to the including group: the same
        # declaration (same line) with one more group name, merged later by component key.
        for group in groups:
            for included in self._included_groups(groups, group, [group]):
                values = groups[included]
                self.pep508_list(table, included, values, optional=True, group=group, warn=False)

    def _included_groups(
        self, groups: dict[str, Any], group: str, chain: list[str]
    ) -> Iterator[str]:
        values = groups.get(group)
        if not isinstance(values, list):
            return
        for item in values:
            if not isinstance(item, dict) or "include-group" not in item:
                continue
            target = item["include-group"]
            line = self.index.key_line(("dependency-groups",), group)
            names = {canonical(g): g for g in groups}
            real = names.get(canonical(str(target)))
            if real is None:
                self.warn(line, f"dependency group {group!r} includes unknown group {target!r}")
                continue
            if real in chain:
                cycle = " -> ".join([*chain, real])
                self.warn(line, f"dependency-group include cycle: {cycle}")
                continue
            yield real
            yield from self._included_groups(groups, real, [*chain, real])

    # Poetry -------------------------------------------------------------------------------------
    def poetry(self) -> None:
        poetry = _table(self.doc, "tool", "poetry")
        if not poetry:
            return
        # Poetry 2 reads [project] first; its tool.poetry.dependencies entries for the same
        # packages only add details (source, develop), so they are not second declarations.
        skip = {canonical(n) for n in _names(_table(self.doc, "project").get("dependencies"))}
        self.poetry_table(("tool", "poetry", "dependencies"), optional=False, group=None, skip=skip)
        self.poetry_table(("tool", "poetry", "dev-dependencies"), optional=True, group="dev")
        for group in _table(poetry, "group"):
            self.poetry_table(
                ("tool", "poetry", "group", group, "dependencies"),
                optional=group != "main",
                group=group,
            )
        for line, source in self._array("tool", "poetry", "source"):
            url = source.get("url")
            if isinstance(url, str):
                primary = source.get("priority") in ("primary", "default") or source.get("default")
                kind = "index-url" if primary else "extra-index-url"
                self.result.sources.append(
                    PackageSource(kind, redact_userinfo(url), self.loc(line))
                )

    def poetry_table(
        self,
        table: TomlPath,
        *,
        optional: bool,
        group: str | None,
        skip: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        deps = _table(self.doc, *table)
        for name, value in deps.items():
            if canonical(name) == "python" or canonical(name) in skip:
                continue  # "python" is the interpreter constraint, not a package
            line = self.index.key_line(table, name)
            for item in value if isinstance(value, list) else [value]:
                self.poetry_dep(name, item, line, optional=optional, group=group)

    def poetry_dep(
        self, name: str, value: Any, line: int | None, *, optional: bool, group: str | None
    ) -> None:
        props: list[tuple[str, str]] = [(PROP_GROUP, group)] if group else []
        if isinstance(value, str):
            version, spec = poetry_constraint(value)
            decl = Declared(name=name, version=version, spec=spec)
        elif isinstance(value, dict):
            extras = value.get("extras") or ()
            marker = value.get("markers")
            common: dict[str, Any] = {
                "name": name,
                "extras": tuple(sorted(str(e) for e in extras)),
                "marker": str(marker) if marker else None,
            }
            vcs = next((k for k in _POETRY_VCS if k in value), None)
            if vcs:
                ref = value.get("rev") or value.get("tag") or value.get("branch")
                url = str(value[vcs])
                if "+" not in url.split(":", 1)[0]:
                    url = f"{vcs}+{url}"
                if ref:
                    url = f"{url}@{ref}"
                decl = Declared(**common, source="vcs", url=url, ref=str(ref) if ref else None)
            elif "path" in value:
                path = str(value["path"])
                editable = bool(value.get("develop"))
                decl = Declared(**common, source="path", url=path, editable=editable)
            elif "url" in value:
                decl = Declared(**common, source="url", url=str(value["url"]))
            else:
                version, spec = poetry_constraint(str(value.get("version", "")))
                decl = Declared(**common, version=version, spec=spec)
            if value.get("optional") is True:
                optional = True  # only installed with an extra
            if isinstance(value.get("source"), str):
                props.append((PROP_INDEX, value["source"]))
            if isinstance(value.get("python"), str):
                props.append(("mlgate:python", value["python"]))
        else:
            self.warn(line, f"poetry dependency {name!r}: unsupported value")
            return
        self.result.components.append(
            pypi_component(
                decl, self.loc(line), scope=Scope.DIRECT, optional=optional, properties=props
            )
        )

    # uv and PDM -------------------------------------------------------------------------------
    def uv(self) -> None:
        uv = _table(self.doc, "tool", "uv")
        if "dev-dependencies" in uv:
            self.pep508_list(
                ("tool", "uv"),
                "dev-dependencies",
                uv["dev-dependencies"],
                optional=True,
                group="dev",
            )
        for line, index in self._array("tool", "uv", "index"):
            url = index.get("url")
            if isinstance(url, str):
                kind = "index-url" if index.get("default") else "extra-index-url"
                self.result.sources.append(
                    PackageSource(kind, redact_userinfo(url), self.loc(line))
                )
        for key, kind in (("index-url", "index-url"), ("extra-index-url", "extra-index-url")):
            self._url_setting(("tool", "uv"), key, kind)
        self._url_setting(("tool", "uv"), "find-links", "find-links")

    def pdm(self) -> None:
        pdm = _table(self.doc, "tool", "pdm")
        for group, values in _table(pdm, "dev-dependencies").items():
            self.pep508_list(
                ("tool", "pdm", "dev-dependencies"), group, values, optional=True, group=group
            )
        for line, source in self._array("tool", "pdm", "source"):
            url = source.get("url")
            if isinstance(url, str):
                kind = "find-links" if source.get("type") == "find_links" else "extra-index-url"
                if source.get("name") == "pypi":
                    kind = "index-url"
                self.result.sources.append(
                    PackageSource(kind, redact_userinfo(url), self.loc(line))
                )

    def _url_setting(self, table: TomlPath, key: str, kind: str) -> None:
        value = _table(self.doc, *table).get(key)
        values = [value] if isinstance(value, str) else value if isinstance(value, list) else []
        strings = [v for v in values if isinstance(v, str)]
        for url, line in zip(strings, self.index.string_lines(table, key, strings), strict=True):
            self.result.sources.append(PackageSource(kind, redact_userinfo(url), self.loc(line)))

    def _array(self, *path: str) -> Iterator[tuple[int | None, dict[str, Any]]]:
        """Entries of an array of tables with the line of each entry's ``url``."""
        parent = _table(self.doc, *path[:-1])
        entries = parent.get(path[-1])
        if not isinstance(entries, list):
            return
        headers = self.index.tables(path)
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            line = self.index.key_line(path, "url", occurrence=i) if i < len(headers) else None
            yield line or self.index.key_line(path[:-1], path[-1]), entry


def _names(values: Any) -> Iterator[str]:
    for v in values if isinstance(values, list) else ():
        if isinstance(v, str):
            try:
                yield parse_pep508(v).name
            except RequirementError:
                continue


def read_pyproject(relpath: str, text: str) -> ExtractResult:
    doc = load_toml(text)
    reader = _Reader(relpath, doc, TomlIndex(text))
    reader.pep621()
    reader.dependency_groups()
    reader.poetry()
    reader.uv()
    reader.pdm()
    reader.result.warnings = list(dict.fromkeys(reader.result.warnings))
    return reader.result


def direct_names_of(doc: Mapping[str, Any]) -> frozenset[str]:
    """Canonical names of every package a pyproject declares (main, extras, groups, dev)."""
    names: set[str] = set()

    def pep508(values: Any) -> None:
        names.update(canonical(n) for n in _names(values))

    project = _table(doc, "project")
    pep508(project.get("dependencies"))
    for values in _table(project, "optional-dependencies").values():
        pep508(values)
    for values in _table(doc, "dependency-groups").values():
        pep508(values)
    pep508(_table(doc, "tool", "uv").get("dev-dependencies"))
    for values in _table(doc, "tool", "pdm", "dev-dependencies").values():
        pep508(values)
    poetry = _table(doc, "tool", "poetry")
    tables = [_table(poetry, "dependencies"), _table(poetry, "dev-dependencies")]
    tables += [_table(g, "dependencies") for g in _table(poetry, "group").values()]
    for table in tables:
        names.update(canonical(n) for n in table)
    names.discard("python")
    return frozenset(names)


def pipfile_direct_names(doc: Mapping[str, Any]) -> frozenset[str]:
    """Canonical names of a Pipfile's ``[packages]`` and ``[dev-packages]``."""
    names: set[str] = set()
    for section in ("packages", "dev-packages"):
        names.update(canonical(n) for n in _table(doc, section))
    return frozenset(names)


@lru_cache(maxsize=256)
def _direct_names_cached(path: str, mtime_ns: int, size: int, max_bytes: int) -> frozenset[str]:
    name = os.path.basename(path)
    doc = load_toml(read_text_bounded(Path(path), name, max_bytes))
    return pipfile_direct_names(doc) if name == "Pipfile" else direct_names_of(doc)


def sibling_direct_names(
    ctx: ExtractContext, file: SourceFile, project_file: str = "pyproject.toml"
) -> frozenset[str] | None:
    """Direct dependency names from the project file beside a lockfile; None when absent
    or unreadable (the lockfile's packages then have an unknown scope)."""
    rel = f"{file.parent}/{project_file}" if file.parent else project_file
    path = ctx.root / rel
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    if not os.path.isfile(path) or os.path.islink(path):
        return None
    try:
        return _direct_names_cached(str(path), st.st_mtime_ns, st.st_size, ctx.max_bytes)
    except (ExtractError, OSError):
        return None  # the project file's own extractor reports why


class PyprojectExtractor(FastMatch, Extractor):
    """PEP 621 / PEP 735 / Poetry / uv / PDM declarations in ``pyproject.toml``."""

    name = "pyproject"
    patterns = ("pyproject.toml",)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        return read_pyproject(file.relpath, ctx.read_text(file))
