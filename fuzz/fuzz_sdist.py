"""Fuzz harness: the sdist extractor (mlgate.inventory.wheels.SdistExtractor), ``.tar.gz`` and
``.zip``.

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import extract
from fuzz.tokens import TAR_TOKENS, ZIP_TOKENS

NAME = "sdist"
TOKENS = [*ZIP_TOKENS, *TAR_TOKENS, b"/PKG-INFO", b"\nName: ", b"\x1f\x8b\x08\x00"]


def seeds() -> list[bytes]:
    return seed_inputs.sdists()


def check(data: bytes) -> None:
    from mlgate.inventory.wheels import SdistExtractor

    # the name picks the reader: a zip by its signature, a tar.gz otherwise
    extract(SdistExtractor, "demo-1.0.zip" if data[:2] == b"PK" else "demo-1.0.tar.gz", data)
