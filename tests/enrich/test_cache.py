"""The on-disk cache: warm reruns, records keyed by id and modified, TTL, concurrent writers."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.enrich.cache import OsvCache, default_cache_dir
from mlgate.enrich.interface import PackageQuery
from mlgate.enrich.osv import OsvClient
from tests.enrich.conftest import record
from tests.servers.osv_server import OsvServer

Start = Callable[..., OsvServer]
Make = Callable[..., OsvClient]
ALPHA = PackageQuery("PyPI", "alpha", "1.0")
BETA = PackageQuery("PyPI", "beta", "1.0")


def test_warm_rerun_within_ttl_sends_nothing(
    osv_server: Start, fast_client: Make, tmp_path: Path
) -> None:
    srv = osv_server([record("PYSEC-1", "alpha"), record("PYSEC-2", "alpha")])
    first = fast_client(srv.url, cache=OsvCache(tmp_path, srv.url)).lookup([ALPHA, BETA])
    sent = srv.counts["total"]
    second = fast_client(srv.url, cache=OsvCache(tmp_path, srv.url)).lookup([ALPHA, BETA])
    assert srv.counts["total"] == sent
    assert second.records == first.records
    assert second.stats["osv_cached_answers"] == 2


def test_expired_answers_cost_one_querybatch_and_records_come_from_cache(
    osv_server: Start, fast_client: Make, tmp_path: Path
) -> None:
    srv = osv_server([record("PYSEC-1", "alpha"), record("PYSEC-2", "alpha")])
    fast_client(srv.url, cache=OsvCache(tmp_path, srv.url, ttl=0)).lookup([ALPHA])
    before = dict(srv.counts)
    result = fast_client(srv.url, cache=OsvCache(tmp_path, srv.url, ttl=0)).lookup([ALPHA])
    assert srv.counts["querybatch"] - before["querybatch"] == 1
    assert srv.counts["total"] - before["total"] == 1
    assert sorted(r["id"] for r in result.records[ALPHA]) == ["PYSEC-1", "PYSEC-2"]


def test_a_modified_record_is_fetched_again(
    osv_server: Start, fast_client: Make, tmp_path: Path
) -> None:
    srv = osv_server([record("PYSEC-1", "alpha", summary="old")])
    fast_client(srv.url, cache=OsvCache(tmp_path, srv.url, ttl=0)).lookup([ALPHA])
    srv.add([record("PYSEC-1", "alpha", modified="2025-05-05T00:00:00Z", summary="new")])
    result = fast_client(srv.url, cache=OsvCache(tmp_path, srv.url, ttl=0)).lookup([ALPHA])
    assert [r["summary"] for r in result.records[ALPHA]] == ["new"]


def test_cache_is_per_endpoint(osv_server: Start, fast_client: Make, tmp_path: Path) -> None:
    one = osv_server([record("PYSEC-1", "alpha")])
    two = osv_server([])
    fast_client(one.url, cache=OsvCache(tmp_path, one.url)).lookup([ALPHA])
    result = fast_client(two.url, cache=OsvCache(tmp_path, two.url)).lookup([ALPHA])
    assert result.records[ALPHA] == []
    assert two.counts["querybatch"] == 1


def test_two_writers_at_once(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            cache = OsvCache(tmp_path, "http://osv.example")
            for i in range(30):
                cache.put_records([record(f"X-{n}-{i}", "alpha")])
                cache.put_answers({PackageQuery("PyPI", f"p{n}", str(i)): [(f"X-{n}-{i}", "m")]})
            cache.close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    cache = OsvCache(tmp_path, "http://osv.example")
    keys = [(f"X-{n}-{i}", "2024-01-01T00:00:00Z") for n in range(4) for i in range(30)]
    assert len(cache.records(keys)) == 120


def test_default_dir_in_github_actions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path))
    assert default_cache_dir() == tmp_path / "mlgate"
    monkeypatch.delenv("GITHUB_ACTIONS")
    assert default_cache_dir() != tmp_path / "mlgate"
