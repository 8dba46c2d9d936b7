"""rpm sqlite databases written by the tests, header blobs laid out as rpm's headerExport does.

A blob is: big-endian entry count and data length, 16-byte entries (tag, type, offset, count)
sorted by tag, then the data store (NUL-terminated strings; int32 aligned to 4 bytes).
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path

RPM_INT32, RPM_STRING, RPM_STRING_ARRAY = 4, 6, 8
TAGS = {
    "name": 1000,
    "version": 1001,
    "release": 1002,
    "epoch": 1003,
    "vendor": 1011,
    "license": 1014,
    "arch": 1022,
    "sourcerpm": 1044,
}


def header_blob(fields: dict[str, str | int], extra: dict[int, str] | None = None) -> bytes:
    entries: list[tuple[int, int, int, int]] = []
    data = bytearray()
    items: list[tuple[int, str | int]] = [(TAGS[k], v) for k, v in fields.items()]
    items += list((extra or {}).items())
    for tag, value in sorted(items):
        if isinstance(value, int):
            while len(data) % 4:
                data.append(0)
            entries.append((tag, RPM_INT32, len(data), 1))
            data += struct.pack(">i", value)
        else:
            entries.append((tag, RPM_STRING, len(data), 1))
            data += value.encode() + b"\x00"
    out = struct.pack(">II", len(entries), len(data))
    out += b"".join(struct.pack(">iIiI", *e) for e in entries)
    return out + bytes(data)


def write_rpmdb(path: Path, blobs: list[bytes]) -> Path:
    """The schema rpm 4.16+ creates for its sqlite backend (table Packages: hnum, blob)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)"
    )
    conn.executemany("INSERT INTO Packages (blob) VALUES (?)", [(b,) for b in blobs])
    conn.commit()
    conn.close()
    return path
