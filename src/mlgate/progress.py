"""What a scan has produced so far, so that an unexpected failure still leaves a partial result.

The orchestrators (``run_scan``, ``mlgate models``) add to a :class:`Progress` as the stages
finish and run inside :func:`aborting`: an exception that is not an :class:`MlgateError` leaves
as :class:`ScanAborted` carrying :func:`partial_result`, which the caller writes as reports marked
incomplete before exiting 2.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlgate import __version__
from mlgate.current import where_failed
from mlgate.errors import MlgateError, ScanAborted
from mlgate.model import Coverage, Finding, Inventory, ScanResult, ScanWarning, Severity, Verdict

log = logging.getLogger("mlgate")


@dataclass
class Progress:
    root: str
    inventory: Inventory = field(default_factory=Inventory)
    findings: list[Finding] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    coverage: Coverage | None = None
    stats: dict[str, float] = field(default_factory=dict)
    fail_on: Severity = Verdict().fail_on


def partial_result(progress: Progress, exc: BaseException, where: str | None) -> ScanResult:
    """The result of the stages that finished, failing the gate and saying why it is partial."""
    reason = f"{type(exc).__name__}: {str(exc)[:300]}"
    if where:
        reason = f"stopped while processing {where}: {reason}"
    try:
        findings = sorted(progress.findings, key=Finding.sort_key)
    except Exception:  # a malformed finding (a plugin's) must not stop the partial reports
        findings = list(progress.findings)
    return ScanResult(
        root=progress.root,
        inventory=progress.inventory,
        findings=tuple(findings),
        # the gate cannot pass on a scan that did not finish
        verdict=Verdict(
            passed=False, fail_on=progress.fail_on, reasons=(f"scan incomplete: {reason}",)
        ),
        coverage=progress.coverage,
        warnings=tuple(progress.warnings),
        stats=tuple(sorted(progress.stats.items())),
        tool_version=__version__,
        incomplete=reason,
    )


@contextmanager
def aborting(progress: Progress) -> Iterator[Progress]:
    """Turn an unexpected exception into :class:`ScanAborted` with the partial result."""
    try:
        yield progress
    except MlgateError:
        raise  # a usage or configuration error: nothing was scanned, nothing to report
    except Exception as exc:
        where = where_failed(exc)
        log.debug("scan stopped while processing %s", where, exc_info=True)
        raise ScanAborted(exc, where, partial_result(progress, exc, where)) from exc
