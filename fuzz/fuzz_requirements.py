"""Fuzz harness: the requirements extractor (mlgate.inventory.requirements).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "requirements"
FILENAME = "requirements.txt"
SEEDS = [
    (
        "numpy==1.26.4\n"
        "--index-url https://pkgs.registry.example/simple\n"
        'torch>=2.1 ; python_version >= "3.10"\n'
        "-r other.txt\n"
        "requests[socks,security]==2.31.0 \\\n"
        "    --hash=sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
        "git+https://git.example/org/repo.git@v1.0#egg=pkg\n"
        "-e ./local\n"
        "foo @ https://files.example/foo-1.0.tar.gz\n"
        "# comment\n"
    ),
]
TOKENS = [
    b"==",
    b">=",
    b"~=",
    b" @ ",
    b"--hash=sha256:",
    b"\\\n",
    b"-r ",
    b"-c ",
    b"--extra-index-url ",
    b"[",
    b"]",
    b";",
    b"#egg=",
    b"git+",
    b"\x00",
    b"\xff",
]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.requirements import RequirementsExtractor

    extract(RequirementsExtractor, FILENAME, data)
