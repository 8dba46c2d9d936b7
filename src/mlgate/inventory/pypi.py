"""Shared helpers of the Python extractors: names, PEP 508, pins, direct references, purls.

Every Python extractor turns what it read into a :class:`Declared` requirement and then into a
:class:`~mlgate.model.Component` through :func:`pypi_component`, so that a package declared in a
requirements file and in a lockfile ends up with the same name, version and purl and merges.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar
from urllib.parse import SplitResult, urlsplit, urlunsplit

from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from mlgate.inventory.interface import ExtractError, SourceFile
from mlgate.model import Component, Hash, Location, Scope
from mlgate.textsafe import without_userinfo

ECOSYSTEM = "PyPI"

# Component properties written by the Python extractors (CycloneDX property names).
PROP_MARKER = "mlgate:marker"  # PEP 508 environment marker, kept as declared (never evaluated)
PROP_EXTRAS = "mlgate:extras"  # comma-separated extras requested
PROP_SOURCE = "mlgate:source"  # vcs | url | path: not from an index, never queried as pinned
PROP_SOURCE_URL = "mlgate:source-url"
PROP_VCS_REF = "mlgate:vcs-ref"  # the branch, tag or commit named by a VCS reference
PROP_EDITABLE = "mlgate:editable"
PROP_GROUP = "mlgate:group"  # optional-dependency extra / dependency group / lockfile group
PROP_INDEX = "mlgate:index"  # the index a lockfile says the package came from
PROP_CONSTRAINT = "mlgate:constraint"  # declared in a pip constraints file
PROP_LOCKED_VERSION = "mlgate:locked-version"  # version a lockfile names for a VCS/path package

HASH_ALGS = {
    "md5": "MD5",
    "sha1": "SHA-1",
    "sha256": "SHA-256",
    "sha384": "SHA-384",
    "sha512": "SHA-512",
    "sha3_256": "SHA3-256",
    "sha3-256": "SHA3-256",
    "sha3_384": "SHA3-384",
    "sha3_512": "SHA3-512",
    "blake2b": "BLAKE2b-512",
}
VCS_SCHEMES = ("git", "hg", "svn", "bzr")

# `name==version` with nothing else: by far the most common line, parsed without packaging.
_SIMPLE_PIN = re.compile(
    r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(===?)\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)"
)
_HEX = re.compile(r"[0-9a-fA-F]+")
_PURL_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")  # nothing a purl percent-encodes


class FastMatch:
    """Mixin: ``matches`` by one regex compiled from the class's ``patterns``.

    Every extractor is asked about every file of the tree; one compiled regex on the base name
    costs a fraction of an fnmatch call per pattern.
    """

    patterns: ClassVar[tuple[str, ...]] = ()
    _pattern_re: ClassVar[re.Pattern[str]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        cls._pattern_re = re.compile("|".join(fnmatch.translate(p) for p in cls.patterns))
        super().__init_subclass__(**kwargs)

    def matches(self, file: SourceFile) -> bool:
        return self._pattern_re.match(file.relpath.rpartition("/")[2]) is not None


class RequirementError(ValueError):
    """A requirement string that is not PEP 508 (nor a pip URL/path form)."""


@dataclass(frozen=True)
class Declared:
    """The meaning of one requirement as written, before it becomes a component."""

    name: str
    version: str | None = None
    spec: str | None = None
    extras: tuple[str, ...] = ()
    marker: str | None = None
    source: str | None = None  # vcs | url | path
    url: str | None = None
    ref: str | None = None
    editable: bool = False


@lru_cache(maxsize=65536)
def canonical(name: str) -> str:
    return canonicalize_name(name)


def exact_version(spec: SpecifierSet) -> str | None:
    """The version when ``spec`` is one ``==``/``===`` pin without a wildcard, else None."""
    specs = list(spec)
    if len(specs) != 1:
        return None
    only = specs[0]
    if only.operator in ("==", "===") and "*" not in only.version:
        return only.version
    return None


def parse_hash(text: str) -> Hash | None:
    """``sha256:HEX`` (pip, poetry, uv, pdm) or ``sha256=HEX`` (URL fragments) as a Hash."""
    alg, sep, value = text.strip().partition(":")
    if not sep:
        alg, sep, value = text.strip().partition("=")
    name = HASH_ALGS.get(alg.lower())
    if not sep or name is None or not _HEX.fullmatch(value):
        return None
    return Hash(name, value.lower())


def hashes_from_mapping(values: Mapping[str, object]) -> list[Hash]:
    """PEP 751 style ``{sha256 = "HEX", ...}``."""
    out = []
    for alg, value in values.items():
        if isinstance(value, str):
            h = parse_hash(f"{alg}:{value}")
            if h is not None:
                out.append(h)
    return out


def redact_userinfo(url: str) -> str:
    """The URL without its user/password part (``https://***@host``): an index or VCS URL
    written with a token must not carry it into SBOMs, reports or logs. A bare ``git@`` user
    (SSH) is kept."""
    if "@" not in url or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return without_userinfo(url, "***@")  # urlsplit rejects it; the token must still go
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    if userinfo == "git":
        return url
    return urlunsplit((parts.scheme, f"***@{host}", parts.path, parts.query, parts.fragment))


def hashes_from_entries(entries: object) -> list[Hash]:
    """Hashes of ``[{file = ..., hash = "sha256:HEX"}, ...]`` (poetry, pdm)."""
    out = []
    for entry in entries if isinstance(entries, list) else ():
        if isinstance(entry, dict) and isinstance(entry.get("hash"), str):
            h = parse_hash(entry["hash"])
            if h is not None:
                out.append(h)
    return out


def _split_url(url: str) -> SplitResult:
    """``urlsplit``, with the ValueError of a broken URL (bad port, IPv6 host) as a
    :class:`RequirementError`: that one declaration is reported, the rest of its file is read."""
    try:
        return urlsplit(url)
    except ValueError as exc:
        raise RequirementError(f"not a valid URL: {exc}") from None


def classify_url(url: str) -> tuple[str, str, str | None]:
    """(kind, url, ref) of a direct reference: kind is vcs, path or url.

    For ``git+https://host/repo.git@v1.2#egg=x`` the ref is ``v1.2``; the URL is kept whole.
    """
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme.split("+", 1)[0] in VCS_SCHEMES:
        parts = _split_url(url)
        ref = None
        if "@" in parts.path:
            ref = parts.path.rsplit("@", 1)[1] or None
        return "vcs", url, ref
    if scheme == "file" or not scheme or len(scheme) == 1:  # "C:" is a Windows drive
        return "path", url, None
    return "url", url, None


def name_from_url(url: str) -> str | None:
    """The project name a pip URL/path names: ``#egg=``, a wheel or sdist file name, the repo."""
    parts = _split_url(url)
    for item in parts.fragment.split("&"):
        key, _, value = item.partition("=")
        if key == "egg" and value:
            return re.split(r"[\[<>=!~ ;]", value, maxsplit=1)[0] or None
    path = parts.path if parts.scheme else url.split("#", 1)[0]
    base = path.rstrip("/").rsplit("/", 1)[-1].split("@", 1)[0]
    if base.endswith(".whl"):
        try:
            return str(parse_wheel_filename(base)[0])
        except InvalidWheelFilename:
            return None
    for suffix in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if base.endswith(suffix):
            try:
                return str(parse_sdist_filename(base)[0])
            except InvalidSdistFilename:
                return None
    base = base.removesuffix(".git")
    if base in ("", ".", ".."):
        return None
    return base


def parse_pep508(text: str) -> Declared:
    """Parse one PEP 508 requirement (``name[extras] spec ; marker`` or ``name @ url``)."""
    text = text.strip()
    m = _SIMPLE_PIN.fullmatch(text)
    if m:
        return Declared(name=m.group(1), version=m.group(3))
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise RequirementError(str(exc).splitlines()[0]) from None
    extras = tuple(sorted(req.extras))
    marker = str(req.marker) if req.marker is not None else None
    if req.url:
        kind, url, ref = classify_url(req.url)
        return Declared(name=req.name, extras=extras, marker=marker, source=kind, url=url, ref=ref)
    version = exact_version(req.specifier)
    spec = None if version is not None else (str(req.specifier) or None)
    return Declared(name=req.name, version=version, spec=spec, extras=extras, marker=marker)


def parse_spec(text: str) -> tuple[str | None, str | None]:
    """(version, spec) of a PEP 440 specifier text such as ``==1.2`` or ``>=1,<2``."""
    text = text.strip()
    if text in ("", "*"):
        return None, None
    try:
        spec = SpecifierSet(text)
    except InvalidSpecifier:
        return None, text
    version = exact_version(spec)
    return (version, None) if version is not None else (None, str(spec))


def poetry_constraint(text: str) -> tuple[str | None, str | None]:
    """(version, spec) of a Poetry constraint: a bare ``1.2.3`` or ``==1.2.3`` is a pin;
    ``^1.2``, ``~1.2``, ``1.2.*``, ``>=1,<2`` and ``*`` are ranges kept as written."""
    text = text.strip()
    if text in ("", "*"):
        return None, None
    bare = text.removeprefix("==").strip()
    if "*" not in bare and not re.search(r"[<>=!~^,| ]", bare):
        try:
            Version(bare)
        except InvalidVersion:
            return None, text
        return bare, None
    return None, text


@lru_cache(maxsize=65536)
def pypi_purl(name: str, version: str | None, qualifiers: tuple[tuple[str, str], ...] = ()) -> str:
    """The purl of a PyPI package; packageurl-python builds it unless it is plain ASCII."""
    canon = canonical(name)
    if (
        not qualifiers
        and _PURL_PLAIN.fullmatch(canon)
        and (version is None or _PURL_PLAIN.fullmatch(version))
    ):
        # identical to what PackageURL(...).to_string() gives for these characters
        return f"pkg:pypi/{canon}@{version}" if version else f"pkg:pypi/{canon}"
    return PackageURL(
        type="pypi", name=canonical(name), version=version, qualifiers=dict(qualifiers) or None
    ).to_string()


def pypi_component(
    decl: Declared,
    location: Location,
    *,
    scope: Scope = Scope.UNKNOWN,
    optional: bool = False,
    hashes: Iterable[Hash] = (),
    properties: Iterable[tuple[str, str]] = (),
    depends_on: Iterable[str] = (),
) -> Component:
    """The component for one declaration, with purl, properties and a stable spec.

    A VCS/URL/path requirement has no version (it is never queried as pinned); its spec is
    ``@ URL`` so that two different references of one package stay two components.
    Raises ExtractError for a declaration without a name (a damaged lock entry).
    """
    if not isinstance(decl.name, str) or not canonical(decl.name):
        raise ExtractError(f"a package entry has no name ({decl.name!r:.40})", line=location.line)
    props = [(k, redact_userinfo(v) if k == PROP_INDEX else v) for k, v in properties]
    if decl.extras:
        props.append((PROP_EXTRAS, ",".join(decl.extras)))
    if decl.marker:
        props.append((PROP_MARKER, decl.marker))
    version, spec = decl.version, decl.spec
    qualifiers: tuple[tuple[str, str], ...] = ()
    if decl.source:
        props.append((PROP_SOURCE, decl.source))
        if decl.url:
            url = redact_userinfo(decl.url)
            props.append((PROP_SOURCE_URL, url))
            spec = f"@ {url}"
            if decl.source in ("vcs", "url"):
                kind = "vcs_url" if decl.source == "vcs" else "download_url"
                qualifiers = ((kind, url.split("#", 1)[0]),)  # "#egg=" is pip's, not the URL's
        if decl.ref:
            props.append((PROP_VCS_REF, decl.ref))
        if version:
            props.append((PROP_LOCKED_VERSION, version))
        version = None
    if decl.editable:
        props.append((PROP_EDITABLE, "true"))
    return Component(
        ecosystem=ECOSYSTEM,
        name=canonical(decl.name),
        version=version,
        purl=pypi_purl(decl.name, version, qualifiers),
        scope=scope,
        optional=optional,
        spec=spec,
        declared_in=(location,),
        hashes=tuple(sorted(set(hashes))),
        properties=tuple(sorted(set(props))),
        depends_on=tuple(sorted({canonical(d) for d in depends_on})),
    )


def lock_scope(name: str, direct: frozenset[str] | None) -> Scope:
    """DIRECT/TRANSITIVE when the project file beside a lockfile names the direct
    dependencies (``direct``), UNKNOWN when there is no such file."""
    if direct is None:
        return Scope.UNKNOWN
    return Scope.DIRECT if canonical(name) in direct else Scope.TRANSITIVE
