"""Where an image comes from: an OCI layout folder, a tarball, or a registry.

:func:`open_source` turns a reference into an :class:`ImageSource`: the image's
:class:`ImageMeta` (manifest and config, the platform chosen from an index) and a way to open
each layer blob as a stream whose digest is checked while it is read. Nothing is written
anywhere: layouts and tarballs are read in place, registry blobs are streamed.

References accepted (first match wins):

- an existing folder with ``index.json``: an OCI image layout (``DIR`` or ``DIR:TAG``);
- an existing file: a ``docker save`` tarball (``manifest.json``; the legacy ``<id>/layer.tar``
  form and the newer one that is an OCI layout inside) or an OCI archive (``FILE`` or
  ``FILE:TAG``); the transports ``oci:``, ``oci-archive:`` and ``docker-archive:`` may prefix
  the path;
- ``HOST[:PORT]/REPO[:TAG][@sha256:HEX]``: pulled from that registry (see
  :mod:`mlgate.image.registry`).
"""

from __future__ import annotations

import hashlib
import json
import os
import queue
import re
import tarfile
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, cast

from mlgate.image.interface import ImageError, ImageMeta, LayerInfo

if TYPE_CHECKING:
    from mlgate.image.layers import ImageLimits

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
CONFIG_TYPES = frozenset(
    {"application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json"}
)
# plain, gzip and zstd tar layers (the compression itself is recognised by its magic bytes)
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)
DOCKER_SAVE_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DIGEST = re.compile(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$")
ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}
DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
MAX_INDEX_DEPTH = 3


