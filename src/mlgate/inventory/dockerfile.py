"""Base images of Dockerfiles and Containerfiles: every ``FROM`` and external ``--from`` image.

The parser follows the Dockerfile reference closely enough to find images at their exact line:
parser directives (``# escape=``), line continuations (comment and blank lines inside one are
dropped), here-documents (their bodies are not instructions), ``ARG`` defaults substituted into
``$VAR`` / ``${VAR}`` / ``${VAR:-word}`` / ``${VAR:+word}``, build-stage aliases (``FROM base AS
builder`` then ``FROM builder`` names no image), ``scratch``, and images pulled by ``COPY --from``
and ``RUN --mount=...,from=``. Nothing is built or pulled.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from packageurl import PackageURL

from mlgate.inventory.interface import ExtractContext, Extractor, ExtractResult, SourceFile
from mlgate.model import (
    Component,
    ComponentKind,
    Hash,
    Location,
    PackageSource,
    ScanWarning,
    Scope,
)

DEFAULT_REGISTRY = "docker.io"
# Docker Hub answers under several names; they are one registry.
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")
_VAR = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")
_NAME_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_HASH_ALGS = {"sha256": "SHA-256", "sha384": "SHA-384", "sha512": "SHA-512"}


@dataclass(frozen=True)
class Instruction:
    """One logical instruction: keyword (upper case), its arguments, the line it starts on."""

    keyword: str
    args: str
    line: int


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference (``[registry/]path[:tag][@digest]``)."""

    registry: str
    path: str  # repository path inside the registry, "library/" dropped for Docker Hub
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """The name people write: ``python`` for Docker Hub, ``ghcr.io/org/app`` elsewhere."""
        return self.path if self.registry == DEFAULT_REGISTRY else f"{self.registry}/{self.path}"

    @property
    def purl(self) -> str:
        namespace, _, name = self.path.rpartition("/")
        qualifiers = {} if self.registry == DEFAULT_REGISTRY else {"repository_url": self.registry}
        return PackageURL(
            type="docker",
            namespace=namespace or None,
            name=name,
            version=self.digest or self.tag,
            qualifiers=qualifiers,
        ).to_string()


def parse_image(ref: str) -> ImageRef:
    """Split an image reference; raises ValueError when it is not one."""
    rest, digest = ref, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not _DIGEST.match(digest):
            raise ValueError(f"invalid digest {digest!r}")
        digest = digest.lower()
    tag = None
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.match(tag):
            raise ValueError(f"invalid tag {tag!r}")
    first, sep, remainder = rest.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        registry, path = first.lower(), remainder
    else:
        registry, path = DEFAULT_REGISTRY, rest
    if registry in _HUB_ALIASES:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and path.startswith("library/") and path.count("/") == 1:
        path = path.removeprefix("library/")
    if not path or not all(_NAME_PART.match(part) for part in path.split("/")):
        raise ValueError(f"invalid repository name {path!r}")
    return ImageRef(registry=registry, path=path, tag=tag, digest=digest)


def substitute(text: str, env: dict[str, str | None]) -> tuple[str, list[str]]:
    """Expand ``$VAR`` forms with ``env``; returns the text and the names that had no value."""
    missing: list[str] = []

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        op, word = match.group(2), match.group(3) or ""
        value = env.get(name)
        if op in (":-", "-"):
            if value is None or (op == ":-" and value == ""):
                return substitute(word, env)[0]
            return value
        if op in (":+", "+"):
            if value is None or (op == ":+" and value == ""):
                return ""
            return substitute(word, env)[0]
        if value is None:
            missing.append(name)
            return ""
        return value

    # A backslash-escaped dollar stays literal.
    parts = re.split(r"(\\\$)", text)
    out = "".join("$" if part == "\\$" else _VAR.sub(repl, part) for part in parts)
    return out, missing


def instructions(text: str) -> Iterator[Instruction]:
    """Logical instructions of a Dockerfile with the 1-based line each starts on."""
    lines = text.splitlines()
    escape = "\\"
    i = 0
    # Parser directives only count at the very top, before any comment, blank line or instruction.
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i].strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            escape = match.group(2)
        i += 1
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        start = i + 1
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        parts: list[str] = []
        current = raw.rstrip()
        while current.endswith(escape):
            parts.append(current[: -len(escape)])
            # Comment and empty lines inside a continuation are removed by the builder.
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                current = ""
                break
            current = lines[i].rstrip()
            i += 1
        parts.append(current)
        logical = " ".join(p.strip() for p in parts).strip()
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword in {"RUN", "COPY", "ADD"}:
            # Here-document bodies follow the instruction; skip them so their lines never parse.
            for dash, _q, word in _HEREDOC.findall(args):
                while i < len(lines):
                    body = lines[i].lstrip("\t") if dash else lines[i]
                    i += 1
                    if body == word:
                        break
        yield Instruction(keyword=keyword, args=args.strip(), line=start)


