"""Stage 5: reports. Each renderer is a pure function ``render(result, options) -> str | bytes``.

The table maps a :class:`~mlgate.options.ScanOptions` output field to the module that renders it;
``write_reports`` writes every report the options ask for.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Protocol, cast

from mlgate.model import ScanResult
from mlgate.options import ScanOptions

RENDERERS: dict[str, str] = {
    "sbom": "mlgate.report.cyclonedx",
    "json": "mlgate.report.jsonreport",
    "sarif": "mlgate.report.sarif",
    "markdown": "mlgate.report.markdown",
    "gitlab_report": "mlgate.report.gitlab",
    "codequality": "mlgate.report.codequality",
    "vex": "mlgate.report.vex",
}


class Renderer(Protocol):
    def __call__(self, result: ScanResult, options: ScanOptions) -> str | bytes: ...


def renderer(field_name: str) -> Renderer:
    module = importlib.import_module(RENDERERS[field_name])
    return cast(Renderer, module.render)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write through a temporary file in the same folder, so readers never see half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
        # mkstemp creates 0600; a report is an ordinary file that later CI steps read
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(result: ScanResult, options: ScanOptions) -> dict[str, Path]:
    """Render and write every report named in ``options``; returns field name -> path."""
    written: dict[str, Path] = {}
    for field_name in RENDERERS:
        target = getattr(options, field_name)
        if target is None:
            continue
        write_atomic(Path(target), renderer(field_name)(result, options))
        written[field_name] = Path(target)
    return written
