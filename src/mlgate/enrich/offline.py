"""The offline source: OSV's per-ecosystem dumps matched locally through a SQLite index.

``--osv-db PATH`` names a folder holding ``<ECOSYSTEM>/all.zip`` files, one such zip, or a folder
of ``<ID>.json`` records. The first scan parses them into an index (records and a table keyed by
ecosystem and normalised package name); later scans read the index only.

The database folder is never written (it is often read-only: a mounted volume, a CI cache, a
shared folder). The index lives in the user cache folder, named after the database's identity:
its resolved path and the content of every dump zip (names, sizes and CRCs of its members, from
the central directory) or the size and modification time of every JSON record. A changed dump
gets a new index file; two runs building the same one at once each write a private temporary
file and move it into place atomically, so a reader never sees half an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from mlgate.enrich.advisories import MalformedRecordError, is_withdrawn, validate
from mlgate.enrich.interface import (
    AdvisorySource,
    LookupResult,
    PackageQuery,
    Record,
    SourceError,
)
from mlgate.enrich.matching import ecosystem_matches, record_affects
from mlgate.enrich.versions import base_ecosystem
from mlgate.model import ScanWarning, normalize_name
from mlgate.textsafe import for_terminal

INDEX_FORMAT = "1"
INDEX_FOLDER = "osv-index"
MAX_RECORD_BYTES = 16 * 1024 * 1024  # one record; larger members are skipped with a warning
MAX_JSON_FILES = 2_000_000


def discover(path: Path) -> list[Path]:
    """The dump files under ``path``: ``*/all.zip``, ``*.zip`` or ``*.json`` records."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SourceError(f"{path}: no such OSV database", hint="run 'mlgate db update'")
    zips = sorted(p for p in path.glob("*/all.zip") if p.is_file())
    zips += sorted(p for p in path.glob("*.zip") if p.is_file())
    jsons: list[Path] = []
    for root, dirs, names in os.walk(path):  # os.walk does not follow symlinked folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        jsons += [Path(root) / f for f in sorted(names) if f.endswith(".json")]
        if len(jsons) > MAX_JSON_FILES:
            raise SourceError(f"{path}: more than {MAX_JSON_FILES} JSON files")
    files = zips + [p for p in jsons if not p.is_symlink()]
    if not files:
        raise SourceError(
            f"{path}: no OSV records found (expected <ECOSYSTEM>/all.zip, a zip or JSON files)",
            hint="run 'mlgate db update --osv-db PATH'",
        )
    return files


def _zip_identity(path: Path) -> str | None:
    """The member names, sizes and CRCs of a zip: its content, read from the central directory
    alone (a restored CI cache gets new modification times, not new content)."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return None
    entries = sorted(f"{i.filename}\0{i.file_size}\0{i.CRC:08x}" for i in members)
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def _signature(files: Sequence[Path]) -> str:
    """The identity of a database's state: the content of its zips, the size and modification
    time of its JSON records (reading them all would cost as much as indexing them)."""
    digest = hashlib.sha256(INDEX_FORMAT.encode())
    for f in files:
        st = f.stat()
        identity = _zip_identity(f) if f.suffix != ".json" else None
        state = f"zip:{identity}" if identity else f"{st.st_size}\t{st.st_mtime_ns}"
        digest.update(f"{f.resolve()}\t{state}\n".encode())
    return digest.hexdigest()


def _read_records(files: Sequence[Path]) -> Iterator[tuple[str, bytes | None, str]]:
    """(where, JSON bytes or None, problem) for every record of every file."""
    for f in files:
        if f.suffix == ".json":
            size = f.stat().st_size
            if size > MAX_RECORD_BYTES:
                yield str(f), None, "record larger than the size limit"
                continue
            yield str(f), f.read_bytes(), ""
            continue
        try:
            with zipfile.ZipFile(f) as zf:
                for info in zf.infolist():
                    if info.is_dir() or not info.filename.endswith(".json"):
                        continue
                    where = f"{f}!{info.filename}"
                    if info.file_size > MAX_RECORD_BYTES:
                        yield where, None, "record larger than the size limit"
                        continue
                    with zf.open(info) as member:
                        data = member.read(MAX_RECORD_BYTES + 1)
                    yield where, data[:MAX_RECORD_BYTES], ""
        except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
            yield str(f), None, f"not a readable zip: {exc}"


def build_index(files: Sequence[Path], target: Path, signature: str) -> dict[str, int]:
    """Parse every record into a fresh SQLite file, then move it over ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".osv-index-", suffix=".tmp", dir=target.parent)
    os.close(fd)
    counts = {"records": 0, "withdrawn": 0, "problems": 0}
    try:
        db = sqlite3.connect(tmp)
        db.executescript(
            """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE records (id TEXT PRIMARY KEY, modified TEXT, body BLOB);
            CREATE TABLE entries (base TEXT, ecosystem TEXT, name TEXT, id TEXT);
            CREATE TABLE problems (location TEXT, message TEXT);
            """
        )
        seen: dict[str, str] = {}
        for where, data, problem in _read_records(files):
            record = None
            if data is not None:
                try:
                    record = validate(json.loads(data))
                except (ValueError, MalformedRecordError) as exc:
                    problem = str(exc)[:200]
            if record is None:
                counts["problems"] += 1
                db.execute("INSERT INTO problems VALUES (?,?)", (where, problem))
                continue
            if is_withdrawn(record):
                counts["withdrawn"] += 1
                continue
            rid, modified = record["id"], str(record.get("modified", ""))
            if rid in seen:
                if seen[rid] >= modified:
                    continue  # the same record in two dumps: keep the newest
                db.execute("DELETE FROM entries WHERE id=?", (rid,))
            else:
                counts["records"] += 1
            seen[rid] = modified
            db.execute(
                "INSERT OR REPLACE INTO records VALUES (?,?,?)",
                (rid, modified, zlib.compress(json.dumps(record).encode(), 1)),
            )
            keys = set()
            for entry in record.get("affected") or ():
                pkg = entry.get("package") if isinstance(entry, dict) else None
                if isinstance(pkg, dict):
                    eco, name = pkg.get("ecosystem"), pkg.get("name")
                    if isinstance(eco, str) and isinstance(name, str):
                        base = base_ecosystem(eco)
                        keys.add((base, eco, normalize_name(base, name), rid))
            db.executemany("INSERT INTO entries VALUES (?,?,?,?)", sorted(keys))
        db.execute("CREATE INDEX entries_by_name ON entries (base, name)")
        db.executemany(
            "INSERT INTO meta VALUES (?,?)",
            [("signature", signature), ("format", INDEX_FORMAT), ("counts", json.dumps(counts))],
        )
        db.commit()
        db.close()
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return counts


