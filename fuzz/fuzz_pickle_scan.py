"""Fuzz harness: the pickle scanner through the Dispatcher (protocols 0-5, nested pickles, joblib).

Invariant: scanning never raises out of the Dispatcher; every finding sorts and renders
as JSON and SARIF."""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import scan_model

NAME = "pickle_scan"
FILENAME = "model.pkl"


def seeds() -> list[bytes]:
    return seed_inputs.pickles()


def check(data: bytes) -> None:
    scan_model(FILENAME, data)
