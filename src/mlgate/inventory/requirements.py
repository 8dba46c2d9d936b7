"""pip requirements and constraints files (``requirements*.txt``, ``*.in``, ``constraints*.txt``).

Follows pip's own reading of the format: ``\\`` continuations join lines (the requirement keeps the
line number of its first physical line), ``#`` starts a comment only at the start of a line or
after whitespace (so ``#egg=`` fragments survive), options are split from the requirement at the
first token starting with ``-``. ``-r``/``-c`` includes are resolved relative to the including
file and never leave the scanned root. The components of an included file carry that file's own
path and lines, exactly as when the walk reaches the file itself, so both readings merge.
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlgate.inventory.interface import (
    ExtractContext,
    ExtractError,
    Extractor,
    ExtractResult,
    SourceFile,
    read_text_bounded,
)
from mlgate.inventory.pypi import (
    PROP_CONSTRAINT,
    Declared,
    FastMatch,
    RequirementError,
    classify_url,
    name_from_url,
    parse_hash,
    parse_pep508,
    pypi_component,
    redact_userinfo,
)
from mlgate.model import Hash, Location, PackageSource, ScanWarning, Scope

MAX_INCLUDE_DEPTH = 32

_COMMENT = re.compile(r"(^|\s+)#.*$")
_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|(?:git|hg|svn|bzr)\+", re.IGNORECASE)
_NAMED_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*@")
_ARCHIVE = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar")
# pip-compile (and uv pip compile) annotation naming a top-level input: "-r requirements.in",
# "my-project (pyproject.toml)"
_DIRECT_VIA = re.compile(r"-[rc]\s|.*\(.+\)$")

# Options that take a value; both the short and the long spelling.
_SOURCE_OPTS = {
    "-i": "index-url",
    "--index-url": "index-url",
    "--extra-index-url": "extra-index-url",
    "-f": "find-links",
    "--find-links": "find-links",
    "--trusted-host": "trusted-host",
}
_INCLUDE_OPTS = {"-r": False, "--requirement": False, "-c": True, "--constraint": True}
_OTHER_VALUE_OPTS = {
    "--use-feature",
    "--only-binary",
    "--no-binary",
    "--config-settings",
    "--global-option",
    "--install-option",
    "--progress-bar",
    "--platform",
    "--python-version",
    "--implementation",
    "--abi",
}
_FLAG_OPTS = {"--no-index", "--pre", "--prefer-binary", "--require-hashes", "--no-deps"}


def _split(text: str) -> list[str]:
    """shlex.split, skipped for the common unquoted line (it is slow)."""
    if '"' in text or "'" in text or "\\" in text:
        return shlex.split(text)
    return text.split()


def logical_lines(text: str) -> Iterator[tuple[int, str, str]]:
    """(first physical line, content without comment, comment) per logical line, like pip."""
    pending: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        is_comment = _COMMENT.match(raw) is not None
        if raw.endswith("\\") and not is_comment:
            if not pending:
                first = number
            pending.append(raw[:-1])
            continue
        if pending:
            pending.append(raw)
            raw, number = "".join(pending), first
            pending = []
        m = _COMMENT.search(raw)
        if m:
            yield number, raw[: m.start()].strip(), m.group(0).strip()[1:].strip()
        else:
            yield number, raw.strip(), ""
    if pending:
        yield first, "".join(pending).strip(), ""


def _break_args_options(line: str) -> tuple[str, str]:
    """pip's split of a requirement line: arguments up to the first token starting with '-'."""
    tokens = line.split(" ")
    for i, token in enumerate(tokens):
        if token.startswith("-"):
            return " ".join(tokens[:i]), " ".join(tokens[i:])
    return line, ""


def _option_pairs(tokens: list[str]) -> Iterator[tuple[str, str | None]]:
    """(option, value) pairs of ``--opt=v``, ``--opt v``, ``-rfile`` and ``-r file`` forms."""
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        i += 1
        if tok.startswith("--"):
            name, eq, value = tok.partition("=")
            if eq:
                yield name, value
            elif name in _FLAG_OPTS:
                yield name, None
            elif i < len(tokens):
                yield name, tokens[i]
                i += 1
            else:
                yield name, None
        elif tok.startswith("-") and len(tok) > 1:
            name, attached = tok[:2], tok[2:].lstrip("=")
            if attached:
                yield name, attached
            elif i < len(tokens):
                yield name, tokens[i]
                i += 1
            else:
                yield name, None
        else:
            yield "", tok  # a stray argument


@dataclass
class _Entry:
    decl: Declared
    location: Location
    hashes: list[Hash] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


