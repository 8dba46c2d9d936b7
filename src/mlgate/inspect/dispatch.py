"""Dispatch by content: sniff every file (and every archive member), hand it to its scanner.

The dispatcher is the only place that knows about all scanners. It imports every module of the
``mlgate.inspect`` package once, so a scanner plugs in by being a module there with a subclass of
:class:`~mlgate.inspect.interface.ModelScanner` (see that module's docstring). It also owns the
guarantees every scanner relies on:

* a file is recognised by its bytes (:func:`mlgate.formats.sniff`), never by its name alone;
* nothing escapes as an exception: a scanner that raises leaves its earlier findings plus one
  ``MLG-MODEL-ERROR`` finding, a timeout ``MLG-MODEL-TIMEOUT``, a bomb ``MLG-ARCHIVE-BOMB``;
* nesting deeper than ``Limits.max_depth`` is a finding (``MLG-ARCHIVE-DEPTH``), not a recursion;
* a model format no scanner handles is an info finding (``MLG-MODEL-UNSCANNED``), never silence.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import struct
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mlgate.current import working_on
from mlgate.formats import FormatKind, Sniffed, classify_zip_names, sniff
from mlgate.inspect.interface import (
    ArchiveBomb,
    Limits,
    ModelScanner,
    ScanContext,
    ScanTarget,
    ScanTimeout,
    model_finding,
)
from mlgate.model import Finding, Severity

log = logging.getLogger("mlgate.inspect")

HEAD_BYTES = 4096  # enough for tar (257), npy headers and zlib probing
MAX_ZIP_NAMES = 10_000
# modules of the package that are not scanners (importing them is harmless, but not needed)
_SKIP_MODULES = frozenset({"cli", "dispatch", "interface", "isolate"})
_loaded: list[str] | None = None

RULE_ERROR = "MLG-MODEL-ERROR"
RULE_TIMEOUT = "MLG-MODEL-TIMEOUT"
RULE_UNSCANNED = "MLG-MODEL-NOT-SCANNED"
RULE_DEPTH = "MLG-ARCHIVE-DEPTH"
RULE_BOMB = "MLG-ARCHIVE-BOMB"


def load_scanners() -> list[str]:
    """Import every scanner module of the package once; returns the import errors (if any)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    errors: list[str] = []
    package = importlib.import_module("mlgate.inspect")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name in _SKIP_MODULES or info.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"mlgate.inspect.{info.name}")
        except Exception as exc:  # a broken plugin must not take the others down
            errors.append(f"mlgate.inspect.{info.name}: {type(exc).__name__}: {exc}")
            log.warning("model scanner module %s failed to import: %s", info.name, exc)
    _loaded = errors
    return errors


def sniff_stream(fh: IO[bytes], name: str, size: int) -> Sniffed | None:
    """Sniff an open stream (positioned at 0). Zips are classified by their member names."""
    head = fh.read(HEAD_BYTES)
    found = sniff(head, name, size)
    if found is None or found.format != "zip":
        return found
    if not fh.seekable():
        return found
    try:
        fh.seek(0)
        with zipfile.ZipFile(fh) as zf:
            names = [i.filename for i in zf.infolist()[:MAX_ZIP_NAMES]]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        # zipfile refuses tampered archives that other readers accept: use our own reader
        from mlgate.inspect.archives import ZipFormatError, ZipReader

        try:
            names = [e.name for e in ZipReader(fh, size, MAX_ZIP_NAMES).entries]
        except (ZipFormatError, OSError, ValueError, struct.error):
            return found
    fmt = classify_zip_names(names)
    kind = FormatKind.ARCHIVE if fmt == "zip" else FormatKind.MODEL
    return Sniffed(fmt, kind)


def _member_name(target: ScanTarget) -> str:
    name = target.member.rsplit("!", 1)[-1] if target.member else target.relpath
    return name


