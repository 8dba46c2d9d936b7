"""Model and data files as components, recognised by content (``mlgate.formats.sniff``) and name.

Each file becomes a component of kind ``model`` or ``data`` named by its path, with a SHA-256
computed by streaming the file in 1 MiB chunks, and its size and format as properties. Pointer
files stand for content that lives elsewhere: a Git LFS pointer gives its ``oid sha256:`` and
size, a DVC ``.dvc`` file gives the MD5 and size of each of its ``outs``; such components are
marked ``present=false`` unless the target file is in the tree.

Archives (zip, tar, 7z, compressed streams) count as model or data components only when they are
one of the model containers (PyTorch, TorchScript, Keras, NumPy ``.npz``), when their name says so
(``model.tar.gz``, ``weights.zip``, ``train.parquet.gz``...), or when their member list holds model
or data files. Only zip and uncompressed tar member lists are read (they are cheap to list);
compressed streams and 7z are judged by name, since listing them means decompressing them.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from mlgate.formats import (
    LFS_POINTER_PREFIX,
    MAX_LFS_POINTER_BYTES,
    MAX_ZIP_MEMBERS_SNIFFED,
    FormatKind,
    Sniffed,
    sniff,
)
from mlgate.inventory.interface import (
    HEAD_BYTES,
    ExtractContext,
    ExtractError,
    Extractor,
    ExtractResult,
    SourceFile,
)
from mlgate.model import Component, ComponentKind, Hash, Location, ScanWarning

CHUNK_BYTES = 1024 * 1024
MAX_DVC_BYTES = 1024 * 1024  # a .dvc pointer is a few lines of YAML

# Extensions that make a file a model/data component even when its content is not recognised
# (truncated, damaged or a format we cannot sniff); ambiguous ones (.bin, .dat, .pb) need content.
_NAME_MODEL_FORMATS = {
    ".pkl": "pickle",
    ".pickle": "pickle",
    ".pt": "torch",
    ".pth": "torch",
    ".ckpt": "torch",
    ".joblib": "joblib",
    ".safetensors": "safetensors",
    ".onnx": "onnx",
    ".gguf": "gguf",
    ".h5": "hdf5",
    ".hdf5": "hdf5",
    ".keras": "keras",
    ".tflite": "tflite",
    ".npy": "npy",
    ".npz": "npz",
    ".msgpack": "msgpack",
    ".mar": "torch-mar",
}
_NAME_DATA_FORMATS = {
    ".parquet": "parquet",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".tfrecord": "tfrecord",
    ".tfrecords": "tfrecord",
    ".avro": "avro",
    ".orc": "orc",
}
_ARCHIVE_SUFFIXES = {".zip", ".tar", ".tgz", ".gz", ".bz2", ".xz", ".7z", ".lzma", ".z", ".zst"}
_DATA_WORDS = re.compile(r"(?:^|[^a-z])(data|dataset|datasets|corpus|train)(?:[^a-z]|$)")
_MODEL_WORDS = re.compile(r"model|weights|checkpoint|ckpt|adapter|lora|tokenizer|embedding")
_LFS_OID = re.compile(r"^oid sha256:([0-9a-f]{64})$")
_LFS_SIZE = re.compile(r"^size (\d+)$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Recognised:
    kind: ComponentKind
    format: str
    sniffed: Sniffed | None


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 and byte count of a file, streamed in 1 MiB chunks (never the whole file).

    Opened with ``O_NOFOLLOW`` so a file swapped for a symbolic link after the walk is refused.
    """
    digest = hashlib.sha256()
    buf = bytearray(CHUNK_BYTES)
    view = memoryview(buf)
    total = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb", buffering=0) as fh:
        while n := fh.readinto(buf):
            digest.update(view[:n])
            total += n
    return digest.hexdigest(), total


def _suffixes(name: str) -> list[str]:
    return [s.lower() for s in PurePosixPath(name).suffixes]


def _inner_format(name: str) -> tuple[ComponentKind, str] | None:
    """What a (possibly compressed) name says it holds: ``x.npy.gz`` -> model npy."""
    for suffix in reversed(_suffixes(name)):
        if suffix in _NAME_MODEL_FORMATS:
            return ComponentKind.MODEL, _NAME_MODEL_FORMATS[suffix]
        if suffix in _NAME_DATA_FORMATS:
            return ComponentKind.DATA, _NAME_DATA_FORMATS[suffix]
    return None


def _kind_by_words(name: str) -> ComponentKind | None:
    lower = name.lower()
    if _MODEL_WORDS.search(lower):
        return ComponentKind.MODEL
    if _DATA_WORDS.search(lower):
        return ComponentKind.DATA
    return None


