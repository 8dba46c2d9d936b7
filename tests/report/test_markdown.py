"""Markdown PR comment and job summary: snapshots, links, limits, and injection resistance."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from mlgate.model import Advisory, Component, Finding, Location, ScanResult, Severity
from mlgate.options import ScanOptions
from mlgate.report.markdown import (
    COMMENT_LIMIT,
    MARKER,
    Links,
    code_escape,
    html_escape,
    md_escape,
    render,
    render_markdown,
)
from tests.report.samples import ROOT, clean_result, sample_result, vuln_finding
from tests.report.test_sarif import check_snapshot

LINKS = Links(
    server="https://github.com", repository="acme/ml-service", sha="a" * 40, run_id="4242"
)


def test_comment_snapshot() -> None:
    check_snapshot("comment.md", render_markdown(sample_result(), links=LINKS))


def test_summary_snapshot() -> None:
    check_snapshot("summary.md", render_markdown(sample_result(), links=LINKS, summary=True))


def test_clean_snapshot() -> None:
    check_snapshot("clean.md", render_markdown(clean_result(), links=LINKS))


def test_verdict_first_then_counts_and_pie() -> None:
    text = render_markdown(sample_result(), links=LINKS)
    lines = text.splitlines()
    assert lines[0] == MARKER
    assert lines[1] == "## ❌ mlgate: failed"
    assert "🟥 1 critical · 🟧 1 high · 🟨 2 medium · 🟦 0 low · ⬜ 0 info — 1 suppressed" in text
    pie = text.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert pie.splitlines() == [
        "pie showData title Findings by severity",
        '    "critical" : 1',
        '    "high" : 1',
        '    "medium" : 2',
    ]
    assert "checked 2 of 3 packages" in text
    assert "## ✅ mlgate: passed" in render_markdown(clean_result(), links=LINKS)
    assert "```mermaid" not in render_markdown(clean_result(), links=LINKS)


def test_table_links_advisory_to_osv_and_location_to_the_commit() -> None:
    text = render_markdown(sample_result(), links=LINKS)
    row = next(line for line in text.splitlines() if "requests" in line and "GHSA" in line)
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:5] == [
        "requests",
        "2\\.19\\.0",
        "[GHSA\\-x84v\\-xcm2\\-53pg](https://osv.dev/vulnerability/GHSA-x84v-xcm2-53pg)",
        "2\\.20\\.0",
    ]
    sha = "a" * 40
    assert cells[5] == (
        f"[requirements\\.txt\\:3](https://github.com/acme/ml-service/blob/{sha}/requirements.txt#L3)"
    )


def test_links_are_left_out_outside_github_actions() -> None:
    text = render_markdown(sample_result(), links=Links())
    assert "/blob/" not in text
    assert "requirements\\.txt\\:3" in text


def test_render_reads_links_from_the_actions_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://ghe.example")
    monkeypatch.setenv("GITHUB_REPOSITORY", "acme/ml")
    monkeypatch.setenv("GITHUB_SHA", "b" * 40)
    text = render(sample_result(), ScanOptions(root=Path(ROOT)))
    assert f"https://ghe.example/acme/ml/blob/{'b' * 40}/requirements.txt#L3" in text


def _evil_result(name: str, summary: str, path: str) -> ScanResult:
    comp = Component("PyPI", name, "1.0", declared_in=(Location(path, 2),))
    adv = Advisory("GHSA-aaaa-bbbb-cccc", summary=summary, severity=Severity.HIGH)
    base = clean_result()
    return replace(
        base,
        inventory=replace(base.inventory, components=(comp,)),
        findings=(vuln_finding(comp, adv, 2),),
        verdict=replace(base.verdict, passed=False),
    )


PAYLOADS = {
    "mention": "@octocat and @acme/security-team please look",
    "issue_reference": "closes #1 and fixes acme/other#12",
    "image": "![pixel](https://evil.example/track.png)",
    "link": "[click here](https://evil.example/)",
    "html": '<img src=x onerror=alert(1)><script>alert(1)</script><a href="https://evil.example">x</a>',
    "details_escape": "</details></summary><details open>",
    "marker_forgery": "<!-- mlgate-report -->",
    "table_pipe": "a | b | c",
    "newline_row": "first\n| injected | row |\n\n# heading",
    "backticks": "``` code fence ``` and `inline`",
    "emphasis": "**bold** _it_ ~~gone~~ $x^2$",
}


def _rendered_cells(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


@pytest.mark.parametrize("technique", sorted(PAYLOADS))
def test_untrusted_text_cannot_inject(technique: str) -> None:
    """Technique: Markdown/HTML injection through advisory text, package and file names."""
    payload = PAYLOADS[technique]
    result = _evil_result(f"pkg{payload}", payload, f"dir/{payload}.txt")
    text = render_markdown(result, links=LINKS)
    body = text.split("\n", 1)[1]  # after our own marker
    assert MARKER not in body
    assert not re.search(r"<(?!/?(details|summary|sub)>|details><summary>)", body), body
    assert "![" not in body and "](https://evil" not in body
    assert not re.search(r"(?<![\\&])@[A-Za-z]", body)  # every @ is followed by &#8203;
    assert not re.search(r"(?<!&)#\d", body)  # every #123 broken by a zero-width space
    assert body.count("<details>") == body.count("</details>")
    table = [r for r in _rendered_cells(body) if "GHSA" in r]
    assert len(table) == 1  # no injected row
    assert len(re.split(r"(?<!\\)\|", table[0])[1:-1]) == 6
    assert "\n# heading" not in body


def test_md_escape_rules() -> None:
    assert md_escape("@user") == "@&#8203;user"
    assert md_escape("#12") == "\\#&#8203;12"
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("<b>") == "&lt;b&gt;"
    assert md_escape("x\ny") == "x y"
    assert md_escape("x\ny", keep_newlines=True) == "x\ny"
    assert md_escape("a\u202eb\u200bc") == "abc"  # bidi override and zero-width dropped
    assert md_escape("x" * 50, limit=10) == "x" * 9 + "…"
    assert html_escape("\"@x'<") == "&quot;@&#8203;x&apos;&lt;"
    assert code_escape("a`b") == "``a`b``"
    assert code_escape("a|b") == "`a\\|b`"


def test_comment_stays_under_githubs_limit_with_a_pointer_to_the_full_report() -> None:
    many = tuple(
        Finding(
            rule_id="MLG-PICKLE-GLOBAL",
            kind="model",
            severity=Severity.HIGH,
            message="x" * 280 + f" {i}",
            location=Location(f"models/{'deep/' * 30}m{i}.pkl", None),
        )
        for i in range(2000)
    )
    result = replace(clean_result(), findings=many)
    text = render_markdown(result, links=LINKS)
    assert len(text) < COMMENT_LIMIT
    assert "more model findings" in text
    assert "https://github.com/acme/ml-service/actions/runs/4242" in text
    summary = render_markdown(result, links=LINKS, summary=True)
    assert len(summary) < 1_000_000


def test_hard_limit_truncates_with_a_note() -> None:
    text = render_markdown(sample_result(), links=LINKS, limit=600)
    assert len(text) <= 600
    assert text.rstrip().endswith("SARIF and JSON files of the run.")


def test_long_verdict_reasons_are_capped() -> None:
    base = sample_result()
    reasons = tuple(f"reason {i}" for i in range(10))
    result = replace(base, verdict=replace(base.verdict, reasons=reasons))
    text = render_markdown(result, links=LINKS)
    assert "- reason 2" in text and "- reason 3" not in text
    assert "…and 7 more" in text