def _error_finding(target: ScanTarget, exc: BaseException) -> Finding:
    if isinstance(exc, ScanTimeout):
        return model_finding(
            RULE_TIMEOUT,
            Severity.HIGH,
            "scan stopped: the per-file time bound ran out; the rest of the file is unchecked",
            target,
            trigger="timeout",
            fix="scan the file alone with a larger time bound, or remove it",
        )
    if isinstance(exc, ArchiveBomb):
        return model_finding(
            RULE_BOMB,
            Severity.HIGH,
            f"decompression bomb: {exc}; an extractor would exhaust disk or memory",
            target,
            trigger="bomb",
            fix="do not extract this archive; rebuild it from trusted sources",
        )
    return model_finding(
        RULE_ERROR,
        Severity.HIGH,
        f"could not be parsed ({type(exc).__name__}: {str(exc)[:200]}); "
        "content after the failure point is unchecked",
        target,
        trigger=type(exc).__name__,
        fix="regenerate the file with its library, or remove it",
    )


def scan_target(target: ScanTarget, ctx: ScanContext) -> list[Finding]:
    """Scan one target with the scanner of its format (sniffing it first when unknown)."""
    load_scanners()
    findings: list[Finding] = []
    spools: list[Any] = []
    try:
        ctx.check_time()
        if not target.format:
            with target.open() as fh:
                found = sniff_stream(fh, _member_name(target), target.size)
                seekable = fh.seekable()
            if found is None or found.kind in (FormatKind.DATA,):
                return findings
            if found.format == "zip" and not seekable:
                # a zip inside a compressed stream: zip readers need random access
                target, found = _spooled(target, ctx, spools)
            target = ScanTarget(
                target.relpath, found.format, target.size, target.open, target.member
            )
        if ctx.depth > ctx.limits.max_depth:
            findings.append(
                model_finding(
                    RULE_DEPTH,
                    Severity.HIGH,
                    f"nested more than {ctx.limits.max_depth} levels deep; not inspected "
                    "further (deep nesting is a way to hide content from scanners)",
                    target,
                    trigger="depth",
                    fix="flatten the archive, or remove it",
                )
            )
            return findings
        scanner_cls = ModelScanner.registry.get(target.format)
        if scanner_cls is None:
            findings.append(
                model_finding(
                    RULE_UNSCANNED,
                    Severity.INFO,
                    f"{target.format} content is not inspected by this version of mlgate",
                    target,
                    trigger=f"format:{target.format}",
                )
            )
            return findings
        for finding in scanner_cls().scan(target, ctx):
            findings.append(finding)  # noqa: PERF402 - keep what came before a failure
    except Exception as exc:  # every failure is a finding on this target; the scan goes on
        findings.append(_error_finding(target, exc))
    finally:
        for spool in spools:
            spool.close()
    return findings


def _spooled(target: ScanTarget, ctx: ScanContext, spools: list[Any]) -> tuple[ScanTarget, Sniffed]:
    from mlgate.inspect.archives import Spool

    with target.open() as fh:
        spool = Spool(fh, ctx)
    spools.append(spool)
    with spool.open() as fh:
        found = sniff_stream(fh, _member_name(target), spool.size) or Sniffed(
            "zip", FormatKind.ARCHIVE
        )
    return ScanTarget(target.relpath, "", spool.size, spool.open, target.member), found


def _file_opener(path: str) -> Callable[[], IO[bytes]]:
    def opener() -> IO[bytes]:
        return open(path, "rb")  # the caller closes it

    return opener


