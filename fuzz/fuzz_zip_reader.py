"""Fuzz harness: the central-directory zip reader (mlgate.inspect.archives.ZipReader).

Invariant: reading the member list returns or raises ZipFormatError only.
"""

from __future__ import annotations

import io

from fuzz import seeds as seed_inputs

NAME = "zip_reader"


def seeds() -> list[bytes]:
    return [*seed_inputs.zips(), seed_inputs.keras_zip(), seed_inputs.npys()[-1]]


def check(data: bytes) -> None:
    from mlgate.inspect.archives import ZipFormatError, ZipReader

    try:
        reader = ZipReader(io.BytesIO(data), len(data), 1000)
    except ZipFormatError:
        return
    for entry in reader.entries:
        _ = entry.name