def _flags(args: str) -> tuple[dict[str, str], list[str]]:
    """Leading ``--name=value`` flags and the remaining words (repeated flags: last wins,
    except ``--mount`` whose values are joined with a newline)."""
    flags: dict[str, str] = {}
    words = args.split()
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        name = name.lower()
        flags[name] = f"{flags[name]}\n{value}" if name == "mount" and name in flags else value
    return flags, words


def _mount_sources(value: str) -> list[str]:
    sources = []
    for mount in value.split("\n"):
        for item in mount.split(","):
            key, _, val = item.partition("=")
            if key.strip().lower() == "from" and val.strip():
                sources.append(val.strip())
    return sources


class DockerfileExtractor(Extractor):
    """``FROM`` base images and ``--from`` images of Dockerfiles and Containerfiles."""

    name = "dockerfile"
    patterns = (
        "Dockerfile",
        "Dockerfile.*",
        "*.Dockerfile",
        "*.dockerfile",
        "Containerfile",
        "Containerfile.*",
        "*.Containerfile",
    )

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        text = ctx.read_text(file)
        result = ExtractResult()
        global_args: dict[str, str | None] = {}
        stage_args: dict[str, str | None] = {}
        stages: set[str] = set()
        stage_count = 0
        in_stage = False
        for ins in instructions(text):
            if ins.keyword == "ARG":
                target = stage_args if in_stage else global_args
                for word in ins.args.split():
                    key, eq, default = word.partition("=")
                    if eq:
                        value, _ = substitute(default.strip("\"'"), {**global_args, **stage_args})
                        target[key] = value
                    elif in_stage:
                        # ARG without a value in a stage re-imports the global default.
                        target[key] = global_args.get(key)
                    else:
                        target.setdefault(key, None)
            elif ins.keyword == "FROM":
                flags, words = _flags(ins.args)
                stage_args = {}
                in_stage = True
                stage_count += 1
                if not words:
                    result.warnings.append(
                        ScanWarning(file.relpath, "FROM without an image", line=ins.line)
                    )
                    continue
                ref, missing = substitute(words[0], global_args)
                alias = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else None
                platform = flags.get("platform")
                if platform:
                    # Keep automatic build args ($BUILDPLATFORM ...) as written.
                    expanded, unknown = substitute(platform, global_args)
                    platform = platform if unknown else expanded
                self._image(file, ins, ref, missing, platform, stages, result)
                if alias:
                    stages.add(alias)
            elif ins.keyword in {"COPY", "RUN", "ADD"} and in_stage:
                flags, _ = _flags(ins.args)
                froms = [flags["from"]] if ins.keyword == "COPY" and "from" in flags else []
                froms += _mount_sources(flags.get("mount", ""))
                env = {**global_args, **stage_args}
                for raw in froms:
                    ref, missing = substitute(raw, env)
                    if ref.isdigit() and int(ref) < stage_count:
                        continue  # an earlier stage by index
                    self._image(file, ins, ref, missing, None, stages, result, via="copy-from")
        return result

    def _image(
        self,
        file: SourceFile,
        ins: Instruction,
        ref: str,
        missing: list[str],
        platform: str | None,
        stages: set[str],
        result: ExtractResult,
        *,
        via: str = "from",
    ) -> None:
        if ref.lower() in stages or ref.lower() == "scratch":
            return
        if missing:
            result.warnings.append(
                ScanWarning(
                    file.relpath,
                    f"image reference uses ARG {', '.join(sorted(set(missing)))} without a "
                    "default value; the image cannot be known statically",
                    line=ins.line,
                    code="unresolved",
                )
            )
            return
        try:
            image = parse_image(ref)
        except ValueError as exc:
            result.warnings.append(
                ScanWarning(file.relpath, f"not an image reference: {exc}", line=ins.line)
            )
            return
        props = [
            ("docker:registry", image.registry),
            ("docker:pinned-by-digest", "true" if image.digest else "false"),
            ("docker:instruction", via),
        ]
        if image.tag:
            props.append(("docker:tag", image.tag))
        if image.digest:
            props.append(("docker:digest", image.digest))
        if platform:
            props.append(("docker:platform", platform))
        hashes: tuple[Hash, ...] = ()
        if image.digest:
            alg, _, value = image.digest.partition(":")
            if alg in _HASH_ALGS:
                hashes = (Hash(_HASH_ALGS[alg], value.lower()),)
        location = Location(file.relpath, ins.line)
        result.components.append(
            Component(
                ecosystem="",
                name=image.name,
                version=image.digest or image.tag,
                kind=ComponentKind.CONTAINER,
                purl=image.purl,
                scope=Scope.DIRECT,
                declared_in=(location,),
                hashes=hashes,
                properties=tuple(sorted(props)),
            )
        )
        result.sources.append(PackageSource(kind="registry", url=image.registry, location=location))