class RequirementsReader:
    """Reads requirement lines (from files, or a conda ``pip:`` list) into one ExtractResult."""

    def __init__(self, ctx: ExtractContext, result: ExtractResult) -> None:
        self.ctx = ctx
        self.result = result
        self.root_real = os.path.realpath(ctx.root)
        self._done: set[tuple[str, bool]] = set()
        self._stack: list[str] = []

    def warn(self, path: str, line: int | None, message: str, code: str = "input") -> None:
        self.result.warnings.append(ScanWarning(path, message, line=line, code=code))

    # files -------------------------------------------------------------------------------
    def read_file(self, relpath: str, text: str, *, constraint: bool) -> None:
        self._done.add((relpath, constraint))
        self._stack.append(relpath)
        try:
            self.read_lines(relpath, logical_lines(text), constraint=constraint)
        finally:
            self._stack.pop()

    def read_lines(
        self,
        relpath: str,
        lines: Iterable[tuple[int, str, str]],
        *,
        constraint: bool = False,
    ) -> None:
        """Parse logical lines of ``relpath``; includes are relative to its folder."""
        entries: list[_Entry] = []
        in_via = False
        annotated = False
        for number, content, comment in lines:
            if not content:
                if entries and comment:
                    in_via = self._via(entries[-1], comment, in_via)
                    annotated = annotated or bool(entries[-1].via)
                else:
                    in_via = False
                continue
            in_via = False
            try:
                entry = self._line(relpath, number, content, constraint)
            except RequirementError as exc:
                self.warn(relpath, number, f"not a valid requirement: {exc}")
                continue
            if entry is None:
                continue
            entries.append(entry)
            if comment:
                in_via = self._via(entry, comment, False)
                annotated = annotated or bool(entry.via)
        props = ((PROP_CONSTRAINT, "true"),) if constraint else ()
        for entry in entries:
            if constraint:
                scope = Scope.UNKNOWN
            elif annotated and entry.via and not any(_DIRECT_VIA.match(v) for v in entry.via):
                scope = Scope.TRANSITIVE  # pip-compile output: pulled in by another package
            else:
                scope = Scope.DIRECT
            self.result.components.append(
                pypi_component(
                    entry.decl, entry.location, scope=scope, hashes=entry.hashes, properties=props
                )
            )

    @staticmethod
    def _via(entry: _Entry, comment: str, in_via: bool) -> bool:
        """Collect pip-compile ``# via`` annotations; returns whether a via block is open."""
        if comment == "via":
            return True
        if comment.startswith("via "):
            entry.via.extend(v.strip() for v in comment[4:].split(",") if v.strip())
            return False
        if in_via:
            entry.via.append(comment)
            return True
        return False

    # one logical line ----------------------------------------------------------------------
    def _line(self, relpath: str, number: int, line: str, constraint: bool) -> _Entry | None:
        loc = Location(relpath, number)
        if line.startswith("-"):
            try:
                tokens = _split(line)
            except ValueError as exc:
                self.warn(relpath, number, f"cannot split options: {exc}")
                return None
            pairs = list(_option_pairs(tokens))
            if pairs and pairs[0][0] in ("-e", "--editable"):
                value = pairs[0][1]
                if not value:
                    self.warn(relpath, number, "-e/--editable without a value")
                    return None
                rest = tokens[2:] if tokens[0] in ("-e", "--editable") else tokens[1:]
                return self._requirement(loc, value, " ".join(rest), editable=True)
            for name, value in pairs:
                self._option(relpath, number, name, value, constraint)
            return None
        args, options = _break_args_options(line)
        return self._requirement(loc, args, options, editable=False)

    def _option(
        self, relpath: str, number: int, name: str, value: str | None, constraint: bool
    ) -> None:
        if name in _INCLUDE_OPTS:
            if not value:
                self.warn(relpath, number, f"{name} without a file name")
                return
            self._include(relpath, number, value, constraint or _INCLUDE_OPTS[name])
        elif name in _SOURCE_OPTS:
            if not value:
                self.warn(relpath, number, f"{name} without a value")
                return
            self.result.sources.append(
                PackageSource(_SOURCE_OPTS[name], redact_userinfo(value), Location(relpath, number))
            )
        elif name in _FLAG_OPTS or name in _OTHER_VALUE_OPTS:
            return
        elif name == "":
            self.warn(relpath, number, f"unexpected argument {value!r} after options")
        else:
            self.warn(relpath, number, f"unknown option {name!r}; line ignored")

    def _requirement(
        self, loc: Location, args: str, options: str, *, editable: bool
    ) -> _Entry | None:
        hashes: list[Hash] = []
        if options:
            try:
                tokens = _split(options)
            except ValueError as exc:
                raise RequirementError(f"cannot split options: {exc}") from None
            for name, value in _option_pairs(tokens):
                if name == "--hash":
                    h = parse_hash(value or "")
                    if h is None:
                        raise RequirementError(f"unsupported --hash value {value!r}")
                    hashes.append(h)
        args = args.strip()
        if not args:
            raise RequirementError("options without a requirement")
        decl = self._declared(args)
        if decl is None:
            return None  # a local folder naming no project ("-e ."): the project itself
        if editable:
            decl = replace(decl, editable=True)
        return _Entry(decl, loc, hashes)

    @staticmethod
    def _declared(args: str) -> Declared | None:
        if _NAMED_REF.match(args) or not (
            _URL_START.match(args)
            or args.startswith((".", "/", "~"))
            or "/" in args.split(";", 1)[0]
            or "\\" in args
            or args.split(";", 1)[0].strip().endswith(_ARCHIVE)
        ):
            return parse_pep508(args)
        url, marker = args, None
        for sep in (" ; ", "; ", " ;"):
            if sep in args:
                url, marker = (part.strip() for part in args.split(sep, 1))
                break
        kind, url, ref = classify_url(url)
        name = name_from_url(url)
        if name is None:
            if kind == "path":
                return None
            raise RequirementError(f"{url!r} names no project (add #egg=NAME)")
        extras: tuple[str, ...] = ()
        m = re.search(r"[#&]egg=[^\[&]+\[([^\]]*)\]", url)
        if m:
            extras = tuple(sorted(e.strip() for e in m.group(1).split(",") if e.strip()))
        return Declared(name=name, extras=extras, marker=marker, source=kind, url=url, ref=ref)

    # includes ----------------------------------------------------------------------------
    def _include(self, relpath: str, number: int, target: str, constraint: bool) -> None:
        if _URL_START.match(target):
            shown = redact_userinfo(target)  # warnings reach logs, JSON and SARIF
            self.warn(relpath, number, f"remote include {shown!r} is not fetched")
            return
        base = posixpath.dirname(relpath)
        joined = Path(self.ctx.root, base, target) if not os.path.isabs(target) else Path(target)
        real = os.path.realpath(joined)
        if real != self.root_real and not real.startswith(self.root_real + os.sep):
            self.warn(
                relpath,
                number,
                f"include {target!r} leaves the scanned root; not followed",
                code="include-escape",
            )
            return
        inc = Path(real).relative_to(self.root_real).as_posix()
        if inc in self._stack:
            chain = " -> ".join([*self._stack[self._stack.index(inc) :], inc])
            self.warn(relpath, number, f"include cycle: {chain}", code="include-cycle")
            return
        if (inc, constraint) in self._done:
            return
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            self.warn(relpath, number, f"includes nested deeper than {MAX_INCLUDE_DEPTH}")
            return
        if not os.path.isfile(real):
            self.warn(relpath, number, f"included file {target!r} not found")
            return
        try:
            text = read_text_bounded(Path(real), inc, self.ctx.max_bytes)
        except ExtractError as exc:
            self.warn(inc, exc.line, f"included from {relpath}:{number}: {exc}")
            return
        except OSError as exc:
            self.warn(relpath, number, f"included file {target!r} not readable: {exc.strerror}")
            return
        self.read_file(inc, text, constraint=constraint)


