"""Publishing through PyGithub against a real local GitHub-API-compatible server."""

from __future__ import annotations

import base64
import gzip
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from mlgate.github.publish import publish
from mlgate.options import CommentMode, ScanOptions
from mlgate.report.markdown import MARKER
from tests.github.conftest import REPO, SHA, pr_event
from tests.report.samples import ROOT, clean_result, sample_result
from tests.servers.github_server import GitHubServer

OPTIONS = ScanOptions(root=Path(ROOT), github=True)


def _no_sleep(seconds: float) -> None:
    pass


def _calls(server: GitHubServer, method: str, fragment: str) -> int:
    return sum(1 for r in server.state.requests if r.method == method and fragment in r.path)


def run(ctx, client, result=None, options=OPTIONS, **kw):  # type: ignore[no-untyped-def]
    out = io.StringIO()
    report = publish(
        result or sample_result(),
        options,
        {},
        context=ctx,
        client=client,
        out=out,
        sleep=_no_sleep,
        **kw,
    )
    return report, out.getvalue()


def test_comment_is_created_once_then_edited_in_place(
    github_server: GitHubServer, make_context, client
) -> None:
    ctx = make_context()
    first, _ = run(ctx, client)
    assert first.comment is not None and first.comment.action == "created"
    second, _ = run(ctx, client, result=clean_result())
    assert second.comment is not None and second.comment.action == "updated"
    assert second.comment.comment_id == first.comment.comment_id
    third, _ = run(ctx, client, result=clean_result())
    assert third.comment is not None and third.comment.action == "unchanged"
    comments = github_server.state.comments_of(REPO, 7)
    assert len(comments) == 1
    assert comments[0]["body"].startswith(MARKER)
    assert "mlgate: passed" in comments[0]["body"]
    assert _calls(github_server, "POST", "/issues/7/comments") == 1
    assert _calls(github_server, "PATCH", "/issues/comments/") == 1
    # GHES-style base URL honoured: every call went under /api/v3
    assert all(r.path.startswith("/api/v3/") for r in github_server.state.requests)


def test_installation_token_falls_back_to_the_actions_bot_login(
    github_server: GitHubServer, make_context, client
) -> None:
    """GET /user answers 403 for GITHUB_TOKEN: the comment author is github-actions[bot]."""
    github_server.state.installation_token = True
    ctx = make_context()
    run(ctx, client)
    report, _ = run(ctx, client, result=clean_result())
    assert report.comment is not None and report.comment.action == "updated"
    (comment,) = github_server.state.comments_of(REPO, 7)
    assert comment["user"]["login"] == "github-actions[bot]"


def test_marker_pasted_by_someone_else_is_never_edited(
    github_server: GitHubServer, make_context, client
) -> None:
    """Technique: hijacking the sticky comment by copying its hidden marker."""
    state = github_server.state
    body = f"{MARKER}\nlooks like mlgate"
    forged = state.add_comment(REPO, 7, body, "mallory", github_server.url)
    report, _ = run(make_context(), client)
    assert report.comment is not None and report.comment.action == "created"
    assert state.comments[forged]["body"] == body
    assert len(state.comments_of(REPO, 7)) == 2


def test_sticky_comment_found_beyond_the_first_page(
    github_server: GitHubServer, make_context, client
) -> None:
    state = github_server.state
    for i in range(45):
        state.add_comment(REPO, 7, f"review comment {i}", "reviewer", github_server.url)
    ctx = make_context()
    run(ctx, client)
    report, _ = run(ctx, client, result=clean_result())
    assert report.comment is not None and report.comment.action == "updated"
    assert len(state.comments_of(REPO, 7)) == 46
    assert any(r.query.get("page") == ["2"] for r in state.requests)


def test_on_failure_comments_only_when_failing_and_updates_an_existing_one(
    github_server: GitHubServer, make_context, client
) -> None:
    ctx = make_context()
    options = replace(OPTIONS, comment=CommentMode.ON_FAILURE)
    clean, _ = run(ctx, client, result=clean_result(), options=options)
    assert clean.comment is not None and clean.comment.action == "skipped"
    assert github_server.state.comments_of(REPO, 7) == []
    failing, _ = run(ctx, client, options=options)
    assert failing.comment is not None and failing.comment.action == "created"
    fixed, _ = run(ctx, client, result=clean_result(), options=options)
    assert fixed.comment is not None and fixed.comment.action == "updated"
    assert "mlgate: passed" in github_server.state.comments_of(REPO, 7)[0]["body"]


def test_never_makes_no_comment_call(github_server: GitHubServer, make_context, client) -> None:
    report, _ = run(make_context(), client, options=replace(OPTIONS, comment=CommentMode.NEVER))
    assert report.comment is None
    assert github_server.state.requests == []


