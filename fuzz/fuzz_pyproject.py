"""Fuzz harness: the pyproject extractor (mlgate.inventory.pyproject).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "pyproject"
FILENAME = "pyproject.toml"
SEEDS = [
    (
        "[project]\n"
        'name = "demo"\n'
        'version = "0.1"\n'
        'dependencies = ["numpy==1.26.4", "torch>=2", "x @ https://files.example/x.whl"]\n'
        "[project.optional-dependencies]\n"
        'dev = ["pytest"]\n'
        "[tool.poetry.dependencies]\n"
        'python = "^3.11"\n'
        'requests = {version = "2.31.0", extras = ["socks"]}\n'
        "[tool.poetry.group.dev.dependencies]\n"
        'ruff = "*"\n'
        "[dependency-groups]\n"
        'test = ["pytest>=8", {include-group = "dev"}]\n'
        "[tool.uv.sources]\n"
        'x = { git = "https://git.example/x" }\n'
    ),
]
TOKENS = [
    b"[project]",
    b"dependencies = [",
    b'"',
    b"{",
    b"}",
    b"=",
    b"[[",
    b"]]",
    b"include-group",
    b"\\u0000",
    b"'''",
]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.pyproject import PyprojectExtractor

    extract(PyprojectExtractor, FILENAME, data)
