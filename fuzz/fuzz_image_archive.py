"""Fuzz harness: the image reader on a mutated ``docker save`` tarball, legacy and OCI-layout
forms (mlgate.image.source, mlgate.image.layers.read_image), with the inventory's selector.

Invariant: ``read_image`` returns or raises ImageError (warnings are fine); the inventory of what
it read sorts and serialises.
"""

from __future__ import annotations

from fuzz import seeds as seed_inputs
from fuzz.common import read_image, scratch
from fuzz.tokens import JSON_TOKENS, TAR_TOKENS

NAME = "image_archive"
TOKENS = [*TAR_TOKENS, *JSON_TOKENS, b"manifest.json", b"index.json", b"layer.tar",
          b"blobs/sha256/", b"sha256:", b'"Layers"', b'"Config"', b'"RepoTags"', b".wh.",
          b".wh..wh..opq"]  # fmt: skip


def seeds() -> list[bytes]:
    return seed_inputs.docker_saves()


def check(data: bytes) -> None:
    read_image(str(scratch().write("image.tar", data)))
