"""Container images: the contract between the image reader and the image inventory.

The reader (:mod:`mlgate.image.source` for registries, OCI layouts and tarballs;
:mod:`mlgate.image.layers` for the single streaming pass over the layers) turns a reference into
:class:`ImageMeta` and the *final* file system of the image, as far as anybody asked for it: every
regular file is offered once per layer to a :data:`Selector`, which says whether its content is
wanted, and whiteouts (``.wh.NAME``, ``.wh..wh..opq``) are applied so deleted files never appear.

The inventory (:mod:`mlgate.image.contents`) only ever sees :class:`ImageContents`: it chooses
what to capture (dpkg/apk/rpm databases, os-release, ``*.dist-info/METADATA``, model files by
content) and turns the captured files into components and findings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from mlgate.errors import MlgateError
from mlgate.model import ScanWarning

HEAD_BYTES = 512  # what a selector sees of each file (enough to sniff every model format)


class ImageError(MlgateError):
    """The image could not be read (bad reference, auth, media type, truncated blob ...).

    The message always names the image reference; ``main`` turns it into exit 2.
    """


class Capture(Enum):
    """What the layer walk does with one regular file."""

    SKIP = "skip"  # not wanted: its bytes are passed over without being kept
    MEMORY = "memory"  # small text (package databases, METADATA): kept as bytes, bounded
    SPOOL = "spool"  # a model or archive: copied to a temporary file under ImageContents.spool_root


# Called for every regular file of every layer: (absolute POSIX path in the image, size, first
# HEAD_BYTES bytes of the content). Must be cheap and must not raise.
Selector = Callable[[str, int, bytes], Capture]


@dataclass(frozen=True)
class LayerInfo:
    digest: str  # "sha256:<hex>" of the blob as the manifest names it
    media_type: str
    size: int  # bytes of the (compressed) blob, as the manifest says


@dataclass(frozen=True)
class ImageMeta:
    """What the manifest and the image config say."""

    ref: str  # the reference as the user wrote it (used in messages and locations)
    name: str  # repository without tag or digest ("registry.example:5000/team/serve")
    digest: str | None  # manifest digest "sha256:<hex>"; None when the source has none
    platform: str  # "linux/amd64"
    source_kind: str  # "registry" | "oci-layout" | "archive"
    config: Mapping[str, Any]  # the parsed image config JSON (config.User, ExposedPorts, created)
    layers: tuple[LayerInfo, ...] = ()
    tag: str | None = None
    # the platform's image manifest when ``digest`` names a multi-platform index
    manifest_digest: str | None = None

    @property
    def display(self) -> str:
        """``name@sha256:...`` when the digest is known, else the reference."""
        return f"{self.name}@{self.digest}" if self.digest else self.ref


@dataclass(frozen=True)
class ImageFile:
    """The surviving version of one file after all layers and whiteouts."""

    path: str  # absolute POSIX path inside the image, normalised ("/var/lib/dpkg/status")
    layer: str  # digest of the layer this version came from
    size: int
    data: bytes | None = None  # Capture.MEMORY
    spool: str | None = None  # Capture.SPOOL: path relative to ImageContents.spool_root


@dataclass
class ImageContents:
    """The captured part of the final file system; spools live until the walk's context ends."""

    meta: ImageMeta
    files: dict[str, ImageFile] = field(default_factory=dict)  # by absolute path
    spool_root: Path | None = None  # spooled files keep their image path below this folder
    warnings: list[ScanWarning] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)  # layers, bytes read, members ...
