"""The sticky pull-request comment: found by its hidden marker and its author, edited in place."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from github import Github, GithubException
from github.IssueComment import IssueComment

from mlgate.options import CommentMode
from mlgate.report.markdown import MARKER

log = logging.getLogger("mlgate.github")

# The login behind the workflow's GITHUB_TOKEN. An installation token cannot read GET /user
# ("Resource not accessible by integration"), so this is what we fall back to.
ACTIONS_BOT = "github-actions[bot]"


@dataclass(frozen=True)
class CommentOutcome:
    action: str  # created | updated | unchanged | deleted | skipped
    comment_id: int | None = None
    url: str | None = None
    reason: str = ""


def own_login(gh: Github) -> str:
    """The login of the token's owner; the Actions bot when the token cannot say."""
    try:
        login = gh.get_user().login
    except GithubException as exc:
        if exc.status in (401, 403, 404):
            return ACTIONS_BOT
        raise
    return login or ACTIONS_BOT


def find_sticky(gh: Github, repository: str, number: int, login: str) -> IssueComment | None:
    """Our earlier comment: carries the marker AND was written by us (anyone can paste a marker)."""
    issue = gh.get_repo(repository).get_issue(number)
    for comment in issue.get_comments():
        user = comment.user
        if user is not None and user.login == login and MARKER in (comment.body or ""):
            return comment
    return None


def sync_comment(
    gh: Github,
    repository: str,
    number: int,
    body: str,
    *,
    mode: CommentMode,
    failing: bool,
    delete_when_clean: bool = False,
) -> CommentOutcome:
    """Create, edit or delete the one sticky comment of pull request ``number``."""
    if mode is CommentMode.NEVER:
        return CommentOutcome("skipped", reason="comment: never")
    login = own_login(gh)
    existing = find_sticky(gh, repository, number, login)
    if existing is not None:
        if not failing and delete_when_clean:
            existing.delete()
            return CommentOutcome("deleted", existing.id)
        if existing.body == body:
            return CommentOutcome("unchanged", existing.id, existing.html_url)
        existing.edit(body)
        return CommentOutcome("updated", existing.id, existing.html_url)
    if mode is CommentMode.ON_FAILURE and not failing:
        return CommentOutcome("skipped", reason="passed and comment: on-failure")
    if not failing and delete_when_clean:
        return CommentOutcome("skipped", reason="passed and nothing to delete")
    issue = gh.get_repo(repository).get_issue(number)
    created = issue.create_comment(body)
    return CommentOutcome("created", created.id, created.html_url)
