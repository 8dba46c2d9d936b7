"""Archives: zip (own central-directory reader), tar, gzip/bz2/xz/zlib/lzma streams and 7z.

Members are sniffed by content and handed back to the dispatcher (``ctx.scan_nested``), so a
pickle inside a zip inside a tar is found wherever it hides. Every read is bounded: the depth
(dispatcher), the member count, the bytes decompressed out of one top-level file and the
compression ratio (:class:`~mlgate.inspect.interface.ArchiveBomb`). Member names that leave the
extraction folder (``..``, absolute paths, links pointing out) are findings.

The zip reader is our own on purpose: it reads the central directory (what loaders such as
PyTorch's use), compares every local header with its central entry and checks CRCs, and
reports each difference as tampering instead of refusing the file as :mod:`zipfile` does.
"""

from __future__ import annotations

import bz2
import contextlib
import io
import lzma
import os
import posixpath
import shutil
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Protocol

from mlgate.inspect.interface import (
    ArchiveBomb,
    ModelScanner,
    ScanContext,
    ScanTarget,
    WindowIO,
    model_finding,
)
from mlgate.model import Finding, Severity

RULE_TAMPER = "MLG-ZIP-TAMPER"
RULE_TRAVERSAL = "MLG-ARCHIVE-TRAVERSAL"
RULE_ENCRYPTED = "MLG-ARCHIVE-ENCRYPTED"
RULE_BOMB = "MLG-ARCHIVE-BOMB"
RULE_MALFORMED = "MLG-ARCHIVE-MALFORMED"
RULE_EXTRA = "MLG-MODEL-EXTRA-MISSING"

CHUNK = 1024 * 1024
MEMBER_BUFFER = 64 * 1024
SNIFF_BYTES = 4096
EOCD_SEARCH = 65536 + 22
MAX_TAMPER_FINDINGS = 50

# ---------------------------------------------------------------------------------------------
# bounded decompression


class _Decompressor(Protocol):
    def decompress(self, data: bytes, max_length: int = ...) -> bytes: ...

    @property
    def eof(self) -> bool: ...

    @property
    def unconsumed_tail(self) -> bytes: ...


