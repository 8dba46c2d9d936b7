"""PyTorch containers: zip checkpoints, TorchScript archives, legacy stacked pickles and tar.

* zip (``torch.save`` since 1.6) and TorchScript (``torch.jit.save``): read from the central
  directory; every member whose bytes are a pickle is walked (not only ``data.pkl``), local and
  central headers are compared, CRCs of pickle members checked. Tensor data under ``data/``
  is never read past its first bytes, so scan time does not depend on tensor size.
* legacy (``_use_new_zipfile_serialization=False``): five pickles in a row (magic number,
  protocol, system info, the object, storage keys), then raw storage bytes.
* legacy tar (before 0.4): members ``sys_info``, ``pickle``, ``storages`` (count, then per
  storage a pickle and raw bytes) and ``tensors``.

Nothing is imported from torch; the module is named after the format.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import Any

from mlgate.inspect.archives import ZipEntry, looks_like_pickle, scan_zip
from mlgate.inspect.interface import ModelScanner, ScanContext, ScanTarget
from mlgate.inspect.pickle_engine import Global, Malformed, _Reader
from mlgate.inspect.pickles import classify, scan_pickle_stream
from mlgate.model import Finding

LEGACY_PICKLES = 5  # magic, protocol, sys_info, object, storage keys

# bytes per element of the legacy storage classes (torch.<Name>Storage)
_STORAGE_ELEMENT = {
    "DoubleStorage": 8,
    "FloatStorage": 4,
    "HalfStorage": 2,
    "BFloat16Storage": 2,
    "LongStorage": 8,
    "IntStorage": 4,
    "ShortStorage": 2,
    "CharStorage": 1,
    "ByteStorage": 1,
    "BoolStorage": 1,
    "ComplexFloatStorage": 8,
    "ComplexDoubleStorage": 16,
    "QInt8Storage": 1,
    "QUInt8Storage": 1,
    "QInt32Storage": 4,
    "UntypedStorage": 1,
}


def _member_policy(entry: ZipEntry, head: bytes) -> str:
    base = entry.name.rsplit("/", 1)[-1]
    if base.endswith(".pkl"):
        return "scan"
    parts = entry.name.split("/")
    in_data = (len(parts) >= 2 and parts[-2] == "data") or "/data/" in entry.name
    if looks_like_pickle(head):
        # tensor bytes can start like a pickle by chance: only a guess under data/
        return "quiet" if in_data else "scan"
    if in_data:
        return "skip"
    return "scan"  # other members (extra files, code/, nested archives): by content


class TorchZipScanner(ModelScanner):
    name = "torch-zip"
    formats = ("torch-zip", "torchscript")

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        what = "torch.jit.load" if target.format == "torchscript" else "torch.load"

        def hook(entry: ZipEntry, child: ScanTarget) -> Iterable[Finding] | None:
            with child.open() as fh:
                head = fh.read(2)
            if looks_like_pickle(head) and _member_policy(entry, head) == "scan":
                return scan_pickle_stream(child, ctx, what=what)
            return None

        return scan_zip(target, ctx, policy=_member_policy, member_hook=hook)


class TorchLegacyScanner(ModelScanner):
    name = "torch-legacy"
    formats = ("torch-legacy",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        return scan_pickle_stream(
            target, ctx, max_pickles=LEGACY_PICKLES, what="torch.load", follow_on=True
        )


def _element_size(storage_type: Any) -> int:
    if isinstance(storage_type, Global):
        return _STORAGE_ELEMENT.get(storage_type.name, 0)
    return 0


def scan_legacy_storages(target: ScanTarget, ctx: ScanContext) -> Iterator[Finding]:
    """The ``storages`` member of a legacy tar: a count, then per storage a pickle of
    ``(key, location, storage_type)``, an 8-byte element count and the raw elements."""
    from mlgate.inspect.allowlist import AllowList
    from mlgate.inspect.pickle_engine import PickleMachine, PickleWalk

    allow = AllowList.shared(tuple(ctx.allow_globals))
    walk = PickleWalk()
    with target.open() as fh:
        reader = _Reader(fh)
        machine = PickleMachine(reader, walk, check=ctx.check_time)
        try:
            count = machine.run_one()
            walk.pickles += 1
            if not isinstance(count, int) or count < 0:
                raise Malformed("storage count is not a number")
            for _ in range(min(count, ctx.limits.max_members)):
                args = machine.run_one()
                walk.pickles += 1
                if not isinstance(args, tuple) or len(args) < 3:
                    raise Malformed("storage header is not (key, location, type)")
                size = _element_size(args[2])
                if not size:
                    raise Malformed("unknown storage type; the raw bytes cannot be skipped")
                (numel,) = struct.unpack("<q", reader.read(8))
                if numel < 0:
                    raise Malformed("negative storage size")
                reader.skip(numel * size)
        except Malformed as exc:
            walk.error = str(exc)
            walk.error_pos = reader.pos
    yield from classify(walk, target, allow, what="torch.load")
