"""The online source: OSV's HTTP API (``/v1/querybatch``, ``/v1/query``, ``/v1/vulns/{id}``).

One keep-alive session whose connection pool is as large as the thread pool; every call has a
timeout and is retried with exponential backoff and jitter on 429, 5xx, connection errors,
timeouts and unreadable JSON, honouring ``Retry-After``. A package whose answer could not be
obtained after the retries is reported as *unchecked*, never as clean.

Querybatch answers carry only ids. Full records are fetched either one ``GET /v1/vulns/{id}`` per
unique id, or one ``POST /v1/query`` per vulnerable package (which returns full records): the run
uses whichever needs fewer requests.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from mlgate import __version__
from mlgate.enrich.advisories import MalformedRecordError, validate
from mlgate.enrich.cache import OsvCache
from mlgate.enrich.interface import AdvisorySource, LookupResult, PackageQuery, Record
from mlgate.httpsafe import ResponseTooLarge, read_bounded
from mlgate.model import ScanWarning
from mlgate.textsafe import for_terminal

DEFAULT_OSV_URL = "https://api.osv.dev"
BATCH_LIMIT = 1000  # OSV's maximum number of queries in one querybatch request
MAX_RESPONSE_BYTES = 256 * 1024 * 1024
MAX_PAGES = 1000
RETRY_STATUSES = {429, 500, 502, 503, 504}

_NETWORK = (requests.ConnectionError, requests.Timeout)  # the service could not be reached
_TRANSIENT = (
    *_NETWORK,
    requests.exceptions.ChunkedEncodingError,  # truncated body
    requests.exceptions.ContentDecodingError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
Vulns = list[tuple[str, str]]  # (id, modified) pairs of one answer


class FetchError(Exception):
    """A request that failed for good (after retries, or with a status not worth retrying)."""


class OsvClient(AdvisorySource):
    """Client of an OSV-compatible API at ``base_url`` (without ``/v1``)."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        cache: OsvCache | None = None,
        concurrency: int = 128,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_retry_after: float = 60.0,
        batch_size: int = BATCH_LIMIT,
        hydration: str = "auto",  # "auto" | "vulns" | "query"
    ) -> None:
        base = (base_url or DEFAULT_OSV_URL).rstrip("/")
        self.base_url = base.removesuffix("/v1")
        self.cache = cache
        self.concurrency = max(1, concurrency)
        self.timeout = (connect_timeout, read_timeout)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.batch_size = max(1, min(batch_size, BATCH_LIMIT))
        self.hydration = hydration
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=self.concurrency, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"mlgate/{__version__}"
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Set when a call gave up because the service could not be reached (connection error or
        # timeout), as opposed to an answer the service gave: what an offline fallback acts on.
        self.network_failed = False

    def describe(self) -> str:
        return f"online ({self.base_url})"

    def probe(self, timeout: float = 3.0) -> str:
        """One quick request: "" when the service answers at all (any status), else the reason."""
        try:
            self.session.get(f"{self.base_url}/", timeout=(timeout, timeout), stream=True).close()
        except _NETWORK as exc:
            return f"{type(exc).__name__} reaching {self.base_url}"
        except requests.RequestException:
            return ""  # not a network failure: the real lookup reports it
        return ""

    def close(self) -> None:
        self.session.close()
        if self.cache is not None:
            self.cache.close()

    # -- HTTP -------------------------------------------------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counts[key] += n

    def _delay(self, attempt: int, response: requests.Response | None) -> float:
        if response is not None:
            header = response.headers.get("Retry-After")
            if header:
                seconds: float | None
                try:
                    seconds = float(header)
                except ValueError:
                    try:
                        when = email.utils.parsedate_to_datetime(header)
                        seconds = when.timestamp() - time.time()
                    except (TypeError, ValueError):
                        seconds = None
                if seconds is not None:
                    return min(max(seconds, 0.0), self.max_retry_after)
        ceiling = min(self.max_backoff, self.backoff * (2.0**attempt))
        return ceiling * random.uniform(0.5, 1.0)  # jitter: runs that failed together spread out

    def call(self, method: str, path: str, body: Any = None, *, kind: str = "") -> Any:
        """One API call with retries; the parsed JSON answer or :class:`FetchError`."""
        url = f"{self.base_url}{path}"
        reason = ""
        for attempt in range(self.retries + 1):
            response: requests.Response | None = None
            network = False
            self._count("osv_requests")
            if kind:
                self._count(f"osv_{kind}_requests")
            try:
                response = self.session.request(
                    method, url, json=body, timeout=self.timeout, stream=True
                )
                status = response.status_code
                if status == 200:
                    payload = self._read(response)
                    try:
                        return json.loads(payload)
                    except ValueError:
                        reason = f"unreadable JSON from {path}"
                elif status in RETRY_STATUSES:
                    reason = f"HTTP {status} from {path}"
                    response.close()
                else:
                    response.close()
                    raise FetchError(f"HTTP {status} from {path}")
            except _TRANSIENT as exc:
                reason = f"{type(exc).__name__} on {path}"
                network = isinstance(exc, _NETWORK)
            except requests.RequestException as exc:
                raise FetchError(f"{type(exc).__name__} on {path}") from exc
            if attempt == self.retries:
                if network:
                    self.network_failed = True
                break
            self._count("osv_retries")
            delay = self._delay(attempt, response)
            log.debug("OSV %s: %s; retry in %.2fs", path, reason, delay)
            time.sleep(delay)
        raise FetchError(f"{reason} (after {self.retries + 1} attempts)")

    def _read(self, response: requests.Response) -> bytes:
        try:
            return read_bounded(response, MAX_RESPONSE_BYTES)
        except ResponseTooLarge:
            raise FetchError("answer larger than the size limit") from None

    # -- the three API calls ------------------------------------------------------------------

    def _batch(self, chunk: Sequence[PackageQuery]) -> tuple[dict[PackageQuery, Vulns], str]:
        """Querybatch one chunk, following each query's ``next_page_token`` until none is left."""
        answers: dict[PackageQuery, Vulns] = {q: [] for q in chunk}
        pending: list[tuple[PackageQuery, str | None]] = [(q, None) for q in chunk]
        for _ in range(MAX_PAGES):
            body = {"queries": [_query_body(q, token) for q, token in pending]}
            try:
                data = self.call("POST", "/v1/querybatch", body, kind="querybatch")
            except FetchError as exc:
                return {}, str(exc)
            results = data.get("results") if isinstance(data, dict) else None
            if not isinstance(results, list) or len(results) != len(pending):
                return {}, "querybatch answer does not match the queries sent"
            again: list[tuple[PackageQuery, str | None]] = []
            for (q, _token), res in zip(pending, results, strict=True):
                if not isinstance(res, dict):
                    return {}, "querybatch answer holds a non-object result"
                for vuln in res.get("vulns") or ():
                    if not isinstance(vuln, dict) or not isinstance(vuln.get("id"), str):
                        return {}, "querybatch answer holds a vulnerability without an id"
                    answers[q].append((vuln["id"], str(vuln.get("modified") or "")))
                token = res.get("next_page_token")
                if isinstance(token, str) and token:
                    again.append((q, token))
            if not again:
                return answers, ""
            pending = again
        return {}, "querybatch pagination did not end"

    def _query_records(self, q: PackageQuery) -> list[Any]:
        """All full records of one package version through ``POST /v1/query``."""
        records: list[Any] = []
        token: str | None = None
        for _ in range(MAX_PAGES):
            data = self.call("POST", "/v1/query", _query_body(q, token), kind="query")
            if not isinstance(data, dict):
                raise FetchError("query answer is not an object")
            vulns = data.get("vulns") or []
            if not isinstance(vulns, list):
                raise FetchError("query answer 'vulns' is not a list")
            records += vulns
            token = data.get("next_page_token")
            if not (isinstance(token, str) and token):
                return records
        raise FetchError("query pagination did not end")

    def _vuln(self, rid: str) -> Any:
        return self.call("GET", f"/v1/vulns/{quote(rid, safe='')}", kind="vulns")

    # -- lookup ---------------------------------------------------------------------------------

    def lookup(self, queries: Sequence[PackageQuery]) -> LookupResult:
        result = LookupResult()
        todo = sorted(set(queries))
        start = dict(self.counts)
        answers: dict[PackageQuery, Vulns] = {}
        if self.cache is not None:
            answers = self.cache.answers(todo)
            result.stats["osv_cached_answers"] = len(answers)
        missing = [q for q in todo if q not in answers]
        chunks = [missing[i : i + self.batch_size] for i in range(0, len(missing), self.batch_size)]
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            fresh: dict[PackageQuery, Vulns] = {}
            for chunk, (got, error) in zip(chunks, pool.map(self._batch, chunks), strict=True):
                if error:
                    for q in chunk:
                        result.failed[q] = error
                fresh.update(got)
            answers.update(fresh)
            if self.cache is not None and fresh:
                self.cache.try_put_answers(fresh)
            records, failed_ids = self._hydrate(answers, pool, result)
        for q, vulns in answers.items():
            bad = sorted({rid for rid, _ in vulns if rid in failed_ids})
            if bad:
                result.failed[q] = f"advisory {bad[0]} could not be fetched: {failed_ids[bad[0]]}"
                continue
            result.records[q] = [records[rid] for rid, _ in vulns if rid in records]
        for key, value in self.counts.items():
            result.stats[key] = value - start.get(key, 0)
        return result

    def _hydrate(
        self,
        answers: dict[PackageQuery, Vulns],
        pool: ThreadPoolExecutor,
        result: LookupResult,
    ) -> tuple[dict[str, Record], dict[str, str]]:
        """Full records of every id in ``answers``: cache, then the cheaper of the two routes."""
        wanted = {pair for vulns in answers.values() for pair in vulns}
        cached = self.cache.records(wanted) if self.cache is not None else {}
        records: dict[str, Record] = {rid: rec for (rid, _), rec in cached.items()}
        result.stats["osv_cached_records"] = len(records)
        need_ids = sorted({rid for rid, _ in wanted if rid not in records})
        need_pkgs = [q for q, v in answers.items() if any(rid not in records for rid, _ in v)]
        failed: dict[str, str] = {}
        fetched: list[Record] = []
        by_query = self.hydration == "query" or (
            self.hydration == "auto" and len(need_pkgs) < len(need_ids)
        )
        result.stats["osv_hydration_by_query"] = float(by_query)
        if by_query and need_pkgs:
            for q, (got, error) in zip(
                need_pkgs, pool.map(_safe(self._query_records), need_pkgs), strict=True
            ):
                if error:
                    for rid, _ in answers[q]:
                        failed.setdefault(rid, error)
                    continue
                for raw in got or ():
                    rec = self._accept(raw, result)
                    if rec is not None:
                        records.setdefault(rec["id"], rec)
                        fetched.append(rec)
            # An id the batch named but the package query did not return: fetch it directly.
            need_ids = sorted({rid for rid in need_ids if rid not in records and rid not in failed})
        for rid in [r for r in need_ids if r in failed]:
            need_ids.remove(rid)
        for rid, (raw, error) in zip(need_ids, pool.map(_safe(self._vuln), need_ids), strict=True):
            if error:
                failed[rid] = error
                continue
            rec = self._accept(raw, result)
            if rec is not None:
                records[rid] = rec
                fetched.append(rec)
        for rid in list(failed):
            if rid in records:
                del failed[rid]
        if self.cache is not None and fetched:
            self.cache.try_put_records(fetched)
        return records, failed

    def _accept(self, raw: Any, result: LookupResult) -> Record | None:
        try:
            return validate(raw)
        except MalformedRecordError as exc:
            result.warnings.append(
                ScanWarning(
                    path=self.base_url,
                    message=f"malformed OSV record skipped: {for_terminal(str(exc), 200)}",
                    code="osv",
                )
            )
            return None


def _query_body(q: PackageQuery, token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "package": {"name": q.declared_name or q.name, "ecosystem": q.ecosystem},
        "version": q.version,
    }
    if token:
        body["page_token"] = token
    return body


def _safe(func: Callable[[Any], T]) -> Callable[[Any], tuple[T | None, str]]:
    """Wrap a fetch so a failure travels as data through ``pool.map``."""

    def run(arg: Any) -> tuple[T | None, str]:
        try:
            return func(arg), ""
        except FetchError as exc:
            return None, str(exc)

    return run
