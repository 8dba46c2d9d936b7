"""A small, bounded, read-only 7z reader for the common case (py7zr stays the fallback).

Importing py7zr costs ~0.1 s (it pulls cryptography and codec modules), more than scanning a
typical model folder. Most 7z files use one LZMA, LZMA2 or COPY coder per folder (py7zr's
default adds an x86 BCJ filter after LZMA2), with an optionally LZMA-encoded header: those are
read here with the standard library's lzma. Anything else (BCJ2/delta/ARM/AES chains, anti-items,
symlinks, duplicate or odd names, bad CRCs, truncation) raises :class:`Unsupported` so the
caller runs the py7zr path exactly as before.

Layout follows 7zFormat.txt of the 7-Zip sources. Every count is checked against the bytes
left in the header before anything is allocated, every size against the file size, and member
data is decoded no further than the sizes the header declares.
"""

from __future__ import annotations

import io
import lzma
import stat
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

MAGIC = b"7z\xbc\xaf\x27\x1c"
SIGNATURE_SIZE = 32
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_NAME_BYTES = 4096
CHUNK = 1024 * 1024

K_END = 0x00
K_HEADER = 0x01
K_MAIN_STREAMS_INFO = 0x04
K_FILES_INFO = 0x05
K_PACK_INFO = 0x06
K_UNPACK_INFO = 0x07
K_SUBSTREAMS_INFO = 0x08
K_SIZE = 0x09
K_CRC = 0x0A
K_FOLDER = 0x0B
K_CODERS_UNPACK_SIZE = 0x0C
K_NUM_UNPACK_STREAM = 0x0D
K_EMPTY_STREAM = 0x0E
K_EMPTY_FILE = 0x0F
K_NAME = 0x11
K_CTIME, K_ATIME, K_MTIME = 0x12, 0x13, 0x14
K_ATTRIBUTES = 0x15
K_ENCODED_HEADER = 0x17
K_DUMMY = 0x19
SKIPPED_FILE_PROPERTIES = frozenset({K_CTIME, K_ATIME, K_MTIME, K_DUMMY})

CODER_COPY = b"\x00"
CODER_LZMA = b"\x03\x01\x01"
CODER_LZMA2 = b"\x21"
CODER_BCJ_X86 = b"\x03\x03\x01\x03"

ATTR_DIRECTORY = 0x10
ATTR_REPARSE_POINT = 0x400
ATTR_UNIX_EXTENSION = 0x8000


class Unsupported(Exception):
    """Not the common case, damaged or not sure: the caller uses py7zr instead."""


@dataclass(frozen=True)
class Folder:
    coder: bytes
    props: bytes
    unpack_size: int
    crc: int | None
    bcj: bool = False  # x86 branch converter after the coder (py7zr's default chain)


@dataclass(frozen=True)
class Streams:
    pack_pos: int
    pack_sizes: tuple[int, ...]
    folders: tuple[Folder, ...]
    sub_counts: tuple[int, ...]  # files per folder
    sub_sizes: tuple[int, ...]  # every non-empty file, in folder order
    sub_crcs: tuple[int | None, ...]


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool
    size: int  # 0 for directories and empty files
    crc: int | None
    has_stream: bool


@dataclass(frozen=True)
class Archive:
    entries: tuple[Entry, ...]
    streams: Streams | None

    @property
    def declared(self) -> int:
        """Uncompressed bytes of every file (what the py7zr path charges)."""
        return sum(e.size for e in self.entries if not e.is_dir)


# ---------------------------------------------------------------------------------------------
# header parsing


