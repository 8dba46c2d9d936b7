"""Core value types that travel between the pipeline stages.

Every value here is a frozen dataclass holding tuples rather than lists, so a stage can hand its
output downstream without anybody changing it behind its back. Reports are pure functions of
:class:`ScanResult`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mlgate.textsafe import redact_credentials

RESULT_SCHEMA_VERSION = "1.1"  # 1.1: root, files_seen, full advisories, *_all pairs


class Severity(StrEnum):
    """Ordered severity of a finding (``NONE`` only ever appears as a threshold)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"
    NONE = "none"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    def at_least(self, threshold: Severity) -> bool:
        """True when this severity meets ``threshold`` (nothing meets ``NONE``)."""
        if threshold is Severity.NONE:
            return False
        return self.rank >= threshold.rank

    @classmethod
    def from_score(cls, score: float) -> Severity:
        """Map a CVSS base score (0-10) onto the severity scale CVSS itself uses."""
        if score >= 9.0:
            return cls.CRITICAL
        if score >= 7.0:
            return cls.HIGH
        if score >= 4.0:
            return cls.MEDIUM
        if score > 0.0:
            return cls.LOW
        return cls.INFO


_SEVERITY_RANK = {
    Severity.NONE: -1,
    Severity.INFO: 0,
    Severity.LOW: 1,
    Severity.MEDIUM: 2,
    Severity.HIGH: 3,
    Severity.CRITICAL: 4,
}


class ComponentKind(StrEnum):
    LIBRARY = "library"
    MODEL = "model"
    DATA = "data"
    CONTAINER = "container"
    OS_PACKAGE = "os-package"


class Scope(StrEnum):
    DIRECT = "direct"
    TRANSITIVE = "transitive"
    UNKNOWN = "unknown"


# Sort keys: every ordering of these values goes through one ``sort_key()`` per type. The
# dataclasses are not ``order=True``: their optional fields (None beside str or int) would make
# ``<`` fail on the first mixed pair, and that pair is the attacker's to choose.
_NO_NUMBER = -1  # lines and columns are 1-based: "none" sorts before every real one


def _opt_int(value: int | None) -> int:
    return _NO_NUMBER if value is None else value


def _opt_str(value: str | None) -> tuple[bool, str]:
    return (value is not None, value or "")


