"""Sample generators shared by the model-scanning tests.

Malicious pickles are written opcode by opcode (nothing here ever runs a payload); benign ones
come from the real libraries. Container helpers rewrite real archives (torch zips) to plant a
payload or to tamper with headers.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

# ---- opcodes ------------------------------------------------------------------------------

P2 = b"\x80\x02"
P4 = b"\x80\x04"
P5 = b"\x80\x05"
STOP = b"."
REDUCE = b"R"
MARK = b"("
TUPLE = b"t"
TUPLE1 = b"\x85"
TUPLE2 = b"\x86"
TUPLE3 = b"\x87"
EMPTY_TUPLE = b")"
EMPTY_DICT = b"}"
STACK_GLOBAL = b"\x93"
MEMOIZE = b"\x94"
POP = b"0"
BUILD = b"b"
NEWOBJ = b"\x81"
NONE = b"N"
SETITEM = b"s"
DUP = b"2"


def glob(module: str, name: str) -> bytes:
    """GLOBAL (protocol 0 text opcode): ``c<module>\\n<name>\\n``."""
    return f"c{module}\n{name}\n".encode()


def sbu(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def binunicode(text: str) -> bytes:
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def binunicode8(text: str) -> bytes:
    raw = text.encode()
    return b"\x8d" + struct.pack("<Q", len(raw)) + raw


def short_binstring(text: str) -> bytes:
    raw = text.encode()
    return b"U" + bytes([len(raw)]) + raw


def unicode0(text: str) -> bytes:
    return b"V" + text.encode("raw-unicode-escape") + b"\n"


def string0(text: str) -> bytes:
    return b"S'" + text.encode() + b"'\n"


def binbytes(data: bytes) -> bytes:
    if len(data) < 256:
        return b"C" + bytes([len(data)]) + data
    return b"B" + struct.pack("<I", len(data)) + data


def binput(i: int) -> bytes:
    return b"q" + bytes([i])


def binget(i: int) -> bytes:
    return b"h" + bytes([i])


def call(module: str, name: str, *args: str, proto: bytes = P2) -> bytes:
    """``module.name(*args)`` through GLOBAL + REDUCE, a complete pickle."""
    body = b"".join(sbu(a) if proto != P2 else binunicode(a) for a in args)
    return proto + glob(module, name) + MARK + body + TUPLE + REDUCE + STOP


def stack_global_call(module: str, name: str, arg: str) -> bytes:
    """Protocol 4: STACK_GLOBAL from two strings, then REDUCE."""
    return P4 + sbu(module) + sbu(name) + STACK_GLOBAL + sbu(arg) + TUPLE1 + REDUCE + STOP


# ---- classes whose pickles name a callable (generation never calls it) ---------------------


class ReduceTo:
    """Pickles as ``func(*args)``; ``func`` is only referenced, never called here."""

    def __init__(self, func: object, *args: object) -> None:
        self.func = func
        self.args = args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (self.func, self.args)


# ---- torch containers ---------------------------------------------------------------------


def rewrite_zip(
    src: bytes, replace: dict[str, bytes], add: dict[str, bytes] | None = None
) -> bytes:
    """Copy a zip, replacing some members' bytes and adding others (stored, like torch)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(src)) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = replace.get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED)
        for name, data in (add or {}).items():
            zout.writestr(name, data, compress_type=zipfile.ZIP_STORED)
    return out.getvalue()


def central_offset(data: bytes, name: str) -> int:
    """Offset of the central-directory entry of ``name``."""
    key = name.encode()
    i = data.rfind(b"PK\x05\x06")
    (cd_offset,) = struct.unpack("<I", data[i + 16 : i + 20])
    j = cd_offset
    while data[j : j + 4] == b"PK\x01\x02":
        nlen, elen, clen = struct.unpack("<HHH", data[j + 28 : j + 34])
        if data[j + 46 : j + 46 + nlen] == key:
            return j
        j += 46 + nlen + elen + clen
    raise KeyError(name)


def local_offset(data: bytes, name: str) -> int:
    j = central_offset(data, name)
    (off,) = struct.unpack("<I", data[j + 42 : j + 46])
    return off


def tamper_central_crc(data: bytes, name: str) -> bytes:
    j = central_offset(data, name)
    buf = bytearray(data)
    buf[j + 16 : j + 20] = bytes(b ^ 0xFF for b in buf[j + 16 : j + 20])
    return bytes(buf)


def tamper_local_name(data: bytes, name: str, new_name: str) -> bytes:
    """Rename a member in its local header only (same length), central directory unchanged."""
    assert len(new_name) == len(name)
    off = local_offset(data, name)
    buf = bytearray(data)
    buf[off + 30 : off + 30 + len(name)] = new_name.encode()
    return bytes(buf)


def tamper_local_method(data: bytes, name: str, method: int) -> bytes:
    off = local_offset(data, name)
    buf = bytearray(data)
    buf[off + 8 : off + 10] = struct.pack("<H", method)
    return bytes(buf)


LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def legacy_stack(object_pickle: bytes, keys_pickle: bytes | None = None) -> bytes:
    """torch's legacy format: magic, protocol, sys_info, the object, storage keys."""
    sys_info = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}
    return (
        pickle.dumps(LEGACY_MAGIC, protocol=2)
        + pickle.dumps(1001, protocol=2)
        + pickle.dumps(sys_info, protocol=2)
        + object_pickle
        + (keys_pickle if keys_pickle is not None else pickle.dumps([], protocol=2))
    )


def legacy_tar(pickle_member: bytes, storages_member: bytes | None = None) -> bytes:
    """torch's legacy tar format (members sys_info, pickle, storages, tensors)."""
    members = {
        "sys_info": pickle.dumps({"protocol_version": 1000, "little_endian": True}, protocol=2),
        "pickle": pickle_member,
        "storages": storages_member if storages_member is not None else pickle.dumps(0, protocol=2),
        "tensors": pickle.dumps(0, protocol=2),
    }
    return tar_bytes(members)


def tar_bytes(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path
