"""Fuzz harness: the poetry lock extractor (mlgate.inventory.poetry).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "poetry_lock"
FILENAME = "poetry.lock"
SEEDS = [
    (
        "[[package]]\n"
        'name = "numpy"\n'
        'version = "1.26.4"\n'
        "optional = false\n"
        'python-versions = ">=3.9"\n'
        'groups = ["main"]\n'
        "files = [\n"
        '    {file = "numpy-1.26.4.tar.gz", hash = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"},\n'
        "]\n"
        "[package.dependencies]\n"
        'six = ">=1"\n'
        "[[package]]\n"
        'name = "six"\n'
        'version = "1.16.0"\n'
        'category = "dev"\n'
        "[metadata]\n"
        'lock-version = "2.0"\n'
        'content-hash = "x"\n'
    ),
]
TOKENS = [b"[[package]]", b"name = ", b"version = ", b"[package.dependencies]", b"{", b"}", b'"']


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.poetry import PoetryLockExtractor

    extract(PoetryLockExtractor, FILENAME, data)