class BoundedDecompress(io.RawIOBase):
    """Streaming decompression that charges the file's byte budget and checks the ratio."""

    def __init__(
        self,
        inner: IO[bytes],
        factory: Callable[[], Any],
        ctx: ScanContext,
        *,
        compressed_limit: int | None = None,
        multi_stream: bool = False,
    ) -> None:
        self.inner = inner
        self.factory = factory
        self.dec = factory()
        self.ctx = ctx
        self.left = compressed_limit
        self.multi = multi_stream
        self.pending = b""  # compressed input not yet consumed
        self.consumed = 0
        self.produced = 0
        self.done = False
        self.truncated = False

    def readable(self) -> bool:
        return True

    def _feed(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        n = CHUNK if self.left is None else min(CHUNK, self.left)
        if n <= 0:
            return b""
        data = self.inner.read(n)
        if self.left is not None:
            self.left -= len(data)
        self.consumed += len(data)
        return data

    def readinto(self, b: Any) -> int:
        want = len(b)
        while not self.done:
            if getattr(self.dec, "eof", False):
                rest = getattr(self.dec, "unused_data", b"")
                if self.multi and (rest or self.pending):
                    self.pending = rest + self.pending
                    self.dec = self.factory()
                else:
                    nxt = self._feed() if self.multi else b""
                    if self.multi and nxt:
                        self.pending = nxt
                        self.dec = self.factory()
                        continue
                    self.done = True
                    break
            data = self._feed()
            if not data:
                tail = getattr(self.dec, "unconsumed_tail", b"")
                if not tail:
                    # a truncated stream ends here: what came before is still scanned, and
                    # the content parser reports the cut (a loader fails at the same point)
                    self.truncated = not getattr(self.dec, "eof", True)
                    self.done = True
                    break
                data = b""
            out = self._decompress(data, want)
            if out:
                n = len(out)
                b[:n] = out
                self._count(n)
                return n
        return 0

    def _decompress(self, data: bytes, want: int) -> bytes:
        dec = self.dec
        if isinstance(dec, _ZlibAdapter):
            return dec.decompress(data, want)
        if hasattr(dec, "needs_input"):  # bz2 / lzma
            out: bytes = dec.decompress(data, max_length=want)
            return out
        out = dec.decompress(data)
        return out

    def _count(self, n: int) -> None:
        self.produced += n
        self.ctx.charge(n)
        limits = self.ctx.limits
        if self.produced > limits.bomb_min_bytes and self.produced > limits.max_ratio * max(
            self.consumed, 1
        ):
            raise ArchiveBomb(
                f"{self.produced} bytes out of {self.consumed} compressed "
                f"(ratio above {limits.max_ratio:g})"
            )
        self.ctx.check_time()

    def close(self) -> None:
        self.inner.close()
        super().close()


class _ZlibAdapter:
    """zlib with output bounded per call (unconsumed input kept in ``unconsumed_tail``)."""

    def __init__(self, wbits: int) -> None:
        self.obj = zlib.decompressobj(wbits)

    @property
    def eof(self) -> bool:
        return self.obj.eof

    @property
    def unused_data(self) -> bytes:
        return self.obj.unused_data

    @property
    def unconsumed_tail(self) -> bytes:
        return self.obj.unconsumed_tail

    def decompress(self, data: bytes, want: int) -> bytes:
        return self.obj.decompress(self.obj.unconsumed_tail + data, want)


def _bufopen(raw: io.RawIOBase) -> IO[bytes]:
    return io.BufferedReader(raw, CHUNK)


COMPRESSORS: dict[str, tuple[Callable[[], Any], bool]] = {
    "gzip": (lambda: _ZlibAdapter(31), True),
    "zlib": (lambda: _ZlibAdapter(15), False),
    "bz2": (bz2.BZ2Decompressor, True),
    "xz": (lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), True),
    "lzma": (lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), False),
}


def decompressed(
    open_: Callable[[], IO[bytes]], fmt: str, ctx: ScanContext
) -> Callable[[], IO[bytes]]:
    factory, multi = COMPRESSORS[fmt]

    def opener() -> IO[bytes]:
        return _bufopen(BoundedDecompress(open_(), factory, ctx, multi_stream=multi))

    return opener


def traversal(name: str) -> str | None:
    """Why a member name leaves the extraction folder, or None."""
    norm = name.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        return "absolute path"
    if ".." in norm.split("/"):
        return "'..' component"
    return None


def _traversal_finding(target: ScanTarget, name: str, why: str) -> Finding:
    return model_finding(
        RULE_TRAVERSAL,
        Severity.HIGH,
        f"archive member {name!r} has an {why}: an extractor would write outside its "
        "destination folder",
        target,
        trigger=name[:200],
        fix="do not extract this archive; rebuild it with relative member names",
    )


class Spool:
    """A bounded copy of a stream: in memory when small, else in a private temporary file.

    ``open()`` gives independent streams over the copy, as many times as a scanner needs.
    """

    def __init__(self, src: IO[bytes], ctx: ScanContext) -> None:
        self.path: str | None = None
        self.data = b""
        buf = bytearray()
        out: IO[bytes] | None = None
        while True:
            chunk = src.read(CHUNK)
            if not chunk:
                break
            ctx.check_time()
            if out is None:
                buf += chunk
                if len(buf) > ctx.limits.spool_memory_bytes:
                    fd, self.path = tempfile.mkstemp(prefix="mlgate-")
                    out = os.fdopen(fd, "wb")
                    out.write(buf)
                    buf = bytearray()
            else:
                out.write(chunk)
        if out is not None:
            out.close()
        else:
            self.data = bytes(buf)
        self.size = os.path.getsize(self.path) if self.path else len(self.data)

    def open(self) -> IO[bytes]:
        if self.path:
            return open(self.path, "rb")
        return io.BytesIO(self.data)

    def close(self) -> None:
        if self.path:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None
        self.data = b""


