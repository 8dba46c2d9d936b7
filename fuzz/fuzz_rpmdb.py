"""Fuzz harness: the rpm sqlite database reader (mlgate.image.rpm.parse_rpmdb).

Invariant: ``parse_rpmdb`` returns packages and problems, or raises sqlite3.Error or
RpmFormatError (its documented errors: the file is not a readable rpm database).
"""

from __future__ import annotations

import sqlite3

from fuzz import seeds as seed_inputs
from fuzz.common import scratch

NAME = "rpmdb"
TOKENS = [b"SQLite format 3\x00", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"Packages",
          b"VIEW", b"hnum", b"blob", b"\x0d", b"\x05", b"\x0a", b"\x02"]  # fmt: skip


def seeds() -> list[bytes]:
    return seed_inputs.rpmdbs()


def check(data: bytes) -> None:
    from mlgate.image.rpm import RpmFormatError, parse_rpmdb

    path = scratch().write("rpmdb.sqlite", data)
    try:
        parse_rpmdb(path)
    except (sqlite3.Error, RpmFormatError):
        return
