"""Markdown reports from Jinja templates: the PR comment (``--markdown``) and the job summary.

Autoescaping is off (the output is Markdown, not HTML); instead every untrusted value - package
and file names, advisory text, messages - goes through the ``md`` filter (or ``html`` inside raw
HTML elements). What the filter neutralises, and why:

* HTML: ``& < >`` become entities, so no tag, comment (``<!-- mlgate-report -->`` forgery) or
  ``</details>`` can be opened or closed by data.
* Markdown: every other CommonMark metacharacter (``\\ ` * _ [ ] ( ) ! # | ~`` ...) is escaped
  with a backslash, which defeats emphasis, code spans, links and images (``![x](url)``), and
  ``\\|`` keeps a pipe from splitting a table cell.
* GitHub's text-level references: a zero-width space after ``@`` and before the digits of
  ``#123`` (as ``&#8203;``) so data can neither mention users or teams nor cross-reference issues.
  GitHub resolves those on the rendered text, where backslash escapes are already gone.
* Line breaks become spaces (a newline would end a table row), control and bidi characters are
  dropped, and the length is bounded before escaping so no escape sequence is ever cut in half.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2

from mlgate.model import Finding, ScanResult, Severity
from mlgate.options import ScanOptions
from mlgate.report.categories import category_of

MARKER = "<!-- mlgate-report -->"
COMMENT_LIMIT = 65_536  # GitHub's maximum issue/PR comment body, in characters
SUMMARY_LIMIT = 1_000_000  # GitHub's job summary limit is 1 MiB per step; keep a margin
OSV_URL = "https://osv.dev/vulnerability/"
SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
SEVERITY_ICON = {
    Severity.CRITICAL: "🟥",
    Severity.HIGH: "🟧",
    Severity.MEDIUM: "🟨",
    Severity.LOW: "🟦",
    Severity.INFO: "⬜",
}

_STRIP = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
_NEWLINES = re.compile(r"\r\n|\r|\n")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$:])")
_MENTION = re.compile(r"@")
_ISSUE_REF = re.compile(r"#(?=\d)")


def md_escape(value: object, limit: int = 300, *, keep_newlines: bool = False) -> str:
    """Untrusted text made inert for GitHub-flavoured Markdown (see the module docstring)."""
    text = "" if value is None else str(value)
    text = _STRIP.sub("", text)
    text = _NEWLINES.sub("\n" if keep_newlines else " ", text)
    text = text.strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    # After the backslash pass: '#' is now '\#', and digits follow it.
    text = _ISSUE_REF.sub("#&#8203;", text)
    text = _MENTION.sub("@&#8203;", text)
    if keep_newlines:
        # Two trailing spaces keep line breaks; blank lines stay paragraph breaks.
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    return text


def html_escape(value: object, limit: int = 300) -> str:
    """Untrusted text inside raw HTML (where Markdown escapes would show literally)."""
    text = _NEWLINES.sub(" ", _STRIP.sub("", "" if value is None else str(value))).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )
    text = _ISSUE_REF.sub("#&#8203;", text)
    return _MENTION.sub("@&#8203;", text)


def code_escape(value: object, limit: int = 200) -> str:
    """Untrusted text as an inline code span (a fence longer than any backtick run inside)."""
    text = _NEWLINES.sub(" ", _STRIP.sub("", "" if value is None else str(value))).strip()
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("|", "\\|")  # a pipe still splits a table cell inside a code span
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


@dataclass(frozen=True)
class Links:
    """Where links point: taken from the GitHub Actions environment when it is there."""

    server: str | None = None  # https://github.com or a GHES host
    repository: str | None = None  # owner/name
    sha: str | None = None
    run_id: str | None = None
    prefix: str = ""  # scanned root relative to the repository root

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, prefix: str = "") -> Links:
        env = os.environ if environ is None else environ
        return cls(
            server=(env.get("GITHUB_SERVER_URL") or "").rstrip("/") or None,
            repository=env.get("GITHUB_REPOSITORY") or None,
            sha=env.get("GITHUB_SHA") or None,
            run_id=env.get("GITHUB_RUN_ID") or None,
            prefix=prefix,
        )

    def blob(self, path: str, line: int | None) -> str | None:
        if not (self.server and self.repository and self.sha):
            return None
        url = f"{self.server}/{self.repository}/blob/{self.sha}/" + quote(
            self.prefix + path, safe="/"
        )
        return url + (f"#L{line}" if line else "")

    @property
    def run(self) -> str | None:
        if not (self.server and self.repository and self.run_id):
            return None
        return f"{self.server}/{self.repository}/actions/runs/{quote(self.run_id, safe='')}"


@dataclass(frozen=True)
class View:
    """How much of the report fits: shrunk step by step until the text is under the limit."""

    top: int
    details: bool


_VIEWS = (
    View(50, True),
    View(50, False),
    View(25, False),
    View(10, False),
    View(5, False),
    View(0, False),
)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mlgate.report", "templates"),
        autoescape=False,  # Markdown output: values are escaped explicitly with the filters
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["html"] = html_escape
    env.filters["code"] = code_escape
    return env


_ENV: jinja2.Environment | None = None


def environment() -> jinja2.Environment:
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV


def _row(finding: Finding, result: ScanResult, links: Links) -> dict[str, Any]:
    comp = result.component(finding.component) if finding.component else None
    adv = finding.advisory
    loc = finding.location
    fixed = ", ".join(adv.fixed) if adv is not None and adv.fixed else (finding.fix or "")
    return {
        "finding": finding,
        "severity": finding.severity.value,
        "icon": SEVERITY_ICON.get(finding.severity, ""),
        "package": comp.name if comp is not None else (finding.component or ""),
        "version": (comp.version or comp.spec or "") if comp is not None else "",
        "ecosystem": comp.ecosystem if comp is not None else "",
        "advisory": adv.id if adv is not None else "",
        "advisory_url": OSV_URL + quote(adv.id, safe="") if adv is not None else None,
        "summary": (adv.summary if adv is not None and adv.summary else finding.message),
        "details": adv.details if adv is not None else "",
        "fixed": fixed,
        "where": f"{loc.path}:{loc.line}" if loc.line else loc.path,
        "member": loc.member or "",
        "url": links.blob(loc.path, loc.line),
        "rule": finding.rule_id,
        "message": finding.message,
        "suppression": finding.suppression,
    }


def context(result: ScanResult, links: Links, view: View, *, summary: bool) -> dict[str, Any]:
    active = [f for f in result.findings if not f.suppressed]
    suppressed = [f for f in result.findings if f.suppressed]
    counts = Counter(f.severity for f in active)
    # the same three groups as the SARIF runs
    vulns = [f for f in active if category_of(f) == "dependencies"]
    models = [f for f in active if category_of(f) == "models"]
    others = [f for f in active if category_of(f) == "policy"]
    highest = next((s for s in SEVERITIES if counts.get(s)), None)
    deciding = set(result.verdict.deciding)

    def rows(items: list[Finding]) -> list[dict[str, Any]]:
        return [_row(f, result, links) for f in items[: view.top]]

    return {
        "marker": MARKER,
        "summary": summary,
        "passed": result.verdict.passed,
        "fail_on": result.verdict.fail_on.value,
        "reasons": list(result.verdict.reasons),
        "deciding_count": sum(1 for f in active if f.fingerprint in deciding),
        "tool_version": result.tool_version,
        "counts": [(s.value, counts.get(s, 0), SEVERITY_ICON[s]) for s in SEVERITIES],
        "total": len(active),
        "highest": highest.value if highest else "none",
        "suppressed_count": len(suppressed),
        "components": len(result.inventory.components),
        "vulns": rows(vulns),
        "vulns_total": len(vulns),
        "models": rows(models),
        "models_total": len(models),
        "others": rows(others),
        "others_total": len(others),
        "suppressed": rows(suppressed) if view.details else [],
        "details": view.details,
        "coverage": result.coverage,
        "incomplete": result.incomplete,
        "warnings": list(result.all_warnings[:50]) if view.details else [],
        "warnings_total": len(result.all_warnings),
        "run_url": links.run,
        "shrunk": view != _VIEWS[0],
    }


def render_markdown(
    result: ScanResult,
    *,
    links: Links | None = None,
    summary: bool = False,
    limit: int | None = None,
) -> str:
    """The PR comment (``summary=False``) or the job summary, shrunk until under ``limit``."""
    links = links or Links()
    limit = limit or (SUMMARY_LIMIT if summary else COMMENT_LIMIT)
    template = environment().get_template("summary.md.j2" if summary else "comment.md.j2")
    text = ""
    for view in _VIEWS:
        text = template.render(**context(result, links, view, summary=summary))
        if len(text) < limit:
            return text
    note = "\n\n…report truncated; the full report is in the SARIF and JSON files of the run.\n"
    return text[: limit - len(note) - 1] + note


def render(result: ScanResult, options: ScanOptions) -> str:
    from mlgate.report.sarif import source_prefix

    return render_markdown(result, links=Links.from_env(prefix=source_prefix(result.root)))
