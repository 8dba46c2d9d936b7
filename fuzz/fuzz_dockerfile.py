"""Fuzz harness: the dockerfile extractor (mlgate.inventory.dockerfile).

Invariant: returns, or raises ExtractError; its components sort and serialise."""

from __future__ import annotations

from fuzz.common import extract

NAME = "dockerfile"
FILENAME = "Dockerfile"
SEEDS = [
    (
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=python:3.11-slim\n"
        "ARG TAG\n"
        "FROM ${BASE} AS build\n"
        "RUN pip install --no-cache-dir numpy==1.26.4 \\\n"
        "    torch\n"
        "COPY --from=build /a /b\n"
        "FROM registry.example:5000/org/img@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
        "FROM img:${TAG:-latest}\n"
        "RUN curl https://x.example/i.sh | sh\n"
        "ADD https://files.example/m.bin /m.bin\n"
    ),
]
TOKENS = [
    b"FROM ",
    b"ARG ",
    b"${",
    b"}",
    b":-",
    b"@sha256:",
    b" AS ",
    b"\\\n",
    b"RUN pip install ",
    b"--platform=",
    b"\x00",
]


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.inventory.dockerfile import DockerfileExtractor

    extract(DockerfileExtractor, FILENAME, data)