@dataclass
class FileReport:
    relpath: str
    format: str | None
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class Dispatcher:
    """Scans files of one tree; holds the allow-list extension and the limits."""

    root: Path
    allow_globals: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def context(self) -> ScanContext:
        return ScanContext(
            allow_globals=self.allow_globals,
            limits=self.limits,
            deadline=time.monotonic() + self.limits.seconds_per_file,
            nested=scan_target,
            root=self.root,
        )

    def scan_file(self, relpath: str, head: bytes | None = None) -> FileReport:
        """Sniff and scan one file of the tree (``relpath`` POSIX, relative to the root)."""
        start = time.perf_counter()
        # a plain string path and the built-in open: scanners reopen the file once per member
        # or stream, and pathlib's parsing showed up per open
        path = os.path.join(self.root, relpath)
        opener = _file_opener(path)
        report = FileReport(relpath, None)
        try:
            with open(path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                found = sniff_stream(fh, relpath.rpartition("/")[2], size)
        except Exception as exc:  # unreadable or unsniffable: a finding, the scan goes on
            report.findings.append(_error_finding(ScanTarget(relpath, "", 0, opener), exc))
            return report
        if found is None or found.kind is FormatKind.DATA:
            return report
        report.format = found.format
        target = ScanTarget(relpath, found.format, size, opener)
        with working_on("models", relpath):
            report.findings = scan_target(target, self.context())
        report.seconds = time.perf_counter() - start
        return report

    def scan_files(self, relpaths: Iterable[str], jobs: int | None = None) -> list[FileReport]:
        """Reports in the order of ``relpaths``; across processes when there are enough files.

        ``jobs``: worker processes (``None``: ``MLGATE_JOBS`` or the CPUs available; 1: serial).
        """
        files = list(relpaths)
        workers = parallel_jobs(len(files), jobs)
        if workers <= 1:
            return [self.scan_file(rel) for rel in files]
        return _scan_parallel(self, files, workers)


PARALLEL_MIN_FILES = 32  # below this, starting workers costs more than it saves
_UNITS_PER_WORKER = 8  # small units taken on demand: a slow file does not leave a core idle
_MAX_UNITS = 8192  # unit numbers (4 bytes each) must fit in a pipe's buffer (64 KiB on Linux)
_RECORD = struct.Struct("<II")  # file index, length of the pickled report that follows


class WorkerDied(Exception):
    """The process scanning a file ended without reporting it (a crash in native code)."""


def parallel_jobs(nfiles: int, jobs: int | None = None) -> int:
    """How many processes scan ``nfiles`` files (1: serial, in this process)."""
    if jobs is None:
        raw = os.environ.get("MLGATE_JOBS", "").strip()
        if raw:
            try:
                jobs = int(raw)
            except ValueError:
                log.warning("MLGATE_JOBS=%r is not a number; scanning serially", raw[:20])
                jobs = 1
        elif nfiles < PARALLEL_MIN_FILES:
            return 1
        else:
            affinity = getattr(os, "sched_getaffinity", None)
            jobs = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    jobs = max(1, min(jobs, nfiles))
    if jobs > 1 and not _can_fork():
        return 1
    return jobs


def _can_fork() -> bool:
    from mlgate.inspect.isolate import can_fork

    return can_fork()


def _crash_report(relpath: str, exc: BaseException) -> FileReport:
    target = ScanTarget(relpath, "", 0, _file_opener(relpath))
    report = FileReport(relpath, None)
    report.findings.append(_error_finding(target, exc))
    return report


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _worker(
    dispatcher: Dispatcher, files: list[str], units: list[list[int]], queue: int, out: int
) -> None:
    """Child side: take unit numbers from the queue pipe until it is empty, write one record per
    file as soon as it is scanned (so a later crash loses only the file being scanned)."""
    import pickle

    while True:
        raw = os.read(queue, 4)  # reads of 4 bytes from a pipe are atomic: no unit is shared
        if len(raw) < 4:
            return
        for index in units[struct.unpack("<I", raw)[0]]:
            report = dispatcher.scan_file(files[index])
            blob = pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL)
            _write_all(out, _RECORD.pack(index, len(blob)) + blob)


