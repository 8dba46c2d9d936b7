"""Fuzz harness: TF SavedModel protobufs through the Dispatcher.

Invariant: scanning never raises out of the Dispatcher; every finding sorts and renders
as JSON and SARIF."""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import scan_model

NAME = "savedmodel"
FILENAME = "export/saved_model.pb"


def seeds() -> list[bytes]:
    return seed_inputs.savedmodels()


def check(data: bytes) -> None:
    scan_model(FILENAME, data)
