"""The OSV client against a real local OSV-compatible server, with injected faults."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from mlgate.enrich.interface import PackageQuery
from mlgate.enrich.osv import OsvClient
from tests.enrich.conftest import record
from tests.servers.flood_server import FloodState, flood_server
from tests.servers.osv_server import OsvServer

Start = Callable[..., OsvServer]
Make = Callable[..., OsvClient]

RECORDS = [
    record("PYSEC-1", "alpha", fixed="2.0"),
    record("PYSEC-2", "alpha", fixed="1.5"),
    record("PYSEC-3", "beta", fixed="3.0"),
]
ALPHA = PackageQuery("PyPI", "alpha", "1.0")
BETA = PackageQuery("PyPI", "beta", "2.9")
CLEAN = PackageQuery("PyPI", "gamma", "1.0")


def ids(result: Any, q: PackageQuery) -> list[str]:
    return sorted(r["id"] for r in result.records[q])


def test_lookup_finds_records_and_clean_packages(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    result = fast_client(srv.url).lookup([ALPHA, BETA, CLEAN])
    assert not result.failed
    assert ids(result, ALPHA) == ["PYSEC-1", "PYSEC-2"]
    assert ids(result, BETA) == ["PYSEC-3"]
    assert result.records[CLEAN] == []
    assert srv.counts["querybatch"] == 1
    # 2 vulnerable packages < 3 unique ids: full records through one /v1/query per package.
    assert srv.counts["query"] == 2
    assert srv.counts["vulns"] == 0
    assert result.stats["osv_requests"] == 3


def test_hydration_by_id_when_fewer_ids_than_packages(osv_server: Start, fast_client: Make) -> None:
    shared = record("GHSA-many", "p1")
    shared["affected"] += [
        {"package": {"ecosystem": "PyPI", "name": n}, "ranges": shared["affected"][0]["ranges"]}
        for n in ("p2", "p3")
    ]
    srv = osv_server([shared])
    queries = [PackageQuery("PyPI", n, "1.0") for n in ("p1", "p2", "p3")]
    result = fast_client(srv.url).lookup(queries)
    assert all(ids(result, q) == ["GHSA-many"] for q in queries)
    assert (srv.counts["querybatch"], srv.counts["vulns"], srv.counts["query"]) == (1, 1, 0)


def test_querybatch_pagination_resends_only_paged_queries(
    osv_server: Start, fast_client: Make
) -> None:
    many = [record(f"PYSEC-{i}", "alpha") for i in range(5)]
    srv = osv_server([*many, record("PYSEC-9", "beta")], page_size=2)
    result = fast_client(srv.url, hydration="vulns").lookup([ALPHA, BETA])
    assert ids(result, ALPHA) == [f"PYSEC-{i}" for i in range(5)]
    assert ids(result, BETA) == ["PYSEC-9"]
    batches = [body for path, body in srv.bodies if path == "/v1/querybatch"]
    assert [len(b["queries"]) for b in batches] == [2, 1, 1]
    assert [q.get("page_token") for q in batches[1]["queries"]] == ["2"]


def test_query_pagination_during_hydration(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server([record(f"PYSEC-{i}", "alpha") for i in range(5)], page_size=2)
    result = fast_client(srv.url, hydration="query").lookup([ALPHA])
    assert ids(result, ALPHA) == [f"PYSEC-{i}" for i in range(5)]
    assert srv.counts["query"] == 3
    assert srv.counts["vulns"] == 0


def test_batches_are_split(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    queries = [PackageQuery("PyPI", f"pkg{i}", "1.0") for i in range(5)]
    result = fast_client(srv.url, batch_size=2).lookup(queries)
    assert len(result.records) == 5
    assert srv.counts["querybatch"] == 3


def test_429_honours_retry_after(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    srv.fail("querybatch", 1, status=429, retry_after="1")
    t0 = time.perf_counter()
    result = fast_client(srv.url).lookup([ALPHA])
    assert time.perf_counter() - t0 >= 0.95  # waited what the server asked, not the 10 ms backoff
    assert ids(result, ALPHA) == ["PYSEC-1", "PYSEC-2"]
    assert srv.counts["querybatch"] == 2
    assert result.stats["osv_retries"] == 1


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_burst_is_retried(osv_server: Start, fast_client: Make, status: int) -> None:
    srv = osv_server(RECORDS)
    srv.fail("querybatch", 3, status=status)
    srv.fail("query", 2, status=status)
    result = fast_client(srv.url, retries=3).lookup([ALPHA, BETA])
    assert not result.failed
    assert ids(result, BETA) == ["PYSEC-3"]
    assert srv.counts["querybatch"] == 4


def test_persistent_5xx_fails_closed(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    srv.fail("querybatch", 10, status=503)
    result = fast_client(srv.url, retries=2).lookup([ALPHA, CLEAN])
    assert set(result.failed) == {ALPHA, CLEAN}  # the clean package is not reported clean
    assert "HTTP 503" in result.failed[CLEAN]
    assert not result.records
    assert srv.counts["querybatch"] == 3


def test_timeout_is_retried(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    srv.hang("query", 1, seconds=1.0)
    result = fast_client(srv.url, read_timeout=0.3, hydration="query").lookup([BETA])
    assert ids(result, BETA) == ["PYSEC-3"]
    assert srv.counts["query"] == 2


def test_truncated_json_is_retried(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    srv.truncate("querybatch", 2)
    result = fast_client(srv.url).lookup([ALPHA])
    assert ids(result, ALPHA) == ["PYSEC-1", "PYSEC-2"]
    assert srv.counts["querybatch"] == 3


def test_invalid_json_is_retried_then_fails_closed(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    srv.invalid_json("query", 1)
    assert ids(fast_client(srv.url, hydration="query").lookup([BETA]), BETA) == ["PYSEC-3"]
    srv.invalid_json("query", 10)
    result = fast_client(srv.url, retries=1, hydration="query").lookup([BETA])
    assert "unreadable JSON" in result.failed[BETA]


def test_404_during_hydration_leaves_the_package_unchecked(
    osv_server: Start, fast_client: Make
) -> None:
    srv = osv_server(RECORDS)
    srv.not_found.add("PYSEC-2")
    result = fast_client(srv.url, hydration="vulns").lookup([ALPHA, BETA])
    assert "PYSEC-2" in result.failed[ALPHA] and "404" in result.failed[ALPHA]
    assert ids(result, BETA) == ["PYSEC-3"]
    assert ALPHA not in result.records
    assert srv.counts["vulns"] == 3  # a 404 is final: not retried


def test_server_down_fails_closed(fast_client: Make) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = fast_client(f"http://127.0.0.1:{port}", retries=1).lookup([ALPHA, CLEAN])
    assert set(result.failed) == {ALPHA, CLEAN}
    assert "ConnectionError" in result.failed[ALPHA]


def test_malformed_record_is_skipped_with_a_warning(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    srv.records["PYSEC-2"] = {**srv.records["PYSEC-2"], "references": "not a list"}
    result = fast_client(srv.url, hydration="vulns").lookup([ALPHA])
    assert ids(result, ALPHA) == ["PYSEC-1"]
    assert any("PYSEC-2" in w.message for w in result.warnings)


def test_base_url_with_v1_suffix_is_accepted(osv_server: Start, fast_client: Make) -> None:
    srv = osv_server(RECORDS)
    result = fast_client(srv.url + "/v1/").lookup([BETA])
    assert ids(result, BETA) == ["PYSEC-3"]


@pytest.mark.parametrize("header", ["Thu, 01 Jan 1970 00:00:00 GMT", "soon-ish", "-5"])
def test_retry_after_dates_and_garbage(osv_server: Start, fast_client: Make, header: str) -> None:
    # A date in the past, an unreadable value or a negative delay: retry at once or after the
    # client's own backoff, never crash and never wait for ever.
    srv = osv_server(RECORDS)
    srv.fail("querybatch", 1, status=429, retry_after=header)
    t0 = time.perf_counter()
    result = fast_client(srv.url).lookup([BETA])
    assert time.perf_counter() - t0 < 1.5
    assert ids(result, BETA) == ["PYSEC-3"]
    assert srv.counts["querybatch"] == 2


def test_the_declared_name_is_sent(osv_server: Start, fast_client: Make) -> None:
    # npm names are matched case-sensitively by OSV; the normalised name is for local matching.
    srv = osv_server([record("GHSA-js", "JSONStream", ecosystem="npm", versions=["0.1.0"])])
    query = PackageQuery("npm", "jsonstream", "0.1.0", "JSONStream")
    fast_client(srv.url).lookup([query])
    sent = [q["package"]["name"] for _, body in srv.bodies for q in body.get("queries", [])]
    assert sent == ["JSONStream"]


def test_endless_answer_fails_closed_at_the_size_limit(
    fast_client: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Technique: a hostile or broken OSV server streams an endless chunked body."""
    monkeypatch.setattr("mlgate.enrich.osv.MAX_RESPONSE_BYTES", 1024 * 1024)
    state = FloodState()
    with flood_server(state) as url:
        result = fast_client(url).lookup([ALPHA, CLEAN])
    assert set(result.failed) == {ALPHA, CLEAN}  # never "no vulnerabilities"
    assert "answer larger than the size limit" in result.failed[CLEAN]
    assert state.requests == 1  # an oversized answer is final, not retried
