"""Fuzz harness: the layer walk of the image reader (mlgate.image.layers.read_image) on an OCI
layout whose top layer is the mutated input (a tar: whiteouts, opaque folders, symlinks,
hardlinks, names climbing out of the root), over a base layer holding package databases,
metadata and a model. The layout is rewritten for each input so the digests hold and the walk,
not the digest check, sees the damage.

Invariant: ``read_image`` returns or raises ImageError (warnings are fine); the inventory of what
it read sorts and serialises.
"""

from __future__ import annotations

import shutil

from fuzz import seeds as seed_inputs
from fuzz.common import read_image, scratch
from fuzz.tokens import TAR_TOKENS

NAME = "image_layout"
TOKENS = [*TAR_TOKENS, b".wh.", b".wh..wh..opq", b"etc/os-release", b"var/lib/dpkg/status",
          b"lib/apk/db/installed", b"site-packages/x-1.0.dist-info/METADATA", b"/..",
          b"//", b"./", b"models/model.pkl"]  # fmt: skip


def seeds() -> list[bytes]:
    return seed_inputs.image_layer_tars()


def check(data: bytes) -> None:
    from tests.image.builder import Image, Layer, write_oci_layout

    root = scratch().root / "layout"
    shutil.rmtree(root, ignore_errors=True)
    base = seed_inputs.image_layers()[0]
    write_oci_layout(root, Image(layers=[base, Layer(tar=data, compression="none")]))
    read_image(str(root))
