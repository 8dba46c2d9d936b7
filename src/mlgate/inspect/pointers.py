"""Git LFS and DVC pointers: the real model is elsewhere, so it was not scanned; say so and how."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mlgate.inspect.interface import ModelScanner, ScanContext, ScanTarget, model_finding
from mlgate.model import Finding, Severity

RULE = "MLG-MODEL-NOT-SCANNED"
MAX_POINTER = 64 * 1024
_LFS_OID = re.compile(r"^oid (sha256:[0-9a-f]{64})$", re.MULTILINE)
_LFS_SIZE = re.compile(r"^size (\d+)$", re.MULTILINE)


def _read(target: ScanTarget) -> str:
    with target.open() as stream:
        return stream.read(MAX_POINTER).decode("utf-8", errors="replace")


class LfsPointerScanner(ModelScanner):
    """A Git LFS pointer stands where a model should be: info, with the command that fixes it."""

    name = "lfs-pointer"
    formats = ("lfs-pointer",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        try:
            text = _read(target)
        except OSError:
            text = ""
        oid = _LFS_OID.search(text)
        size = _LFS_SIZE.search(text)
        detail = ""
        if oid:
            detail = f" ({oid.group(1)}"
            detail += f", {int(size.group(1))} bytes)" if size else ")"
        yield model_finding(
            RULE,
            Severity.INFO,
            f"not scanned: the LFS object is not checked out, only its pointer is{detail}",
            target,
            trigger=oid.group(1) if oid else "lfs-pointer",
            fix="run 'git lfs pull' (in CI: check out with lfs: true) before the scan",
        )


class DvcPointerScanner(ModelScanner):
    """A DVC ``.dvc`` file names outputs kept in a DVC remote: info per output."""

    name = "dvc-pointer"
    formats = ("dvc-pointer",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        import yaml  # only for .dvc files: importing the scanner module must stay cheap

        try:
            doc = yaml.safe_load(_read(target))
        except (OSError, yaml.YAMLError):
            doc = None
        outs = doc.get("outs") if isinstance(doc, dict) else None
        # only string paths: str() of an aliased YAML list would expand it (billion laughs)
        paths = [
            o["path"]
            for o in (outs if isinstance(outs, list) else [])
            if isinstance(o, dict) and isinstance(o.get("path"), str) and o["path"]
        ] or ["?"]
        for path in paths[:100]:
            yield model_finding(
                RULE,
                Severity.INFO,
                f"not scanned: DVC output {path!r} is not checked out, only its .dvc pointer is",
                target,
                trigger=path,
                fix="run 'dvc pull' before the scan",
            )
