"""What every advisory source (online OSV API, offline dumps) takes and gives."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgate.errors import MlgateError
from mlgate.model import ScanWarning

Record = dict[str, Any]


@dataclass(frozen=True, order=True)
class PackageQuery:
    """One pinned package to look up: OSV ecosystem, normalised name, exact version."""

    ecosystem: str
    name: str
    version: str
    # The name as declared, sent to the API: OSV matches npm names case-sensitively, for one.
    declared_name: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{self.ecosystem}/{self.name}@{self.version}"


@dataclass
class LookupResult:
    """Full OSV records affecting each query; a query that could not be checked is in ``failed``."""

    records: dict[PackageQuery, list[Record]] = field(default_factory=dict)
    failed: dict[PackageQuery, str] = field(default_factory=dict)
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)


class SourceError(MlgateError):
    """An advisory source cannot be used at all (unreadable database, bad URL)."""


class AdvisorySource(ABC):
    """Where advisories come from. A query it could not answer goes to ``failed``, never clean."""

    @abstractmethod
    def lookup(self, queries: Sequence[PackageQuery]) -> LookupResult: ...

    def describe(self) -> str:
        """Where the last lookup's advisories came from, for the reports ("" when unknown)."""
        return ""

    def close(self) -> None:  # noqa: B027 - optional hook: most sources hold nothing to release
        """Release connections and files."""