def _member_kind(names: list[str]) -> ComponentKind | None:
    """Model if any member is a model file, data if any is a data file, else None."""
    kinds = set()
    for member in names:
        base = member.rsplit("/", 1)[-1]
        inner = _inner_format(base)
        if inner:
            kinds.add(inner[0])
        elif base in {"saved_model.pb", "saved_model.pbtxt"} or base.endswith(".bin"):
            kinds.add(ComponentKind.MODEL)
    if ComponentKind.MODEL in kinds:
        return ComponentKind.MODEL
    if ComponentKind.DATA in kinds:
        return ComponentKind.DATA
    return None


def _archive_members(path: Path, fmt: str) -> list[str] | None:
    """Member names of a zip or an uncompressed tar (bounded); None for other archives."""
    try:
        if fmt == "zip":
            with zipfile.ZipFile(path) as zf:
                return [i.filename for i in zf.infolist()[:MAX_ZIP_MEMBERS_SNIFFED]]
        if fmt == "tar":
            names: list[str] = []
            # Plain "r:" mode seeks over member data, so listing reads only the headers.
            with tarfile.open(path, mode="r:") as tf:
                for info in tf:
                    names.append(info.name)
                    if len(names) >= MAX_ZIP_MEMBERS_SNIFFED:
                        break
            return names
    # NotImplementedError: zipfile refuses a member needing a zip version it does not know
    except (
        zipfile.BadZipFile,
        tarfile.TarError,
        OSError,
        ValueError,
        EOFError,
        NotImplementedError,
    ):
        return []
    return None


def _has_model_suffix(name: str) -> bool:
    suffixes = _suffixes(name)
    return bool(suffixes) and (
        suffixes[-1] in _NAME_MODEL_FORMATS or suffixes[-1] in _NAME_DATA_FORMATS
    )


