"""rpm's sqlite database (``rpmdb.sqlite``, ``Packages.db`` when it is sqlite): header blobs.

Each row of table ``Packages`` holds one package header as rpm exports it: a big-endian count
of index entries and of data bytes, the entries (tag, type, offset, count), then the data. Only
the few tags an inventory needs are read. The Berkeley DB ``Packages`` of older systems and
SUSE's ndb are not parsed (a warning says so).
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_INDEX_ENTRIES = 0xFFFF  # rpm's own bounds on a header
MAX_DATA_BYTES = 256 * 1024 * 1024
MAX_PACKAGES = 200_000
MAX_BLOB_BYTES = 64 * 1024 * 1024  # any value sqlite hands over (a header is a few KB)
MAX_VM_STEPS = 2_000_000_000  # sqlite instructions per database (a real one needs ~1000/row)

TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH = 1000, 1001, 1002, 1003
TAG_VENDOR, TAG_LICENSE, TAG_ARCH, TAG_SOURCERPM = 1011, 1014, 1022, 1044
TAG_DIRINDEXES, TAG_BASENAMES, TAG_DIRNAMES = 1116, 1117, 1118
METADATA_NAMES = (b"METADATA", b"PKG-INFO")
TYPE_INT32, TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING = 4, 6, 8, 9
_ENTRY = struct.Struct(">iIiI")


class RpmFormatError(ValueError):
    """A header blob that does not follow rpm's layout."""


@dataclass(frozen=True)
class RpmPackage:
    name: str
    version: str  # "[epoch:]version-release", the spelling OSV's RPM ecosystems use
    arch: str
    license: str
    vendor: str
    epoch: int | None
    source_name: str  # of the source rpm ("" when the header names none)
    row: int
    python_metadata: tuple[str, ...] = ()  # Python metadata files the package installed


def _index(blob: bytes) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """The data store and the (tag, type, offset, count) entries of one header blob."""
    if len(blob) < 8:
        raise RpmFormatError("header shorter than its 8-byte preamble")
    il, dl = struct.unpack_from(">II", blob, 0)
    if il > MAX_INDEX_ENTRIES or dl > MAX_DATA_BYTES:
        raise RpmFormatError(f"header claims {il} entries and {dl} data bytes")
    data_start = 8 + il * _ENTRY.size
    if data_start + dl > len(blob):
        raise RpmFormatError("header cut short: its data runs past the end of the blob")
    entries = [_ENTRY.unpack_from(blob, 8 + i * _ENTRY.size) for i in range(il)]
    return blob[data_start : data_start + dl], entries


def parse_header(blob: bytes) -> dict[int, str | int]:
    """The wanted tags of one header blob (strings, or the first int32)."""
    data, entries = _index(blob)
    dl = len(data)
    wanted = {TAG_NAME, TAG_VERSION, TAG_RELEASE, TAG_EPOCH, TAG_VENDOR, TAG_LICENSE}
    wanted |= {TAG_ARCH, TAG_SOURCERPM}
    out: dict[int, str | int] = {}
    for tag, typ, offset, count in entries:
        if tag not in wanted:
            continue
        if offset < 0 or offset >= dl or count < 1:
            raise RpmFormatError(f"tag {tag}: offset {offset} outside the data")
        if typ == TYPE_INT32:
            if offset + 4 > dl:
                raise RpmFormatError(f"tag {tag}: int32 outside the data")
            out[tag] = struct.unpack_from(">i", data, offset)[0]
        elif typ in (TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING):
            end = data.find(b"\x00", offset)
            if end < 0:
                raise RpmFormatError(f"tag {tag}: string without its terminating NUL")
            out[tag] = data[offset:end].decode("utf-8", "replace")
        else:
            raise RpmFormatError(f"tag {tag}: unexpected type {typ}")
    return out


def _strings(data: bytes, tag: int, offset: int, count: int) -> Iterator[bytes]:
    """The ``count`` NUL-terminated strings of a string array, each checked against the data."""
    if offset < 0 or count < 1 or offset >= len(data) or count > len(data) - offset:
        raise RpmFormatError(f"tag {tag}: {count} strings at {offset} outside the data")
    pos = offset
    for _ in range(count):
        end = data.find(b"\x00", pos)
        if end < 0:
            raise RpmFormatError(f"tag {tag}: string array runs past the data")
        yield data[pos:end]
        pos = end + 1


def python_metadata(blob: bytes) -> tuple[str, ...]:
    """Paths of Python core metadata (``METADATA``, ``PKG-INFO``, ``*.egg-info``) among the files
    of the package: rpm stores them as base names, each with an index into the folder names."""
    data, entries = _index(blob)
    found = {tag: (typ, offset, count) for tag, typ, offset, count in entries}
    if not {TAG_BASENAMES, TAG_DIRNAMES, TAG_DIRINDEXES} <= found.keys():
        return ()  # no files, or the old flat OLDFILENAMES list
    (btype, boff, bcount), (dtype, doff, dcount) = found[TAG_BASENAMES], found[TAG_DIRNAMES]
    itype, ioff, icount = found[TAG_DIRINDEXES]
    if (btype, dtype, itype) != (TYPE_STRING_ARRAY, TYPE_STRING_ARRAY, TYPE_INT32):
        raise RpmFormatError("file list tags of unexpected types")
    if icount != bcount or ioff < 0 or ioff + 4 * icount > len(data):
        raise RpmFormatError(f"{bcount} file names but {icount} folder indexes")
    wanted: dict[int, list[str]] = {}  # folder index -> metadata base names in it
    for i, base in enumerate(_strings(data, TAG_BASENAMES, boff, bcount)):
        if base in METADATA_NAMES or base.endswith(b".egg-info"):  # bytes: most are not
            index = struct.unpack_from(">i", data, ioff + 4 * i)[0]
            wanted.setdefault(index, []).append(base.decode("utf-8", "replace"))
    if not wanted:
        return ()
    out: list[str] = []
    for j, folder in enumerate(_strings(data, TAG_DIRNAMES, doff, dcount)):
        if j in wanted:
            out += (folder.decode("utf-8", "replace") + base for base in wanted.pop(j))
    if wanted:
        raise RpmFormatError(f"folder index {min(wanted)} beyond the {dcount} folder names")
    return tuple(out)


