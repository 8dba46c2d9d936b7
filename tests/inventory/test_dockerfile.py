from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.inventory.build import build_inventory
from mlgate.inventory.dockerfile import (
    DockerfileExtractor,
    instructions,
    parse_image,
    substitute,
)
from mlgate.model import Component, ComponentKind, Inventory

DIGEST = "sha256:" + "ab" * 32


def scan(tmp_path: Path, text: str, name: str = "Dockerfile") -> Inventory:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return build_inventory(tmp_path, extractors=[DockerfileExtractor()])


def by_name(inv: Inventory) -> dict[str, Component]:
    return {c.name: c for c in inv.components}


def test_from_with_tag_digest_registry_and_exact_lines(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "# build image\n"
        "FROM python:3.11-slim AS base\n"
        "\n"
        f"FROM registry.example/acme/trainer:2.0@{DIGEST}\n"
        "FROM registry.internal.example:5000/ml/cuda\n",
    )
    comps = by_name(inv)
    assert set(comps) == {
        "python",
        "registry.example/acme/trainer",
        "registry.internal.example:5000/ml/cuda",
    }
    py = comps["python"]
    assert py.kind is ComponentKind.CONTAINER
    assert py.ecosystem == ""
    assert py.version == "3.11-slim"
    assert py.purl == "pkg:docker/python@3.11-slim"
    assert [(loc.path, loc.line) for loc in py.declared_in] == [("Dockerfile", 2)]
    assert py.prop("docker:pinned-by-digest") == "false"
    assert py.prop("docker:registry") == "docker.io"

    trainer = comps["registry.example/acme/trainer"]
    assert trainer.version == DIGEST  # the digest wins over the tag as the version
    assert trainer.prop("docker:tag") == "2.0"
    assert trainer.prop("docker:pinned-by-digest") == "true"
    assert trainer.purl == (
        "pkg:docker/acme/trainer@sha256:" + "ab" * 32 + "?repository_url=registry.example"
    )
    assert [h.value for h in trainer.hashes] == ["ab" * 32]
    assert trainer.declared_in[0].line == 4

    cuda = comps["registry.internal.example:5000/ml/cuda"]
    assert cuda.version is None  # no tag, no digest: floating "latest"
    assert cuda.purl == "pkg:docker/ml/cuda?repository_url=registry.internal.example:5000"
    assert {(s.kind, s.url, s.location.line) for s in inv.sources} == {
        ("registry", "docker.io", 2),
        ("registry", "registry.example", 4),
        ("registry", "registry.internal.example:5000", 5),
    }


def test_build_stage_aliases_are_not_images(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "FROM python:3.12 AS Builder\n"
        "RUN pip wheel -w /w .\n"
        "FROM builder AS tested\n"
        "FROM tested\n"
        "COPY --from=builder /w /w\n"
        "COPY --from=0 /w /w2\n",
    )
    assert [c.name for c in inv.components] == ["python"]


def test_arg_defaults_substituted_before_and_inside_stages(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "ARG PY=3.10\n"
        "ARG REGISTRY=registry.example\n"
        "ARG VARIANT\n"
        "FROM python:${PY}-slim\n"
        "FROM ${REGISTRY}/acme/base:${TAG:-1.2}\n"
        "FROM ubuntu:${VARIANT:-22.04}\n"
        "FROM debian:$PY\n"
        "ARG HELPER=busybox:1.36\n"
        "COPY --from=${HELPER} /bin/sh /sh\n",
    )
    comps = by_name(inv)
    assert comps["python"].version == "3.10-slim"
    assert comps["registry.example/acme/base"].version == "1.2"
    assert comps["ubuntu"].version == "22.04"
    assert comps["debian"].version == "3.10"
    assert comps["busybox"].version == "1.36"
    assert comps["busybox"].prop("docker:instruction") == "copy-from"
    assert comps["busybox"].declared_in[0].line == 9


def test_arg_without_default_is_a_warning_not_an_image(tmp_path: Path) -> None:
    inv = scan(tmp_path, "ARG BASE\nFROM ${BASE}\nFROM alpine:3.20\n")
    assert [c.name for c in inv.components] == ["alpine"]
    assert len(inv.warnings) == 1
    assert inv.warnings[0].line == 2
    assert "BASE" in inv.warnings[0].message