class ModelFileExtractor(Extractor):
    """Model, data and pointer files: by magic bytes first, by name second."""

    name = "modelfiles"

    def matches(self, file: SourceFile) -> bool:
        # Runs on every file of the tree: a few byte comparisons on the head already read.
        name = file.name
        if name.endswith(".dvc"):
            return True
        if sniff(file.head, name, file.size) is not None:
            return True
        return _has_model_suffix(name)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        result = ExtractResult()
        sniffed = sniff(file.head, file.name, file.size, file.path)
        if file.name.endswith(".dvc") and (sniffed is None or sniffed.format != "lfs-pointer"):
            self._dvc(file, ctx, result)
            return result
        if sniffed is not None and sniffed.format == "lfs-pointer":
            self._lfs(file, ctx, result)
            return result
        recognised = self._recognise(file, sniffed)
        if recognised is None:
            return result
        try:
            sha256, size = sha256_file(file.path)
        except OSError as exc:
            raise ExtractError(f"cannot hash: {exc.strerror or exc}") from None
        props = [
            ("format", recognised.format),
            ("size", str(size)),
            ("present", "true"),
        ]
        if recognised.sniffed is None:
            props.append(("content", "unrecognised"))  # named like a model; content unknown
        result.components.append(
            Component(
                ecosystem="",
                name=file.relpath,
                version=None,
                kind=recognised.kind,
                declared_in=(Location(file.relpath),),
                hashes=(Hash("SHA-256", sha256),),
                properties=tuple(sorted(props)),
            )
        )
        return result

    def _recognise(self, file: SourceFile, sniffed: Sniffed | None) -> Recognised | None:
        if sniffed is None:
            inner = _inner_format(file.name) if _has_model_suffix(file.name) else None
            return Recognised(inner[0], inner[1], None) if inner else None
        if sniffed.kind is FormatKind.MODEL:
            return Recognised(ComponentKind.MODEL, sniffed.format, sniffed)
        if sniffed.kind is FormatKind.DATA:
            return Recognised(ComponentKind.DATA, sniffed.format, sniffed)
        if sniffed.kind is FormatKind.ARCHIVE:
            inner = _inner_format(file.name)
            if inner is not None:
                return Recognised(inner[0], sniffed.format, sniffed)
            by_name = _kind_by_words(file.name)
            if by_name is not None:
                return Recognised(by_name, sniffed.format, sniffed)
            members = _archive_members(file.path, sniffed.format)
            by_members = _member_kind(members) if members else None
            if by_members is not None:
                return Recognised(by_members, sniffed.format, sniffed)
        return None

    def _lfs(self, file: SourceFile, ctx: ExtractContext, result: ExtractResult) -> None:
        text = ctx.read_text(file) if file.size <= MAX_LFS_POINTER_BYTES else ""
        oid = size = None
        for line in text.splitlines():
            if m := _LFS_OID.match(line.strip()):
                oid = m.group(1)
            elif m := _LFS_SIZE.match(line.strip()):
                size = m.group(1)
        if not text.startswith(LFS_POINTER_PREFIX.decode()) or oid is None:
            raise ExtractError("Git LFS pointer without an 'oid sha256:' line")
        inner = _inner_format(file.name)
        kind = inner[0] if inner else (_kind_by_words(file.name) or ComponentKind.MODEL)
        props = [
            ("format", inner[1] if inner else "unknown"),
            ("present", "false"),
            ("pointer", "git-lfs"),
        ]
        if size is not None:
            props.append(("size", size))
        result.components.append(
            Component(
                ecosystem="",
                name=file.relpath,
                version=None,
                kind=kind,
                declared_in=(Location(file.relpath, 1),),
                hashes=(Hash("SHA-256", oid),),
                properties=tuple(sorted(props)),
            )
        )

    def _dvc(self, file: SourceFile, ctx: ExtractContext, result: ExtractResult) -> None:
        if file.size > MAX_DVC_BYTES:
            raise ExtractError(f"larger than {MAX_DVC_BYTES} bytes; not a DVC pointer")
        text = ctx.read_text(file)
        try:
            doc = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ExtractError(
                f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                line=mark.line + 1 if mark is not None else None,
            ) from None
        outs = _mapping_get(doc, "outs") if doc is not None else None
        if not isinstance(outs, yaml.SequenceNode):
            raise ExtractError("DVC file without an 'outs' list")
        base = PurePosixPath(file.parent)
        for node in outs.value:
            line = node.start_mark.line + 1
            entry = _plain(node)
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                result.warnings.append(
                    ScanWarning(file.relpath, "DVC output without a 'path'", line=line)
                )
                continue
            self._dvc_out(file, ctx, base, entry, line, result)

    def _dvc_out(
        self,
        file: SourceFile,
        ctx: ExtractContext,
        base: PurePosixPath,
        entry: dict[str, object],
        line: int,
        result: ExtractResult,
    ) -> None:
        raw_path = str(entry["path"])
        target = PurePosixPath(os.path.normpath(base / raw_path)).as_posix()
        if target.startswith("../") or target == ".." or PurePosixPath(raw_path).is_absolute():
            result.warnings.append(
                ScanWarning(file.relpath, f"DVC output {raw_path!r} is outside the root", line=line)
            )
            return
        digest = entry.get("md5") or entry.get("etag")
        # a string only: str() of an aliased YAML list would expand it (billion laughs)
        md5 = digest.lower() if isinstance(digest, str) else ""
        props = [("pointer", "dvc")]
        hashes: tuple[Hash, ...] = ()
        if _MD5.match(md5):
            hashes = (Hash("MD5", md5),)
        elif md5:
            props.append(("dvc:md5", md5))  # a directory listing hash ("<md5>.dir")
        if isinstance(entry.get("size"), int):
            props.append(("size", str(entry["size"])))
        if isinstance(entry.get("nfiles"), int):
            props.append(("dvc:nfiles", str(entry["nfiles"])))
        absolute = ctx.root / target
        # Present only as a regular file really inside the root: a symlinked folder on the way
        # must not lead the extractor out of the tree.
        real = Path(os.path.realpath(absolute))
        present = (
            real.is_relative_to(ctx.root.resolve())
            and absolute.is_file()
            and not absolute.is_symlink()
        )
        kind = None
        if present:
            try:
                with absolute.open("rb") as fh:
                    head = fh.read(HEAD_BYTES)
                sniffed = sniff(head, absolute.name, absolute.stat().st_size, absolute)
            except OSError:
                sniffed = None
            if sniffed is not None and sniffed.kind is FormatKind.MODEL:
                kind = ComponentKind.MODEL
            elif sniffed is not None and sniffed.kind is FormatKind.DATA:
                kind = ComponentKind.DATA
            if sniffed is not None and sniffed.kind is not FormatKind.ARCHIVE:
                props.append(("format", sniffed.format))
        else:
            props.append(("present", "false"))
        if kind is None:
            inner = _inner_format(target)
            kind = (
                inner[0]
                if inner
                else (_kind_by_words(PurePosixPath(target).name) or ComponentKind.DATA)
            )
        if present:
            props.append(("present", "true"))
        if not any(k == "format" for k, _ in props):
            inner = _inner_format(target)
            props.append(("format", inner[1] if inner else "unknown"))
        result.components.append(
            Component(
                ecosystem="",
                name=target,
                version=None,
                kind=kind,
                declared_in=(Location(file.relpath, line),),
                hashes=hashes,
                properties=tuple(sorted(props)),
            )
        )


def _mapping_get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for k, v in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key and isinstance(v, yaml.Node):
            return v
    return None


def _plain(node: yaml.Node) -> object:
    """A composed YAML node as plain Python values (safe: scalars are resolved, not executed)."""
    return yaml.SafeLoader("").construct_document(node)
