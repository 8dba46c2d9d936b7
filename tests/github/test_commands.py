"""Workflow commands, step outputs and the event payload: escaping and parsing rules."""

from __future__ import annotations

import io
import re
from pathlib import Path

from mlgate.github.annotations import annotate
from mlgate.github.commands import add_mask, command, escape_data, escape_property
from mlgate.github.event import GitHubContext
from mlgate.github.outputs import display_path, format_output, outputs, write_outputs
from tests.github.conftest import pr_event
from tests.report.samples import clean_result, sample_result


def parse_output_file(text: str) -> dict[str, str]:
    """The runner's reading of $GITHUB_OUTPUT: name=value lines and name<<DELIM blocks."""
    values: dict[str, str] = {}
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            end = lines.index(delim, i + 1)
            values[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
            i += 1
        else:
            i += 1
    return values


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def test_escaping_follows_the_runner_rules() -> None:
    assert escape_data("100% done\r\nnext") == "100%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    assert unescape_data(escape_data("x%0Ay\n")) == "x%0Ay\n"  # a literal %0A survives


def test_command_injection_through_a_message_is_inert() -> None:
    """Technique: ending an annotation early with a newline and forging '::add-mask::' or a
    second '::error' command from a file name or advisory text."""
    message = "boom\n::add-mask::x\n::error::forged"
    line = command("error", message, file="a,line=1:b\n::x", line=3)
    assert "\n" not in line
    assert line.startswith("::error file=a%2Cline=1%3Ab%0A%3A%3Ax,line=3::")
    # The runner reads one line: '::' name/properties '::' message.
    head, message = line[2:].split("::", 1)
    assert head == "error file=a%2Cline=1%3Ab%0A%3A%3Ax,line=3"
    assert unescape_data(message) == "boom\n::add-mask::x\n::error::forged"


def test_annotations_point_at_file_and_line_of_the_top_findings() -> None:
    out = io.StringIO()
    count = annotate(sample_result(), "services/ml/", out, limit=3)
    lines = out.getvalue().splitlines()
    assert count == 3 and len(lines) == 3
    assert lines[0].startswith("::error file=services/ml/models/classifier.pt,title=MLG-PICKLE")
    assert re.match(
        r"::error file=services/ml/requirements\.txt,line=3,"
        r"title=GHSA-x84v-xcm2-53pg \(high\)%3A requests 2\.19\.0::requests 2\.19\.0",
        lines[1],
    )
    assert lines[2].startswith("::warning file=services/ml/")
    assert all("GHSA-fpfv" not in line for line in lines)  # suppressed: no annotation


def test_add_mask_line() -> None:
    out = io.StringIO()
    add_mask("s3cr%t\n", out)
    assert out.getvalue() == "::add-mask::s3cr%25t%0A\n"


def test_outputs_round_trip_through_the_heredoc_syntax(tmp_path: Path) -> None:
    """Technique: a value that contains a line 'other=value' or a delimiter-like line."""
    target = tmp_path / "output"
    target.write_text("earlier=1\n", encoding="utf-8")
    tricky = "line1\nverdict=pass\nghadelimiter_x\nEOF"
    write_outputs(target, {"verdict": "fail", "multi": tricky, "empty": ""})
    parsed = parse_output_file(target.read_text(encoding="utf-8"))
    assert parsed == {"earlier": "1", "verdict": "fail", "multi": tricky, "empty": ""}
    block = format_output("x", "v")
    assert re.fullmatch(r"x<<(ghadelimiter_[0-9a-f-]{36})\nv\n\1\n", block)


def test_output_values(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    (workspace / "out").mkdir(parents=True)
    written = {"sarif": workspace / "out" / "m.sarif", "json": tmp_path / "elsewhere.json"}
    values = outputs(sample_result(), written, workspace)
    assert values["sarif"] == "out/m.sarif"  # relative: the runner's path differs from ours
    assert values["json"] == str(tmp_path / "elsewhere.json")
    assert values["sbom"] == ""
    assert (values["critical"], values["high"], values["medium"], values["low"]) == (
        "1",
        "1",
        "2",
        "0",
    )
    assert values["findings"] == "4" and values["suppressed"] == "1"
    assert values["highest-severity"] == "critical"
    assert values["verdict"] == "fail"
    assert (values["checked"], values["total"]) == ("2", "3")
    assert len(values["fingerprints"].splitlines()) == 4
    clean = outputs(clean_result(), {}, None)
    assert clean["highest-severity"] == "none" and clean["verdict"] == "pass"
    assert display_path(Path("/x/y"), None) == "/x/y"


def test_event_payload_fork_detection(tmp_path: Path) -> None:
    import json

    def ctx(event: dict[str, object]) -> GitHubContext:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(event), encoding="utf-8")
        return GitHubContext.from_env({"GITHUB_EVENT_PATH": str(path)})

    same = ctx(pr_event())
    assert same.pr_number == 7 and not same.is_fork
    assert same.repository == "acme/ml-service"
    assert ctx(pr_event(head_repo="someone/fork")).is_fork
    assert ctx(pr_event(head_repo=None)).is_fork  # deleted fork
    push = ctx({"ref": "refs/heads/main", "after": "a" * 40})
    assert push.pr_number is None and not push.is_fork
    assert (push.ref, push.sha) == ("refs/heads/main", "a" * 40)
    (tmp_path / "event.json").write_text("{not json", encoding="utf-8")
    assert GitHubContext.from_env({"GITHUB_EVENT_PATH": str(tmp_path / "event.json")}).event == {}