def _path_key(db_path: Path) -> str:
    return hashlib.sha256(str(db_path.resolve()).encode()).hexdigest()[:16]


def default_index_path(db_path: Path, cache_dir: Path, signature: str) -> Path:
    """The index of one state of one database, in the cache folder (never beside the database)."""
    return cache_dir / INDEX_FOLDER / f"{_path_key(db_path)}-{signature[:16]}.sqlite3"


def _prune_stale(index_path: Path) -> None:
    """Drop the indexes of earlier states of the same database (best effort)."""
    prefix = index_path.name.split("-", 1)[0] + "-"
    for old in index_path.parent.glob(f"{prefix}*.sqlite3"):
        if old != index_path:
            try:
                old.unlink()  # a run still reading it keeps its open file (POSIX)
            except OSError:
                continue


class OfflineSource(AdvisorySource):
    """Matches package versions against a local OSV database (no network)."""

    def __init__(
        self, path: Path, *, cache_dir: Path | None, index_path: Path | None = None
    ) -> None:
        """``cache_dir`` None (``--no-cache``): the index is built in a private temporary folder
        and removed with it at :meth:`close`."""
        self.path = path
        self.files = discover(path)
        signature = _signature(self.files)
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        if index_path is None:
            if cache_dir is None:
                self._scratch = tempfile.TemporaryDirectory(prefix="mlgate-osv-index-")
                cache_dir = Path(self._scratch.name)
            index_path = default_index_path(path, cache_dir, signature)
        self.index_path = index_path
        self.rebuilt = False
        self.counts = self._ensure_index(signature)
        self._db = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True)
        self._records: dict[str, Record] = {}

    def _ensure_index(self, signature: str) -> dict[str, int]:
        if self.index_path.is_file():
            try:
                db = sqlite3.connect(f"file:{self.index_path}?mode=ro", uri=True)
                try:
                    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
                finally:
                    db.close()
                if meta.get("signature") == signature:
                    counts: dict[str, int] = json.loads(meta.get("counts", "{}"))
                    return counts
            except sqlite3.Error:
                pass  # damaged or foreign file: rebuilt below
        self.rebuilt = True
        counts = build_index(self.files, self.index_path, signature)
        if self.index_path.parent.name == INDEX_FOLDER:
            _prune_stale(self.index_path)
        return counts

    def describe(self) -> str:
        return f"offline database {self.path}"

    def close(self) -> None:
        self._db.close()
        if self._scratch is not None:
            self._scratch.cleanup()

    def _record(self, rid: str) -> Record | None:
        if rid not in self._records:
            row = self._db.execute("SELECT body FROM records WHERE id=?", (rid,)).fetchone()
            if row is None:
                return None
            self._records[rid] = json.loads(zlib.decompress(row[0]))
        return self._records[rid]

    def lookup(self, queries: Sequence[PackageQuery]) -> LookupResult:
        result = LookupResult()
        for where, message in self._db.execute("SELECT location, message FROM problems"):
            result.warnings.append(
                ScanWarning(
                    path=for_terminal(where, 300),
                    message=f"malformed OSV record skipped: {for_terminal(message, 200)}",
                    code="osv",
                )
            )
        by_name: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for q in sorted(set(queries)):
            key = (base_ecosystem(q.ecosystem), q.name)
            if key not in by_name:
                by_name[key] = self._db.execute(
                    "SELECT ecosystem, id FROM entries WHERE base=? AND name=?", key
                ).fetchall()
            found: dict[str, Record] = {}
            for eco, rid in by_name[key]:
                if rid in found or not ecosystem_matches(q.ecosystem, eco):
                    continue
                rec = self._record(rid)
                if rec is not None and record_affects(rec, q):
                    found[rid] = rec
            result.records[q] = list(found.values())
        result.stats["osv_offline_records"] = self.counts.get("records", 0)
        result.stats["osv_index_rebuilt"] = float(self.rebuilt)
        return result
