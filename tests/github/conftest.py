"""A real GitHub-API-compatible server on 127.0.0.1 and a PyGithub client pointed at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from github import Github

from mlgate.github.event import GitHubContext
from mlgate.github.publish import make_client
from tests.servers.github_server import GitHubServer, GitHubState

REPO = "acme/ml-service"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def github_server() -> Iterator[GitHubServer]:
    with GitHubServer(GitHubState()) as server:
        yield server


def pr_event(number: int = 7, head_repo: str | None = REPO) -> dict[str, Any]:
    """The parts of a pull_request event payload that publishing reads."""
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": SHA, "repo": {"full_name": head_repo} if head_repo else None},
            "base": {"sha": "f" * 40, "repo": {"full_name": REPO}},
        },
        "repository": {"full_name": REPO},
    }


def runner_env(
    server: GitHubServer, tmp_path: Path, event_path: Path, workspace: Path
) -> dict[str, str]:
    """The environment the Actions runner gives a pull-request job, aimed at the local server."""
    return {
        "GITHUB_API_URL": server.url,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_SHA": SHA,
        "GITHUB_REF": "refs/pull/7/merge",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_RUN_ID": "99",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(tmp_path / "output.txt"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_TOKEN": server.state.token,
        "GITHUB_ACTIONS": "true",
    }


@pytest.fixture
def make_context(tmp_path: Path, github_server: GitHubServer):  # type: ignore[no-untyped-def]
    """A GitHubContext as the runner would set it up, with files under tmp_path."""

    def _make(event: dict[str, Any] | None = None, **overrides: Any) -> GitHubContext:
        event = pr_event() if event is None else event
        event_path = tmp_path / "event.json"
        event_path.write_text(json.dumps(event), encoding="utf-8")
        workspace = tmp_path / "workspace"
        workspace.mkdir(exist_ok=True)
        env = runner_env(github_server, tmp_path, event_path, workspace)
        env.update({k: v for k, v in overrides.items() if isinstance(v, str)})
        return GitHubContext.from_env(env)

    return _make


@pytest.fixture
def client(github_server: GitHubServer, make_context) -> Github:  # type: ignore[no-untyped-def]
    """PyGithub without write throttling or retries, so the tests stay fast."""
    return make_client(
        make_context(), seconds_between_writes=0, seconds_between_requests=0, retry=None
    )
