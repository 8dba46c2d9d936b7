"""Fuzz harness: HDF5 / Keras .h5 files through the Dispatcher.

Invariant: scanning never raises out of the Dispatcher; every finding sorts and renders
as JSON and SARIF."""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import scan_model

NAME = "hdf5"
FILENAME = "model.h5"


def seeds() -> list[bytes]:
    return seed_inputs.hdf5s()


def check(data: bytes) -> None:
    scan_model(FILENAME, data)