LocationKey = tuple[str, tuple[bool, str], int, int]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in the scanned tree: POSIX path relative to the root, 1-based line.

    Ordered by path, line, column, member, a missing part first: the generated ordering compared
    ``None`` with a value and raised for a file-level and a member location of the same file.
    """

    path: str
    line: int | None = None
    column: int | None = None
    member: str | None = None  # path inside an archive (model containers)

    def sort_key(self) -> LocationKey:
        """Total order: path, archive member (none first), line, column (none first)."""
        return (self.path, _opt_str(self.member), _opt_int(self.line), _opt_int(self.column))

    def __str__(self) -> str:
        text = self.path
        if self.member:
            text += f"!{self.member}"
        if self.line is not None:
            text += f":{self.line}"
        return text

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "line": self.line}
        if self.column is not None:
            out["column"] = self.column
        if self.member is not None:
            out["member"] = self.member
        return out


@dataclass(frozen=True, order=True, slots=True)
class Hash:
    alg: str  # CycloneDX spelling: "SHA-256", "SHA-384", "MD5" ...
    value: str  # lowercase hex


def normalize_name(ecosystem: str, name: str) -> str:
    """The canonical form of a package name in its ecosystem (PEP 503 for PyPI)."""
    if ecosystem == "PyPI":
        # imported here: packaging.utils pulls packaging.tags (platform, subprocess) at start-up
        from packaging.utils import canonicalize_name

        return canonicalize_name(name)
    if ecosystem in {"conda", "npm"}:
        return name.lower()
    return name


@dataclass(frozen=True, slots=True)  # slots: a monorepo's inventory holds 10^5 of these
class Component:
    """One thing the repository ships or depends on.

    ``version`` is the exact version when the declaration pins one; otherwise it is ``None`` and
    ``spec`` keeps the declared range (such a component is *unpinned* and never queried as if it
    were pinned).
    """

    ecosystem: str  # OSV spelling ("PyPI", "npm", "crates.io" ...); "" for files and images
    name: str
    version: str | None
    kind: ComponentKind = ComponentKind.LIBRARY
    purl: str | None = None
    scope: Scope = Scope.UNKNOWN
    optional: bool = False  # dev/optional group: CycloneDX scope "optional", dropped by --no-dev
    spec: str | None = None
    declared_in: tuple[Location, ...] = ()
    licenses: tuple[str, ...] = ()
    hashes: tuple[Hash, ...] = ()
    properties: tuple[tuple[str, str], ...] = ()
    depends_on: tuple[str, ...] = ()  # normalised names of dependencies in the same ecosystem

    @property
    def normalized_name(self) -> str:
        return normalize_name(self.ecosystem, self.name)

    @property
    def pinned(self) -> bool:
        return self.version is not None

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """Identity used to merge declarations of one package from several files."""
        return (
            self.kind.value,
            self.ecosystem,
            self.normalized_name,
            self.version or "",
            "" if self.version else (self.spec or ""),
        )

    @property
    def bom_ref(self) -> str:
        """A stable reference, the same on every run over the same tree."""
        if self.purl:
            ref = self.purl
        else:
            ref = f"{self.kind.value}:{self.ecosystem}/{self.normalized_name}@{self.version or ''}"
        if not self.version and self.spec:
            ref += f"#spec={self.spec}"
        if self.kind in (ComponentKind.MODEL, ComponentKind.DATA) and not self.purl:
            # A file in the tree is named by its path; one pointer file may declare several.
            ref = f"{self.kind.value}:{self.name}" + (f"@{self.version}" if self.version else "")
        return ref

    def sort_key(self) -> tuple[tuple[str, str, str, str, str], str]:
        """Total order of components (identity, then reference)."""
        return (self.key, self.bom_ref)

    def prop(self, name: str) -> str | None:
        for key, value in self.properties:
            if key == name:
                return value
        return None


@dataclass(frozen=True)
class Advisory:
    """One vulnerability record (OSV), aliases merged."""

    id: str
    aliases: tuple[str, ...] = ()
    summary: str = ""
    details: str = ""
    severity: Severity | None = None  # None: the database gave no usable severity
    score: float | None = None
    vector: str | None = None
    fixed: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    published: str | None = None
    modified: str | None = None
    withdrawn: str | None = None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.id, *self.aliases)


@dataclass(frozen=True)
class Suppression:
    """Why a finding does not count against the gate (policy ignore, baseline ...)."""

    kind: str  # "ignore" | "baseline"
    justification: str
    expires: str | None = None


@dataclass(frozen=True)
class Finding:
    """Something the gate has to say about the repository."""

    rule_id: str  # stable, e.g. MLG-VULN, MLG-PICKLE-EXEC
    kind: str  # vulnerability | model | policy | license | provenance | source | inventory
    severity: Severity
    message: str
    location: Location
    component: str | None = None  # bom-ref of the component concerned
    advisory: Advisory | None = None
    fix: str | None = None
    trigger: str | None = None  # what matched: a callable, an op, a field, a spec
    suppression: Suppression | None = None
    fingerprint: str = field(default="")
    properties: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.fingerprint:
            object.__setattr__(self, "fingerprint", self.compute_fingerprint())

    def compute_fingerprint(self) -> str:
        """Stable identity across runs; independent of the line number on purpose."""
        parts = [
            self.rule_id,
            self.location.path,
            self.location.member or "",
            self.component or "",
            self.advisory.id if self.advisory else "",
            self.trigger or "",
        ]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    def sort_key(self) -> tuple[int, LocationKey, str, str]:
        """Most severe first, then by place, rule and fingerprint (total: no None compared)."""
        return (-self.severity.rank, self.location.sort_key(), self.rule_id, self.fingerprint)


@dataclass(frozen=True)
class ScanWarning:
    """An input that could not be read completely; the scan went on without it."""

    path: str
    message: str
    line: int | None = None
    code: str = "input"

    def __post_init__(self) -> None:
        # messages quote lines of the scanned files: a token in a URL there must not reach a report
        object.__setattr__(self, "message", redact_credentials(self.message))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.path, _opt_int(self.line), self.code, self.message)


@dataclass(frozen=True)
class PackageSource:
    """A package index, mirror or registry named by the repository (for the policy stage)."""

    kind: str  # index-url | extra-index-url | find-links | registry
    url: str
    location: Location

    def sort_key(self) -> tuple[LocationKey, str, str]:
        return (self.location.sort_key(), self.kind, self.url)


@dataclass(frozen=True)
class Inventory:
    components: tuple[Component, ...] = ()
    sources: tuple[PackageSource, ...] = ()
    warnings: tuple[ScanWarning, ...] = ()
    files_seen: int = 0


@dataclass(frozen=True)
class Coverage:
    """How much of the inventory the vulnerability lookup actually checked."""

    checked: int = 0
    total: int = 0
    unchecked: tuple[tuple[str, str], ...] = ()  # (bom-ref, reason)
    source: str = ""  # where the advisories came from ("online (URL)", an offline database ...)

    @property
    def complete(self) -> bool:
        return self.checked == self.total and not self.unchecked


@dataclass(frozen=True)
class Verdict:
    passed: bool = True
    fail_on: Severity = Severity.HIGH
    deciding: tuple[str, ...] = ()  # fingerprints of the findings that failed the gate
    reasons: tuple[str, ...] = ()
    fixed: tuple[Finding, ...] = ()  # in the baseline, gone now


@dataclass(frozen=True)
class ScanResult:
    root: str
    inventory: Inventory
    findings: tuple[Finding, ...] = ()
    verdict: Verdict = Verdict()
    coverage: Coverage | None = None
    warnings: tuple[ScanWarning, ...] = ()
    stats: tuple[tuple[str, float], ...] = ()
    tool_version: str = ""
    incomplete: str | None = None  # why the scan stopped early; every report says so

    @property
    def all_warnings(self) -> tuple[ScanWarning, ...]:
        return self.inventory.warnings + self.warnings

    def component(self, bom_ref: str) -> Component | None:
        for comp in self.inventory.components:
            if comp.bom_ref == bom_ref:
                return comp
        return None
