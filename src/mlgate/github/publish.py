"""``mlgate scan --github``: job summary, outputs, annotations, sticky PR comment, SARIF upload.

Each step stands alone: a step that fails (a read-only token, code scanning not enabled, the API
down) becomes a ``::warning::`` and the others still run, so no report is ever lost.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

import requests
from github import Auth, Github, GithubException

from mlgate import __version__
from mlgate.github.annotations import annotate
from mlgate.github.commands import add_mask, issue
from mlgate.github.comment import CommentOutcome, sync_comment
from mlgate.github.event import GitHubContext
from mlgate.github.outputs import append_summary, outputs, write_outputs
from mlgate.github.upload import UploadOutcome, upload_sarif
from mlgate.model import ScanResult
from mlgate.options import ScanOptions
from mlgate.report.markdown import Links, render_markdown
from mlgate.report.sarif import build_log, source_prefix

log = logging.getLogger("mlgate.github")
_T = TypeVar("_T")

DELETE_CLEAN_ENV = "MLGATE_COMMENT_DELETE_WHEN_CLEAN"
_HINTS = {
    "comment": "the token needs 'pull-requests: write' (or 'issues: write')",
    "upload": "the token needs 'security-events: write' and code scanning must be enabled",
}


@dataclass
class PublishReport:
    """What publishing did; returned for callers and tests."""

    comment: CommentOutcome | None = None
    upload: UploadOutcome | None = None
    annotations: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    summary_written: bool = False
    notices: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def make_client(ctx: GitHubContext, **kwargs: object) -> Github:
    """PyGithub against ``GITHUB_API_URL`` (GHES: https://ghe.example/api/v3)."""
    assert ctx.token is not None
    return Github(
        auth=Auth.Token(ctx.token),
        base_url=ctx.api_url,
        lazy=True,
        user_agent=f"mlgate/{__version__}",
        timeout=30,
        **kwargs,  # type: ignore[arg-type]
    )


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def publish(
    result: ScanResult,
    options: ScanOptions,
    written: Mapping[str, Path],
    *,
    context: GitHubContext | None = None,
    client: Github | None = None,
    out: TextIO | None = None,
    sleep: Callable[[float], None] | None = None,
    poll_timeout: float = 120.0,
) -> PublishReport:
    ctx = context or GitHubContext.from_env()
    stream = out or sys.stdout
    report = PublishReport()
    if ctx.token and ctx.actions:
        # Only the runner swallows this line; anywhere else it would print the token.
        add_mask(ctx.token, stream)
    prefix = source_prefix(result.root)

    def warn(message: str) -> None:
        report.warnings.append(message)
        issue("warning", message, stream, title="mlgate")

    def notice(message: str) -> None:
        report.notices.append(message)
        issue("notice", message, stream, title="mlgate")

    links = Links(
        server=ctx.server_url,
        repository=ctx.repository,
        sha=ctx.sha,
        run_id=ctx.run_id,
        prefix=prefix,
    )
    if ctx.summary_file is not None:
        try:
            append_summary(ctx.summary_file, render_markdown(result, links=links, summary=True))
            report.summary_written = True
        except OSError as exc:
            warn(f"could not write the job summary: {exc.strerror}")
    report.outputs = outputs(result, written, ctx.workspace)
    if ctx.output_file is not None:
        try:
            write_outputs(ctx.output_file, report.outputs)
        except OSError as exc:
            warn(f"could not write the step outputs: {exc.strerror}")
    report.annotations = annotate(result, prefix, stream)

    wants_comment = ctx.pr_number is not None and options.comment.value != "never"
    if not (wants_comment or options.upload_sarif):
        return report
    if ctx.is_fork:
        notice(
            "pull request from a fork: its token is read-only, so the PR comment and the SARIF "
            "upload are skipped (the job summary, outputs and annotations are there)"
        )
        return report
    if not ctx.token or not ctx.repository:
        warn(
            "no GITHUB_TOKEN or GITHUB_REPOSITORY: the PR comment and the SARIF upload are skipped"
        )
        return report
    gh = client or make_client(ctx)

    if wants_comment:
        assert ctx.pr_number is not None
        body = render_markdown(result, links=links)
        report.comment = _guarded(
            "comment",
            warn,
            lambda: sync_comment(
                gh,
                ctx.repository or "",
                ctx.pr_number or 0,
                body,
                mode=options.comment,
                failing=not result.verdict.passed,
                delete_when_clean=_truthy(os.environ.get(DELETE_CLEAN_ENV)),
            ),
        )
    if options.upload_sarif:
        report.upload = _upload(result, ctx, gh, warn, notice, sleep, poll_timeout)
    return report


def _upload(
    result: ScanResult,
    ctx: GitHubContext,
    gh: Github,
    warn: Callable[[str], None],
    notice: Callable[[str], None],
    sleep: Callable[[float], None] | None,
    poll_timeout: float,
) -> UploadOutcome | None:
    if not ctx.sha or not ctx.ref:
        warn("SARIF upload skipped: no commit SHA or ref (GITHUB_SHA, GITHUB_REF)")
        return None
    import json

    sarif_text = json.dumps(build_log(result), ensure_ascii=False)
    checkout = ctx.workspace.resolve().as_uri() if ctx.workspace is not None else None
    kwargs: dict[str, object] = {"timeout": poll_timeout}
    if sleep is not None:
        kwargs["sleep"] = sleep
    outcome = _guarded(
        "upload",
        warn,
        lambda: upload_sarif(
            gh,
            ctx.repository or "",
            sarif_text,
            commit_sha=ctx.sha or "",
            ref=ctx.ref or "",
            checkout_uri=checkout,
            **kwargs,  # type: ignore[arg-type]
        ),
    )
    if outcome is None:
        return None
    if outcome.status == "failed":
        warn("code scanning rejected the SARIF upload: " + "; ".join(outcome.errors)[:1000])
    elif outcome.status == "pending":
        notice(f"SARIF uploaded (id {outcome.sarif_id}); code scanning is still processing it")
    elif outcome.status == "skipped":
        warn(f"SARIF upload skipped: {outcome.reason}")
    return outcome


def _guarded(what: str, warn: Callable[[str], None], step: Callable[[], _T]) -> _T | None:
    """Run one publishing step; an API or network failure is a warning, never a lost report."""
    try:
        return step()
    except GithubException as exc:
        message = exc.data.get("message") if isinstance(exc.data, dict) else None
        hint = _HINTS[what] if exc.status in (401, 403, 404) else "GitHub API error"
        warn(f"{what} failed: HTTP {exc.status} {str(message or '')[:300]} ({hint})")
    except requests.RequestException as exc:
        warn(f"{what} failed: {type(exc).__name__} talking to the GitHub API")
    return None
