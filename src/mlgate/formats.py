"""Recognise model, data and archive formats by content (magic bytes and structure).

The file name is only a tie-breaker for formats that have no magic (ONNX and SavedModel protobufs,
TFRecord, protocol 0 pickles); a pickle named ``notes.txt`` is still a pickle.
"""

from __future__ import annotations

import lzma
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1"
MAX_LFS_POINTER_BYTES = 1024
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
MAX_ZIP_MEMBERS_SNIFFED = 10_000


class FormatKind(StrEnum):
    MODEL = "model"
    DATA = "data"
    ARCHIVE = "archive"  # a container that may hold models (zip, tar, 7z, compressed streams)
    POINTER = "pointer"  # Git LFS / DVC pointer: the real content is elsewhere


@dataclass(frozen=True)
class Sniffed:
    format: str  # stable id: pickle, torch-zip, torchscript, torch-legacy, keras, npz, ...
    kind: FormatKind


_PICKLE_EXTS = {".pkl", ".pickle", ".pck", ".bin", ".pt", ".pth", ".ckpt", ".joblib", ".dat"}
_MODEL_EXTS = _PICKLE_EXTS | {
    ".onnx",
    ".h5",
    ".hdf5",
    ".keras",
    ".gguf",
    ".safetensors",
    ".tflite",
    ".npy",
    ".npz",
    ".pb",
    ".mar",
    ".msgpack",
}
_ARCHIVE_EXTS = {".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".lzma", ".z"}
_DATA_EXTS = {".parquet", ".arrow", ".feather", ".tfrecord", ".tfrecords", ".avro", ".orc"}

# protocol 0/1 pickles start with an opcode; GLOBAL ("c") followed by "module\nname\n" is the
# telling case. Some start with MARK/EMPTY_LIST/EMPTY_DICT first.
_PROTO0_GLOBAL = re.compile(rb"^[(\]}]?(?:\(|\]|\})?c[A-Za-z_][\w.]*\n[A-Za-z_][\w.]*\n")
_TORCH_LEGACY_MAGIC = bytes.fromhex(
    "80028a0a6cfc9c46f9206aa85019"
)  # pickled 0x1950a86a20f9469cfc6c


def _ext(name: str) -> str:
    # PurePosixPath(name).suffix without building a path for every sniffed file and member
    base = name.rstrip("/").rpartition("/")[2]
    if base in ("", ".") or "//" in name or "/./" in name:
        return PurePosixPath(name).suffix.lower()
    dot = base.rfind(".")
    return base[dot:].lower() if 0 < dot < len(base) - 1 else ""


def _safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9 or size < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= min(size - 8, MAX_SAFETENSORS_HEADER) and head[8:9] == b"{"


def _onnx_like(head: bytes) -> bool:
    # ModelProto: field 1 (ir_version, varint) then producer_name (2), graph (7), opset (8) ...
    return (
        len(head) >= 4
        and head[0] == 0x08
        and head[1] < 0x20
        and head[2] in (0x12, 0x1A, 0x22, 0x2A, 0x3A, 0x42)
    )


_INNER_MAGICS = (b"\x93NUMPY", b"PK\x03\x04", b"ustar")


def _plausible_inner(out: bytes) -> bool:
    """Decompressed bytes that start like something worth scanning."""
    if len(out) >= 2 and out[0] == 0x80 and 2 <= out[1] <= 5:
        return True
    return out.startswith(_INNER_MAGICS) or (len(out) >= 262 and out[257:262] == b"ustar")


def _zlib_stream(head: bytes) -> bool:
    """A raw zlib stream (joblib's zlib compression) whose content starts like a model."""
    if len(head) < 3 or head[0] & 0x0F != 8 or (head[0] * 256 + head[1]) % 31:
        return False
    try:
        out = zlib.decompressobj().decompress(head, 512)
    except zlib.error:
        return False
    return _plausible_inner(out)


def _lzma_alone(head: bytes) -> bool:
    """The legacy .lzma container (joblib's 'lzma' compression): properties byte 0x5d."""
    if len(head) < 13 or head[0] != 0x5D or head[1] != 0x00:
        return False
    try:
        out = lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(head, 512)
    except lzma.LZMAError:
        return False
    return _plausible_inner(out)


def classify_zip_names(names: list[str]) -> str:
    """Tell a PyTorch / TorchScript / Keras / NumPy archive from a plain zip by its members."""
    base = [n.rsplit("/", 1)[-1] for n in names]
    if any(n.endswith("/code/__torch__.py") or "/code/__torch__/" in n for n in names) or (
        "constants.pkl" in base and "data.pkl" in base
    ):
        return "torchscript"
    if "data.pkl" in base:
        return "torch-zip"
    if "config.json" in base and ("metadata.json" in base or "model.weights.h5" in base):
        return "keras"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    return "zip"


def sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos[:MAX_ZIP_MEMBERS_SNIFFED]]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return "zip"  # damaged: the inspector reports it; inventory still records the file
    return classify_zip_names(names)


