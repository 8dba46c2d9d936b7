"""The sticky merge-request note, against a real GitLab-compatible HTTP server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.ci.gitlab_api import MARKER, MAX_BODY, GitLabApiError, GitLabNotes, sticky_body
from mlgate.cli import main
from tests.ci.gitlab_server import GitLabServer
from tests.servers.flood_server import FloodState, flood_server

PROJECT = "group/sub project"


def test_created_once_then_edited_in_place() -> None:
    with GitLabServer() as srv:
        client = GitLabNotes(srv.api_url, srv.state.token, PROJECT, 5)
        assert client.upsert("first").action == "created"
        second = client.upsert("second")
        assert second.action == "updated"
        assert client.upsert("second").action == "unchanged"
        notes = srv.state.notes[(PROJECT, 5)]
        assert len(notes) == 1
        assert notes[0]["body"] == f"{MARKER}\nsecond"
        assert second.note_id == notes[0]["id"]
        methods = [(m, p.split("?")[0]) for m, p, _, _ in srv.state.requests]
        assert (
            "PUT",
            f"/api/v4/projects/group%2Fsub%20project/merge_requests/5/notes/{notes[0]['id']}",
        ) in methods
        assert sum(m == "POST" for m, _ in methods) == 1
        assert all(h.get("PRIVATE-TOKEN") == srv.state.token for _, _, h, _ in srv.state.requests)


def test_pagination_and_other_authors() -> None:
    """The marker in somebody else's note (a reviewer quoting it) is not ours to edit."""
    with GitLabServer() as srv:
        key = (PROJECT, 9)
        srv.state.add_note(*key, f"quoting {MARKER}", author_id=99)
        for i in range(150):
            srv.state.add_note(*key, f"review comment {i}", author_id=50)
        ours = srv.state.add_note(*key, f"{MARKER}\nold", author_id=7)
        result = GitLabNotes(srv.api_url, srv.state.token, PROJECT, 9).upsert("new")
        assert result.action == "updated" and result.note_id == ours["id"]
        pages = [p for m, p, _, _ in srv.state.requests if m == "GET" and "/notes" in p]
        assert len(pages) == 2  # 100 per page: found on the second
        assert srv.state.notes[key][0]["body"] == f"quoting {MARKER}"


def test_forbidden_is_an_error_without_the_token() -> None:
    with GitLabServer() as srv:
        srv.state.forbid_write = True
        with pytest.raises(GitLabApiError) as err:
            GitLabNotes(srv.api_url, srv.state.token, "1", 1).upsert("x")
        assert "HTTP 403" in err.value.diagnostics()
        assert srv.state.token not in err.value.diagnostics()


def test_endless_answer_is_cut_at_the_size_limit() -> None:
    # Technique: a hostile or broken GitLab server streams an endless chunked body.
    state = FloodState()
    with flood_server(state) as url, pytest.raises(GitLabApiError) as err:
        GitLabNotes(url, "glpat-secret", "1", 1).upsert("x")
    assert "answer larger than the size limit" in err.value.diagnostics()
    assert "glpat-secret" not in err.value.diagnostics()


def test_long_bodies_are_truncated() -> None:
    text = sticky_body("x" * (MAX_BODY + 10))
    assert len(text) == MAX_BODY and text.startswith(MARKER) and "truncated" in text


def _env(monkeypatch: pytest.MonkeyPatch, srv: GitLabServer, token: str) -> None:
    monkeypatch.setenv("CI_API_V4_URL", srv.api_url)
    monkeypatch.setenv("CI_PROJECT_ID", "42")
    monkeypatch.setenv("CI_MERGE_REQUEST_IID", "3")
    monkeypatch.setenv("MLGATE_GITLAB_TOKEN", token)


def test_cli_posts_from_ci_variables(monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    body = tmp_path / "mlgate.md"
    body.write_text("## mlgate: PASSED\n")
    with GitLabServer() as srv:
        _env(monkeypatch, srv, srv.state.token)
        assert main(["ci", "gitlab-note", "--markdown", str(body)]) == 0
        assert main(["ci", "gitlab-note", "--markdown", str(body)]) == 0
        assert len(srv.state.notes[("42", 3)]) == 1
    err = capsys.readouterr().err
    assert "note created" in err and "note unchanged" in err


def test_cli_api_failure_is_a_warning(monkeypatch, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    body = tmp_path / "mlgate.md"
    body.write_text("report")
    with GitLabServer() as srv:
        _env(monkeypatch, srv, "glpat-wrong-secret")
        assert main(["ci", "gitlab-note", "--markdown", str(body)]) == 0
        assert srv.state.requests  # it did try
    err = capsys.readouterr().err
    assert "HTTP 401" in err
    assert "glpat-wrong-secret" not in err


def test_cli_outside_a_merge_request_does_nothing(monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with GitLabServer() as srv:
        _env(monkeypatch, srv, srv.state.token)
        monkeypatch.delenv("CI_MERGE_REQUEST_IID")
        assert main(["ci", "gitlab-note", "--markdown", str(tmp_path / "missing.md")]) == 0
        assert srv.state.requests == []
