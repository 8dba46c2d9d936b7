"""On-disk OSV cache: one SQLite file in WAL mode (safe for concurrent runs; never pickle).

Full records are keyed by ``(id, modified)``: a record that changed upstream has a new ``modified``
and is fetched again. Query answers (the ids and ``modified`` stamps OSV returned for one package
version) expire after a TTL so new advisories show up.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import platformdirs

from mlgate.enrich.interface import PackageQuery, Record

log = logging.getLogger(__name__)
DEFAULT_QUERY_TTL = 3600.0  # seconds; MLGATE_OSV_CACHE_TTL overrides
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  id TEXT NOT NULL, modified TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (id, modified));
CREATE TABLE IF NOT EXISTS answers (
  source TEXT NOT NULL, ecosystem TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
  fetched REAL NOT NULL, vulns TEXT NOT NULL, PRIMARY KEY (source, ecosystem, name, version));
"""


def default_cache_dir() -> Path:
    """``$RUNNER_TEMP/mlgate`` in GitHub Actions (wiped per job), else the user cache folder."""
    runner_temp = os.environ.get("RUNNER_TEMP")
    if os.environ.get("GITHUB_ACTIONS") == "true" and runner_temp:
        return Path(runner_temp) / "mlgate"
    return Path(platformdirs.user_cache_dir("mlgate"))


def query_ttl() -> float:
    try:
        return float(os.environ.get("MLGATE_OSV_CACHE_TTL", DEFAULT_QUERY_TTL))
    except ValueError:
        return DEFAULT_QUERY_TTL


class OsvCache:
    """Records and query answers of one OSV endpoint (``source`` names it)."""

    def __init__(self, folder: Path, source: str, *, ttl: float | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "osv-cache.sqlite3"
        self.source = source
        self.ttl = query_ttl() if ttl is None else ttl
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._open()

    def _open(self) -> None:
        """Switch to WAL and create the tables, tolerating another run doing the same.

        SQLite answers "database is locked" at once, without waiting for the busy timeout, when
        two connections change the journal mode of a new file together; retry for a while.
        """
        deadline = time.monotonic() + 30
        delay = 0.01
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def close(self) -> None:
        self._db.close()

    def answers(self, queries: Sequence[PackageQuery]) -> dict[PackageQuery, list[tuple[str, str]]]:
        """Fresh cached answers: query -> [(id, modified)]."""
        oldest = time.time() - self.ttl
        out: dict[PackageQuery, list[tuple[str, str]]] = {}
        for q in queries:
            row = self._db.execute(
                "SELECT vulns FROM answers WHERE source=? AND ecosystem=? AND name=? "
                "AND version=? AND fetched>=?",
                (self.source, q.ecosystem, q.name, q.version, oldest),
            ).fetchone()
            if row is not None:
                out[q] = [(i, m) for i, m in json.loads(row[0])]
        return out

    def put_answers(self, answers: dict[PackageQuery, list[tuple[str, str]]]) -> None:
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?)",
                [
                    (self.source, q.ecosystem, q.name, q.version, now, json.dumps(v))
                    for q, v in answers.items()
                ],
            )

    def records(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Record]:
        out: dict[tuple[str, str], Record] = {}
        for rid, modified in keys:
            row = self._db.execute(
                "SELECT body FROM records WHERE id=? AND modified=?", (rid, modified)
            ).fetchone()
            if row is not None:
                try:
                    out[(rid, modified)] = json.loads(row[0])
                except ValueError:
                    continue  # a damaged row is simply fetched again
        return out

    def put_records(self, records: Iterable[Record]) -> None:
        rows = [
            (r["id"], str(r.get("modified", "")), json.dumps(r, separators=(",", ":")))
            for r in records
        ]
        with self._transaction():
            self._db.executemany("INSERT OR REPLACE INTO records VALUES (?,?,?)", rows)

    def _transaction(self) -> _Txn:
        return _Txn(self._db)

    def try_put_answers(self, answers: dict[PackageQuery, list[tuple[str, str]]]) -> bool:
        """Best effort: a cache that cannot be written (disk full, locked) only costs speed."""
        try:
            self.put_answers(answers)
        except sqlite3.Error as exc:
            log.warning("OSV cache not written: %s", exc)
            return False
        return True

    def try_put_records(self, records: Iterable[Record]) -> bool:
        try:
            self.put_records(records)
        except sqlite3.Error as exc:
            log.warning("OSV cache not written: %s", exc)
            return False
        return True


class _Txn:
    """BEGIN IMMEDIATE ... COMMIT: writers of two runs queue on SQLite's lock instead of failing."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
