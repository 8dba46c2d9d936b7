"""Fuzz harness: the wheel extractor (mlgate.inventory.wheels.WheelExtractor).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import extract
from fuzz.tokens import ZIP_TOKENS

NAME = "wheel"
FILENAME = "demo-1.0-py3-none-any.whl"
TOKENS = [*ZIP_TOKENS, b".dist-info/METADATA", b"\nName: ", b"\nVersion: "]


def seeds() -> list[bytes]:
    return seed_inputs.wheels()


def check(data: bytes) -> None:
    from mlgate.inventory.wheels import WheelExtractor

    extract(WheelExtractor, FILENAME, data)
