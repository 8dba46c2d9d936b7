"""Fuzz harness: the pipfile lock extractor (mlgate.inventory.pipfile).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "pipfile_lock"
FILENAME = "Pipfile.lock"
SEEDS = [
    (
        '{"_meta": {"hash": {"sha256": "x"}, "sources": [{"url": "https://pkgs.registry.example/simple", "name": "p"}]},\n'
        ' "default": {"numpy": {"version": "==1.26.4", "hashes": ["sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"], "index": "p"}, "x": {"git": "https://git.example/x", "ref": "abc"}},\n'
        ' "develop": {"pytest": {"version": "==8.0.0"}}}\n'
    ),
]
TOKENS = [b"{", b"}", b"[", b"]", b'"version": ', b"null", b"1e999", b'"\\u0000"', b","]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.pipfile import PipfileLockExtractor

    extract(PipfileLockExtractor, FILENAME, data)