class Readable(Protocol):
    """What a layer blob is: a stream of bytes that can be closed."""

    def read(self, n: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class ImageSource(ABC):
    """One image: its metadata and its layer blobs."""

    meta: ImageMeta

    @abstractmethod
    def open_blob(self, layer: LayerInfo) -> Readable:
        """The raw (still compressed) bytes of one layer; the caller closes it."""

    def close(self) -> None:  # noqa: B027 (sources without resources need nothing)
        """Release files and connections."""


# ---------------------------------------------------------------------------------------------
# digests and bounded reads


def check_digest(ref: str, what: str, digest: str) -> str:
    """``digest`` if it is a well-formed sha256/sha512 digest (it becomes a file name)."""
    if not isinstance(digest, str) or not DIGEST.match(digest):
        raise ImageError(f"{ref}: {what} has an invalid digest {str(digest)[:80]!r}")
    return digest


def hasher(digest: str) -> Any:
    return hashlib.new(digest.split(":", 1)[0])


def verify_bytes(ref: str, what: str, data: bytes, digest: str) -> bytes:
    h = hasher(digest)
    h.update(data)
    if f"{digest.split(':', 1)[0]}:{h.hexdigest()}" != digest:
        raise ImageError(f"{ref}: {what} does not match its digest {digest}")
    return data


class _BackgroundHash:
    """sha256/sha512 of a stream, computed in a thread: hashlib releases the GIL on large
    updates, so hashing runs beside decompression and the tar walk instead of after them."""

    def __init__(self, digest: str) -> None:
        self._hash = hasher(digest)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._run, name="mlgate-blob-hash", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def update(self, data: bytes) -> None:
        self._queue.put(data)

    def hexdigest(self) -> str:
        self.stop()
        return str(self._hash.hexdigest())

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()


class VerifiedReader:
    """A blob stream whose size and digest are checked as it is read: reading past the declared
    size, or an end of stream with the wrong size or digest, raises :class:`ImageError`."""

    def __init__(self, raw: Readable, *, ref: str, digest: str, size: int | None) -> None:
        self._raw = raw
        self._ref = ref
        self._digest = digest
        self._size = size
        self._hash = _BackgroundHash(digest)
        self.count = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._done:
            return b""
        data = self._raw.read(n if n is not None and n >= 0 else 1 << 20)
        if data:
            self.count += len(data)
            if self._size is not None and self.count > self._size:
                raise ImageError(
                    f"{self._ref}: layer {self._digest} is longer than the {self._size} bytes "
                    "its manifest declares"
                )
            self._hash.update(data)
            return data
        self._done = True
        if self._size is not None and self.count != self._size:
            raise ImageError(
                f"{self._ref}: layer {self._digest} is truncated: {self.count} of "
                f"{self._size} bytes"
            )
        actual = f"{self._digest.split(':', 1)[0]}:{self._hash.hexdigest()}"
        if actual != self._digest:
            raise ImageError(
                f"{self._ref}: layer {self._digest} does not match its digest (got {actual})"
            )
        return b""

    def finish(self) -> None:
        """Read to the end (whatever the decompressor left) so the digest is checked."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        self._hash.stop()
        self._raw.close()


def parse_json(ref: str, what: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ImageError(f"{ref}: {what} is not valid JSON ({exc})") from None


# ---------------------------------------------------------------------------------------------
# platforms and manifests (shared by every source)


def parse_platform(text: str) -> tuple[str, str, str | None]:
    parts = text.strip().lower().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT]")
    arch = ARCH_ALIASES.get(parts[1], parts[1])
    return parts[0], arch, parts[2] if len(parts) == 3 else None


def _norm_variant(arch: str, variant: str | None) -> str | None:
    variant = variant or DEFAULT_VARIANT.get(arch)
    return None if arch == "amd64" and variant == "v1" else variant


def choose_platform(ref: str, manifests: Sequence[Any], platform: str) -> Mapping[str, Any]:
    """The index entry for ``platform`` (``linux/arm64`` matches an unset or ``v8`` variant);
    attestation entries (``unknown/unknown``) are never chosen."""
    want_os, want_arch, want_variant = parse_platform(platform)
    usable: list[Mapping[str, Any]] = []
    for entry in manifests:
        if not isinstance(entry, Mapping):
            continue
        plat = entry.get("platform")
        if plat is None:
            usable.append(entry)
            continue
        if isinstance(plat, Mapping) and plat.get("os") != "unknown":
            usable.append(entry)
    if len(usable) == 1 and usable[0].get("platform") is None:
        return usable[0]
    loose: Mapping[str, Any] | None = None
    seen: list[str] = []
    for entry in usable:
        plat = entry.get("platform") or {}
        os_ = str(plat.get("os", "")).lower()
        arch = ARCH_ALIASES.get(str(plat.get("architecture", "")).lower(), "")
        arch = arch or str(plat.get("architecture", "")).lower()
        variant = plat.get("variant")
        seen.append("/".join(x for x in (os_, arch, variant) if x))
        if (os_, arch) != (want_os, want_arch):
            continue
        if _norm_variant(arch, variant) == _norm_variant(want_arch, want_variant):
            return entry
        if want_variant is None and loose is None:
            loose = entry
    if loose is not None:
        return loose
    raise ImageError(
        f"{ref}: no image for platform {platform} (the index offers: "
        f"{', '.join(sorted(set(seen))) or 'nothing'})",
        hint="choose one with --platform",
    )


def platform_of(config: Mapping[str, Any]) -> str:
    os_ = str(config.get("os") or "linux")
    arch = str(config.get("architecture") or "unknown")
    variant = config.get("variant")
    return f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"


BlobLoader = Callable[[Mapping[str, Any], int], bytes]  # (descriptor, limit) -> verified bytes


def resolve_manifest(
    ref: str,
    load: BlobLoader,
    doc_bytes: bytes,
    media_type: str | None,
    platform: str,
    limits: ImageLimits,
) -> tuple[Mapping[str, Any], str]:
    """Follow indexes down to one image manifest: (manifest, its digest)."""
    digest = "sha256:" + hashlib.sha256(doc_bytes).hexdigest()
    for _ in range(MAX_INDEX_DEPTH):
        doc = parse_json(ref, "the manifest", doc_bytes)
        if not isinstance(doc, Mapping):
            raise ImageError(f"{ref}: the manifest is not a JSON object")
        mtype = str(doc.get("mediaType") or media_type or "")
        if mtype in INDEX_TYPES or (not mtype and "manifests" in doc):
            entries = doc.get("manifests")
            if not isinstance(entries, list):
                raise ImageError(f"{ref}: the image index has no manifests list")
            entry = choose_platform(ref, entries, platform)
            digest = check_digest(ref, "an index entry", entry.get("digest", ""))
            media_type = str(entry.get("mediaType") or "")
            doc_bytes = load(entry, limits.max_manifest_bytes)
            continue
        if mtype in MANIFEST_TYPES or (not mtype and "layers" in doc and "config" in doc):
            return doc, digest
        raise ImageError(
            f"{ref}: manifest media type {mtype or '(none)'!r} is not a container image "
            f"(expected one of {', '.join(sorted(INDEX_TYPES | MANIFEST_TYPES))})"
        )
    raise ImageError(f"{ref}: image indexes nested deeper than {MAX_INDEX_DEPTH}")


def build_meta(
    ref: str, manifest: Mapping[str, Any], load: BlobLoader, limits: ImageLimits, **fields: Any
) -> ImageMeta:
    """ImageMeta from a resolved manifest: its config (bounded, verified) and layer list."""
    desc = manifest.get("config")
    if not isinstance(desc, Mapping):
        raise ImageError(f"{ref}: the manifest has no config descriptor")
    ctype = str(desc.get("mediaType") or "")
    if ctype not in CONFIG_TYPES:
        raise ImageError(
            f"{ref}: config media type {ctype!r} is not a container image config "
            "(an OCI artifact such as a chart or a signature is not an image)"
        )
    check_digest(ref, "the config", desc.get("digest", ""))
    config = parse_json(ref, "the image config", load(desc, limits.max_config_bytes))
    if not isinstance(config, Mapping):
        raise ImageError(f"{ref}: the image config is not a JSON object")
    raw_layers = manifest.get("layers")
    if not isinstance(raw_layers, list):
        raise ImageError(f"{ref}: the manifest has no layers list")
    if len(raw_layers) > limits.max_layers:
        raise ImageError(f"{ref}: {len(raw_layers)} layers (more than {limits.max_layers})")
    layers = []
    for item in raw_layers:
        if not isinstance(item, Mapping):
            raise ImageError(f"{ref}: a layer descriptor is not an object")
        mtype = str(item.get("mediaType") or "")
        digest = check_digest(ref, "a layer", item.get("digest", ""))
        if mtype not in LAYER_TYPES:
            raise ImageError(
                f"{ref}: layer {digest} has media type {mtype!r}, not a tar layer mlgate "
                "can read (encrypted or artifact layers are not supported)"
            )
        size = item.get("size")
        if not isinstance(size, int) or size < 0:
            raise ImageError(f"{ref}: layer {digest} has no valid size")
        layers.append(LayerInfo(digest=digest, media_type=mtype, size=size))
    return ImageMeta(
        ref=ref, config=config, layers=tuple(layers), platform=platform_of(config), **fields
    )


# ---------------------------------------------------------------------------------------------
# OCI layout folders and archives


class _BlobStore(ABC):
    """``blobs/<alg>/<hex>`` of a layout, in a folder or in a tar."""

    def __init__(self, ref: str) -> None:
        self.ref = ref

    @abstractmethod
    def open(self, rel: str) -> tuple[IO[bytes], int]: ...

    def read(self, rel: str, limit: int, what: str) -> bytes:
        stream, size = self.open(rel)
        with stream:
            if size > limit:
                raise ImageError(f"{self.ref}: {what} is {size} bytes (limit {limit})")
            return stream.read(limit + 1)

    def load(self, desc: Mapping[str, Any], limit: int) -> bytes:
        digest = check_digest(self.ref, "a descriptor", desc.get("digest", ""))
        data = self.read(blob_path(digest), limit, f"blob {digest}")
        return verify_bytes(self.ref, f"blob {digest}", data, digest)


def blob_path(digest: str) -> str:
    alg, _, hexpart = digest.partition(":")
    return f"blobs/{alg}/{hexpart}"


class _FolderStore(_BlobStore):
    def __init__(self, ref: str, root: Path) -> None:
        super().__init__(ref)
        self.root = root

    def open(self, rel: str) -> tuple[IO[bytes], int]:
        path = self.root / rel
        # a blob that is a symlink may point anywhere on the machine
        if path.is_symlink() or not path.is_file():
            raise ImageError(f"{self.ref}: {rel} is missing from the layout (or not a file)")
        stream = path.open("rb")
        return stream, path.stat().st_size


class _Window:
    """One member of an uncompressed tar, read with ``pread`` (no buffering layers between
    the page cache and the digest)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self.fd, self.offset, self.left = fd, offset, size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        if n <= 0:
            return b""
        data = os.pread(self.fd, n, self.offset)
        self.offset += len(data)
        self.left -= len(data)
        return data

    def close(self) -> None:
        pass

    def __enter__(self) -> _Window:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class _TarStore(_BlobStore):
    def __init__(self, ref: str, path: Path) -> None:
        super().__init__(ref)
        try:
            self.file = path.open("rb")
        except OSError as exc:
            raise ImageError(f"{ref}: cannot open ({exc.strerror})") from None
        try:
            # a compressed tarball is read through tarfile; a plain one member by member
            self.plain = not self.file.read(6).startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ"))
            self.file.seek(0)
            self.tar = tarfile.open(fileobj=self.file, mode="r:" if self.plain else "r:*")  # noqa: SIM115
            members = self.tar.getmembers()
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.file.close()
            raise ImageError(
                f"{ref}: not a readable tar archive ({str(exc).splitlines()[0].rstrip(':')})"
            ) from None
        self.members = {_norm_member(m.name): m for m in members if m.isreg()}

    def open(self, rel: str) -> tuple[IO[bytes], int]:
        member = self.members.get(rel)
        if member is None:
            raise ImageError(f"{self.ref}: {rel} is missing from the archive")
        if self.plain and not member.sparse:
            window = _Window(self.file.fileno(), member.offset_data, member.size)
            return cast(IO[bytes], window), member.size
        stream = self.tar.extractfile(member)
        if stream is None:
            raise ImageError(f"{self.ref}: {rel} is missing from the archive")
        return stream, member.size

    def close(self) -> None:
        self.tar.close()
        self.file.close()


def _norm_member(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


class LayoutSource(ImageSource):
    """An OCI layout (folder or tar) or a ``docker save`` tarball."""

    def __init__(self, store: _BlobStore, meta: ImageMeta) -> None:
        self.store = store
        self.meta = meta
        self._paths: dict[str, str] = {}

    def open_blob(self, layer: LayerInfo) -> IO[bytes]:
        rel = self._paths.get(layer.digest, blob_path(layer.digest))
        stream, _ = self.store.open(rel)
        return stream

    def close(self) -> None:
        if isinstance(self.store, _TarStore):
            self.store.close()


def _open_layout(
    ref: str,
    store: _BlobStore,
    tag: str | None,
    platform: str,
    limits: ImageLimits,
    kind: str,
    fallback_name: str,
) -> LayoutSource:
    index = parse_json(
        ref, "index.json", store.read("index.json", limits.max_manifest_bytes, "index.json")
    )
    entries = index.get("manifests") if isinstance(index, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise ImageError(f"{ref}: index.json lists no manifests")
    entries = [e for e in entries if isinstance(e, Mapping)]

    def names(e: Mapping[str, Any]) -> tuple[str, str]:
        ann = e.get("annotations") or {}
        return str(ann.get("org.opencontainers.image.ref.name", "")), str(
            ann.get("io.containerd.image.name", "")
        )

    if tag is not None:
        entries = [e for e in entries if tag in names(e) or names(e)[1].endswith(":" + tag)]
        if not entries:
            raise ImageError(f"{ref}: no image tagged {tag!r} in index.json")
    tags = {names(e)[0] for e in entries}
    if len(tags) > 1 and tag is None:
        raise ImageError(
            f"{ref}: the layout holds several images ({', '.join(sorted(tags))})",
            hint="name one as PATH:TAG",
        )
    if len(entries) == 1:
        entry = entries[0]
        check_digest(ref, "index.json entry", entry.get("digest", ""))
        top_digest = entry["digest"]
        doc = store.load(entry, limits.max_manifest_bytes)
        manifest, digest = resolve_manifest(
            ref, store.load, doc, str(entry.get("mediaType") or ""), platform, limits
        )
    else:
        entry = choose_platform(ref, entries, platform)
        check_digest(ref, "index.json entry", entry.get("digest", ""))
        doc = store.load(entry, limits.max_manifest_bytes)
        manifest, digest = resolve_manifest(
            ref, store.load, doc, str(entry.get("mediaType") or ""), platform, limits
        )
        top_digest = digest
    ref_name, image_name = names(entry)
    name, found_tag = split_name_tag(image_name) if image_name else (fallback_name, None)
    if ref_name and ":" in ref_name and "/" in ref_name:  # a full name as ref.name
        name, found_tag = split_name_tag(ref_name)
    meta = build_meta(
        ref,
        manifest,
        store.load,
        limits,
        name=name,
        digest=top_digest,
        source_kind=kind,
        tag=tag or found_tag or (ref_name or None),
    )
    if digest != top_digest:
        meta = _with_manifest_digest(meta, digest)
    return LayoutSource(store, meta)


def _with_manifest_digest(meta: ImageMeta, digest: str) -> ImageMeta:
    from dataclasses import replace

    return replace(meta, manifest_digest=digest)


def split_name_tag(text: str) -> tuple[str, str | None]:
    """``registry.example:5000/a/b:1`` -> (``registry.example:5000/a/b``, ``1``)."""
    text = text.split("@", 1)[0]
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        return text[:colon], text[colon + 1 :]
    return text, None


def _open_docker_save(
    ref: str, store: _TarStore, tag: str | None, limits: ImageLimits
) -> LayoutSource:
    doc = parse_json(
        ref,
        "manifest.json",
        store.read("manifest.json", limits.max_manifest_bytes, "manifest.json"),
    )
    if not isinstance(doc, list) or not doc or not all(isinstance(e, Mapping) for e in doc):
        raise ImageError(f"{ref}: manifest.json is not a docker save manifest")
    entries = doc
    if tag is not None:
        entries = [
            e
            for e in doc
            if any(t == tag or t.endswith(":" + tag) for t in e.get("RepoTags") or [])
        ]
        if not entries:
            raise ImageError(f"{ref}: no image tagged {tag!r} in the archive")
    if len(entries) > 1:
        tags = [t for e in entries for t in e.get("RepoTags") or []]
        raise ImageError(
            f"{ref}: the archive holds several images ({', '.join(tags)})",
            hint="name one as FILE:REPO:TAG",
        )
    entry = entries[0]
    config_rel = _norm_member(str(entry.get("Config", "")))
    config = parse_json(
        ref, "the image config", store.read(config_rel, limits.max_config_bytes, "the image config")
    )
    if not isinstance(config, Mapping):
        raise ImageError(f"{ref}: the image config is not a JSON object")
    layer_rels = [_norm_member(str(x)) for x in entry.get("Layers") or []]
    if len(layer_rels) > limits.max_layers:
        raise ImageError(f"{ref}: {len(layer_rels)} layers (more than {limits.max_layers})")
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, Mapping) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(layer_rels):
        raise ImageError(f"{ref}: the config's rootfs.diff_ids do not match the layer list")
    layers: list[LayerInfo] = []
    paths: dict[str, str] = {}
    for rel, diff_id in zip(layer_rels, diff_ids, strict=True):
        m = re.fullmatch(r"blobs/(sha256|sha512)/([0-9a-f]+)", rel)
        # a legacy layer.tar is the uncompressed layer: its digest is the config's diff_id
        digest = check_digest(ref, "a layer", f"{m[1]}:{m[2]}" if m else str(diff_id))
        member = store.members.get(rel)
        if member is None:
            raise ImageError(f"{ref}: layer {rel} is missing from the archive")
        layers.append(LayerInfo(digest=digest, media_type=DOCKER_SAVE_LAYER, size=member.size))
        paths[digest] = rel
    repo_tags = [str(t) for t in entry.get("RepoTags") or []]
    chosen = next((t for t in repo_tags if tag and (t == tag or t.endswith(":" + tag))), None)
    name, found_tag = split_name_tag(chosen or repo_tags[0]) if repo_tags else (ref, None)
    meta = ImageMeta(
        ref=ref,
        name=name,
        digest=None,
        platform=platform_of(config),
        source_kind="archive",
        config=config,
        layers=tuple(layers),
        tag=found_tag,
    )
    source = LayoutSource(store, meta)
    source._paths = paths
    return source


# ---------------------------------------------------------------------------------------------
# the entry point


def _split_local(ref: str) -> tuple[Path, str | None] | None:
    """(path, tag) when ``ref`` names an existing file or folder, possibly with ``:TAG``."""
    for prefix in ("oci-archive:", "docker-archive:", "oci:"):
        if ref.startswith(prefix):
            ref = ref[len(prefix) :]
            break
    path = Path(ref)
    if path.exists():
        return path, None
    head = ref
    while ":" in head:
        head, _, _ = head.rpartition(":")
        if head and Path(head).exists():
            return Path(head), ref[len(head) + 1 :]
    return None


def open_source(
    ref: str,
    *,
    platform: str,
    insecure: tuple[str, ...],
    docker_config: Path | None,
    limits: ImageLimits,
) -> ImageSource:
    """The image ``ref`` names; :class:`ImageError` when it names nothing readable."""
    parse_platform(platform)
    local = _split_local(ref)
    if local is not None:
        path, tag = local
        if path.is_dir():
            if not (path / "index.json").is_file():
                raise ImageError(f"{ref}: a folder but not an OCI image layout (no index.json)")
            return _open_layout(
                ref, _FolderStore(ref, path), tag, platform, limits, "oci-layout", str(path)
            )
        if not path.is_file():
            raise ImageError(f"{ref}: neither a regular file nor a folder")
        store = _TarStore(ref, path)
        try:
            if "index.json" in store.members:
                # an OCI archive, or a docker save with an OCI layout inside (which carries
                # the manifest digest that the legacy manifest.json lacks)
                return _open_layout(ref, store, tag, platform, limits, "archive", str(path))
            if "manifest.json" in store.members:
                return _open_docker_save(ref, store, tag, limits)
            raise ImageError(
                f"{ref}: neither an OCI archive (index.json) nor a docker save tarball "
                "(manifest.json)"
            )
        except BaseException:
            store.close()
            raise
    from mlgate.image.registry import RegistrySource, parse_reference

    parsed = parse_reference(ref)
    if parsed is None:
        raise ImageError(
            f"{ref}: no such file or folder, and not a registry reference",
            hint="a registry reference names its host: registry.example/team/app:1.0 "
            "(or @sha256:...)",
        )
    return RegistrySource(
        parsed,
        display=ref,
        platform=platform,
        insecure=insecure,
        docker_config=docker_config,
        limits=limits,
    )
