"""Root-group string attributes of an HDF5 file, read without h5py for the common layouts.

Importing h5py (and numpy with it) costs more than scanning a whole directory of models, and a
Keras ``.h5`` only needs two attributes of the root group (``model_config``, ``training_config``).
This reader walks the file format (HDF5 File Format Specification 3.0: superblock version 0/1,
version 1 object header, compact attribute messages, fixed-length strings and variable-length
strings in the global heap) with bounded reads. Whenever the layout is anything else (other
superblock or object header versions, dense attribute storage, shared messages, unknown header
messages, duplicate names, embedded NULs, non-scalar values, bad offsets...) it returns ``None``
and the caller asks h5py: the fast path never decides on a file it is not sure to read the way
the HDF5 library does.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import IO

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_MESSAGES = 4096
MAX_BLOCKS = 64
MAX_BLOCK = 16 * 1024 * 1024
MAX_HEAP = 64 * 1024 * 1024

# header messages a root group written by the HDF5 library may carry; anything else -> h5py
_NIL, _LINK_INFO, _GROUP_INFO, _LINK = 0x00, 0x02, 0x0A, 0x06
_ATTRIBUTE, _CONTINUATION, _SYMBOL_TABLE, _MTIME, _MTIME_OLD = 0x0C, 0x10, 0x11, 0x12, 0x0E
_KNOWN = frozenset(
    {_NIL, _LINK_INFO, _GROUP_INFO, _LINK, _ATTRIBUTE, _CONTINUATION, _SYMBOL_TABLE, _MTIME}
    | {_MTIME_OLD}
)
_STRING, _VLEN = 3, 9


class _Unsure(Exception):
    """The layout is outside what this reader handles: let h5py decide."""


class _File:
    def __init__(self, stream: IO[bytes], size: int, osize: int, lsize: int) -> None:
        self.stream, self.size, self.osize, self.lsize = stream, size, osize, lsize

    def read(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size or length > MAX_HEAP:
            raise _Unsure
        self.stream.seek(offset)
        data = self.stream.read(length)
        if len(data) != length:
            raise _Unsure
        return data


def _uint(data: bytes, at: int, width: int) -> int:
    if at < 0 or at + width > len(data) or width not in (2, 4, 8):
        raise _Unsure
    value: int = struct.unpack_from({2: "<H", 4: "<I", 8: "<Q"}[width], data, at)[0]
    return value


def _undefined(value: int, width: int) -> bool:
    return value == (1 << (8 * width)) - 1


def read_root_string_attrs(
    stream: IO[bytes], size: int, names: Sequence[str]
) -> dict[str, bytes | str | None] | None:
    """``{name: value or None when absent}`` as h5py's ``File.attrs.get`` gives it, or ``None``.

    Fixed-length strings come back as bytes without trailing NULs (numpy's ``S`` type), variable
    length strings as text, like h5py. ``None`` means "not sure": the caller must use h5py.
    """
    try:
        return _read(stream, size, names)
    except (_Unsure, OSError, ValueError, struct.error):
        return None


def _read(stream: IO[bytes], size: int, names: Sequence[str]) -> dict[str, bytes | str | None]:
    stream.seek(0)
    head = stream.read(256)
    if not head.startswith(SIGNATURE) or len(head) < 24:
        raise _Unsure  # user blocks (superblock at 512, 1024 ...) are left to h5py
    version, osize, lsize = head[8], head[13], head[14]
    if version not in (0, 1) or osize not in (4, 8) or lsize not in (4, 8):
        raise _Unsure
    at = 24 if version == 0 else 28
    base, _free, eof, driver = (_uint(head, at + i * osize, osize) for i in range(4))
    if base != 0 or not _undefined(driver, osize) or eof > size:
        raise _Unsure  # the library refuses a file shorter than its end-of-file address
    entry = at + 4 * osize
    header = _uint(head, entry + osize, osize)
    f = _File(stream, size, osize, lsize)
    found: dict[str, bytes | str | None] = {}
    seen: set[str] = set()
    for message in _messages(f, header):
        name, value = _attribute(f, message, names)
        if name in seen:
            raise _Unsure  # two attributes with one name: which one the library returns is moot
        seen.add(name)
        if name in names:
            found[name] = value
    return {name: found.get(name) for name in names}


def _messages(f: _File, address: int) -> list[bytes]:
    """Attribute message bodies of a version 1 object header (following continuations)."""
    prefix = f.read(address, 16)
    if prefix[0] != 1:
        raise _Unsure  # version 2 headers ("OHDR") carry checksums: h5py
    count = _uint(prefix, 2, 2)
    blocks = [(address + 16, _uint(prefix, 8, 4))]
    visited: set[int] = set()
    out: list[bytes] = []
    total = 0
    while blocks:
        start, length = blocks.pop(0)
        if start in visited or len(visited) >= MAX_BLOCKS or length > MAX_BLOCK:
            raise _Unsure
        visited.add(start)
        block = f.read(start, length)
        pos = 0
        while pos + 8 <= len(block):
            kind, body_len, flags = _uint(block, pos, 2), _uint(block, pos + 2, 2), block[pos + 4]
            body = block[pos + 8 : pos + 8 + body_len]
            if len(body) != body_len or body_len % 8:
                raise _Unsure
            pos += 8 + body_len
            total += 1
            if total > min(count, MAX_MESSAGES) or kind not in _KNOWN or flags & ~0x01:
                raise _Unsure  # shared or flagged messages, unknown types: h5py
            if kind == _CONTINUATION:
                blocks.append((_uint(body, 0, f.osize), _uint(body, f.osize, f.lsize)))
            elif kind == _ATTRIBUTE:
                out.append(body)
        if pos != len(block):
            raise _Unsure
    if total != count:
        raise _Unsure
    return out


def _attribute(f: _File, body: bytes, names: Sequence[str]) -> tuple[str, bytes | str | None]:
    """(name, value) of an attribute message; the value is only read for ``names``."""
    version = body[0]
    name_size, dt_size, ds_size = _uint(body, 2, 2), _uint(body, 4, 2), _uint(body, 6, 2)
    if version == 1:

        def pad(n: int) -> int:
            return (n + 7) & ~7

        at = 8
        name_raw = body[at : at + name_size]
        at += pad(name_size)
        dtype = body[at : at + dt_size]
        at += pad(dt_size)
        space = body[at : at + ds_size]
        at += pad(ds_size)
    elif version in (2, 3):
        if body[1] != 0:
            raise _Unsure  # shared datatype or dataspace
        at = 8
        if version == 3:
            if body[8] not in (0, 1):
                raise _Unsure
            at = 9
        name_raw = body[at : at + name_size]
        at += name_size
        dtype = body[at : at + dt_size]
        at += dt_size
        space = body[at : at + ds_size]
        at += ds_size
    else:
        raise _Unsure
    if len(name_raw) != name_size or len(dtype) != dt_size or len(space) != ds_size:
        raise _Unsure
    if name_size == 0 or name_raw[-1] != 0 or 0 in name_raw[:-1]:
        raise _Unsure
    name = name_raw[:-1].decode("utf-8")  # ValueError -> unsure
    if name not in names:
        return name, None
    data = body[at:]
    if len(dtype) < 8:
        raise _Unsure
    cls = dtype[0] & 0x0F
    if cls not in (_STRING, _VLEN) or not _scalar(space):
        raise _Unsure  # h5py gives an array or a number: the caller handles what it gets
    elem = _uint(dtype, 4, 4)
    if len(data) < elem:
        raise _Unsure
    if cls == _STRING:
        raw = data[:elem].rstrip(b"\0")
        if 0 in raw:
            raise _Unsure
        return name, raw
    if dtype[1] & 0x0F != 1:
        raise _Unsure  # a sequence, not a string
    if elem != 4 + f.osize + 4:
        raise _Unsure
    length = _uint(data, 0, 4)
    text = _heap_object(f, _uint(data, 4, f.osize), _uint(data, 4 + f.osize, 4), length)
    if 0 in text:
        raise _Unsure  # the library hands C strings to h5py: they stop at the first NUL
    return name, text.decode("utf-8")


def _scalar(space: bytes) -> bool:
    if len(space) < 4:
        raise _Unsure
    version, rank = space[0], space[1]
    if version == 1:
        return rank == 0
    if version == 2:
        return rank == 0 and space[3] == 0
    raise _Unsure


def _heap_object(f: _File, collection: int, index: int, length: int) -> bytes:
    """Object ``index`` of the global heap collection at ``collection`` (first ``length`` bytes)."""
    head = f.read(collection, 8 + f.lsize)
    if head[:4] != b"GCOL" or head[4] != 1:
        raise _Unsure
    size = _uint(head, 8, f.lsize)
    heap = f.read(collection, size)
    pos = 8 + f.lsize
    hit: bytes | None = None
    while pos + 8 + f.lsize <= len(heap):
        obj, obj_size = _uint(heap, pos, 2), _uint(heap, pos + 8, f.lsize)
        if obj == 0:
            break  # free space: the rest of the collection
        start = pos + 8 + f.lsize
        if start + obj_size > len(heap):
            raise _Unsure
        if obj == index:
            if hit is not None:
                raise _Unsure
            hit = heap[start : start + obj_size]
        pos = start + ((obj_size + 7) & ~7)
    if hit is None or length > len(hit):
        raise _Unsure
    return hit[:length]
