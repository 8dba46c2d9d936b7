"""Real container images written by the tests, without a container engine.

A :class:`Layer` is a list of tar entries (files, directories, whiteouts, symlinks, hardlinks)
compressed with gzip, zstd or nothing; an :class:`Image` is layers plus an image config. The
writers produce the three on-disk forms mlgate reads:

- :func:`write_oci_layout` — an OCI image layout folder (``oci-layout``, ``index.json``,
  ``blobs/sha256``), one image or a multi-platform index;
- :func:`write_docker_save` — a ``docker save`` tarball, legacy (``<id>/layer.tar``) or the newer
  form that is an OCI layout plus ``manifest.json``;
- :func:`write_oci_archive` — an OCI layout inside a tar.

:func:`image_blobs` gives the manifest, config and layer blobs for pushing to a registry.
Every output is deterministic (fixed mtimes, sorted keys).
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
MTIME = 1_700_000_000


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Layer:
    """One layer. Paths are image paths ("/etc/os-release" or "etc/os-release")."""

    files: dict[str, bytes] = field(default_factory=dict)
    dirs: Sequence[str] = ()
    whiteouts: Sequence[str] = ()  # each writes DIR/.wh.NAME: NAME is deleted from lower layers
    opaque: Sequence[str] = ()  # each writes DIR/.wh..wh..opq: DIR is emptied of lower layers
    symlinks: dict[str, str] = field(default_factory=dict)  # path -> target (never followed)
    hardlinks: dict[str, str] = field(default_factory=dict)  # path -> earlier path in this layer
    compression: str = "gzip"  # gzip | zstd | none
    tar: bytes | None = None  # an explicit (possibly hostile) uncompressed tar instead of the above

    def tar_bytes(self) -> bytes:
        if self.tar is not None:
            return self.tar
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            for d in self.dirs:
                _add(tf, d, tarfile.DIRTYPE)
            for d in self.opaque:
                _add(tf, d.rstrip("/") + "/.wh..wh..opq", tarfile.REGTYPE, b"")
            for w in self.whiteouts:
                head, _, name = w.rstrip("/").rpartition("/")
                _add(tf, f"{head}/.wh.{name}", tarfile.REGTYPE, b"")
            for path, data in self.files.items():
                _add(tf, path, tarfile.REGTYPE, data)
            for path, target in self.symlinks.items():
                _add(tf, path, tarfile.SYMTYPE, link=target)
            for path, target in self.hardlinks.items():
                _add(tf, path, tarfile.LNKTYPE, link=target.lstrip("/"))
        return buf.getvalue()

    def blob(self) -> bytes:
        tar = self.tar_bytes()
        if self.compression == "gzip":
            return gzip.compress(tar, compresslevel=1, mtime=0)
        if self.compression == "zstd":
            return zstandard.ZstdCompressor(level=1).compress(tar)
        if self.compression == "none":
            return tar
        raise ValueError(self.compression)

    @property
    def media_type(self) -> str:
        return LAYER_TYPES[self.compression]


def _add(tf: tarfile.TarFile, path: str, kind: bytes, data: bytes = b"", link: str = "") -> None:
    info = tarfile.TarInfo(path.lstrip("/"))
    info.type, info.mtime, info.linkname = kind, MTIME, link
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    tf.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)


@dataclass
class Image:
    """Layers plus the config fields the policy looks at."""

    layers: list[Layer]
    user: str | None = None
    exposed_ports: Sequence[str] = ()
    created: str = "2024-01-02T03:04:05Z"
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._blobs: list[bytes] | None = None

    def layer_blobs(self) -> list[bytes]:
        if self._blobs is None:  # large test layers are compressed once
            self._blobs = [layer.blob() for layer in self.layers]
        return self._blobs

    @property
    def platform(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def config_bytes(self) -> bytes:
        cfg: dict[str, Any] = {"Env": list(self.env)}
        if self.user is not None:
            cfg["User"] = self.user
        if self.exposed_ports:
            cfg["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.labels:
            cfg["Labels"] = self.labels
        doc: dict[str, Any] = {
            "architecture": self.architecture,
            "os": self.os,
            "created": self.created,
            "config": cfg,
            "rootfs": {
                "type": "layers",
                "diff_ids": [sha256(layer.tar_bytes()) for layer in self.layers],
            },
            "history": [{"created": self.created, "created_by": "tests/image/builder.py"}],
        }
        if self.variant:
            doc["variant"] = self.variant
        return _json(doc)

    def platform_dict(self) -> dict[str, str]:
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out


def _json(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Blobs:
    """What a registry or a layout stores for one image."""

    manifest: bytes
    manifest_type: str
    config: bytes
    layers: list[bytes]

    @property
    def digest(self) -> str:
        return sha256(self.manifest)

    def all(self) -> dict[str, bytes]:
        out = {sha256(b): b for b in self.layers}
        out[sha256(self.config)] = self.config
        return out


def image_blobs(image: Image, *, docker: bool = False, config_type: str | None = None) -> Blobs:
    """The manifest (OCI, or Docker v2 with ``docker=True``), config and layer blobs."""
    config = image.config_bytes()
    layers = image.layer_blobs()
    if docker:
        layer_types = [
            DOCKER_LAYER_GZIP if lay.compression == "gzip" else lay.media_type
            for lay in image.layers
        ]
    else:
        layer_types = [lay.media_type for lay in image.layers]
    mtype = DOCKER_MANIFEST if docker else OCI_MANIFEST
    doc = {
        "schemaVersion": 2,
        "mediaType": mtype,
        "config": {
            "mediaType": config_type or (DOCKER_CONFIG if docker else OCI_CONFIG),
            "digest": sha256(config),
            "size": len(config),
        },
        "layers": [
            {"mediaType": t, "digest": sha256(b), "size": len(b)}
            for t, b in zip(layer_types, layers, strict=True)
        ],
    }
    return Blobs(_json(doc), mtype, config, layers)


def index_bytes(entries: Iterable[tuple[Image, Blobs]], *, docker: bool = False) -> bytes:
    """A multi-platform index (or Docker manifest list) over already built images."""
    return _json(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_LIST if docker else OCI_INDEX,
            "manifests": [
                {
                    "mediaType": b.manifest_type,
                    "digest": b.digest,
                    "size": len(b.manifest),
                    "platform": img.platform_dict(),
                }
                for img, b in entries
            ],
        }
    )


def _write_blob(root: Path, data: bytes) -> None:
    path = root / "blobs" / "sha256" / sha256(data).removeprefix("sha256:")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_oci_layout(
    dest: Path, images: Image | Sequence[Image], *, tag: str = "latest", nested: bool = False
) -> Path:
    """An OCI image layout folder. Several images make a multi-platform index: listed directly
    in ``index.json``, or (``nested=True``) behind one image-index blob as buildx writes it."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    many = not isinstance(images, Image)
    imgs = list(images) if not isinstance(images, Image) else [images]
    built = [(img, image_blobs(img)) for img in imgs]
    for _img, b in built:
        for data in [*b.all().values(), b.manifest]:
            _write_blob(dest, data)
    ann = {"org.opencontainers.image.ref.name": tag}
    if many and nested:
        idx = index_bytes(built)
        _write_blob(dest, idx)
        top = [
            {"mediaType": OCI_INDEX, "digest": sha256(idx), "size": len(idx), "annotations": ann}
        ]
    elif many:
        top = [
            {
                "mediaType": b.manifest_type,
                "digest": b.digest,
                "size": len(b.manifest),
                "platform": img.platform_dict(),
                "annotations": ann,
            }
            for img, b in built
        ]
    else:
        b = built[0][1]
        top = [
            {
                "mediaType": OCI_MANIFEST,
                "digest": b.digest,
                "size": len(b.manifest),
                "annotations": ann,
            }
        ]
    (dest / "index.json").write_bytes(
        _json({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": top})
    )
    return dest


def _tar_add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    tf.addfile(info, io.BytesIO(data))


def _tar_add_tree(tf: tarfile.TarFile, root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            _tar_add_bytes(tf, path.relative_to(root).as_posix(), path.read_bytes())


def write_oci_archive(dest: Path, images: Image | Sequence[Image], *, tag: str = "latest") -> Path:
    """An OCI layout inside a tar (what ``skopeo copy ... oci-archive:`` writes)."""
    buf = _LayoutBuffer()
    write_oci_layout(buf.root, images, tag=tag)
    with tarfile.open(dest, "w") as tf:
        _tar_add_tree(tf, buf.root)
    buf.cleanup()
    return dest


class _LayoutBuffer:
    def __init__(self) -> None:
        import tempfile

        self._tmp = tempfile.TemporaryDirectory(prefix="mlgate-test-layout-")
        self.root = Path(self._tmp.name)

    def cleanup(self) -> None:
        self._tmp.cleanup()


def write_docker_save(
    dest: Path, image: Image, *, repo_tag: str = "registry.example/team/app:1.0", oci: bool = False
) -> Path:
    """A ``docker save`` tarball: legacy (``<id>/layer.tar`` + ``<config>.json``, layers as plain
    tar) or, with ``oci=True``, the form newer engines write (an OCI layout plus
    ``manifest.json`` pointing into ``blobs/sha256``)."""
    config = image.config_bytes()
    tars = [layer.tar_bytes() for layer in image.layers]
    with tarfile.open(dest, "w") as tf:
        if oci:
            plain = [Layer(tar=t, compression="none") for t in tars]
            flat = dataclasses.replace(image, layers=plain)
            buf = _LayoutBuffer()
            write_oci_layout(buf.root, flat, tag=repo_tag)
            _tar_add_tree(tf, buf.root)
            buf.cleanup()
            config_name = "blobs/sha256/" + sha256(config).removeprefix("sha256:")
            layer_names = ["blobs/sha256/" + sha256(t).removeprefix("sha256:") for t in tars]
        else:
            config_name = sha256(config).removeprefix("sha256:") + ".json"
            _tar_add_bytes(tf, config_name, config)
            layer_names = []
            parent = ""
            for t in tars:
                layer_id = hashlib.sha256((parent + sha256(t)).encode()).hexdigest()
                _tar_add_bytes(tf, f"{layer_id}/VERSION", b"1.0")
                _tar_add_bytes(tf, f"{layer_id}/json", _json({"id": layer_id}))
                _tar_add_bytes(tf, f"{layer_id}/layer.tar", t)
                layer_names.append(f"{layer_id}/layer.tar")
                parent = layer_id
        manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
        _tar_add_bytes(tf, "manifest.json", _json(manifest))
        repo, _, tag = repo_tag.rpartition(":")
        last = layer_names[-1].split("/")[-2 if not oci else -1] if layer_names else ""
        _tar_add_bytes(tf, "repositories", _json({repo: {tag: last}}))
    return dest


def hostile_tar(entries: Sequence[tuple[str, bytes]]) -> bytes:
    """An uncompressed tar whose member names are written verbatim (``../../etc/passwd``)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tf:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), MTIME, 0o644
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()