def test_platform_flag_and_scratch(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "ARG ARCH=linux/arm64\n"
        "FROM --platform=linux/amd64 golang:1.22 AS build\n"
        "FROM --platform=${ARCH} alpine:3.20\n"
        "FROM --platform=$BUILDPLATFORM SCRATCH\n"
        "FROM scratch\n",
    )
    comps = by_name(inv)
    assert sorted(comps) == ["alpine", "golang"]
    assert comps["golang"].prop("docker:platform") == "linux/amd64"
    assert comps["alpine"].prop("docker:platform") == "linux/arm64"
    assert not inv.warnings


def test_continuations_comments_directives_and_heredocs(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "# syntax=docker/dockerfile:1.7\n"
        "# escape=`\n"
        "\n"
        "FROM `\n"
        "  # a comment inside the continuation is dropped\n"
        "  mcr.microsoft.com/windows/servercore:ltsc2022 `\n"
        "  AS win\n"
        "RUN <<EOF\n"
        "FROM evil:1\n"
        "EOF\n"
        "run echo \\\n"
        "from notanimage:1\n",
    )
    comps = by_name(inv)
    # With the backtick escape, the backslash does not continue and "from notanimage" is a
    # real (lower-case) instruction; the here-document body never is.
    assert set(comps) == {"mcr.microsoft.com/windows/servercore", "notanimage"}
    assert comps["mcr.microsoft.com/windows/servercore"].declared_in[0].line == 4
    assert comps["notanimage"].declared_in[0].line == 12


def test_backslash_continuation_joins_lines(tmp_path: Path) -> None:
    inv = scan(tmp_path, "FROM \\\n    nvidia/cuda:12.4.1-runtime-ubuntu22.04 \\\n    AS rt\n")
    (comp,) = inv.components
    assert comp.name == "nvidia/cuda"
    assert comp.purl == "pkg:docker/nvidia/cuda@12.4.1-runtime-ubuntu22.04"
    assert comp.declared_in[0].line == 1


def test_run_mount_from_external_image(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "FROM alpine:3.20 AS a\n"
        "RUN --mount=type=cache,target=/c --mount=type=bind,from=node:20,source=/x,target=/x ls\n"
        "RUN --mount=type=bind,from=a,target=/y ls\n",
    )
    assert sorted(c.name for c in inv.components) == ["alpine", "node"]


@pytest.mark.parametrize(
    "name", ["Dockerfile", "Dockerfile.gpu", "train.Dockerfile", "Containerfile"]
)
def test_file_names(tmp_path: Path, name: str) -> None:
    inv = scan(tmp_path, "FROM alpine:3.20\n", name=name)
    assert [c.declared_in[0].path for c in inv.components] == [name]


def test_docker_hub_spellings_are_one_component(tmp_path: Path) -> None:
    inv = scan(
        tmp_path,
        "FROM python:3.11\nFROM docker.io/library/python:3.11\nFROM index.docker.io/python:3.11\n",
    )
    (comp,) = inv.components
    assert [loc.line for loc in comp.declared_in] == [1, 2, 3]


def test_invalid_reference_is_a_warning(tmp_path: Path) -> None:
    inv = scan(tmp_path, "FROM Not_An:Image:ref!\nFROM\nFROM alpine\n")
    assert [c.name for c in inv.components] == ["alpine"]
    assert sorted(w.line or 0 for w in inv.warnings) == [1, 2]


def test_parse_image_and_substitute_units() -> None:
    ref = parse_image(f"localhost:5000/a/b/c:tag@{DIGEST}")
    assert (ref.registry, ref.path, ref.tag, ref.digest) == (
        "localhost:5000",
        "a/b/c",
        "tag",
        DIGEST,
    )
    assert ref.purl.startswith("pkg:docker/a/b/c@sha256")
    with pytest.raises(ValueError):
        parse_image("python@sha256:nothex")
    env: dict[str, str | None] = {"A": "1", "E": ""}
    assert substitute("${A:+set}-${B:+set}-${E:-empty}-${E-keep}-\\$A-$A", env) == (
        "set--empty--$A-1",
        [],
    )
    assert substitute("${Z}", env) == ("", ["Z"])


def test_instructions_lines() -> None:
    text = "FROM a\n\n# c\nRUN x \\\n  y\nCOPY . .\n"
    assert [(i.keyword, i.line) for i in instructions(text)] == [
        ("FROM", 1),
        ("RUN", 4),
        ("COPY", 6),
    ]
