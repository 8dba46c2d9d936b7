"""Fuzz harness: the pipfile extractor (mlgate.inventory.pipfile).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "pipfile"
FILENAME = "Pipfile"
SEEDS = [
    (
        "[[source]]\n"
        'url = "https://pkgs.registry.example/simple"\n'
        "verify_ssl = true\n"
        'name = "main"\n'
        "[packages]\n"
        'numpy = "==1.26.4"\n'
        'requests = {version = "*", extras = ["socks"]}\n'
        'x = {git = "https://git.example/x", ref = "v1"}\n'
        "[dev-packages]\n"
        'pytest = "*"\n'
    ),
]
TOKENS = [b"[packages]", b"[dev-packages]", b"{", b"}", b'= "', b"[[source]]"]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.pipfile import PipfileExtractor

    extract(PipfileExtractor, FILENAME, data)