def test_clean_run_can_delete_the_comment(
    github_server: GitHubServer, make_context, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = make_context()
    run(ctx, client)
    monkeypatch.setenv("MLGATE_COMMENT_DELETE_WHEN_CLEAN", "true")
    report, _ = run(ctx, client, result=clean_result())
    assert report.comment is not None and report.comment.action == "deleted"
    assert github_server.state.comments_of(REPO, 7) == []


@pytest.mark.parametrize("head_repo", ["contributor/ml-service", None])
def test_fork_pull_request_skips_comment_and_upload_with_a_notice(
    github_server: GitHubServer, make_context, client, tmp_path: Path, head_repo: str | None
) -> None:
    ctx = make_context(pr_event(head_repo=head_repo))
    assert ctx.is_fork
    report, out = run(ctx, client, options=replace(OPTIONS, upload_sarif=True))
    assert report.comment is None and report.upload is None
    assert github_server.state.requests == []
    assert "::notice title=mlgate::pull request from a fork" in out
    assert report.summary_written and (tmp_path / "summary.md").read_text().strip()
    assert "verdict<<" in (tmp_path / "output.txt").read_text()


def test_forbidden_comment_is_a_warning_and_nothing_else_is_lost(
    github_server: GitHubServer, make_context, client, tmp_path: Path
) -> None:
    github_server.state.forbid = {"comments"}
    report, out = run(make_context(), client, options=replace(OPTIONS, upload_sarif=True))
    assert report.comment is None
    assert any("HTTP 403" in w and "pull-requests: write" in w for w in report.warnings)
    assert "::warning title=mlgate::comment failed%3A HTTP 403" not in out  # message: not escaped
    assert "::warning title=mlgate::comment failed: HTTP 403" in out
    assert report.upload is not None and report.upload.status == "complete"
    assert report.summary_written
    assert "verdict<<" in (tmp_path / "output.txt").read_text()


def test_sarif_upload_body_is_gzip_base64_with_commit_and_ref(
    github_server: GitHubServer, make_context, client
) -> None:
    github_server.state.pending_polls = 2
    ctx = make_context()
    report, _ = run(ctx, client, options=replace(OPTIONS, upload_sarif=True))
    assert report.upload is not None
    assert report.upload.status == "complete"
    assert report.upload.polls == 3  # pending, pending, complete
    (entry,) = github_server.state.sarifs.values()
    body = entry["body"]
    assert body["commit_sha"] == SHA
    assert body["ref"] == "refs/pull/7/merge"
    assert body["tool_name"] == "mlgate"
    assert body["checkout_uri"] == ctx.workspace.resolve().as_uri()
    log = json.loads(gzip.decompress(base64.b64decode(body["sarif"])))
    assert log["version"] == "2.1.0"
    assert [r["automationDetails"]["id"] for r in log["runs"]] == [
        "mlgate/dependencies/",
        "mlgate/models/",
        "mlgate/policy/",
    ]
    assert _calls(github_server, "GET", "/code-scanning/sarifs/") == 3


def test_sarif_processing_failure_is_reported(
    github_server: GitHubServer, make_context, client
) -> None:
    github_server.state.sarif_errors = ["locationFromSarifResult: expected artifact location"]
    report, out = run(make_context(), client, options=replace(OPTIONS, upload_sarif=True))
    assert report.upload is not None and report.upload.status == "failed"
    assert "code scanning rejected the SARIF upload" in out


def test_sarif_polling_is_bounded(github_server: GitHubServer, make_context, client) -> None:
    github_server.state.pending_polls = 10_000
    report, out = run(
        make_context(), client, options=replace(OPTIONS, upload_sarif=True), poll_timeout=20
    )
    assert report.upload is not None and report.upload.status == "pending"
    assert 1 < report.upload.polls < 10
    assert "still processing" in out


def test_forbidden_upload_is_a_warning(github_server: GitHubServer, make_context, client) -> None:
    github_server.state.forbid = {"sarifs"}
    report, _ = run(make_context(), client, options=replace(OPTIONS, upload_sarif=True))
    assert report.upload is None
    assert any("security-events: write" in w for w in report.warnings)
    assert report.comment is not None and report.comment.action == "created"


def test_token_is_masked_and_never_printed_otherwise(
    github_server: GitHubServer, make_context, client, tmp_path: Path
) -> None:
    github_server.state.forbid = {"comments", "sarifs"}
    ctx = make_context()
    report, out = run(ctx, client, options=replace(OPTIONS, upload_sarif=True))
    token = github_server.state.token
    lines = [line for line in out.splitlines() if token in line]
    assert lines == [f"::add-mask::{token}"]
    assert token not in repr(ctx)
    for name in ("summary.md", "output.txt"):
        assert token not in (tmp_path / name).read_text()
    assert token not in json.dumps(report.warnings)


def test_push_event_uploads_without_commenting(
    github_server: GitHubServer, make_context, client
) -> None:
    ctx = make_context(
        {"ref": "refs/heads/main", "after": SHA, "repository": {"full_name": REPO}},
        GITHUB_EVENT_NAME="push",
        GITHUB_REF="refs/heads/main",
    )
    report, _ = run(ctx, client, options=replace(OPTIONS, upload_sarif=True))
    assert report.comment is None
    assert report.upload is not None and report.upload.status == "complete"
    (entry,) = github_server.state.sarifs.values()
    assert entry["body"]["ref"] == "refs/heads/main"


def test_outside_actions_the_token_is_not_even_masked_on_screen(
    github_server: GitHubServer, make_context, client
) -> None:
    """An '::add-mask::' line is only swallowed by the runner; on a laptop it would show."""
    ctx = replace(make_context(), actions=False)
    report, out = run(ctx, client)
    assert report.comment is not None and report.comment.action == "created"
    assert github_server.state.token not in out
