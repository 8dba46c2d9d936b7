"""Pipenv: ``Pipfile`` (declared) and ``Pipfile.lock`` (exact versions and hashes).

``develop`` packages are optional. The ``Pipfile`` beside a lock names the direct dependencies;
``index`` names resolve through ``_meta.sources``, which are recorded as package sources.
"""

from __future__ import annotations

import json
import re
from typing import Any

from mlgate.inventory.interface import (
    ExtractContext,
    ExtractError,
    Extractor,
    ExtractResult,
    SourceFile,
)
from mlgate.inventory.pypi import (
    PROP_GROUP,
    PROP_INDEX,
    Declared,
    FastMatch,
    lock_scope,
    parse_hash,
    parse_spec,
    pypi_component,
    redact_userinfo,
)
from mlgate.inventory.pyproject import sibling_direct_names
from mlgate.inventory.tomlindex import TomlIndex, load_toml
from mlgate.model import Hash, Location, PackageSource, ScanWarning, Scope

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')
_SECTIONS = {"default": False, "develop": True}
_VCS = ("git", "hg", "svn", "bzr")


def json_key_lines(text: str, max_depth: int = 2) -> dict[tuple[str, ...], int]:
    """1-based line of every object key nested at most ``max_depth`` deep, by its key path.

    One regex pass over the text (the json module gives no positions); keys inside arrays are
    not recorded.
    """
    out: dict[tuple[str, ...], int] = {}
    stack: list[str | None] = []  # the key of each open container; None for arrays
    line, last = 1, 0
    pending: str | None = None
    prev: tuple[str, int] | None = None
    for m in _JSON_TOKEN.finditer(text):
        tok = m.group()
        if tok[0] == '"':
            prev = (tok, m.start())
            continue
        if tok == ":" and prev is not None:
            raw, pos = prev
            line += text.count("\n", last, pos)
            last = pos
            try:
                pending = json.loads(raw)
            except ValueError:
                pending = raw[1:-1]
            keys = stack[1:]
            if stack and stack[0] == "" and len(keys) < max_depth and None not in keys:
                out.setdefault((*(k for k in keys if k is not None), str(pending)), line)
        elif tok == "{":
            stack.append("" if not stack else pending)
            pending = None
        elif tok == "[":
            stack.append(None)
            pending = None
        elif tok in "}]":
            if stack:
                stack.pop()
            pending = None
        else:
            pending = None
        prev = None
    return out


# a key at the start of a line (keys with escapes do not match: the tokenizer handles those)
_LINE_KEY = re.compile(r'\n([ \t]*)"([^"\\\n]*)"[ \t]*:')


def _pretty_key_lines(text: str, doc: dict[str, Any]) -> dict[tuple[str, ...], int] | None:
    """Lines of the section and package keys of a pretty-printed lock, from indentation alone.

    Pipenv writes one key per line, so this is a fast path; the packages found must be exactly
    the parsed ones, in order, or None is returned and the full tokenizer decides.
    """
    entries: list[tuple[int, str, int]] = []
    line, last = 1, 0
    for m in _LINE_KEY.finditer(text):
        line += text.count("\n", last, m.start())
        last = m.start()
        entries.append((len(m.group(1)), m.group(2), line + 1))
    if not entries:
        return None
    top = min(indent for indent, _, _ in entries)
    out: dict[tuple[str, ...], int] = {}
    for i, (indent, key, line) in enumerate(entries):
        if indent != top:
            continue
        out[(key,)] = line
        section = doc.get(key)
        if key not in _SECTIONS or not isinstance(section, dict) or not section:
            continue
        inner = entries[
            i + 1 : next(
                (j for j in range(i + 1, len(entries)) if entries[j][0] == top), len(entries)
            )
        ]
        if not inner:
            return None
        level = inner[0][0]
        found = [(k, ln) for ind, k, ln in inner if ind == level]
        if [k for k, _ in found] != list(section):
            return None
        out.update(((key, k), ln) for k, ln in found)
    return out


def _entry_hashes(values: Any) -> list[Hash]:
    out = []
    for value in values if isinstance(values, list) else ():
        h = parse_hash(value) if isinstance(value, str) else None
        if h is not None:
            out.append(h)
    return out


