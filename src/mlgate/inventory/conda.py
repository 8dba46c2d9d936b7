"""conda ``environment.yml``: conda packages (with channel and build) and the nested ``pip:`` list.

The YAML is composed into nodes (never constructed into Python objects) so every entry keeps its
line. ``name==1.2``, ``name=1.2=build`` and ``name 1.2 build`` are pins. conda reads
``name=1.2`` as ``1.2.*``: it stays unpinned, except with a full ``major.minor.patch`` version
(``numpy=1.26.4``, what ``conda env export --no-builds`` writes), read as that pin. Wildcards,
ranges and bare names are unpinned. ``pip:`` entries go through the requirements-file parser.
"""

from __future__ import annotations

import re
from functools import lru_cache

import yaml
from packageurl import PackageURL

from mlgate.inventory.interface import (
    ExtractContext,
    ExtractError,
    Extractor,
    ExtractResult,
    SourceFile,
)
from mlgate.inventory.pypi import FastMatch, redact_userinfo
from mlgate.inventory.requirements import RequirementsReader
from mlgate.model import Component, Location, PackageSource, ScanWarning, Scope

ECOSYSTEM = "conda"
PROP_CHANNEL = "mlgate:conda-channel"
PROP_BUILD = "mlgate:conda-build"

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAME = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(.*)")
_BRACKET_ITEM = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^,\]]*))""")
_OPERATOR = re.compile(r"[<>!~|,*]")


def parse_matchspec(text: str) -> tuple[str | None, str, str | None, str | None, str | None]:
    """(channel, name, version, spec, build) of a conda MatchSpec string."""
    text = text.strip()
    channel = None
    if "::" in text:
        channel, text = (part.strip() for part in text.split("::", 1))
    m = _NAME.fullmatch(text)
    if not m:
        raise ValueError(f"not a conda package spec: {text!r}")
    name, rest = m.group(1), m.group(2).strip()
    version_text, build = "", None
    if rest.startswith("["):
        for key, dq, sq, bare in _BRACKET_ITEM.findall(rest.strip("[]")):
            value = (dq or sq or bare).strip()
            if key == "version":
                version_text = value
            elif key == "build":
                build = value
            elif key == "channel" and channel is None:
                channel = value
    elif rest.startswith("==") or (rest.startswith("=") and not rest.startswith("=>")):
        exact = rest.startswith("==")
        version_text, _, build_part = rest.lstrip("=").partition("=")
        build = build_part.strip() or None
        version_text = ("==" if exact else "=") + version_text.strip()
    elif rest:
        version_text, _, build_part = rest.partition(" ")
        build = build_part.strip() or None
    if not version_text:
        return channel, name, None, None, build
    bare = version_text.lstrip("=")
    fuzzy = version_text.startswith("=") and not version_text.startswith("==") and not build
    if (
        bare
        and not _OPERATOR.search(bare)
        and not version_text.startswith(("<", ">", "!", "~"))
        and not (fuzzy and bare.count(".") < 2)
    ):
        return channel, name, bare, None, build
    return channel, name, None, version_text, build


@lru_cache(maxsize=65536)
def conda_purl(name: str, version: str | None, channel: str | None, build: str | None) -> str:
    qualifiers = {k: v for k, v in (("build", build), ("channel", channel)) if v}
    return PackageURL(
        type="conda", name=name.lower(), version=version, qualifiers=qualifiers or None
    ).to_string()


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


class CondaEnvironmentExtractor(FastMatch, Extractor):
    """conda environment files."""

    name = "conda"
    patterns = ("environment*.yml", "environment*.yaml")

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        try:
            root = yaml.compose(text, Loader=_LOADER)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            raise ExtractError(f"invalid YAML: {exc.problem or exc}", line=line) from None
        except yaml.YAMLError as exc:
            raise ExtractError(f"invalid YAML: {exc}") from None
        result = ExtractResult()
        if root is None:
            return result
        if not isinstance(root, yaml.MappingNode):
            raise ExtractError("not a conda environment: the top level is not a mapping", line=1)
        fields = {k.value: v for k, v in root.value if isinstance(k, yaml.ScalarNode)}
        channels = fields.get("channels")
        if isinstance(channels, yaml.SequenceNode):
            for node in channels.value:
                if isinstance(node, yaml.ScalarNode) and node.value:
                    loc = Location(file.relpath, _line(node))
                    result.sources.append(
                        PackageSource("conda-channel", redact_userinfo(str(node.value)), loc)
                    )
        deps = fields.get("dependencies")
        if deps is None:
            return result
        if not isinstance(deps, yaml.SequenceNode):
            raise ExtractError("dependencies is not a list", line=_line(deps))
        for node in deps.value:
            if isinstance(node, yaml.ScalarNode):
                self._conda(file, node, result)
            elif isinstance(node, yaml.MappingNode):
                self._nested(file, ctx, node, result)
            else:
                result.warnings.append(
                    ScanWarning(file.relpath, "unexpected dependency entry", line=_line(node))
                )
        return result

    @staticmethod
    def _conda(file: SourceFile, node: yaml.ScalarNode, result: ExtractResult) -> None:
        line = _line(node)
        try:
            channel, name, version, spec, build = parse_matchspec(str(node.value))
        except ValueError as exc:
            result.warnings.append(ScanWarning(file.relpath, str(exc), line=line))
            return
        props = [(PROP_CHANNEL, channel)] if channel else []
        if build:
            props.append((PROP_BUILD, build))
        result.components.append(
            Component(
                ecosystem=ECOSYSTEM,
                name=name.lower(),
                version=version,
                purl=conda_purl(name, version, channel, build),
                scope=Scope.DIRECT,
                spec=spec,
                declared_in=(Location(file.relpath, line),),
                properties=tuple(sorted(props)),
            )
        )

    @staticmethod
    def _nested(
        file: SourceFile, ctx: ExtractContext, node: yaml.MappingNode, result: ExtractResult
    ) -> None:
        for key, value in node.value:
            if not (isinstance(key, yaml.ScalarNode) and key.value == "pip"):
                result.warnings.append(
                    ScanWarning(file.relpath, "unexpected mapping in dependencies", line=_line(key))
                )
                continue
            if not isinstance(value, yaml.SequenceNode):
                result.warnings.append(
                    ScanWarning(file.relpath, "pip: is not a list", line=_line(value))
                )
                continue
            lines = [
                (_line(item), str(item.value).strip(), "")
                for item in value.value
                if isinstance(item, yaml.ScalarNode)
            ]
            RequirementsReader(ctx, result).read_lines(file.relpath, lines)
