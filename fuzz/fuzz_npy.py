"""Fuzz harness: NumPy .npy/.npz files through the Dispatcher.

Invariant: scanning never raises out of the Dispatcher; every finding sorts and renders
as JSON and SARIF."""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import scan_model

NAME = "npy"
FILENAME = "arrays.npy"


def seeds() -> list[bytes]:
    return seed_inputs.npys()


def check(data: bytes) -> None:
    scan_model(FILENAME, data)