def _fork_worker(
    dispatcher: Dispatcher, files: list[str], units: list[list[int]], queue: int
) -> tuple[int, int]:
    """Start one worker process; returns its pid and the (unlinked) file it writes to."""
    import tempfile

    out = tempfile.TemporaryFile()  # noqa: SIM115 - its descriptor outlives this function
    fd = os.dup(out.fileno())
    out.close()
    pid = os.fork()
    if pid == 0:  # the child never returns into the caller's code
        status = 1
        try:
            _worker(dispatcher, files, units, queue, fd)
            status = 0
        finally:
            os._exit(status)
    return pid, fd


def _read_records(fd: int, into: dict[int, FileReport]) -> None:
    """Parent side: the reports a worker wrote (a record cut short by a crash is ignored).

    These are pickles of this package's own FileReport/Finding values, written by our forked
    child into a file only it and we hold: no byte of scanned content is ever unpickled here.
    """
    import pickle

    with os.fdopen(fd, "rb") as fh:
        fh.seek(0)
        while True:
            head = fh.read(_RECORD.size)
            if len(head) < _RECORD.size:
                return
            index, length = _RECORD.unpack(head)
            blob = fh.read(length)
            if len(blob) < length:
                return
            into[index] = pickle.loads(blob)  # our own values, see above


def _suffix(relpath: str) -> str:
    name = relpath.rpartition("/")[2]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _exit_text(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"the scanning process was killed by signal {os.WTERMSIG(status)}"
    return f"the scanning process exited with status {os.waitstatus_to_exitcode(status)}"


def _scan_parallel(dispatcher: Dispatcher, files: list[str], workers: int) -> list[FileReport]:
    """Scan in ``workers`` forked processes taking small units of files on demand.

    A file that a dead worker held is scanned again alone in a fresh process; if that one dies
    too, the file gets an ``MLG-MODEL-ERROR`` finding: a crash never loses a result.
    """
    load_scanners()  # imported once here, inherited by every forked worker
    nunits = min(len(files), workers * _UNITS_PER_WORKER, _MAX_UNITS)
    size = -(-len(files) // nunits)
    # scheduling only (reports are put back in input order): files of one extension go to the
    # same units, so a scanner that imports a large library on first use (7z, chat templates)
    # is set up in one worker rather than in every one
    order = sorted(range(len(files)), key=lambda i: (_suffix(files[i]), i))
    units = [order[k : k + size] for k in range(0, len(order), size)]
    results: dict[int, FileReport] = {}
    queue, feed = os.pipe()
    try:
        _write_all(feed, b"".join(struct.pack("<I", k) for k in range(len(units))))
    finally:
        os.close(feed)
    children: list[tuple[int, int]] = []
    try:
        for _ in range(workers):
            children.append(_fork_worker(dispatcher, files, units, queue))  # noqa: PERF401 - keep the started ones if a fork fails
    finally:
        os.close(queue)
        for pid, fd in children:
            os.waitpid(pid, 0)
            _read_records(fd, results)
    for index in range(len(files)):
        if index in results:
            continue
        # held by a worker that died: alone, in a fresh process, so the culprit is named
        rqueue, rfeed = os.pipe()
        _write_all(rfeed, struct.pack("<I", 0))
        os.close(rfeed)
        try:
            pid, fd = _fork_worker(dispatcher, files, [[index]], rqueue)
        finally:
            os.close(rqueue)
        _, status = os.waitpid(pid, 0)
        _read_records(fd, results)
        if index not in results:
            log.warning("the process scanning %r died", files[index])
            results[index] = _crash_report(files[index], WorkerDied(_exit_text(status)))
    return [results[index] for index in range(len(files))]


def scan_paths(
    root: Path, relpaths: Sequence[str], allow_globals: tuple[str, ...] = ()
) -> list[Finding]:
    """Convenience for tests and callers: all findings of the given files."""
    dispatcher = Dispatcher(root, allow_globals)
    out: list[Finding] = []
    for report in dispatcher.scan_files(relpaths):
        out.extend(report.findings)
    return out
