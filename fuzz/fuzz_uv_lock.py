"""Fuzz harness: the uv lock extractor (mlgate.inventory.uvlock).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "uv_lock"
FILENAME = "uv.lock"
SEEDS = [
    (
        "version = 1\n"
        'requires-python = ">=3.11"\n'
        "[[package]]\n"
        'name = "demo"\n'
        'version = "0.1.0"\n'
        'source = { editable = "." }\n'
        'dependencies = [{ name = "numpy" }]\n'
        "[package.optional-dependencies]\n"
        'dev = [{ name = "pytest" }]\n'
        "[[package]]\n"
        'name = "numpy"\n'
        'version = "1.26.4"\n'
        'source = { registry = "https://pkgs.registry.example/simple" }\n'
        'sdist = { url = "https://files.example/numpy.tar.gz", hash = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" }\n'
    ),
]
TOKENS = [b"[[package]]", b"source = { registry = ", b"dependencies = [", b"{ name = ", b"}", b"]"]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.uvlock import UvLockExtractor

    extract(UvLockExtractor, FILENAME, data)
