"""``mlgate ci render PLATFORM`` and ``mlgate ci gitlab-note``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from mlgate.ci.options import Platform, parse_options
from mlgate.ci.render import render
from mlgate.errors import UsageError
from mlgate.exitcodes import ExitCode

log = logging.getLogger("mlgate.ci")

MAX_MARKDOWN_BYTES = 4 * 1024 * 1024


def cmd_ci(args: argparse.Namespace) -> int:
    action = getattr(args, "ci_command", None)
    if action == "render":
        return cmd_render(args)
    if action == "gitlab-note":
        return cmd_gitlab_note(args)
    raise UsageError("missing action", hint="mlgate ci render {github,gitlab,jenkins}")


def cmd_render(args: argparse.Namespace) -> int:
    from mlgate.report import write_atomic

    options = parse_options(
        {
            "path": args.path,
            "fail_on": args.fail_on,
            "image": args.image,
            "policy": args.policy,
        },
        args.set,
    )
    text = render(Platform(args.platform), options)
    if args.output:
        write_atomic(Path(args.output), text)
        if not args.quiet:
            print(f"{args.platform}: {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return int(ExitCode.OK)


def cmd_gitlab_note(args: argparse.Namespace) -> int:
    """Post or update the sticky note; API failures are warnings, never a failed job."""
    from mlgate.ci.gitlab_api import GitLabApiError, GitLabNotes

    env = os.environ
    api_url = args.api_url or env.get("MLGATE_GITLAB_API_URL") or env.get("CI_API_V4_URL")
    project = args.project_id or env.get("CI_MERGE_REQUEST_PROJECT_ID") or env.get("CI_PROJECT_ID")
    iid = args.mr_iid or env.get("CI_MERGE_REQUEST_IID")
    token = env.get("MLGATE_GITLAB_TOKEN", "")
    if not (api_url and project and iid):
        log.warning("gitlab-note: not a merge request (API URL, project or MR iid missing)")
        return int(ExitCode.OK)
    if not token:
        log.warning("gitlab-note: MLGATE_GITLAB_TOKEN is not set; no note written")
        return int(ExitCode.OK)
    try:
        mr_iid = int(iid)
    except ValueError:
        raise UsageError(f"--mr-iid {iid!r} is not a number") from None
    path = Path(args.markdown)
    try:
        with path.open("rb") as fh:
            body = fh.read(MAX_MARKDOWN_BYTES).decode("utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the note body ({exc.strerror})") from None
    try:
        result = GitLabNotes(api_url, token, project, mr_iid).upsert(body)
    except GitLabApiError as exc:
        log.warning("gitlab-note: %s", exc.diagnostics().replace("\n", " "))
        return int(ExitCode.OK)
    if not args.quiet:
        print(f"merge-request note {result.action} (id {result.note_id})", file=sys.stderr)
    return int(ExitCode.OK)