def _is_constraints(name: str) -> bool:
    return "constraint" in name.lower()


class RequirementsExtractor(FastMatch, Extractor):
    """pip requirements, pip-tools ``.in`` inputs and constraints files."""

    name = "requirements"
    patterns = (
        "*requirements*.txt",
        "*requirements*.in",
        "*constraints*.txt",
        "*constraints*.in",
    )

    def matches(self, file: SourceFile) -> bool:
        if super().matches(file):
            return True
        # requirements/base.txt, requirements/dev.in: the folder convention of larger projects
        parent = file.parent.rsplit("/", 1)[-1]
        if parent in ("requirements", "reqs") and file.name.endswith((".txt", ".in")):
            return True
        # any other "*.in" (pip-tools input) is read leniently: MANIFEST.in, Makefile.in ...
        return file.name.endswith(".in") and file.name.count(".") == 1

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        lenient = not (
            super().matches(file) or file.parent.rsplit("/", 1)[-1] in ("requirements", "reqs")
        )
        try:
            text = ctx.read_text(file)
        except ExtractError:
            if lenient:
                return ExtractResult()
            raise
        result = ExtractResult()
        RequirementsReader(ctx, result).read_file(
            file.relpath, text, constraint=_is_constraints(file.name)
        )
        if lenient and (result.warnings or not result.components):
            # Not a requirements file after all (MANIFEST.in, Makefile.in, a template).
            return ExtractResult()
        return result
