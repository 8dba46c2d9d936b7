"""Fuzz harness: the pdm lock extractor (mlgate.inventory.pdm).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "pdm_lock"
FILENAME = "pdm.lock"
SEEDS = [
    (
        "[metadata]\n"
        'groups = ["default", "dev"]\n'
        'lock_version = "4.4"\n'
        "[[package]]\n"
        'name = "numpy"\n'
        'version = "1.26.4"\n'
        'groups = ["default"]\n'
        'files = [{file = "numpy.whl", hash = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"}]\n'
        'dependencies = ["six>=1"]\n'
    ),
]
TOKENS = [b"[[package]]", b"groups = [", b"dependencies = [", b'"']


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.pdm import PdmLockExtractor

    extract(PdmLockExtractor, FILENAME, data)
