"""SARIF upload to code scanning: ``POST /repos/{owner}/{repo}/code-scanning/sarifs``, then poll."""

from __future__ import annotations

import base64
import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from github import Github

from mlgate.report.sarif import MAX_GZIP_BYTES, TOOL_NAME


@dataclass(frozen=True)
class UploadOutcome:
    status: str  # complete | failed | pending | skipped
    sarif_id: str | None = None
    errors: tuple[str, ...] = ()
    analyses_url: str | None = None
    polls: int = 0
    reason: str = field(default="")


def encode_sarif(text: str) -> str:
    """gzip, then base64: the encoding the endpoint expects."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def upload_sarif(
    gh: Github,
    repository: str,
    sarif: str,
    *,
    commit_sha: str,
    ref: str,
    checkout_uri: str | None = None,
    tool_name: str = TOOL_NAME,
    timeout: float = 120.0,
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> UploadOutcome:
    """Upload and wait (bounded) until GitHub has processed the analysis."""
    encoded = encode_sarif(sarif)
    if len(encoded) * 3 // 4 > MAX_GZIP_BYTES:
        return UploadOutcome("skipped", reason="SARIF is over GitHub's 10 MB gzipped limit")
    body: dict[str, str] = {
        "commit_sha": commit_sha,
        "ref": ref,
        "sarif": encoded,
        "tool_name": tool_name,
    }
    if checkout_uri:
        body["checkout_uri"] = checkout_uri
    base = f"/repos/{quote(repository, safe='/')}/code-scanning/sarifs"
    _, data = gh.requester.requestJsonAndCheck("POST", base, input=body)
    sarif_id = str(data.get("id", "")) if isinstance(data, dict) else ""
    if not sarif_id:
        return UploadOutcome("pending", reason="no upload id in the response")
    # The budget counts the waits themselves, so it bounds the loop whatever ``sleep`` does.
    waited = 0.0
    polls = 0
    wait = interval
    while True:
        _, status = gh.requester.requestJsonAndCheck("GET", f"{base}/{quote(sarif_id, safe='')}")
        polls += 1
        state = str(status.get("processing_status", "")) if isinstance(status, dict) else ""
        if state in ("complete", "failed"):
            errors = tuple(str(e) for e in (status.get("errors") or ()))
            return UploadOutcome(state, sarif_id, errors, status.get("analyses_url"), polls)
        if waited + wait > timeout:
            return UploadOutcome("pending", sarif_id, polls=polls, reason="still processing")
        sleep(wait)
        waited += wait
        wait = min(wait * 2, 10.0)
