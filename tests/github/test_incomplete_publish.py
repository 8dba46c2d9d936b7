"""A scan that stops on an unexpected failure still publishes its PR comment, marked incomplete
(a crash must not leave the pull request without a report), and exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from mlgate.report.markdown import MARKER
from tests.fuzz_regressions.test_ordering import nested_pickle
from tests.github.conftest import REPO, pr_event, runner_env
from tests.servers.github_server import GitHubServer
from tests.test_exit_codes import BROKEN_PLUGIN, mlgate


def test_crashed_scan_publishes_an_incomplete_comment(
    tmp_path: Path, github_server: GitHubServer, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "broken.txt").write_text("x\n")
    (repo / "model.pkl").write_bytes(nested_pickle())
    event = tmp_path / "event.json"
    event.write_text(json.dumps(pr_event()))
    env = runner_env(github_server, tmp_path, event, repo)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    proc = mlgate("scan", str(repo), "--no-vulns", "--github", cwd=tmp_path, prelude=BROKEN_PLUGIN)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    comments = github_server.state.comments_of(REPO, 7)
    assert len(comments) == 1
    body = comments[0]["body"]
    assert body.startswith(MARKER)
    assert "Scan incomplete" in body and "mlgate: failed" in body