_ZIP_KINDS = {
    "torch-zip": FormatKind.MODEL,
    "torchscript": FormatKind.MODEL,
    "keras": FormatKind.MODEL,
    "npz": FormatKind.MODEL,
    "zip": FormatKind.ARCHIVE,
}


def sniff(head: bytes, name: str, size: int, path: Path | None = None) -> Sniffed | None:
    """Return the format of a file from its first bytes (and, for zips, its member list).

    ``head`` should hold at least the first 512 bytes (tar's magic sits at offset 257).
    Returns ``None`` for files that are none of the known model, data or archive formats.
    """
    ext = _ext(name)
    lower = name.lower()
    if head.startswith(LFS_POINTER_PREFIX) and size <= MAX_LFS_POINTER_BYTES:
        return Sniffed("lfs-pointer", FormatKind.POINTER)
    if ext == ".dvc" and b"outs:" in head:
        return Sniffed("dvc-pointer", FormatKind.POINTER)
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return Sniffed("torch-legacy", FormatKind.MODEL)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return Sniffed("joblib" if ext == ".joblib" else "pickle", FormatKind.MODEL)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        fmt = sniff_zip(path) if path is not None else "zip"
        return Sniffed(fmt, _ZIP_KINDS[fmt])
    if head.startswith(b"\x93NUMPY"):
        return Sniffed("npy", FormatKind.MODEL)
    if head.startswith(b"GGUF"):
        return Sniffed("gguf", FormatKind.MODEL)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return Sniffed("hdf5", FormatKind.MODEL)
    if len(head) >= 8 and head[4:8] == b"TFL3":
        return Sniffed("tflite", FormatKind.MODEL)
    if _safetensors(head, size):
        return Sniffed("safetensors", FormatKind.MODEL)
    if head.startswith(b"PAR1"):
        return Sniffed("parquet", FormatKind.DATA)
    if head.startswith(b"ARROW1"):
        return Sniffed("arrow", FormatKind.DATA)
    if head.startswith(b"Obj\x01"):
        return Sniffed("avro", FormatKind.DATA)
    if len(head) >= 262 and head[257:262] == b"ustar":
        return Sniffed("tar", FormatKind.ARCHIVE)
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return Sniffed("7z", FormatKind.ARCHIVE)
    if head.startswith(b"\x1f\x8b"):
        return Sniffed("gzip", FormatKind.ARCHIVE)
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return Sniffed("bz2", FormatKind.ARCHIVE)
    if head.startswith(b"\xfd7zXZ\x00"):
        return Sniffed("xz", FormatKind.ARCHIVE)
    if _zlib_stream(head):
        return Sniffed("zlib", FormatKind.ARCHIVE)
    if _lzma_alone(head):
        return Sniffed("lzma", FormatKind.ARCHIVE)
    if (
        ext in {".joblib", ".pkl", ".z"}
        and head[:1] == b"x"
        and head[1:2] in (b"\x01", b"\x5e", b"\x9c", b"\xda")
    ):
        return Sniffed("zlib", FormatKind.ARCHIVE)
    if _PROTO0_GLOBAL.match(head) or (
        ext in _PICKLE_EXTS and head[:1] in (b"(", b"]", b"}", b"c", b"N", b"I", b"S", b"\x80")
    ):
        return Sniffed("pickle", FormatKind.MODEL)
    if lower.endswith("saved_model.pb") or lower.endswith("saved_model.pbtxt"):
        return Sniffed("tf-savedmodel", FormatKind.MODEL)
    if ext == ".onnx" or (_onnx_like(head) and ext in {".bin", ".pb", ""}):
        return Sniffed("onnx", FormatKind.MODEL)
    if ext in {".safetensors", ".gguf"}:
        # named as a header-checked format but its magic/header is wrong: the scanner reports it
        return Sniffed(ext[1:], FormatKind.MODEL)
    if ext in {".tfrecord", ".tfrecords"}:
        return Sniffed("tfrecord", FormatKind.DATA)
    if ext in {".feather"}:
        return Sniffed("arrow", FormatKind.DATA)
    return None


def looks_like_model_name(name: str) -> bool:
    """Name-only hint (for reporting files too large or unreadable to sniff)."""
    return _ext(name) in _MODEL_EXTS | _DATA_EXTS | _ARCHIVE_EXTS