# ---------------------------------------------------------------------------------------------
# zip


@dataclass(frozen=True)
class ZipEntry:
    name: str
    method: int
    flags: int
    crc: int
    csize: int
    usize: int
    offset: int  # of the local header (absolute)
    index: int

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & 1)

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


class ZipFormatError(Exception):
    pass


@dataclass
class ZipLocal:
    name: str
    method: int
    flags: int
    crc: int
    csize: int
    usize: int
    data_offset: int


class ZipReader:
    """Reads a zip from its central directory; never trusts local headers for the layout."""

    def __init__(self, fh: IO[bytes], size: int, max_members: int) -> None:
        self.fh = fh
        self.size = size
        self.entries: list[ZipEntry] = []
        self.problems: list[tuple[str, str]] = []  # (member, what differs)
        self.too_many = False
        self._read_central(max_members)

    def _read_central(self, max_members: int) -> None:
        fh = self.fh
        tail_len = min(self.size, EOCD_SEARCH)
        fh.seek(self.size - tail_len)
        tail = fh.read(tail_len)
        pos = tail.rfind(b"PK\x05\x06")
        if pos < 0 or len(tail) - pos < 22:
            raise ZipFormatError("no end-of-central-directory record")
        eocd_abs = self.size - tail_len + pos
        (_, _, _, _, total, cd_size, cd_offset, _) = struct.unpack(
            "<4sHHHHIIH", tail[pos : pos + 22]
        )
        zip64 = False
        if pos >= 20 and tail[pos - 20 : pos - 16] == b"PK\x06\x07":
            (rec_off,) = struct.unpack("<Q", tail[pos - 12 : pos - 4])
            if rec_off > self.size - 56:  # a 64-bit offset: seek() overflows before it fails
                raise ZipFormatError("zip64 end-of-central-directory record past the end")
            fh.seek(rec_off)
            rec = fh.read(56)
            if len(rec) == 56 and rec[:4] == b"PK\x06\x06":
                total, cd_size, cd_offset = struct.unpack("<QQQ", rec[32:56])
                zip64 = True
        # bytes prepended to the archive shift every offset (self-extracting archives)
        concat = 0 if zip64 else eocd_abs - cd_size - cd_offset
        if concat < 0:
            raise ZipFormatError("central directory offsets point past its end")
        if concat:
            self.problems.append(("", f"{concat} bytes precede the archive"))
        self.concat = concat
        if cd_offset + concat > self.size:
            raise ZipFormatError("central directory starts past the end of the archive")
        fh.seek(cd_offset + concat)
        if cd_size > 256 * 1024 * 1024:
            raise ZipFormatError("central directory larger than 256 MiB")
        cd = fh.read(cd_size)
        i = 0
        names: set[str] = set()
        while i + 46 <= len(cd) and cd[i : i + 4] == b"PK\x01\x02":
            if len(self.entries) >= max_members:
                self.too_many = True
                break
            (
                flags,
                method,
                crc,
                csize,
                usize,
                nlen,
                elen,
                clen,
                offset,
            ) = struct.unpack("<8xHH4xIIIHHH8xI", cd[i : i + 46])
            raw_name = cd[i + 46 : i + 46 + nlen]
            extra = cd[i + 46 + nlen : i + 46 + nlen + elen]
            name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
            if 0xFFFFFFFF in (csize, usize, offset):
                usize, csize, offset = _zip64_extra(extra, usize, csize, offset)
            if name in names:
                self.problems.append((name, "the name appears twice in the central directory"))
            names.add(name)
            self.entries.append(
                ZipEntry(name, method, flags, crc, csize, usize, offset + concat, len(self.entries))
            )
            i += 46 + nlen + elen + clen
        if not self.too_many and len(self.entries) != total and total != 0xFFFF:
            self.problems.append(
                (
                    "",
                    f"end record counts {total} members, central directory has {len(self.entries)}",
                )
            )

    def local(self, entry: ZipEntry) -> ZipLocal:
        self.fh.seek(entry.offset)
        head = self.fh.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise ZipFormatError(f"no local header at offset {entry.offset}")
        flags, method, crc, csize, usize, nlen, elen = struct.unpack("<6xHH4xIIIHH", head)
        name = self.fh.read(nlen).decode("utf-8" if flags & 0x800 else "cp437", "replace")
        extra = self.fh.read(elen)
        if 0xFFFFFFFF in (csize, usize):
            usize, csize, _ = _zip64_extra(extra, usize, csize, 0)
        return ZipLocal(name, method, flags, crc, csize, usize, entry.offset + 30 + nlen + elen)

    def compare(self, entry: ZipEntry, loc: ZipLocal) -> list[str]:
        diffs = []
        if loc.name != entry.name:
            diffs.append(f"local header names it {loc.name!r}")
        if loc.method != entry.method:
            diffs.append(f"compression method {loc.method} locally, {entry.method} centrally")
        if not loc.flags & 0x08:  # sizes and CRC are in the local header
            if loc.crc != entry.crc:
                diffs.append("CRC differs between local and central headers")
            if (loc.csize, loc.usize) != (entry.csize, entry.usize):
                diffs.append(
                    f"sizes {loc.csize}/{loc.usize} locally, {entry.csize}/{entry.usize} centrally"
                )
        return diffs