class _Buf:
    """A cursor over header bytes; every read is checked against what is left."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def left(self) -> int:
        return len(self.data) - self.pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise Unsupported("header ends early")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def take(self, n: int) -> bytes:
        if n < 0 or n > self.left:
            raise Unsupported("header ends early")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def number(self) -> int:
        """7z's variable-length UINT64: leading 1-bits of the first byte count extra bytes."""
        first = self.byte()
        mask = 0x80
        value = 0
        for i in range(8):
            if not first & mask:
                high = first & (mask - 1)
                return value | (high << (8 * i))
            value |= self.byte() << (8 * i)
            mask >>= 1
        return value

    def count(self, per_item: int = 1, limit: int = 1 << 31) -> int:
        """A number of items, each taking at least ``per_item`` header bytes (or bits / 8)."""
        n = self.number()
        if n > limit or n * per_item > self.left * 8:
            raise Unsupported("count larger than the header")
        return n

    def uint32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def bits(self, n: int) -> list[bool]:
        raw = self.take((n + 7) // 8)
        return [bool(raw[i >> 3] & (0x80 >> (i & 7))) for i in range(n)]

    def defined_bits(self, n: int) -> list[bool]:
        if self.byte():  # all are defined
            return [True] * n
        return self.bits(n)

    def digests(self, n: int) -> list[int | None]:
        defined = self.defined_bits(n)
        return [self.uint32() if d else None for d in defined]

    def expect(self, prop: int) -> None:
        if self.byte() != prop:
            raise Unsupported(f"expected property {prop:#x}")


def _pack_info(buf: _Buf, max_items: int) -> tuple[int, list[int]]:
    pack_pos = buf.number()
    n = buf.count(8, max_items)
    sizes: list[int] = []
    while True:
        prop = buf.byte()
        if prop == K_END:
            break
        if prop == K_SIZE:
            sizes = [buf.number() for _ in range(n)]
        elif prop == K_CRC:
            buf.digests(n)  # pack stream CRCs: 7-Zip itself does not write them
        else:
            raise Unsupported("pack info property")
    if len(sizes) != n:
        raise Unsupported("pack sizes missing")
    return pack_pos, sizes


def _coder(buf: _Buf) -> tuple[bytes, bytes]:
    flags = buf.byte()
    if flags & 0xC0 or flags & 0x10:  # alternative methods / complex coder (several streams)
        raise Unsupported("complex coder")
    coder = buf.take(flags & 0x0F)
    props = buf.take(buf.count(8, 1 << 16)) if flags & 0x20 else b""
    return coder, props


def _folder(buf: _Buf) -> tuple[bytes, bytes, bool, int, int]:
    """(coder, props, x86 BCJ after it, out streams, index of the folder's output stream)."""
    n = buf.number()
    if n == 1:
        # one in and one out stream: no bind pairs, one packed stream, no indexes
        coder, props = _coder(buf)
        return coder, props, False, 1, 0
    if n != 2:
        raise Unsupported("coder chain")
    coders = [_coder(buf), _coder(buf)]
    # one bind pair: the filter's input (in_index) is the compressor's output (out_index); the
    # packed stream feeds the compressor, and the filter's output is the folder's output
    in_index, out_index = buf.number(), buf.number()
    if {in_index, out_index} != {0, 1} or coders[in_index] != (CODER_BCJ_X86, b""):
        raise Unsupported("coder chain")
    coder, props = coders[out_index]
    return coder, props, True, 2, in_index


def _unpack_info(buf: _Buf, max_items: int) -> list[Folder]:
    buf.expect(K_FOLDER)
    n = buf.count(16, max_items)
    if buf.byte() != 0:
        raise Unsupported("external folders")
    shapes = [_folder(buf) for _ in range(n)]
    buf.expect(K_CODERS_UNPACK_SIZE)
    sizes: list[int] = []
    for _, _, bcj, n_out, main in shapes:
        outs = [buf.number() for _ in range(n_out)]
        if bcj and outs[0] != outs[1]:
            raise Unsupported("filter changes the size")
        sizes.append(outs[main])
    crcs: list[int | None] = [None] * n
    while True:
        prop = buf.byte()
        if prop == K_END:
            break
        if prop == K_CRC:
            crcs = buf.digests(n)
        else:
            raise Unsupported("unpack info property")
    return [
        Folder(c, p, s, crc, bcj)
        for (c, p, bcj, _, _), s, crc in zip(shapes, sizes, crcs, strict=True)
    ]


def _substreams(
    buf: _Buf, folders: list[Folder], max_items: int
) -> tuple[list[int], list[int], list[int | None]]:
    counts = [1] * len(folders)
    prop = buf.byte()
    if prop == K_NUM_UNPACK_STREAM:
        counts = [buf.number() for _ in folders]
        if sum(counts) > max_items:
            raise Unsupported("too many substreams")
        prop = buf.byte()
    sizes: list[int] = []
    explicit = prop == K_SIZE
    for folder, count in zip(folders, counts, strict=True):
        if count == 0:
            continue
        if count > 1 and not explicit:
            raise Unsupported("substream sizes missing")
        inner = [buf.number() for _ in range(count - 1)] if explicit else []
        last = folder.unpack_size - sum(inner)
        if last < 0:
            raise Unsupported("substream sizes exceed the folder")
        sizes.extend([*inner, last])
    if explicit:
        prop = buf.byte()
    # CRCs are listed only for streams not already covered by a one-stream folder's CRC
    crcs: list[int | None] = []
    unknown = sum(
        c for f, c in zip(folders, counts, strict=True) if not (c == 1 and f.crc is not None)
    )
    listed: list[int | None] = [None] * unknown
    while prop != K_END:
        if prop == K_CRC:
            listed = buf.digests(unknown)
        else:
            raise Unsupported("substreams property")
        prop = buf.byte()
    it = iter(listed)
    for folder, count in zip(folders, counts, strict=True):
        if count == 1 and folder.crc is not None:
            crcs.append(folder.crc)
        else:
            crcs.extend(next(it) for _ in range(count))
    return counts, sizes, crcs


def _streams_info(buf: _Buf, max_items: int, *, substreams: bool) -> Streams:
    pack_pos, pack_sizes = 0, list[int]()
    folders: list[Folder] = []
    prop = buf.byte()
    if prop == K_PACK_INFO:
        pack_pos, pack_sizes = _pack_info(buf, max_items)
        prop = buf.byte()
    if prop == K_UNPACK_INFO:
        folders = _unpack_info(buf, max_items)
        prop = buf.byte()
    counts = [1] * len(folders)
    sizes = [f.unpack_size for f in folders]
    crcs = [f.crc for f in folders]
    if prop == K_SUBSTREAMS_INFO and substreams:
        counts, sizes, crcs = _substreams(buf, folders, max_items)
        prop = buf.byte()
    if prop != K_END:
        raise Unsupported("streams info property")
    if len(pack_sizes) != len(folders):
        raise Unsupported("one packed stream per folder expected")
    return Streams(
        pack_pos, tuple(pack_sizes), tuple(folders), tuple(counts), tuple(sizes), tuple(crcs)
    )


def _files_info(buf: _Buf, streams: Streams | None, max_items: int) -> list[Entry]:
    n = buf.count(2, max_items)
    empty_stream = [False] * n
    names: list[str] | None = None
    attrs: list[int | None] = [None] * n
    while True:
        prop = buf.byte()
        if prop == K_END:
            break
        size = buf.number()
        if size > buf.left:
            raise Unsupported("file property larger than the header")
        sub = _Buf(buf.take(size))
        if prop == K_EMPTY_STREAM:
            empty_stream = sub.bits(n)
        elif prop == K_EMPTY_FILE:
            # empty file vs directory: the attributes (required below) decide, as in py7zr
            sub.bits(sum(empty_stream))
        elif prop == K_NAME:
            if sub.byte() != 0:
                raise Unsupported("external names")
            raw = sub.take(sub.left)
            if len(raw) % 2:
                raise Unsupported("odd name bytes")
            parts = raw.decode("utf-16-le", errors="strict").split("\x00")
            if len(parts) != n + 1 or parts[-1]:
                raise Unsupported("name count")
            names = parts[:n]
        elif prop == K_ATTRIBUTES:
            defined = sub.defined_bits(n)
            if sub.byte() != 0:
                raise Unsupported("external attributes")
            attrs = [sub.uint32() if d else None for d in defined]
        elif prop not in SKIPPED_FILE_PROPERTIES:
            raise Unsupported(f"file property {prop:#x}")
    if names is None:
        raise Unsupported("unnamed members")
    sizes = list(streams.sub_sizes) if streams else []
    crcs = list(streams.sub_crcs) if streams else []
    if sum(not e for e in empty_stream) != len(sizes):
        raise Unsupported("file count differs from stream count")
    entries: list[Entry] = []
    k = 0
    for i in range(n):
        attr = attrs[i]
        if attr is None:  # py7zr and 7-Zip disagree on what such an entry is
            raise Unsupported("member without attributes")
        is_dir = bool(attr & ATTR_DIRECTORY)
        if attr & ATTR_REPARSE_POINT:
            raise Unsupported("reparse point")
        if attr & ATTR_UNIX_EXTENSION:
            mode = attr >> 16
            if not (stat.S_ISDIR(mode) if is_dir else stat.S_ISREG(mode)):
                raise Unsupported("special file")
        if empty_stream[i]:
            entries.append(Entry(names[i], is_dir, 0, None, False))
            continue
        if is_dir:
            raise Unsupported("directory with data")
        entries.append(Entry(names[i], False, sizes[k], crcs[k], True))
        k += 1
    _check_names(entries)
    return entries


def _check_names(entries: list[Entry]) -> None:
    """Names an extractor writes exactly as stored; anything else is left to py7zr."""
    seen: set[str] = set()
    files: set[str] = set()
    for e in entries:
        name = e.name
        if not name or "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
            raise Unsupported("unusual member name")
        parts = name.split("/")
        if any(
            p in ("", ".", "..") or len(p.encode("utf-8", "surrogatepass")) > 255 for p in parts
        ):
            raise Unsupported("unusual member name")
        if len(name.encode()) > MAX_NAME_BYTES or name in seen:
            raise Unsupported("duplicate or long member name")
        seen.add(name)
        if not e.is_dir:
            files.add(name)
    for name in seen:
        parts = name.split("/")
        if any("/".join(parts[:i]) in files for i in range(1, len(parts))):
            raise Unsupported("a file is also a folder")


# ---------------------------------------------------------------------------------------------
# decoding


def _filters(folder: Folder) -> list[dict[str, Any]] | None:
    """lzma filters for the folder's coder; None for COPY."""
    # the dictionary never needs to be larger than the output (it bounds the decoder's memory)
    cap = max(folder.unpack_size, 4096)
    if folder.coder == CODER_COPY and not folder.props:
        if folder.bcj:
            raise Unsupported("filter over stored data")
        return None
    pre: list[dict[str, Any]] = [{"id": lzma.FILTER_X86}] if folder.bcj else []
    if folder.coder == CODER_LZMA and len(folder.props) == 5:
        d = folder.props[0]
        if d >= 9 * 5 * 5:
            raise Unsupported("LZMA properties")
        lc, lp, pb = d % 9, (d // 9) % 5, d // 45
        dict_size = struct.unpack("<I", folder.props[1:5])[0]
        return [
            *pre,
            {
                "id": lzma.FILTER_LZMA1,
                "lc": lc,
                "lp": lp,
                "pb": pb,
                "dict_size": min(max(dict_size, 4096), cap),
            },
        ]
    if folder.coder == CODER_LZMA2 and len(folder.props) == 1:
        p = folder.props[0]
        if p > 40:
            raise Unsupported("LZMA2 properties")
        dict_size = 0xFFFFFFFF if p == 40 else (2 | (p & 1)) << (p // 2 + 11)
        return [*pre, {"id": lzma.FILTER_LZMA2, "dict_size": min(max(dict_size, 4096), cap)}]
    raise Unsupported(f"coder {folder.coder.hex()}")


def decode_folder(
    fh: IO[bytes], offset: int, pack_size: int, folder: Folder, check: Callable[[], None]
) -> Iterator[bytes]:
    """The folder's output in chunks, exactly ``unpack_size`` bytes or :class:`Unsupported`."""
    filters = _filters(folder)
    fh.seek(offset)
    left_out = folder.unpack_size
    if filters is None:
        if pack_size != left_out:
            raise Unsupported("stored sizes differ")
        while left_out:
            data = fh.read(min(CHUNK, left_out))
            if not data:
                raise Unsupported("truncated data")
            left_out -= len(data)
            check()
            yield data
        return
    try:
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=filters)
    except (lzma.LZMAError, ValueError) as exc:  # e.g. lc + lp above what liblzma takes
        raise Unsupported(f"coder properties ({exc})") from exc
    left_in = pack_size
    stalls = 0
    while left_out:
        if dec.eof:
            raise Unsupported("data ends before its declared size")
        data = b""
        if dec.needs_input:
            if not left_in:
                raise Unsupported("truncated data")
            data = fh.read(min(CHUNK, left_in))
            if not data:
                raise Unsupported("truncated data")
            left_in -= len(data)
        try:
            out = dec.decompress(data, max_length=min(CHUNK, left_out))
        except (lzma.LZMAError, EOFError) as exc:
            raise Unsupported(f"data does not decode ({exc})") from exc
        if not out:
            stalls += 1
            if stalls > 4:
                raise Unsupported("data ends before its declared size")
            continue
        stalls = 0
        left_out -= len(out)
        check()
        yield out


def read_archive(fh: IO[bytes], size: int, max_items: int, check: Callable[[], None]) -> Archive:
    """Parse the signature header and the (possibly encoded) header; :class:`Unsupported` else."""
    fh.seek(0)
    sig = fh.read(SIGNATURE_SIZE)
    if len(sig) != SIGNATURE_SIZE or sig[:6] != MAGIC or sig[6] != 0:
        raise Unsupported("signature")
    start_crc, next_off, next_size, next_crc = struct.unpack("<IQQI", sig[8:])
    if zlib.crc32(sig[12:]) != start_crc:
        raise Unsupported("start header CRC")
    if not next_size or next_size > MAX_HEADER_BYTES:
        raise Unsupported("header size")
    if SIGNATURE_SIZE + next_off + next_size > size:
        raise Unsupported("header beyond the end of the file")
    fh.seek(SIGNATURE_SIZE + next_off)
    raw = fh.read(next_size)
    if len(raw) != next_size or zlib.crc32(raw) != next_crc:
        raise Unsupported("header CRC")
    buf = _Buf(raw)
    prop = buf.byte()
    if prop == K_ENCODED_HEADER:
        enc = _streams_info(buf, 1, substreams=False)
        if len(enc.folders) != 1:
            raise Unsupported("encoded header layout")
        folder = enc.folders[0]
        offset = SIGNATURE_SIZE + enc.pack_pos
        if folder.unpack_size > MAX_HEADER_BYTES or offset + enc.pack_sizes[0] > size:
            raise Unsupported("encoded header size")
        decoded = b"".join(decode_folder(fh, offset, enc.pack_sizes[0], folder, check))
        if folder.crc is not None and zlib.crc32(decoded) != folder.crc:
            raise Unsupported("encoded header CRC")
        buf = _Buf(decoded)
        prop = buf.byte()
    if prop != K_HEADER:
        raise Unsupported("header kind")
    streams: Streams | None = None
    entries: list[Entry] = []
    prop = buf.byte()
    if prop == K_MAIN_STREAMS_INFO:
        streams = _streams_info(buf, max_items, substreams=True)
        prop = buf.byte()
    if prop == K_FILES_INFO:
        entries = _files_info(buf, streams, max_items)
        prop = buf.byte()
    if prop != K_END or not entries:
        raise Unsupported("header layout")
    if streams is not None:
        end = SIGNATURE_SIZE + streams.pack_pos + sum(streams.pack_sizes)
        if end > size:
            raise Unsupported("packed data beyond the end of the file")
        for folder, count in zip(streams.folders, streams.sub_counts, strict=True):
            if count == 0 and folder.unpack_size:
                raise Unsupported("folder without files")
            _filters(folder)  # every coder is one we decode, before anything is charged
    elif any(e.has_stream for e in entries):
        raise Unsupported("data without streams")
    return Archive(tuple(entries), streams)


class _Take(io.RawIOBase):
    """The next ``n`` bytes of a chunk iterator, with their CRC-32."""

    def __init__(self, chunks: Iterator[bytes], rest: list[bytes], n: int) -> None:
        self.chunks = chunks
        self.rest = rest  # one-slot carry-over shared between consecutive members
        self.left = n
        self.crc = 0
        self.failed = ""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        # a decoding failure ends the stream early (``left`` stays > 0, ``failed`` set) rather
        # than raising through the caller's buffered copy
        if not self.left or self.failed:
            return 0
        if not self.rest[0]:
            try:
                self.rest[0] = next(self.chunks, b"")
            except Unsupported as exc:
                self.failed = str(exc)
                return 0
            if not self.rest[0]:
                self.failed = "folder output ends early"
                return 0
        n = min(len(b), self.left, len(self.rest[0]))
        data = self.rest[0][:n]
        self.rest[0] = self.rest[0][n:]
        b[:n] = data
        self.left -= n
        self.crc = zlib.crc32(data, self.crc)
        return n

    def ok(self, entry: Entry) -> bool:
        """All declared bytes came out and their CRC-32 is the one the header gives."""
        return not self.failed and not self.left and entry.crc in (None, self.crc)


def iter_members(
    fh: IO[bytes], archive: Archive, check: Callable[[], None]
) -> Iterator[tuple[Entry, _Take | None]]:
    """Entries in header order; files with data come with a stream over exactly their bytes.

    Each stream must be read to its end before the next entry is taken (folders are solid);
    the caller then checks ``stream.ok(entry)``.
    """
    streams = archive.streams
    pending = iter(archive.entries)
    if streams is None:
        for plain in pending:
            yield plain, None
        return
    offset = SIGNATURE_SIZE + streams.pack_pos
    for folder, pack_size, count in zip(
        streams.folders, streams.pack_sizes, streams.sub_counts, strict=True
    ):
        chunks = decode_folder(fh, offset, pack_size, folder, check)
        rest = [b""]
        offset += pack_size
        taken = 0
        while taken < count:
            nxt = next(pending, None)
            if nxt is None:
                raise Unsupported("more streams than files")
            entry = nxt
            if not entry.has_stream:
                yield entry, None
                continue
            yield entry, _Take(chunks, rest, entry.size)
            taken += 1
    for entry in pending:
        if entry.has_stream:
            raise Unsupported("more files than streams")
        yield entry, None
