"""``mlgate models [PATH ...]``: scan model files on their own (``models lock`` is routed on).

Exit codes: 0 nothing at or above the threshold, 1 findings at or above it (default ``high``),
2 when the scan could not run at all (a path that does not exist, an invalid policy).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mlgate import __version__
from mlgate.errors import UsageError
from mlgate.exitcodes import ExitCode
from mlgate.formats import FormatKind, sniff
from mlgate.inspect.dispatch import Dispatcher
from mlgate.model import Finding, Inventory, ScanResult, ScanWarning, Severity
from mlgate.options import ScanOptions
from mlgate.progress import Progress, aborting
from mlgate.textsafe import for_terminal

if TYPE_CHECKING:
    from mlgate.policy import Policy


def _lock(args: argparse.Namespace) -> int:
    handler: Callable[[argparse.Namespace], int] = importlib.import_module(
        "mlgate.policy.lock"
    ).cmd_lock
    return handler(args)


def _targets(paths: list[str]) -> tuple[Path, list[tuple[str, str]]]:
    """(root, [(walk root relative to root, single file or "")]) for the given paths."""
    cwd = Path.cwd().resolve()
    resolved = []
    for raw in paths:
        p = Path(raw)
        if not p.exists():
            raise UsageError(f"{raw}: no such file or directory")
        resolved.append(p.resolve())
    inside = all(p == cwd or cwd in p.parents for p in resolved)
    root = cwd if inside else (resolved[0] if resolved[0].is_dir() else resolved[0].parent)
    out = []
    for p in resolved:
        try:
            rel = p.relative_to(root).as_posix()
        except ValueError:
            raise UsageError(
                f"{p}: give paths inside one folder (or the current directory)"
            ) from None
        out.append(("" if rel == "." else rel, "file" if p.is_file() else ""))
    return root, out


def collect(
    root: Path,
    targets: list[tuple[str, str]],
    exclude: tuple[str, ...],
    warnings: list[ScanWarning],
) -> list[str]:
    """Every file below the targets whose content is a model, pointer or archive."""
    from mlgate.inventory.walk import walk

    files: dict[str, None] = {}
    for rel, kind in targets:
        if kind == "file":
            files[rel] = None
            continue
        base = root / rel if rel else root
        for file in walk(base, exclude, warnings):
            # no path: a zip's member list only picks which model kind it is, and every zip
            # kind is kept; the dispatcher classifies it when it scans the file
            found = sniff(file.head, file.name, file.size)
            if found is not None and found.kind is not FormatKind.DATA:
                files[f"{rel}/{file.relpath}" if rel else file.relpath] = None
    return sorted(files)


def cmd_models(args: argparse.Namespace) -> int:
    paths = list(args.paths or ["."])
    if paths and paths[0] == "lock":
        args.paths = paths[1:] or ["."]
        args.path = args.paths[0]
        return _lock(args)
    from mlgate.policy import load_policy

    root, targets = _targets(paths)
    fail_on = getattr(args, "fail_on", None)
    options = ScanOptions(
        root=root,
        exclude=tuple(args.exclude or ()),
        vulns=False,
        policy=getattr(args, "policy", None),
        fail_on=Severity(fail_on) if fail_on else None,
        json=getattr(args, "json", None),
    )
    policy = load_policy(options)

    def run(options: ScanOptions) -> ScanResult:
        with aborting(Progress(str(root), fail_on=policy.fail_on)) as progress:
            return _scan(root, targets, options, policy, progress)
        raise AssertionError("unreachable")  # mypy: the context manager does not swallow

    from mlgate.cli import run_scan_or_report
    from mlgate.report import write_reports

    result = run_scan_or_report(options, run)
    write_reports(result, options)  # only --json is set
    if not getattr(args, "quiet", False):
        _print(result, int(result.inventory.files_seen))
    for warning in result.warnings:
        print(f"warning: {for_terminal(str(warning))}", file=sys.stderr)
    return int(ExitCode.OK if result.verdict.passed else ExitCode.FINDINGS)


def _scan(
    root: Path,
    targets: list[tuple[str, str]],
    options: ScanOptions,
    policy: Policy,
    progress: Progress,
) -> ScanResult:
    from mlgate.policy import evaluate

    start = time.perf_counter()
    files = collect(root, targets, options.exclude, progress.warnings)
    progress.inventory = Inventory(files_seen=len(files))
    dispatcher = Dispatcher(root, tuple(policy.allow_globals))
    for report in dispatcher.scan_files(files):
        progress.findings.extend(report.findings)
    findings = sorted(progress.findings, key=Finding.sort_key)
    kept, verdict, policy_warnings = evaluate(findings, policy, options)
    return ScanResult(
        root=str(root),
        inventory=progress.inventory,
        findings=tuple(kept),
        verdict=verdict,
        warnings=(*progress.warnings, *policy_warnings),
        stats=(("model_files", float(len(files))), ("seconds", time.perf_counter() - start)),
        tool_version=__version__,
    )


def _print(result: ScanResult, nfiles: int) -> None:
    active = [f for f in result.findings if not f.suppressed]
    status = "PASSED" if result.verdict.passed else "FAILED"
    print(
        f"mlgate models: {status} (fail-on: {result.verdict.fail_on.value}): "
        f"{nfiles} model file(s), {len(active)} finding(s)"
    )
    for f in active:
        print(for_terminal(f"[{f.severity.value}] {f.rule_id} {f.location}: {f.message}", 400))
