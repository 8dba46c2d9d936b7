"""Fuzz harness: the built-in 7z header reader (mlgate.inspect.sevenzip).

Invariant: ``read_archive`` and ``iter_members`` return or raise what the caller treats as
"not a common 7z, use py7zr" (Unsupported, OSError, ValueError, OverflowError, struct.error,
lzma.LZMAError) and nothing else.
"""

from __future__ import annotations

import io
import lzma
import struct

from fuzz import seeds as seed_inputs

NAME = "sevenzip_reader"


def seeds() -> list[bytes]:
    return seed_inputs.sevenzips()


def check(data: bytes) -> None:
    from mlgate.inspect import sevenzip

    fallback = (sevenzip.Unsupported, OSError, ValueError, OverflowError, struct.error)
    try:
        fh = io.BytesIO(data)
        archive = sevenzip.read_archive(fh, len(data), 1000, lambda: None)
        for entry, stream in sevenzip.iter_members(fh, archive, lambda: None):
            if stream is not None and not entry.is_dir:
                io.BufferedReader(stream).read(1 << 20)
    except (*fallback, lzma.LZMAError):
        return
