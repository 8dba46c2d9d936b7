"""One streaming pass over an image's layers: :func:`read_image`.

Each layer blob is read once, in manifest order, through its digest check, the decompressor
(gzip or zstd, recognised by magic bytes) and ``tarfile`` in stream mode. Whiteouts apply to
lower layers only (``.wh.NAME`` removes NAME and all below it, ``.wh..wh..opq`` empties its
folder); any later entry at a captured path replaces the capture. Symlinks and hardlinks are
never followed. Member names are normalised; names escaping the root, hardlinks pointing out
of it, and members below a symlinked folder are refused with a warning naming the image and
the layer. A layer that is truncated, corrupt, or not the blob its digest names is an
:class:`ImageError`: an image read in part must never look clean.
"""

from __future__ import annotations

import contextlib
import posixpath
import shutil
import tarfile
import tempfile
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import requests
import urllib3
import zstandard

from mlgate.image.interface import (
    HEAD_BYTES,
    Capture,
    ImageContents,
    ImageError,
    ImageFile,
    ImageMeta,
    LayerInfo,
    Selector,
)
from mlgate.image.source import ImageSource, Readable, VerifiedReader, open_source
from mlgate.model import ScanWarning

MiB = 1 << 20
GiB = 1 << 30
CHUNK = MiB
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True)
class ImageLimits:
    """Bounds of one image read. Beyond a per-file bound the file is not captured (a warning);
    beyond a whole-image bound the read stops with :class:`ImageError`."""

    max_layers: int = 256
    max_members: int = 2_000_000  # tar entries over all layers
    max_tar_bytes: int = 128 * GiB  # uncompressed bytes over all layers
    max_memory_file: int = 64 * MiB  # one Capture.MEMORY file
    max_memory_total: int = 512 * MiB
    max_spool_file: int = 32 * GiB  # one Capture.SPOOL file
    max_spool_total: int = 128 * GiB
    max_manifest_bytes: int = 4 * MiB
    max_config_bytes: int = 8 * MiB
    max_path_bytes: int = 4096
    timeout: float = 60.0  # seconds per registry request (connect and each read)


class _TarStream:
    """The decompressed tar stream as ``tarfile`` wants it in its random-access mode, but
    forward only: reads are served from one buffer, skipped file data is read and dropped
    (never a seek back, never a second copy in ``tarfile``'s stream buffer). It counts the
    bytes against the image's bound and keeps the last few chunks, so what follows the point
    where ``tarfile`` stopped can be checked to be padding only."""

    def __init__(self, inner: Readable, limit: int) -> None:
        self.inner = inner
        self.limit = limit
        self.pos = 0  # what tarfile has consumed
        self.read_bytes = 0  # what came out of ``inner``
        self.buf = b""
        self.bpos = 0
        self.chunks: deque[tuple[int, bytes]] = deque()
        self.kept = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def _pull(self, n: int) -> bytes:
        data = self.inner.read(n)
        if data:
            self.chunks.append((self.read_bytes, data))
            self.kept += len(data)
            while self.kept - len(self.chunks[0][1]) >= 2 * CHUNK:
                self.kept -= len(self.chunks.popleft()[1])
            self.read_bytes += len(data)
            if self.read_bytes > self.limit:
                raise _TooLarge
        return data

    def read(self, n: int = -1) -> bytes:
        n = n if n >= 0 else CHUNK
        while len(self.buf) - self.bpos < n:
            data = self._pull(max(CHUNK, n))
            if not data:
                break
            self.buf = self.buf[self.bpos :] + data
            self.bpos = 0
        out = self.buf[self.bpos : self.bpos + n]
        self.bpos += len(out)
        self.pos += len(out)
        return out

    def tell(self) -> int:
        return self.pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence != 0 or pos < self.pos:
            raise OSError("a layer is read forward only")
        skip = pos - self.pos
        avail = len(self.buf) - self.bpos
        if skip <= avail:
            self.bpos += skip
            self.pos = pos
            return pos
        self.pos += avail
        skip -= avail
        self.buf, self.bpos = b"", 0
        while skip > 0 and (data := self._pull(min(CHUNK, skip))):
            skip -= len(data)
            self.pos += len(data)
        return self.pos

    def only_zeros_from(self, offset: int) -> bool:
        """Whether every byte pulled from ``offset`` on is NUL (False when not kept)."""
        if self.chunks and self.chunks[0][0] > offset:
            return False
        for start, data in self.chunks:
            part = data[offset - start :] if start < offset else data
            if part.strip(b"\0"):
                return False
        return True

    def drain_zeros(self) -> bool:
        """Read ``inner`` to its end; whether everything was NUL padding."""
        clean = True
        while data := self._pull(CHUNK):
            clean = clean and not data.strip(b"\0")
        return clean


