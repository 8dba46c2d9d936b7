"""The GitHub Actions context: environment variables and the event payload, read once."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_SERVER_URL = "https://github.com"
MAX_EVENT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class GitHubContext:
    api_url: str = DEFAULT_API_URL
    server_url: str = DEFAULT_SERVER_URL
    repository: str | None = None  # owner/name
    sha: str | None = None
    ref: str | None = None
    event_name: str | None = None
    event: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    workspace: Path | None = None
    output_file: Path | None = None
    summary_file: Path | None = None
    token: str | None = field(default=None, repr=False)  # never in a repr, log or message
    actions: bool = False  # running under the Actions runner (it reads workflow commands)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GitHubContext:
        env = os.environ if environ is None else environ
        event: Mapping[str, Any] = {}
        event_path = env.get("GITHUB_EVENT_PATH")
        if event_path:
            event = _read_event(Path(event_path))

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        return cls(
            api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
            server_url=(env.get("GITHUB_SERVER_URL") or DEFAULT_SERVER_URL).rstrip("/"),
            repository=env.get("GITHUB_REPOSITORY") or _dig(event, "repository", "full_name"),
            sha=env.get("GITHUB_SHA") or _dig(event, "after"),
            ref=env.get("GITHUB_REF") or _dig(event, "ref"),
            event_name=env.get("GITHUB_EVENT_NAME") or None,
            event=event,
            run_id=env.get("GITHUB_RUN_ID") or None,
            workspace=path("GITHUB_WORKSPACE"),
            output_file=path("GITHUB_OUTPUT"),
            summary_file=path("GITHUB_STEP_SUMMARY"),
            token=env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or None,
            actions=env.get("GITHUB_ACTIONS") == "true",
        )

    @property
    def pull_request(self) -> Mapping[str, Any] | None:
        pr = self.event.get("pull_request")
        return pr if isinstance(pr, Mapping) else None

    @property
    def pr_number(self) -> int | None:
        pr = self.pull_request
        number = pr.get("number") if pr is not None else None
        if number is None:
            number = self.event.get("number")
        return number if isinstance(number, int) and pr is not None else None

    @property
    def is_fork(self) -> bool:
        """A pull request from another repository: its token is read-only.

        A deleted fork leaves ``head.repo`` null, which counts as a fork too.
        """
        pr = self.pull_request
        if pr is None:
            return False
        head = _dig(pr, "head", "repo", "full_name")
        base = _dig(pr, "base", "repo", "full_name") or self.repository
        return head is None or head != base


def _dig(data: Mapping[str, Any], *keys: str) -> Any:
    cur: Any = data
    for key in keys:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def _read_event(path: Path) -> Mapping[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_EVENT_BYTES + 1)
        if len(raw) > MAX_EVENT_BYTES:
            return {}
        data = json.loads(raw)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
