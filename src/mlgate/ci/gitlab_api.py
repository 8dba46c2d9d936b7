"""A sticky merge-request note through the GitLab REST API (v4).

The note is found by a hidden marker among the notes written by the token's own user and edited
in place, so a pipeline that runs ten times leaves one note. It needs a project (or group) access
token with the ``api`` scope in ``PRIVATE-TOKEN``: the CI job token cannot write notes. The token
is never logged, not even in error messages.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from mlgate.errors import MlgateError
from mlgate.httpsafe import ResponseTooLarge, read_bounded

log = logging.getLogger("mlgate.ci")

MARKER = "<!-- mlgate:gitlab-note -->"
# GitLab rejects note bodies over 1,000,000 characters
MAX_BODY = 1_000_000
MAX_PAGES = 50  # 5,000 notes: far beyond any real merge request
TIMEOUT = 30.0
MAX_ANSWER_BYTES = 64 * 1024 * 1024  # a page of 100 notes, each at most 1,000,000 characters


class GitLabApiError(MlgateError):
    """The GitLab API refused or failed a request."""


@dataclass(frozen=True)
class NoteResult:
    action: str  # "created" | "updated" | "unchanged"
    note_id: int


class GitLabNotes:
    """Minimal client for the notes of one merge request."""

    def __init__(
        self,
        api_url: str,
        token: str,
        project: str,
        mr_iid: int,
        session: requests.Session | None = None,
    ) -> None:
        if not token:
            raise GitLabApiError("no GitLab token", hint="set MLGATE_GITLAB_TOKEN")
        self._base = api_url.rstrip("/")
        # numeric id or "group/project" path: a path must be URL-encoded as one segment
        self._project = quote(str(project), safe="")
        self._iid = int(mr_iid)
        self._session = session or requests.Session()
        self._headers = {"PRIVATE-TOKEN": token, "User-Agent": "mlgate"}

    def _url(self, suffix: str) -> str:
        return f"{self._base}/projects/{self._project}/merge_requests/{self._iid}/notes{suffix}"

    def _request(self, method: str, url: str, **kwargs: Any) -> tuple[Any, Mapping[str, str]]:
        """The parsed JSON answer (``None`` when it is not JSON) and the response headers."""
        try:
            resp = self._session.request(
                method, url, headers=self._headers, timeout=TIMEOUT, stream=True, **kwargs
            )
            if resp.status_code >= 400:
                resp.close()
                raise GitLabApiError(
                    f"{method} {url}: HTTP {resp.status_code}",
                    hint="the token needs the api scope and Reporter access or more"
                    if resp.status_code in (401, 403)
                    else None,
                )
            body = read_bounded(resp, MAX_ANSWER_BYTES)
        except requests.RequestException as exc:
            # the exception text never contains the header, only the URL
            raise GitLabApiError(f"{method} {url}: {type(exc).__name__}") from None
        except ResponseTooLarge:
            raise GitLabApiError(f"{method} {url}: answer larger than the size limit") from None
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        return data, resp.headers

    def current_user_id(self) -> int | None:
        try:
            return int(self._request("GET", f"{self._base}/user")[0]["id"])
        except (GitLabApiError, ValueError, KeyError, TypeError):
            return None  # some tokens cannot read /user: fall back to the marker alone

    def find(self, user_id: int | None) -> dict[str, Any] | None:
        page: str | None = "1"
        for _ in range(MAX_PAGES):
            if not page:
                break
            notes, headers = self._request(
                "GET",
                self._url(""),
                params={"per_page": 100, "page": page, "sort": "asc", "order_by": "created_at"},
            )
            if not isinstance(notes, list):
                raise GitLabApiError(f"GET {self._url('')}: unexpected answer")
            for note in notes:
                if not isinstance(note, dict) or MARKER not in str(note.get("body", "")):
                    continue
                author = note.get("author") or {}
                if user_id is None or author.get("id") == user_id:
                    return note
            page = headers.get("X-Next-Page") or None
        return None

    def upsert(self, body: str) -> NoteResult:
        text = sticky_body(body)
        existing = self.find(self.current_user_id())
        if existing is not None:
            note_id = int(existing["id"])
            if existing.get("body") == text:
                return NoteResult("unchanged", note_id)
            self._request("PUT", self._url(f"/{note_id}"), json={"body": text})
            return NoteResult("updated", note_id)
        created, _ = self._request("POST", self._url(""), json={"body": text})
        try:
            return NoteResult("created", int(created["id"]))
        except (KeyError, TypeError, ValueError):
            raise GitLabApiError(f"POST {self._url('')}: unexpected answer") from None


def sticky_body(body: str) -> str:
    """The note text: marker first, then the report, bounded by GitLab's limit."""
    text = f"{MARKER}\n{body}"
    if len(text) > MAX_BODY:
        cut = "\n\n_(truncated: the full report is in the job artifacts)_\n"
        text = text[: MAX_BODY - len(cut)] + cut
    return text
