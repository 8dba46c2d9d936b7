"""Fuzz harness: dpkg's status database (mlgate.image.dpkg).

Invariant: ``parse_status`` returns packages and problems, or raises DebFormatError.
"""

from __future__ import annotations

from fuzz import seeds as seed_inputs

NAME = "dpkg"
TOKENS = [b"\n\n", b"\n ", b"\n\t", b":", b"Package: ", b"Version: ", b"Status: ",
          b"install ok installed", b"Source: ", b" (", b")", b"\r", b"\x00", b"\xff",
          b"\x0b", b"\x1c", b"\x85", b"\xe2\x80\xa8"]  # fmt: skip


def seeds() -> list[bytes]:
    return [seed_inputs.DPKG_STATUS.encode()]


def check(data: bytes) -> None:
    from mlgate.image.dpkg import DebFormatError, parse_status

    try:
        parse_status(data.decode("utf-8", "replace"))
    except DebFormatError:
        return