class _Content:
    """The ``size`` bytes of one member, read from the layer stream."""

    def __init__(self, stream: _TarStream, size: int) -> None:
        self.stream, self.left = stream, size

    def read(self, n: int) -> bytes:
        data = self.stream.read(min(n, self.left))
        self.left -= len(data)
        return data


class _Gunzip:
    """gzip members decompressed with zlib in large chunks (``gzip.GzipFile`` reads 8 KiB at a
    time). zlib checks each member's CRC and length; NUL padding may follow the last member,
    anything else is an error, and an end of input inside a member is truncation."""

    def __init__(self, raw: Readable) -> None:
        self.raw = raw
        self.d: Any = zlib.decompressobj(31)
        self.pending = b""

    def close(self) -> None:
        self.raw.close()

    def read(self, n: int = -1) -> bytes:
        n = n if n > 0 else CHUNK
        while True:
            if self.d is None:  # between members
                self.pending = self.pending.lstrip(b"\0")
                if len(self.pending) < 2:
                    more = self.raw.read(CHUNK)
                    if not more:
                        if self.pending:
                            raise zlib.error("trailing garbage after the gzip stream")
                        return b""
                    self.pending += more
                    continue
                if not self.pending.startswith(GZIP_MAGIC):
                    raise zlib.error("trailing garbage after the gzip stream")
                self.d = zlib.decompressobj(31)
            if self.pending:
                out = self.d.decompress(self.pending, n)
                self.pending = self.d.unconsumed_tail
                if self.d.eof:
                    self.pending = self.d.unused_data + self.pending
                    self.d = None
                if out:
                    return bytes(out)
                continue
            more = self.raw.read(CHUNK)
            if not more:
                raise EOFError("compressed stream ended before the end-of-stream marker")
            self.pending = more


class _TooLarge(Exception):
    pass


class _Peek:
    """The first bytes of a stream, and then the whole stream again."""

    def __init__(self, inner: Readable, size: int) -> None:
        self.inner = inner
        self.head = b""
        while len(self.head) < size:
            data = inner.read(size - len(self.head))
            if not data:
                break
            self.head += data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.inner.close()

    def read(self, n: int = -1) -> bytes:
        if self.head:
            if n < 0 or n >= len(self.head):
                out, self.head = self.head, b""
                return out
            out, self.head = self.head[:n], self.head[n:]
            return out
        return self.inner.read(n)


