"""Fuzz harness: the pylock extractor (mlgate.inventory.pylock).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "pylock"
FILENAME = "pylock.toml"
SEEDS = [
    (
        'lock-version = "1.0"\n'
        'created-by = "x"\n'
        "[[packages]]\n"
        'name = "numpy"\n'
        'version = "1.26.4"\n'
        "[[packages.wheels]]\n"
        'url = "https://files.example/numpy.whl"\n'
        'hashes = {sha256 = "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}\n'
        "[[packages]]\n"
        'name = "x"\n'
        'vcs = {type = "git", url = "https://git.example/x", commit-id = "abc"}\n'
    ),
]
TOKENS = [b"[[packages]]", b"[[packages.wheels]]", b"hashes = {", b"vcs = {", b"}"]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.pylock import PylockExtractor

    extract(PylockExtractor, FILENAME, data)
