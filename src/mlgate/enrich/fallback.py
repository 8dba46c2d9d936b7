"""The online API with an offline database to fall back on when the network is unreachable.

``--osv-fallback-db PATH`` is used only when OSV cannot be reached: a quick probe that fails with a
connection error or a timeout, or a lookup whose requests failed that way after their retries.
An answer the service gave (an HTTP 4xx, a malformed body) is not a network failure: those
packages stay unchecked as without a fallback. Every report states which source answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mlgate.enrich.interface import AdvisorySource, LookupResult, PackageQuery
from mlgate.enrich.offline import OfflineSource
from mlgate.enrich.osv import OsvClient


class FallbackSource(AdvisorySource):
    """Ask ``online``; ask the offline database at ``path`` what the network could not answer."""

    def __init__(
        self,
        online: OsvClient,
        path: Path,
        *,
        cache_dir: Path | None,
        probe_timeout: float = 3.0,
    ) -> None:
        self.online = online
        self.path = path
        self.cache_dir = cache_dir
        self.probe_timeout = probe_timeout
        self._offline: OfflineSource | None = None
        self.reason = ""  # why the fallback was used; "" while it was not
        self.partial = False  # True: the API answered some packages before the network failed
        self.fallback_count = 0  # queries the offline database answered

    def _fallback(self, queries: Sequence[PackageQuery], result: LookupResult) -> None:
        if self._offline is None:
            # opened only when needed: no index is built while the network works
            self._offline = OfflineSource(self.path, cache_dir=self.cache_dir)
        offline = self._offline.lookup(queries)
        for q in queries:
            result.failed.pop(q, None)
        result.records.update(offline.records)
        result.failed.update(offline.failed)
        result.warnings += offline.warnings
        result.stats.update(offline.stats)
        self.fallback_count += len(queries)
        result.stats["osv_fallback_queries"] = self.fallback_count

    def lookup(self, queries: Sequence[PackageQuery]) -> LookupResult:
        unreachable = self.online.probe(self.probe_timeout)
        if unreachable:
            self.reason = f"network unreachable: {unreachable}"
            result = LookupResult()
            self._fallback(queries, result)
            return result
        result = self.online.lookup(queries)
        if result.failed and self.online.network_failed:
            self.reason = "network failed during the lookup"
            self.partial = len(result.failed) < len(set(queries))
            self._fallback(sorted(result.failed), result)
        return result

    def describe(self) -> str:
        if not self.reason:
            return self.online.describe()
        what = f"offline records in {self.path} ({self.reason})"
        if self.partial:
            return f"{self.online.describe()}; {self.fallback_count} package(s) from {what}"
        return what

    def close(self) -> None:
        self.online.close()
        if self._offline is not None:
            self._offline.close()