def _declared(name: str, entry: Any) -> Declared:
    """A Pipfile/Pipfile.lock entry: ``"==1.0"``, ``"*"`` or a table with version/git/path."""
    if isinstance(entry, str):
        version, spec = parse_spec(entry)
        return Declared(name=name, version=version, spec=spec)
    if not isinstance(entry, dict):
        return Declared(name=name)
    extras = entry.get("extras")
    common: dict[str, Any] = {
        "name": name,
        "extras": tuple(sorted(str(e) for e in extras)) if isinstance(extras, list) else (),
        "marker": str(entry["markers"]) if isinstance(entry.get("markers"), str) else None,
        "editable": bool(entry.get("editable")),
    }
    for vcs in _VCS:
        if isinstance(entry.get(vcs), str):
            ref = entry.get("ref")
            url = entry[vcs] if "+" in entry[vcs].split(":", 1)[0] else f"{vcs}+{entry[vcs]}"
            url += f"@{ref}" if ref else ""
            return Declared(**common, source="vcs", url=url, ref=str(ref) if ref else None)
    if isinstance(entry.get("path"), str):
        return Declared(**common, source="path", url=entry["path"])
    if isinstance(entry.get("file"), str):
        return Declared(**common, source="url", url=entry["file"])
    version, spec = parse_spec(str(entry.get("version", "")))
    return Declared(**common, version=version, spec=spec)


class PipfileLockExtractor(FastMatch, Extractor):
    """Packages of a ``Pipfile.lock``."""

    name = "pipfile-lock"
    patterns = ("Pipfile.lock",)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ExtractError(f"invalid JSON: {exc.msg}", line=exc.lineno) from None
        if not isinstance(doc, dict):
            raise ExtractError("not a Pipfile.lock: the top level is not an object", line=1)
        lines = _pretty_key_lines(text, doc) or json_key_lines(text)
        result = ExtractResult()
        meta = doc.get("_meta")
        sources = meta.get("sources") if isinstance(meta, dict) else None
        indexes: dict[str, str] = {}
        if not isinstance(sources, list):
            sources = []
        for n, source in enumerate(sources):
            if isinstance(source, dict) and isinstance(source.get("url"), str):
                url = source["url"]
                indexes[str(source.get("name"))] = url
                pos = text.find(json.dumps(url))
                line = text.count("\n", 0, pos) + 1 if pos >= 0 else lines.get(("_meta", "sources"))
                kind = "index-url" if n == 0 else "extra-index-url"
                result.sources.append(
                    PackageSource(kind, redact_userinfo(url), Location(file.relpath, line))
                )
        direct = sibling_direct_names(ctx, file, "Pipfile")
        for section, optional in _SECTIONS.items():
            packages = doc.get(section)
            if not isinstance(packages, dict):
                continue
            for name, entry in packages.items():
                line = lines.get((section, name))
                if not isinstance(entry, dict):
                    result.warnings.append(
                        ScanWarning(file.relpath, f"{section}.{name}: not an object", line=line)
                    )
                    continue
                props: list[tuple[str, str]] = [(PROP_GROUP, section)] if optional else []
                index = entry.get("index")
                if isinstance(index, str):
                    props.append((PROP_INDEX, indexes.get(index, index)))
                result.components.append(
                    pypi_component(
                        _declared(name, entry),
                        Location(file.relpath, line),
                        scope=lock_scope(name, direct),
                        optional=optional,
                        hashes=_entry_hashes(entry.get("hashes")),
                        properties=props,
                    )
                )
        return result


class PipfileExtractor(FastMatch, Extractor):
    """Declared packages of a ``Pipfile`` (``[packages]``, ``[dev-packages]``, ``[[source]]``)."""

    name = "pipfile"
    patterns = ("Pipfile",)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        doc = load_toml(text)
        index = TomlIndex(text)
        result = ExtractResult()
        sources = doc.get("source")
        for i, source in enumerate(sources if isinstance(sources, list) else ()):
            if isinstance(source, dict) and isinstance(source.get("url"), str):
                line = index.key_line(("source",), "url", occurrence=i)
                kind = "index-url" if i == 0 else "extra-index-url"
                result.sources.append(
                    PackageSource(
                        kind, redact_userinfo(source["url"]), Location(file.relpath, line)
                    )
                )
        for section in ("packages", "dev-packages"):
            table = doc.get(section)
            if not isinstance(table, dict):
                continue
            optional = section == "dev-packages"
            for name, entry in table.items():
                line = index.key_line((section,), name)
                props = [(PROP_GROUP, "develop")] if optional else []
                if isinstance(entry, dict) and isinstance(entry.get("index"), str):
                    props.append((PROP_INDEX, entry["index"]))
                result.components.append(
                    pypi_component(
                        _declared(name, entry),
                        Location(file.relpath, line),
                        scope=Scope.DIRECT,
                        optional=optional,
                        properties=props,
                    )
                )
        return result
