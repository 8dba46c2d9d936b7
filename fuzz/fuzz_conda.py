"""Fuzz harness: the conda extractor (mlgate.inventory.conda).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "conda"
FILENAME = "environment.yml"
SEEDS = [
    (
        "name: demo\n"
        "channels:\n"
        "  - conda-forge\n"
        "  - https://conda.example/channel\n"
        "dependencies:\n"
        "  - python=3.11\n"
        "  - numpy=1.26.4=py311_0\n"
        "  - conda-forge::scipy>=1.11\n"
        "  - pip\n"
        "  - pip:\n"
        "    - torch==2.1.0\n"
        "    - -r requirements.txt\n"
        "    - --index-url https://pkgs.registry.example/simple\n"
    ),
]
TOKENS = [b"- ", b"pip:", b"::", b"=", b"&a", b"*a", b"!!python/object", b"{", b"[", b"\t", b": "]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.conda import CondaEnvironmentExtractor

    extract(CondaEnvironmentExtractor, FILENAME, data)