def _zip64_extra(extra: bytes, usize: int, csize: int, offset: int) -> tuple[int, int, int]:
    i = 0
    while i + 4 <= len(extra):
        tag, ln = struct.unpack("<HH", extra[i : i + 4])
        body = extra[i + 4 : i + 4 + ln]
        if tag == 1:
            vals = [struct.unpack("<Q", body[k : k + 8])[0] for k in range(0, len(body) - 7, 8)]
            it = iter(vals)
            if usize == 0xFFFFFFFF:
                usize = next(it, usize)
            if csize == 0xFFFFFFFF:
                csize = next(it, csize)
            if offset == 0xFFFFFFFF:
                offset = next(it, offset)
            break
        i += 4 + ln
    return usize, csize, offset


_ZIP_METHODS: dict[int, Callable[[], Any]] = {
    8: lambda: _ZlibAdapter(-15),
    12: bz2.BZ2Decompressor,
}


class _LzmaZip:
    """Method 14: a 4-byte header (version, properties size) then raw LZMA1 with properties."""

    def __init__(self) -> None:
        self.dec: Any = None
        self.buf = b""
        self.eof = False
        self.unconsumed_tail = b""
        self.needs_input = True

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self.dec is None:
            self.buf += data
            if len(self.buf) < 4:
                return b""
            (psize,) = struct.unpack("<H", self.buf[2:4])
            if len(self.buf) < 4 + psize:
                return b""
            props = lzma._decode_filter_properties(  # type: ignore[attr-defined]
                lzma.FILTER_LZMA1, self.buf[4 : 4 + psize]
            )
            self.dec = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[props])
            data, self.buf = self.buf[4 + psize :], b""
        out: bytes = self.dec.decompress(data, max_length)
        self.eof = self.dec.eof
        return out


def member_opener(
    open_: Callable[[], IO[bytes]], entry: ZipEntry, data_offset: int, ctx: ScanContext
) -> Callable[[], IO[bytes]]:
    """A fresh stream of a member's uncompressed bytes (bounded)."""

    def opener() -> IO[bytes]:
        raw = WindowIO(open_(), data_offset, entry.csize)
        if entry.method == 0:
            # small buffer: sniffing a tensor member must not read a megabyte of it
            return io.BufferedReader(raw, MEMBER_BUFFER)
        if entry.method == 14:
            factory: Callable[[], Any] = _LzmaZip
        elif entry.method in _ZIP_METHODS:
            factory = _ZIP_METHODS[entry.method]
        else:
            raise ZipFormatError(f"compression method {entry.method} is not supported")
        return _bufopen(BoundedDecompress(_bufopen(raw), factory, ctx))

    return opener