def _decompressed(raw: _Peek) -> Readable:
    stream = cast(IO[bytes], raw)
    if raw.head.startswith(GZIP_MAGIC):
        return _Gunzip(raw)
    if raw.head.startswith(ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(
            stream, read_size=CHUNK, read_across_frames=True
        )
        return cast(Readable, reader)
    return raw


def normalise(name: str) -> str | None:
    """``./usr//lib/../bin/x`` -> ``/usr/bin/x``; None when the name climbs out of the root.
    (A backslash is an ordinary character in a Linux file name.)"""
    plain = "//" not in name and "/./" not in name and "/../" not in name
    plain = plain and name not in (".", "..") and not name.startswith(("./", "../"))
    if plain and not name.endswith(("/", "/.", "/..")):
        return "/" + name.lstrip("/")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/" + "/".join(parts)


def _ancestors(path: str) -> Iterator[str]:
    """``/a/b/c`` -> ``/a/b``, ``/a``."""
    end = path.rfind("/")
    while end > 0:
        yield path[:end]
        end = path.rfind("/", 0, end)


class _Walk:
    """The merged view of the captured files while the layers go by."""

    def __init__(
        self, meta: ImageMeta, select: Selector, limits: ImageLimits, spool_root: Path
    ) -> None:
        self.meta = meta
        self.select = select
        self.limits = limits
        self.spool_root = spool_root
        self.files: dict[str, ImageFile] = {}
        self.origin: dict[str, int] = {}  # captured path -> layer index
        self.dir_refs: dict[str, int] = {}  # folder -> captured files below it
        self.symlinks: dict[str, int] = {}  # symlink path -> layer index
        # the folder whose ancestors were last found free of symlinks and captured files, and
        # the count of entries added to either since (members come folder by folder)
        self._clean_parent = ""
        self._clean_at = -1
        self._added = 0
        self.warnings: list[ScanWarning] = []
        self.members = 0
        self.tar_bytes = 0
        self.memory_bytes = 0
        self.spool_bytes = 0

    # -- bookkeeping ---------------------------------------------------------------------------

    def warn(self, layer: LayerInfo, message: str, code: str = "image") -> None:
        self.warnings.append(
            ScanWarning(self.meta.ref, f"layer {layer.digest}: {message}", code=code)
        )

    def _add(self, image_file: ImageFile, index: int) -> None:
        self._added += 1
        self.files[image_file.path] = image_file
        self.origin[image_file.path] = index
        for anc in _ancestors(image_file.path):
            self.dir_refs[anc] = self.dir_refs.get(anc, 0) + 1

    def _drop(self, path: str) -> None:
        old = self.files.pop(path, None)
        if old is None:
            return
        del self.origin[path]
        for anc in _ancestors(path):
            left = self.dir_refs[anc] - 1
            if left:
                self.dir_refs[anc] = left
            else:
                del self.dir_refs[anc]
        if old.spool:
            with contextlib.suppress(OSError):
                (self.spool_root / old.spool).unlink()
        if old.data is not None:
            self.memory_bytes -= len(old.data)

    def _remove_tree(self, path: str, *, below_only: bool, before: int) -> None:
        """A whiteout: captures and symlinks at/below ``path`` from layers before ``before``."""
        prefix = path.rstrip("/") + "/"
        if not below_only and path in self.files and self.origin[path] < before:
            self._drop(path)
        if path == "/" or path in self.dir_refs:
            for p in [p for p in self.files if p.startswith(prefix)]:
                if self.origin[p] < before:
                    self._drop(p)
        for p in [
            p for p in self.symlinks if p.startswith(prefix) or (not below_only and p == path)
        ]:
            if self.symlinks[p] < before:
                del self.symlinks[p]

    def _replace(self, path: str, is_dir: bool) -> None:
        """A new entry at ``path``: it replaces the file there; anything but a folder also
        replaces everything below."""
        self._drop(path)
        self.symlinks.pop(path, None)
        if not is_dir and path in self.dir_refs:
            for p in [p for p in self.files if p.startswith(path + "/")]:
                self._drop(p)

    # -- one layer -----------------------------------------------------------------------------

    def layer(self, index: int, layer: LayerInfo, stream: Readable) -> None:
        tail = _TarStream(stream, self.limits.max_tar_bytes - self.tar_bytes)
        self.stream = tail
        tf = tarfile.open(fileobj=cast(IO[bytes], tail), mode="r:")  # noqa: SIM115
        try:
            while True:
                member = tf.next()
                # tarfile keeps every header in memory (an attribute typeshed omits)
                tf.members = []  # type: ignore[attr-defined]
                if member is None:
                    break
                self.members += 1
                if self.members > self.limits.max_members:
                    raise ImageError(
                        f"{self.meta.ref}: more than {self.limits.max_members} tar entries "
                        f"(at layer {layer.digest})"
                    )
                self.member(index, layer, tf, member)
            # tarfile ends quietly at a header it cannot parse: only NUL padding may follow
            stop = tf.offset
            clean = tail.only_zeros_from(stop) and tail.drain_zeros()
        finally:
            self.tar_bytes += tail.read_bytes
        if not clean:
            raise ImageError(
                f"{self.meta.ref}: layer {layer.digest} holds data after an unreadable tar "
                f"header at offset {stop}: the layer is corrupt"
            )

    def member(self, index: int, layer: LayerInfo, tf: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        if len(m.name) > self.limits.max_path_bytes:
            self.warn(layer, f"a member name of {len(m.name)} bytes was ignored")
            return
        path = normalise(m.name)
        if path is None:
            self.warn(
                layer, f"member {m.name!r} escapes the image root; ignored", "image-traversal"
            )
            return
        if path == "/":
            return
        parent, base = posixpath.split(path)
        if base.startswith(WHITEOUT):
            if base == OPAQUE:
                self._remove_tree(parent, below_only=True, before=index)
            else:
                name = posixpath.join(parent, base[len(WHITEOUT) :])
                self._remove_tree(name, below_only=False, before=index)
            return
        if parent != self._clean_parent or self._added != self._clean_at:
            if not self._ancestors_clean(layer, path):
                return
            self._clean_parent, self._clean_at = parent, self._added
        self._replace(path, m.isdir())
        if m.isdir():
            return
        if m.issym():
            self._added += 1
            self.symlinks[path] = index
        elif m.islnk():
            self.hardlink(index, layer, path, m.linkname)
        elif m.isreg():
            self.regular(index, layer, tf, m, path)

    def _ancestors_clean(self, layer: LayerInfo, path: str) -> bool:
        """No folder above ``path`` is a symlink (else a warning: symlinks are not followed);
        a captured file where a folder now is gets dropped."""
        for anc in _ancestors(path):
            if anc in self.symlinks:
                self.warn(
                    layer,
                    f"member {path} lies below the symlink {anc}; ignored (symlinks are not "
                    "followed)",
                    "image-traversal",
                )
                return False
            if anc in self.files:  # a file replaced by a folder
                self._drop(anc)
        return True

    def hardlink(self, index: int, layer: LayerInfo, path: str, linkname: str) -> None:
        target = normalise(linkname)
        if target is None:
            self.warn(
                layer, f"hardlink {path} points out of the image root; ignored", "image-traversal"
            )
            return
        old = self.files.get(target)
        # content reachable through a link must stay captured when its first name is removed
        if old is None or self.origin[target] != index:
            return
        spool = None
        if old.spool:
            spool = path.lstrip("/")
            dest = self._spool_path(layer, spool)
            if dest is None:
                return
            try:
                shutil.copyfile(self.spool_root / old.spool, dest)
            except OSError as exc:
                self.warn(layer, f"cannot keep {path} for inspection ({exc.strerror})")
                return
            self.spool_bytes += old.size
        if old.data is not None:
            self.memory_bytes += len(old.data)  # _drop subtracts it for each name
        self._add(
            ImageFile(path=path, layer=layer.digest, size=old.size, data=old.data, spool=spool),
            index,
        )

    def _spool_path(self, layer: LayerInfo, rel: str) -> Path | None:
        dest = self.spool_root / rel
        try:
            if dest.is_dir() and not dest.is_symlink():
                shutil.rmtree(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.warn(layer, f"cannot keep /{rel} for inspection ({exc.strerror}); not inspected")
            return None
        return dest

    def regular(
        self, index: int, layer: LayerInfo, tf: tarfile.TarFile, m: tarfile.TarInfo, path: str
    ) -> None:
        if m.sparse is None:
            # the content follows the header: read it from the layer stream itself (cheaper
            # than tarfile's per-member file object, which matters at 10^5 members)
            self.stream.seek(m.offset_data)
            fh: _Content | IO[bytes] = _Content(self.stream, m.size)
        else:
            sparse = tf.extractfile(m)
            if sparse is None:
                return
            fh = sparse
        head = fh.read(HEAD_BYTES)
        choice = self.select(path, m.size, head)
        if choice is Capture.SKIP:
            return
        if choice is Capture.MEMORY:
            if m.size > self.limits.max_memory_file or (
                self.memory_bytes + m.size > self.limits.max_memory_total
            ):
                self.warn(
                    layer,
                    f"{path} ({m.size} bytes) is too large to read; not inspected",
                    "image-limit",
                )
                return
            data = head + fh.read(m.size - len(head))
            if len(data) != m.size:
                raise ImageError(f"{self.meta.ref}: layer {layer.digest} is truncated in {path}")
            self.memory_bytes += len(data)
            self._add(ImageFile(path=path, layer=layer.digest, size=m.size, data=data), index)
            return
        if m.size > self.limits.max_spool_file or (
            self.spool_bytes + m.size > self.limits.max_spool_total
        ):
            self.warn(
                layer, f"{path} ({m.size} bytes) is too large to copy; not inspected", "image-limit"
            )
            return
        rel = path.lstrip("/")
        dest = self._spool_path(layer, rel)
        if dest is None:
            return
        written = len(head)
        try:
            out = dest.open("xb")
        except OSError as exc:
            self.warn(layer, f"cannot keep {path} for inspection ({exc.strerror}); not inspected")
            return
        with out:
            out.write(head)
            while data := fh.read(CHUNK):
                out.write(data)
                written += len(data)
        if written != m.size:
            raise ImageError(f"{self.meta.ref}: layer {layer.digest} is truncated in {path}")
        self.spool_bytes += m.size
        self._add(ImageFile(path=path, layer=layer.digest, size=m.size, spool=rel), index)


# errors of the blob stream, the decompressors and tarfile: all mean the layer is unreadable
_STREAM_ERRORS = (
    OSError,
    EOFError,
    zlib.error,
    zstandard.ZstdError,
    tarfile.TarError,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
)


def _read_layer(source: ImageSource, walk: _Walk, index: int, layer: LayerInfo) -> int:
    """Stream one layer through the walk; the compressed bytes read."""
    ref = source.meta.ref
    raw = source.open_blob(layer)
    verified = VerifiedReader(raw, ref=ref, digest=layer.digest, size=layer.size)
    try:
        peek = _Peek(verified, 4)
        stream = _decompressed(peek)
        walk.layer(index, layer, stream)
        # the compressed stream's own end (gzip CRC) and the digest over every byte
        while stream.read(CHUNK):
            pass
        verified.finish()
    except _TooLarge:
        raise ImageError(
            f"{ref}: more than {walk.limits.max_tar_bytes} uncompressed bytes "
            f"(at layer {layer.digest})"
        ) from None
    except _STREAM_ERRORS as exc:
        raise ImageError(
            f"{ref}: layer {layer.digest} is truncated or corrupt "
            f"({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    finally:
        with contextlib.suppress(*_STREAM_ERRORS):
            verified.close()
    return verified.count


@contextlib.contextmanager
def read_image(
    ref: str,
    select: Selector,
    *,
    platform: str = "linux/amd64",
    insecure: tuple[str, ...] = (),
    docker_config: Path | None = None,
    limits: ImageLimits = ImageLimits(),  # frozen: one shared default is safe
) -> Iterator[ImageContents]:
    """The captured part of the image's final file system. Spooled files live in a temporary
    folder until the context ends; :class:`ImageError` when the image cannot be read whole."""
    start = time.perf_counter()
    source = open_source(
        ref, platform=platform, insecure=insecure, docker_config=docker_config, limits=limits
    )
    with contextlib.ExitStack() as stack:
        stack.callback(source.close)
        spool_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mlgate-image-")))
        walk = _Walk(source.meta, select, limits, spool_root)
        compressed = 0
        for index, layer in enumerate(source.meta.layers):
            compressed += _read_layer(source, walk, index, layer)
        contents = ImageContents(
            meta=source.meta,
            files=walk.files,
            spool_root=spool_root,
            warnings=walk.warnings,
            stats={
                "layers": float(len(source.meta.layers)),
                "layer_bytes": float(compressed),
                "tar_bytes": float(walk.tar_bytes),
                "members": float(walk.members),
                "seconds": time.perf_counter() - start,
            },
        )
        yield contents
