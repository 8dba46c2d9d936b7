"""Scanning across worker processes gives the serial scan's reports, in the same order."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterable
from pathlib import Path

import pytest

from mlgate.inspect.dispatch import (
    PARALLEL_MIN_FILES,
    RULE_ERROR,
    RULE_TIMEOUT,
    Dispatcher,
    FileReport,
    parallel_jobs,
)
from mlgate.inspect.interface import Limits, ModelScanner, ScanContext, ScanTarget
from mlgate.model import Finding

from .samples import call, write, zip_bytes


def _tree(root: Path, n: int) -> list[str]:
    """n files: malicious and benign pickles, zips holding a payload, one TFLite-looking file."""
    rels = []
    for i in range(n):
        kind = i % 4
        if kind == 0:
            rel = write(root / f"m{i:03}.pkl", call("os", "system", f"echo {i}"))
        elif kind == 1:
            rel = write(root / "sub" / f"b{i:03}.pkl", pickle.dumps({"w": [1.0, 2.0], "i": i}))
        elif kind == 2:
            data = zip_bytes({"inner/payload.pkl": call("subprocess", "Popen", f"x{i}")})
            rel = write(root / f"z{i:03}.zip", data)
        else:
            rel = write(root / f"t{i:03}.tflite", b"\x1c\x00\x00\x00TFL3" + bytes(40))
        rels.append(rel.relative_to(root).as_posix())
    return sorted(rels)


def _summary(reports: Iterable[FileReport]) -> list[tuple[str, list[Finding]]]:
    return [(r.relpath, r.findings) for r in reports]


def test_parallel_scan_matches_serial_scan(tmp_path: Path) -> None:
    files = _tree(tmp_path, PARALLEL_MIN_FILES + 8)
    (tmp_path / "m000.pkl").write_bytes(b"\x80\x02c")  # cut short: reported as malformed
    dispatcher = Dispatcher(tmp_path)
    serial = dispatcher.scan_files(files, jobs=1)
    parallel = dispatcher.scan_files(files, jobs=2)
    assert [r.relpath for r in parallel] == files
    assert _summary(parallel) == _summary(serial)
    assert [f.rule_id for f in parallel[0].findings] == ["MLG-PICKLE-MALFORMED"]
    assert sum(len(r.findings) for r in serial) >= len(files) // 2  # the payloads were found


def test_job_count_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLGATE_JOBS", raising=False)
    assert parallel_jobs(PARALLEL_MIN_FILES - 1) == 1  # too few files to pay for workers
    assert parallel_jobs(3, jobs=8) == 3  # never more workers than files
    assert parallel_jobs(100, jobs=1) == 1
    monkeypatch.setenv("MLGATE_JOBS", "1")
    assert parallel_jobs(1000) == 1  # forced serial
    monkeypatch.setenv("MLGATE_JOBS", "two")
    assert parallel_jobs(1000) == 1  # unreadable setting: serial, with a warning
    monkeypatch.setenv("MLGATE_JOBS", "2")
    assert parallel_jobs(1000) == 2


class _DyingScanner(ModelScanner):
    """A scanner whose process dies mid-file, as a crash in a native decoder would."""

    name = "test-dying"
    formats = ()  # not registered by itself: the test installs it for one format and removes it

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        os._exit(70)


def test_worker_crash_becomes_a_finding_on_its_file_and_loses_no_other_result(
    tmp_path: Path,
) -> None:
    """Technique: a file that kills the scanning process (native-code crash) to hide the rest
    of the batch; every other file must still be reported, the crashing one named."""
    files = _tree(tmp_path, PARALLEL_MIN_FILES + 8)
    dispatcher = Dispatcher(tmp_path)
    expected = {r.relpath: r.findings for r in dispatcher.scan_files(files, jobs=1)}
    previous = ModelScanner.registry.get("tflite")
    ModelScanner.registry["tflite"] = _DyingScanner
    try:
        reports = dispatcher.scan_files(files, jobs=2)
    finally:
        if previous is None:
            ModelScanner.registry.pop("tflite", None)
        else:
            ModelScanner.registry["tflite"] = previous
    assert [r.relpath for r in reports] == files
    for report in reports:
        if report.relpath.endswith(".tflite"):
            assert [f.rule_id for f in report.findings] == [RULE_ERROR]
            assert "WorkerDied" in report.findings[0].message
            assert report.findings[0].location.path == report.relpath
        else:
            assert report.findings == expected[report.relpath]


def test_time_bound_and_error_findings_hold_inside_workers(tmp_path: Path) -> None:
    """Technique: a batch big enough to go to workers must not slip past the per-file bound."""
    files = _tree(tmp_path, PARALLEL_MIN_FILES + 8)
    dispatcher = Dispatcher(tmp_path, limits=Limits(seconds_per_file=-1.0))  # already past
    serial = dispatcher.scan_files(files, jobs=1)
    parallel = dispatcher.scan_files(files, jobs=2)
    assert _summary(parallel) == _summary(serial)
    timed_out = {r.relpath for r in parallel if any(f.rule_id == RULE_TIMEOUT for f in r.findings)}
    assert timed_out == {r.relpath for r in parallel if r.format is not None}
    assert len(timed_out) == len(files)