def crc_of(opener: Callable[[], IO[bytes]], ctx: ScanContext) -> tuple[int, int]:
    crc = 0
    total = 0
    with opener() as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            total += len(chunk)
            ctx.check_time()
    return crc, total


def _tamper(target: ScanTarget, member: str, what: str) -> Finding:
    where = f"member {member!r}" if member else "archive"
    return model_finding(
        RULE_TAMPER,
        Severity.HIGH,
        f"zip {where}: {what}; tools that read local headers and tools that read the central "
        "directory see different content (a way to hide a payload from scanners)",
        target,
        trigger=f"{member}:{what}"[:200],
        fix="rebuild the archive from trusted sources",
    )


MemberPolicy = Callable[[ZipEntry, bytes], str]  # -> "scan" | "quiet" | "skip"


def scan_zip(
    target: ScanTarget,
    ctx: ScanContext,
    *,
    policy: MemberPolicy | None = None,
    crc_limit: int = 64 * 1024 * 1024,
    member_hook: Callable[[ZipEntry, ScanTarget], Iterable[Finding] | None] | None = None,
) -> Iterator[Finding]:
    """Scan every member of a zip: tampering checks, then each member by content.

    ``policy(entry, head)`` decides per member: ``scan`` (dispatch by content), ``quiet`` (a
    guess: only report a pickle that parses) or ``skip`` (tensor data: never read beyond the
    head, so scan time does not depend on tensor size). ``member_hook`` may take over a member
    (return findings) or leave it to the default (return None).
    """
    tampers = 0
    with target.open() as fh:
        try:
            reader = ZipReader(fh, target.size, ctx.limits.max_members)
        except (ZipFormatError, struct.error, OSError) as exc:
            yield model_finding(
                RULE_MALFORMED,
                Severity.HIGH,
                f"the zip cannot be read from its central directory ({exc}); loaders may "
                "still read it entry by entry",
                target,
                trigger="zip-central",
                fix="regenerate the archive",
            )
            return
        for member, what in reader.problems:
            tampers += 1
            yield _tamper(target, member, what)
        if reader.too_many:
            yield model_finding(
                RULE_BOMB,
                Severity.HIGH,
                f"more than {ctx.limits.max_members} members; the rest is not inspected",
                target,
                trigger="members",
            )
        plans: list[tuple[ZipEntry, ZipLocal | None]] = []
        limits = ctx.limits
        declared = sum(e.usize for e in reader.entries)
        if declared > limits.max_total_bytes:
            yield _bomb(target, "", f"{declared} bytes declared in total")
            return
        for entry in reader.entries:
            ctx.check_time()
            why = traversal(entry.name)
            if why:
                yield _traversal_finding(target, entry.name, why)
            if entry.is_dir:
                continue
            if entry.usize > limits.bomb_min_bytes and entry.usize > limits.max_ratio * max(
                entry.csize, 1
            ):
                yield _bomb(
                    target,
                    entry.name,
                    f"{entry.usize} bytes declared out of {entry.csize} compressed",
                )
                continue
            try:
                loc: ZipLocal | None = reader.local(entry)
            except (ZipFormatError, struct.error) as exc:
                loc = None
                tampers += 1
                if tampers <= MAX_TAMPER_FINDINGS:
                    yield _tamper(target, entry.name, str(exc))
            if loc is not None:
                for what in reader.compare(entry, loc):
                    tampers += 1
                    if tampers <= MAX_TAMPER_FINDINGS:
                        yield _tamper(target, entry.name, what)
            plans.append((entry, loc))
    for entry, loc in plans:
        ctx.check_time()
        if entry.encrypted:
            yield model_finding(
                RULE_ENCRYPTED,
                Severity.HIGH,
                f"member {entry.name!r} is encrypted and cannot be inspected",
                target,
                trigger=entry.name[:200],
            )
            continue
        if loc is None:
            continue
        # loaders read the data where the local header says it starts; sizes come from the
        # central directory
        opener = member_opener(target.open, entry, loc.data_offset, ctx)
        child = target.child(entry.name, opener, entry.usize)
        try:
            with opener() as fh:
                head = fh.read(SNIFF_BYTES)
        except (ZipFormatError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            yield model_finding(
                RULE_MALFORMED,
                Severity.HIGH,
                f"member {entry.name!r} cannot be decompressed ({exc})",
                child,
                trigger="member-data",
            )
            continue
        decision = policy(entry, head) if policy else "scan"
        if decision == "skip":
            continue
        if entry.usize <= crc_limit and decision == "scan":
            try:
                crc, total = crc_of(opener, ctx)
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                yield _tamper(target, entry.name, f"data does not decompress ({exc})")
                continue
            if crc != entry.crc:
                yield _tamper(target, entry.name, "CRC-32 of the data does not match")
            if total != entry.usize:
                yield _tamper(target, entry.name, f"{total} bytes of data, {entry.usize} declared")
        if member_hook is not None:
            handled = member_hook(entry, child)
            if handled is not None:
                yield from handled
                continue
        if decision == "quiet":
            yield from _quiet_pickle(child, ctx)
        else:
            yield from ctx.scan_nested(child)


def _bomb(target: ScanTarget, member: str, what: str) -> Finding:
    where = f"member {member!r}" if member else "archive"
    return model_finding(
        RULE_BOMB,
        Severity.HIGH,
        f"decompression bomb: zip {where}: {what}; an extractor would exhaust disk or memory "
        "(not inspected further)",
        target,
        trigger=f"bomb:{member}"[:200],
        fix="do not extract this archive; rebuild it from trusted sources",
    )


def _quiet_pickle(child: ScanTarget, ctx: ScanContext) -> Iterator[Finding]:
    from mlgate.inspect.allowlist import AllowList
    from mlgate.inspect.pickle_engine import walk_pickles
    from mlgate.inspect.pickles import classify

    with child.open() as fh:
        walk = walk_pickles(fh, check=ctx.check_time, follow_on=False)
    if walk.error:
        return
    for finding in classify(walk, child, AllowList.shared(tuple(ctx.allow_globals))):
        if finding.severity is not Severity.INFO:
            yield finding


def looks_like_pickle(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


class ZipScanner(ModelScanner):
    """Plain zip archives (and npz, whose members are .npy files)."""

    name = "zip"
    formats = ("zip",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        return scan_zip(target, ctx)


# ---------------------------------------------------------------------------------------------
# tar


class TarScanner(ModelScanner):
    name = "tar"
    formats = ("tar",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        return scan_tar(target, ctx)


def _legacy_torch_tar(names: set[str]) -> bool:
    return {"pickle", "storages", "tensors"} <= names


def scan_tar(target: ScanTarget, ctx: ScanContext) -> Iterator[Finding]:
    with target.open() as fh:
        try:
            tf = tarfile.open(fileobj=fh, mode="r|")  # noqa: SIM115 - closed with fh
        except tarfile.TarError as exc:
            yield model_finding(
                RULE_MALFORMED,
                Severity.HIGH,
                f"the tar archive cannot be read ({exc})",
                target,
                trigger="tar",
            )
            return
        count = 0
        try:
            for info in tf:
                ctx.check_time()
                count += 1
                if count > ctx.limits.max_members:
                    yield model_finding(
                        RULE_BOMB,
                        Severity.HIGH,
                        f"more than {ctx.limits.max_members} members; the rest is not inspected",
                        target,
                        trigger="members",
                    )
                    break
                why = traversal(info.name)
                if why:
                    yield _traversal_finding(target, info.name, why)
                if info.issym() or info.islnk():
                    link = info.linkname
                    dest = (
                        link if info.islnk() else posixpath.join(posixpath.dirname(info.name), link)
                    )
                    lwhy = traversal(posixpath.normpath(dest)) or traversal(link)
                    if lwhy:
                        yield _traversal_finding(target, f"{info.name} -> {link}", lwhy)
                    continue
                if not info.isfile():
                    continue
                src = tf.extractfile(info)
                if src is None:
                    continue
                head = src.read(SNIFF_BYTES)
                from mlgate.inspect.dispatch import sniff_stream

                found = sniff_stream(io.BytesIO(head), info.name, info.size)
                if found is None and info.name.rsplit("/", 1)[-1] not in ("pickle", "storages"):
                    continue
                if found is not None and found.kind.value == "data":
                    continue
                ctx.charge(info.size)
                tmp = Spool(io.BufferedReader(_Prefixed(head, src)), ctx)
                try:
                    child = target.child(info.name, tmp.open, tmp.size)
                    base = info.name.rsplit("/", 1)[-1]
                    if base == "storages" and found is not None and found.format == "pickle":
                        from mlgate.inspect.torch import scan_legacy_storages

                        yield from scan_legacy_storages(child, ctx)
                    else:
                        yield from ctx.scan_nested(child)
                finally:
                    tmp.close()
        except tarfile.TarError as exc:
            yield model_finding(
                RULE_MALFORMED,
                Severity.HIGH,
                f"the tar archive is damaged ({exc}); later members are unchecked",
                target,
                trigger="tar",
            )


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read (``head``)."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self.head = head
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.head:
            n = min(len(b), len(self.head))
            b[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.rest.read(len(b))
        b[: len(data)] = data
        return len(data)


# ---------------------------------------------------------------------------------------------
# single compressed streams


class CompressedScanner(ModelScanner):
    """gzip / bz2 / xz / zlib / lzma: the decompressed stream is sniffed and scanned."""

    name = "compressed"
    formats = ("gzip", "bz2", "xz", "zlib", "lzma")

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        factory, multi = COMPRESSORS[target.format]
        streams: list[BoundedDecompress] = []

        def opener() -> IO[bytes]:
            raw = BoundedDecompress(target.open(), factory, ctx, multi_stream=multi)
            streams.append(raw)
            return _bufopen(raw)

        inner = target.member.rsplit("!", 1)[-1] if target.member else target.relpath
        stem = posixpath.splitext(posixpath.basename(inner))[0] or "data"
        child = target.child(f"{stem}", opener, target.size)
        # a tar inside (tgz) needs no seeking: tarfile reads it as a stream
        yield from ctx.scan_nested(child)
        if any(stream.truncated for stream in streams):
            yield model_finding(
                RULE_MALFORMED,
                Severity.HIGH,
                f"the {target.format} stream is truncated: its content ends early (what came "
                "before was scanned)",
                target,
                trigger=f"{target.format}-truncated",
                fix="regenerate the file",
            )


# ---------------------------------------------------------------------------------------------
# 7z (optional extra)


class SevenZipScanner(ModelScanner):
    name = "7z"
    formats = ("7z",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        return scan_7z(target, ctx)


def _builtin_7z(target: ScanTarget, ctx: ScanContext) -> list[tuple[str, Spool]] | None:
    """Members of a common 7z (see :mod:`mlgate.inspect.sevenzip`), or None to use py7zr.

    Same bounds, charges and member order as the py7zr path below.
    """
    from mlgate.inspect import sevenzip

    # anything the reader is not sure about: py7zr runs instead, exactly as before
    not_common: tuple[type[Exception], ...] = (sevenzip.Unsupported, OSError, ValueError)
    not_common += (OverflowError, struct.error, lzma.LZMAError)
    spools: list[tuple[str, Spool]] = []
    total = 0
    with target.open() as fh:
        if not fh.seekable():
            return None
        try:
            size = fh.seek(0, os.SEEK_END)
            archive = sevenzip.read_archive(fh, size, ctx.limits.max_members, ctx.check_time)
        except not_common:
            return None
        total = archive.declared
        limits = ctx.limits
        if total > limits.bomb_min_bytes and total > limits.max_ratio * max(target.size, 1):
            raise ArchiveBomb(
                f"{total} bytes declared out of {target.size} (ratio above {limits.max_ratio:g})"
            )
        ctx.charge(total)
        try:
            for entry, stream in sevenzip.iter_members(fh, archive, ctx.check_time):
                if entry.is_dir:
                    continue
                src: IO[bytes] = io.BytesIO(b"") if stream is None else _bufopen(stream)
                spool = Spool(src, ctx)
                spools.append((entry.name, spool))
                if stream is not None and not stream.ok(entry):
                    raise sevenzip.Unsupported("member data")
        except not_common:
            for _, spool in spools:
                spool.close()
            ctx.bytes_budget[0] -= total  # the py7zr path charges the same bytes again
            return None
        except BaseException:  # time bound, interrupt: no temporary copy is left behind
            for _, spool in spools:
                spool.close()
            raise
    return spools


def scan_7z(target: ScanTarget, ctx: ScanContext) -> Iterator[Finding]:
    members = _builtin_7z(target, ctx)
    if members is not None:
        try:
            for name, spool in members:
                yield from ctx.scan_nested(target.child(name, spool.open, spool.size))
        finally:
            for _, spool in members:
                spool.close()
        return
    try:
        import py7zr
    except ImportError:
        yield model_finding(
            RULE_EXTRA,
            Severity.INFO,
            "7z archive not inspected: install mlgate[sevenzip]",
            target,
            trigger="7z",
            fix="pip install 'mlgate[sevenzip]'",
        )
        return
    tmpdir = tempfile.mkdtemp(prefix="mlgate-7z-")
    try:
        with target.open() as fh:
            copy = None if fh.seekable() else Spool(fh, ctx)
            src = copy.open() if copy is not None else fh
            try:
                archive = py7zr.SevenZipFile(src, mode="r")
            except Exception as exc:  # py7zr raises many types for damaged input
                yield model_finding(
                    RULE_MALFORMED,
                    Severity.HIGH,
                    f"the 7z archive cannot be read ({type(exc).__name__}: {exc})",
                    target,
                    trigger="7z",
                )
                return
            with archive, contextlib.ExitStack() as stack:
                if copy is not None:
                    stack.callback(copy.close)
                infos = archive.list()
                if len(infos) > ctx.limits.max_members:
                    yield model_finding(
                        RULE_BOMB,
                        Severity.HIGH,
                        f"more than {ctx.limits.max_members} members; not inspected",
                        target,
                        trigger="members",
                    )
                    return
                total = 0
                wanted = []
                for info in infos:
                    name = info.filename
                    why = traversal(name)
                    if why:
                        yield _traversal_finding(target, name, why)
                        continue
                    if info.is_directory:
                        continue
                    total += int(info.uncompressed or 0)
                    wanted.append(name)
                limits = ctx.limits
                if total > limits.bomb_min_bytes and total > limits.max_ratio * max(target.size, 1):
                    raise ArchiveBomb(
                        f"{total} bytes declared out of {target.size} (ratio above "
                        f"{limits.max_ratio:g})"
                    )
                ctx.charge(total)
                if any(info.encrypted for info in infos if hasattr(info, "encrypted")):
                    yield model_finding(
                        RULE_ENCRYPTED,
                        Severity.HIGH,
                        "the 7z archive is encrypted and cannot be inspected",
                        target,
                        trigger="7z-encrypted",
                    )
                    return
                archive.extract(path=tmpdir, targets=wanted)
        for name in wanted:
            path = os.path.join(tmpdir, name)
            real = os.path.realpath(path)
            if not real.startswith(os.path.realpath(tmpdir) + os.sep) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)

            def opener(path: str = path) -> IO[bytes]:
                return open(path, "rb")

            yield from ctx.scan_nested(target.child(name, opener, size))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
