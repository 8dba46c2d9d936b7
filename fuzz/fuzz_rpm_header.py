"""Fuzz harness: rpm header blobs (mlgate.image.rpm).

Invariant: reading a header (its tags, the package, its Python metadata files) returns or raises
what ``parse_rpmdb`` turns into a per-row problem: RpmFormatError or struct.error.
"""

from __future__ import annotations

import contextlib
import struct

from fuzz import seeds as seed_inputs

NAME = "rpm_header"
TOKENS = [struct.pack(">I", 1000), struct.pack(">I", 1117), struct.pack(">I", 1116),
          struct.pack(">I", 4), struct.pack(">I", 6), struct.pack(">I", 8),
          struct.pack(">i", -1), b"\x00", b"METADATA\x00", b".egg-info\x00",
          b"x.src.rpm\x00"]  # fmt: skip


def seeds() -> list[bytes]:
    return seed_inputs.rpm_headers()


def check(data: bytes) -> None:
    from mlgate.image.rpm import (
        RpmFormatError,
        package_from_header,
        parse_header,
        python_metadata,
    )

    with contextlib.suppress(RpmFormatError, struct.error):
        package_from_header(parse_header(data), 1)
    try:
        python_metadata(data)
    except (RpmFormatError, struct.error):
        return
