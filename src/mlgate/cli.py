"""Command line: ``main(argv) -> int``; every failure funnels through one ``except MlgateError``."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from mlgate import __version__
from mlgate.current import current, where_failed
from mlgate.errors import MlgateError, ScanAborted, UsageError
from mlgate.exitcodes import ExitCode
from mlgate.model import ScanResult, Severity
from mlgate.options import DEFAULT_PLATFORM, CommentMode, ScanOptions
from mlgate.textsafe import for_terminal

log = logging.getLogger("mlgate")

SEVERITY_CHOICES = [s.value for s in Severity]


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` owns every exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message, hint=f"see '{self.prog} --help'")


def _add_inventory_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        nargs="?",
        default=".",
        help="repository root to scan, or one file (a wheel, sdist or model) (default: .)",
    )
    p.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="skip paths matching GLOB (repeatable; matches the path or a base name)",
    )
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="SUBPATH",
        help="scan only this sub-path of the root (repeatable); locations stay relative to the "
        "root, so CI-matrix shards can be joined with 'mlgate merge'",
    )
    p.add_argument("--no-dev", action="store_true", help="drop dev/optional dependency groups")
    img = p.add_argument_group("container images")
    img.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="REF",
        help="also scan a container image (repeatable): host/repo:tag, host/repo@sha256:..., "
        "an OCI layout folder or a docker-save/OCI tarball",
    )
    img.add_argument(
        "--platform",
        default=DEFAULT_PLATFORM,
        metavar="OS/ARCH",
        help=f"platform chosen from a multi-platform image (default: {DEFAULT_PLATFORM})",
    )
    img.add_argument(
        "--insecure-registry",
        action="append",
        default=[],
        metavar="HOST",
        help="registry HOST[:PORT] spoken to over plain HTTP (repeatable)",
    )
    p.add_argument("--strict", action="store_true", help="exit 2 when any input could not be read")
    p.add_argument(
        "--reproducible",
        action="store_true",
        help="fixed SBOM serial number and timestamp: reruns are byte-identical",
    )


def _add_report_args(p: argparse.ArgumentParser) -> None:
    out = p.add_argument_group("reports")
    out.add_argument("--sbom", type=Path, metavar="FILE", help="write a CycloneDX 1.6 JSON SBOM")
    out.add_argument("--json", type=Path, metavar="FILE", help="write the machine-readable result")
    out.add_argument("--sarif", type=Path, metavar="FILE", help="write SARIF 2.1.0")
    out.add_argument("--markdown", type=Path, metavar="FILE", help="write the Markdown report")
    out.add_argument(
        "--gitlab-report",
        type=Path,
        metavar="FILE",
        help="write a GitLab dependency-scanning report",
    )
    out.add_argument(
        "--gitlab-report-version", metavar="VERSION", help="GitLab security report schema version"
    )
    out.add_argument(
        "--codequality", type=Path, metavar="FILE", help="write a GitLab code-quality report"
    )
    out.add_argument(
        "--vex", type=Path, metavar="FILE", help="write accepted risks as CycloneDX VEX"
    )


def _add_scan_args(p: argparse.ArgumentParser) -> None:
    _add_inventory_args(p)
    _add_report_args(p)
    vul = p.add_argument_group("vulnerabilities (OSV)")
    vul.add_argument("--no-vulns", action="store_true", help="skip the OSV lookup")
    vul.add_argument(
        "--osv-url",
        default=os.environ.get("MLGATE_OSV_URL") or None,
        metavar="URL",
        help="OSV API base URL without /v1 (env MLGATE_OSV_URL)",
    )
    vul.add_argument("--osv-db", type=Path, metavar="PATH", help="offline OSV database")
    vul.add_argument(
        "--osv-fallback-db",
        type=Path,
        metavar="PATH",
        help="offline OSV database used only when the OSV API is unreachable (reports say so)",
    )
    vul.add_argument("--cache-dir", type=Path, metavar="DIR", help="OSV cache folder")
    vul.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    vul.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="finish even when some packages could not be checked",
    )
    mod = p.add_argument_group("models")
    mod.add_argument("--no-models", action="store_true", help="skip model file scanning")
    pol = p.add_argument_group("policy")
    pol.add_argument(
        "--policy", type=Path, metavar="FILE", help="policy file (default: .mlgate.yml)"
    )
    pol.add_argument("--fail-on", choices=SEVERITY_CHOICES, help="severity that fails the gate")
    pol.add_argument(
        "--baseline",
        type=Path,
        metavar="FILE",
        help="previous JSON result or SBOM: fail only on new findings",
    )
    pol.add_argument(
        "--licenses-online", action="store_true", help="look licenses up in the deps.dev API"
    )
    pol.add_argument("--deps-dev-url", metavar="URL", help="deps.dev API base URL")
    _add_github_args(p)


def _add_github_args(p: argparse.ArgumentParser) -> None:
    gh = p.add_argument_group("GitHub")
    gh.add_argument(
        "--github",
        action="store_true",
        help="publish to GitHub: PR comment, job summary, outputs, annotations",
    )
    gh.add_argument("--comment", choices=[m.value for m in CommentMode], default="always")
    gh.add_argument(
        "--upload-sarif",
        action="store_true",
        help="upload SARIF to code scanning through the REST API",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mlgate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"mlgate {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    scan = sub.add_parser(
        "scan", help="the whole pipeline: inventory, OSV, models, policy, reports"
    )
    _add_scan_args(scan)

    sbom = sub.add_parser("sbom", help="write the CycloneDX SBOM of a repository")
    _add_inventory_args(sbom)
    sbom.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="SBOM file (default: stdout)"
    )

    models = sub.add_parser(
        "models", help="scan model files; 'models lock' writes models.lock.json"
    )
    models.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    models.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    models.add_argument(
        "--json", type=Path, metavar="FILE", help="write the machine-readable result"
    )
    models.add_argument("--policy", type=Path, metavar="FILE")
    models.add_argument("--fail-on", choices=SEVERITY_CHOICES)
    models.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FILE",
        help="with 'lock': the lock file (default: models.lock.json)",
    )

    merge = sub.add_parser(
        "merge",
        help="join the --json results of CI-matrix shards: one SBOM, SARIF and verdict",
    )
    merge.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    _add_report_args(merge)
    merge.add_argument(
        "--fail-on", choices=SEVERITY_CHOICES, help="threshold (default: the shards' own)"
    )
    merge.add_argument("--strict", action="store_true", help="exit 2 when any shard had warnings")
    merge.add_argument(
        "--allow-incomplete", action="store_true", help="accept packages no shard could check"
    )
    merge.add_argument("--reproducible", action="store_true", help="byte-identical reruns")
    _add_github_args(merge)

    db = sub.add_parser("db", help="offline OSV database")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=_Parser)
    upd = dbsub.add_parser("update", help="download OSV dumps and build the local index")
    upd.add_argument("--osv-db", type=Path, metavar="PATH", help="database folder")
    upd.add_argument("--ecosystem", action="append", default=[], metavar="NAME")
    upd.add_argument("--base-url", metavar="URL", help="mirror of OSV's per-ecosystem dumps")
    upd.add_argument("--cache-dir", type=Path, metavar="DIR", help="where the index is kept")

    ci = sub.add_parser("ci", help="CI configurations")
    cisub = ci.add_subparsers(dest="ci_command", metavar="ACTION", parser_class=_Parser)
    render = cisub.add_parser("render", help="render a CI config for github, gitlab or jenkins")
    render.add_argument("platform", choices=["github", "gitlab", "jenkins"])
    render.add_argument("--path", default=".")
    render.add_argument("--fail-on", choices=SEVERITY_CHOICES, default="high")
    render.add_argument("--image", metavar="IMAGE")
    render.add_argument("--policy", metavar="FILE")
    render.add_argument("--output", "-o", type=Path, metavar="FILE")
    render.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other option of the shared options model",
    )
    note = cisub.add_parser(
        "gitlab-note", help="post or update the sticky merge-request note (GitLab API)"
    )
    note.add_argument("--markdown", required=True, metavar="FILE", help="the note's body")
    note.add_argument("--api-url", metavar="URL", help="GitLab API v4 URL (env CI_API_V4_URL)")
    note.add_argument("--project-id", metavar="ID", help="project id or path (env CI_PROJECT_ID)")
    note.add_argument("--mr-iid", metavar="IID", help="merge request iid (CI_MERGE_REQUEST_IID)")
    return parser


def options_from_args(args: argparse.Namespace) -> ScanOptions:
    get = args.__dict__.get
    fail_on = get("fail_on")
    root = Path(args.path)
    include = tuple(get("include") or ())
    if root.is_file() and not root.is_symlink():
        # one file passed by path (a wheel, an sdist, a model): its folder is the root and the
        # walk covers that file alone, so locations and policy lookup work as for a tree
        if include:
            raise UsageError(f"{root}: --include goes with a folder, not a single file")
        root, include = root.parent, (root.name,)
    return ScanOptions(
        root=root,
        exclude=tuple(args.exclude),
        include=include,
        no_dev=bool(get("no_dev", False)),
        images=tuple(get("image") or ()),
        platform=get("platform") or DEFAULT_PLATFORM,
        insecure_registries=tuple(get("insecure_registry") or ()),
        strict=bool(get("strict", False)),
        vulns=not get("no_vulns", False),
        models=not get("no_models", False),
        osv_url=get("osv_url"),
        osv_db=get("osv_db"),
        osv_fallback_db=get("osv_fallback_db"),
        cache_dir=get("cache_dir"),
        no_cache=bool(get("no_cache", False)),
        allow_incomplete=bool(get("allow_incomplete", False)),
        policy=get("policy"),
        fail_on=Severity(fail_on) if fail_on else None,
        baseline=get("baseline"),
        licenses_online=bool(get("licenses_online", False)),
        deps_dev_url=get("deps_dev_url"),
        sbom=get("sbom"),
        json=get("json"),
        sarif=get("sarif"),
        markdown=get("markdown"),
        gitlab_report=get("gitlab_report"),
        gitlab_report_version=get("gitlab_report_version"),
        codequality=get("codequality"),
        vex=get("vex"),
        reproducible=bool(get("reproducible", False)),
        github=bool(get("github", False)),
        comment=CommentMode(get("comment") or "always"),
        upload_sarif=bool(get("upload_sarif", False)),
    )


def _check_root(path: Path) -> None:
    if not path.is_dir():
        raise UsageError(f"{path}: not a directory")


def summary_text(result: ScanResult) -> str:
    """A short human summary for the terminal."""
    from mlgate.report.summary import render_text

    return render_text(result)


def exit_code_for(result: ScanResult, options: ScanOptions) -> ExitCode:
    cov = result.coverage
    if cov is not None and not cov.complete and not options.allow_incomplete:
        names = ", ".join(ref for ref, _ in cov.unchecked[:20])
        more = f" and {len(cov.unchecked) - 20} more" if len(cov.unchecked) > 20 else ""
        reasons = sorted({why for _, why in cov.unchecked})
        print(
            f"error: {len(cov.unchecked)} of {cov.total} packages could not be checked for "
            f"vulnerabilities: {names}{more}\nreason: {'; '.join(reasons[:5])}\n"
            "hint: retry, use --osv-db for an offline database, or --allow-incomplete to "
            "accept partial coverage (reports state it)",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    if options.strict and result.all_warnings:
        print(
            f"error: --strict: {len(result.all_warnings)} input(s) could not be read completely",
            file=sys.stderr,
        )
        return ExitCode.ERROR
    return ExitCode.OK if result.verdict.passed else ExitCode.FINDINGS


def cmd_scan(args: argparse.Namespace) -> int:
    from mlgate.report import write_reports
    from mlgate.scan import run_scan

    options = options_from_args(args)
    _check_root(options.root)
    for sub in options.include:
        if not (options.root / sub).exists():
            raise UsageError(f"--include {sub}: no such path under {options.root}")
    result = run_scan_or_report(options, run_scan)
    return finish(result, options, write_reports(result, options), quiet=args.quiet)


def finish(
    result: ScanResult, options: ScanOptions, written: dict[str, Path], *, quiet: bool
) -> int:
    """Publish to GitHub when asked; summary, report paths and warnings on the terminal; the
    exit code (scan and merge)."""
    if options.github:
        publish = importlib.import_module("mlgate.github").publish
        publish(result, options, written)
    if not quiet:
        print(summary_text(result))
        for name, path in written.items():
            print(f"{name}: {path}")
    for warning in result.all_warnings:
        log.warning("%s", for_terminal(str(warning)))
    return int(exit_code_for(result, options))


def run_scan_or_report(
    options: ScanOptions, run: Callable[[ScanOptions], ScanResult]
) -> ScanResult:
    """``run(options)``; when it stops on an unexpected failure, the reports that can still be
    written are written from the partial result (marked incomplete) before the error goes on."""
    from mlgate.report import ReportError, write_reports

    try:
        return run(options)
    except ScanAborted as exc:
        if isinstance(exc.partial, ScanResult):
            try:
                written = write_reports(exc.partial, options)
            except ReportError as report_error:
                log.error("%s", report_error.message)
                written = report_error.written
            for name, path in written.items():
                log.warning("%s: %s (marked incomplete)", name, path)
            if options.github:  # the PR comment says the scan is incomplete: no silent gate
                try:
                    importlib.import_module("mlgate.github").publish(exc.partial, options, written)
                except Exception as publish_error:
                    log.error("publishing the incomplete result failed: %s", publish_error)
        raise


def cmd_sbom(args: argparse.Namespace) -> int:
    from mlgate.report import renderer, write_atomic
    from mlgate.scan import run_scan

    args.no_vulns = True
    args.no_models = True
    options = options_from_args(args)
    _check_root(options.root)
    result = run_scan(options)
    data = renderer("sbom")(result, options)
    if args.output:
        write_atomic(args.output, data)
        if not args.quiet:
            print(
                f"SBOM: {len(result.inventory.components)} components -> {args.output}",
                file=sys.stderr,
            )
    else:
        sys.stdout.write(data if isinstance(data, str) else data.decode())
    for warning in result.all_warnings:
        log.warning("%s", for_terminal(str(warning)))
    if options.strict and result.all_warnings:
        return int(ExitCode.ERROR)
    return int(ExitCode.OK)


def _dispatch(module: str, func: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        handler: Callable[[argparse.Namespace], int] = getattr(
            importlib.import_module(module), func
        )
        return handler(args)

    return run


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "scan": cmd_scan,
    "sbom": cmd_sbom,
    "models": _dispatch("mlgate.inspect.cli", "cmd_models"),
    "merge": _dispatch("mlgate.merge", "cmd_merge"),
    "db": _dispatch("mlgate.enrich.cli", "cmd_db"),
    "ci": _dispatch("mlgate.ci.cli", "cmd_ci"),
}


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = (
        logging.ERROR
        if quiet
        else logging.WARNING
        if verbose == 0
        else (logging.INFO if verbose == 1 else logging.DEBUG)
    )
    logging.basicConfig(
        level=level, format="%(levelname)s: %(message)s", stream=sys.stderr, force=True
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    verbose = 0
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        verbose = args.verbose
        _setup_logging(args.verbose, args.quiet)
        if not args.command:
            parser.print_help(sys.stderr)
            return int(ExitCode.ERROR)
        return COMMANDS[args.command](args)
    except ScanAborted as exc:
        print(exc.diagnostics(), file=sys.stderr)
        if verbose:
            traceback.print_exception(exc.cause, file=sys.stderr)
        return int(ExitCode.ERROR)
    except MlgateError as exc:
        print(exc.diagnostics(), file=sys.stderr)
        if verbose and exc.__cause__ is not None:
            traceback.print_exception(exc, file=sys.stderr)
        return int(ExitCode.ERROR)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return int(ExitCode.ERROR)
    except Exception as exc:  # the safety net: a bug is exit 2 naming the file, never 1
        print(ScanAborted(exc, where_failed(exc) or current()).diagnostics(), file=sys.stderr)
        if verbose:
            traceback.print_exception(exc, file=sys.stderr)
        return int(ExitCode.ERROR)
