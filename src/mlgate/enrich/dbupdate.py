"""``mlgate db update``: download OSV's per-ecosystem dumps, check them, build the index."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import platformdirs
import requests

from mlgate import __version__
from mlgate.enrich.advisories import MalformedRecordError, validate
from mlgate.enrich.offline import MAX_RECORD_BYTES, OfflineSource

DEFAULT_DUMP_URL = "https://osv-vulnerabilities.storage.googleapis.com"
DEFAULT_ECOSYSTEMS = ("PyPI",)
MAX_DUMP_BYTES = 8 * 1024**3


class DumpError(Exception):
    """A dump that could not be downloaded or is not a valid OSV dump."""


@dataclass(frozen=True)
class DumpReport:
    ecosystem: str
    records: int = 0
    malformed: int = 0
    error: str = ""


def default_db_dir() -> Path:
    return Path(platformdirs.user_cache_dir("mlgate")) / "osv-db"


def verify(path: Path) -> tuple[int, int]:
    """(valid records, malformed records) of a dump; :class:`DumpError` if it is unusable."""
    try:
        with zipfile.ZipFile(path) as zf:
            records = malformed = 0
            for info in zf.infolist():
                if info.is_dir() or not info.filename.endswith(".json"):
                    continue
                if info.file_size > MAX_RECORD_BYTES:
                    malformed += 1
                    continue
                try:
                    validate(json.loads(zf.read(info)))
                    records += 1
                except (ValueError, MalformedRecordError):
                    malformed += 1
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DumpError(f"not a valid zip: {exc}") from exc
    if records == 0:
        raise DumpError("the dump holds no OSV record")
    return records, malformed


def download(
    session: requests.Session, url: str, target: Path, *, timeout: float = 60.0
) -> DumpReport:
    """Fetch ``url`` into a temporary file, verify it, then replace ``target`` atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".all-", suffix=".zip.part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with session.get(url, stream=True, timeout=timeout) as resp:
                    if resp.status_code != 200:
                        raise DumpError(f"HTTP {resp.status_code} from {url}")
                    size = 0
                    for chunk in resp.iter_content(1 << 20):
                        size += len(chunk)
                        if size > MAX_DUMP_BYTES:
                            raise DumpError("dump larger than the size limit")
                        out.write(chunk)
            except requests.RequestException as exc:
                raise DumpError(f"{type(exc).__name__} while downloading {url}") from exc
        records, malformed = verify(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return DumpReport(target.parent.name, records, malformed)


def update(
    db: Path, ecosystems: tuple[str, ...] | list[str], base_url: str | None, cache_dir: Path
) -> tuple[list[DumpReport], dict[str, int]]:
    """Download every ecosystem's ``all.zip`` into ``db/<ECOSYSTEM>/`` and rebuild the index."""
    base = (base_url or DEFAULT_DUMP_URL).rstrip("/")
    reports = []
    with requests.Session() as session:
        session.headers["User-Agent"] = f"mlgate/{__version__}"
        for eco in ecosystems:
            if not eco or "/" in eco or eco in {".", ".."}:
                reports.append(DumpReport(eco, error="not an ecosystem name"))
                continue
            url = f"{base}/{quote(eco, safe=':')}/all.zip"
            try:
                reports.append(download(session, url, db / eco / "all.zip"))
            except DumpError as exc:
                reports.append(DumpReport(eco, error=str(exc)))
    counts: dict[str, int] = {}
    if any(not r.error for r in reports) or any(db.glob("*/all.zip")):
        source = OfflineSource(db, cache_dir=cache_dir)
        counts = dict(source.counts)
        source.close()
    return reports, counts