def source_name(srpm: str) -> str:
    """``openssl-3.0.7-24.el9.src.rpm`` -> ``openssl``."""
    base = srpm.removesuffix(".rpm")
    base = base.rpartition(".")[0] if base.endswith((".src", ".nosrc")) else base
    parts = base.rsplit("-", 2)
    return parts[0] if len(parts) == 3 else ""


def package_from_header(tags: dict[int, str | int], row: int) -> RpmPackage | None:
    name = str(tags.get(TAG_NAME, ""))
    version = str(tags.get(TAG_VERSION, ""))
    if not name or not version:
        raise RpmFormatError("header without a name or version")
    if name == "gpg-pubkey":  # imported signing keys are stored as pseudo-packages
        return None
    release = str(tags.get(TAG_RELEASE, ""))
    epoch_raw = tags.get(TAG_EPOCH)
    epoch = epoch_raw if isinstance(epoch_raw, int) else None
    full = f"{version}-{release}" if release else version
    if epoch:
        full = f"{epoch}:{full}"
    return RpmPackage(
        name=name,
        version=full,
        arch=str(tags.get(TAG_ARCH, "")),
        license=str(tags.get(TAG_LICENSE, "")),
        vendor=str(tags.get(TAG_VENDOR, "")),
        epoch=epoch,
        source_name=source_name(str(tags.get(TAG_SOURCERPM, ""))),
        row=row,
    )


def _open_untrusted(path: Path) -> sqlite3.Connection:
    """The database as SQLite advises for files of unknown origin: read-only and immutable (no
    journal, lock or -wal file beside it), schema code untrusted, values and work bounded."""
    uri = path.resolve().as_uri() + "?mode=ro&immutable=1"
    conn = sqlite3.connect(uri, uri=True)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_BLOB_BYTES)
    conn.execute("PRAGMA trusted_schema = OFF")
    conn.execute("PRAGMA cell_size_check = ON")
    steps = [0]

    def budget() -> int:  # called every 1000 VM instructions; non-zero interrupts the query
        steps[0] += 1
        return int(steps[0] > MAX_VM_STEPS // 1000)

    conn.set_progress_handler(budget, 1000)
    return conn


def read_rpmdb(path: Path) -> Iterator[tuple[int | None, bytes | None]]:
    """(row, blob) of every package of an rpm sqlite database, opened read-only; ``None`` for a
    key or blob of another type than rpm writes."""
    conn = _open_untrusted(path)
    try:
        kind = conn.execute(
            "SELECT type FROM sqlite_master WHERE lower(name) = 'packages'"
        ).fetchone()
        if kind is None or kind[0] != "table":
            # a view (or no table at all) is code the file's author chose to run here
            raise RpmFormatError(f"Packages is {kind[0] if kind else 'missing'}, not a table")
        cur = conn.execute("SELECT hnum, blob FROM Packages ORDER BY hnum LIMIT ?", (MAX_PACKAGES,))
        for hnum, blob in cur:
            yield (
                hnum if isinstance(hnum, int) else None,
                blob if isinstance(blob, bytes) else None,
            )
    except UnicodeDecodeError:
        # sqlite's message about a damaged schema quotes its bytes, which Python decodes
        raise RpmFormatError("damaged schema: sqlite's error message is not UTF-8") from None
    finally:
        conn.close()


def parse_rpmdb(path: Path) -> tuple[list[RpmPackage], list[tuple[int, str]]]:
    """Packages of the database, and (row, problem) for headers that could not be read.

    Raises ``sqlite3.Error`` or :class:`RpmFormatError` when the file is not a readable rpm
    sqlite database.
    """
    out: list[RpmPackage] = []
    problems: list[tuple[int, str]] = []
    for count, (hnum, blob) in enumerate(read_rpmdb(path), 1):
        row = hnum if hnum is not None else count
        if hnum is None or blob is None:
            problems.append((row, f"package row {count}: not an integer key and a header blob"))
            continue
        try:
            pkg = package_from_header(parse_header(blob), row)
        except (RpmFormatError, struct.error) as exc:
            problems.append((row, f"package header {row}: {exc}"))
            continue
        if pkg is None:
            continue
        try:
            pkg = replace(pkg, python_metadata=python_metadata(blob))
        except (RpmFormatError, struct.error) as exc:
            problems.append((row, f"package header {row}: {pkg.name}'s file list: {exc}"))
        out.append(pkg)
    return out, problems
