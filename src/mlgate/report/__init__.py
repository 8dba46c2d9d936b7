"""Stage 5: reports. Each renderer is a pure function ``render(result, options) -> str | bytes``.

The table maps a :class:`~mlgate.options.ScanOptions` output field to the module that renders it;
``write_reports`` writes every report the options ask for.
"""

from __future__ import annotations

import importlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Protocol, cast

from mlgate.current import working_on
from mlgate.errors import MlgateError
from mlgate.model import ScanResult
from mlgate.options import ScanOptions
from mlgate.textsafe import for_terminal

log = logging.getLogger("mlgate")

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


class ReportError(MlgateError):
    """Some reports could not be rendered or written; the others were (``written``)."""

    def __init__(self, failed: list[str], written: dict[str, Path]) -> None:
        others = "; the other reports were written" if written else ""
        super().__init__(
            f"{len(failed)} report(s) not written: " + "; ".join(failed) + others,
            hint="check that the output folders exist and are writable; -v shows the traceback",
        )
        self.written = written


def write_reports(result: ScanResult, options: ScanOptions) -> dict[str, Path]:
    """Render and write every report named in ``options``; returns field name -> path.

    One report that fails (an unwritable path, a renderer bug) does not keep the others from
    being written: they are, and then :class:`ReportError` names the ones that were not.
    """
    written: dict[str, Path] = {}
    failed: list[str] = []
    for field_name in RENDERERS:
        target = getattr(options, field_name)
        if target is None:
            continue
        flag = "--" + field_name.replace("_", "-")
        try:
            with working_on("report", f"{flag} {target}"):
                write_atomic(Path(target), renderer(field_name)(result, options))
        except Exception as exc:
            log.debug("%s %s not written", flag, target, exc_info=True)
            failed.append(for_terminal(f"{flag} {target}: {type(exc).__name__}: {exc}", 300))
            continue
        written[field_name] = Path(target)
    if failed:
        raise ReportError(failed, written)
    return written
