"""GitLab dependency-scanning report (``gl-dependency-scanning-report.json``).

The format is GitLab's security report schema for dependency scanning, 15.x: one entry per
vulnerable package and advisory, located at the manifest or lockfile that declares the package.
GitLab refuses reports of a schema version it does not know, so the version is an option
(default 15.1.4, which GitLab 16 and 17 ship) and checked against the versions mlgate can write.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from mlgate.ci.options import DEFAULT_GITLAB_REPORT_VERSION, GITLAB_REPORT_VERSION_RE
from mlgate.errors import UsageError
from mlgate.model import Advisory, Component, Finding, ScanResult, Severity
from mlgate.options import ScanOptions
from mlgate.report.markdown import md_escape

SCHEMA_URL = (
    "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
    "v{version}/dist/dependency-scanning-report-format.json"
)
# a stable namespace so the same finding gets the same vulnerability id on every run
ID_NAMESPACE = uuid.UUID("8a0c3a52-6f1e-4d55-9a4b-3f0c1f7de1a1")
SEVERITY = {
    Severity.CRITICAL: "Critical",
    Severity.HIGH: "High",
    Severity.MEDIUM: "Medium",
    Severity.LOW: "Low",
    Severity.INFO: "Info",
    Severity.NONE: "Unknown",
}
PACKAGE_MANAGERS = {"PyPI": "pip", "npm": "npm", "crates.io": "cargo", "Go": "go", "Maven": "maven"}
MAX_NAME = 255
MAX_DESCRIPTION = 1_048_576
MAX_SOLUTION = 7_000
MAX_MESSAGES = 100
_URL = re.compile(r"^(https?|ftp)://\S+$")
# the CVSS v3 vectors GitLab's schema accepts (v2 and v4 vectors are left out, not rewritten)
_CVSS3 = re.compile(
    r"^CVSS:3[.][01]/((AV:[NALP]|AC:[LH]|PR:[NLH]|UI:[NR]|S:[UC]|[CIA]:[NLH]|E:[XUPFH]|"
    r"RL:[XOTWU]|RC:[XURC]|[CIA]R:[XLMH]|MAV:[XNALP]|MAC:[XLH]|MPR:[XNLH]|MUI:[XNR]|MS:[XUC]|"
    r"M[CIA]:[XNLH])/)*(AV:[NALP]|AC:[LH]|PR:[NLH]|UI:[NR]|S:[UC]|[CIA]:[NLH]|E:[XUPFH]|"
    r"RL:[XOTWU]|RC:[XURC]|[CIA]R:[XLMH]|MAV:[XNALP]|MAC:[XLH]|MPR:[XNLH]|MUI:[XNR]|MS:[XUC]|"
    r"M[CIA]:[XNLH])$"
)


def _bounded(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def identifier(advisory_id: str) -> dict[str, str]:
    """GitLab identifier for an OSV id or alias, with the database's own page as URL."""
    upper = advisory_id.upper()
    if upper.startswith("CVE-"):
        kind, url = "cve", f"https://www.cve.org/CVERecord?id={advisory_id}"
    elif upper.startswith("GHSA-"):
        kind, url = "ghsa", f"https://github.com/advisories/{advisory_id}"
    else:
        kind, url = "osv", f"https://osv.dev/vulnerability/{advisory_id}"
    return {"type": kind, "name": advisory_id, "value": advisory_id, "url": url}


def _identifiers(advisory: Advisory) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    for ident in advisory.ids:  # the OSV id first: GitLab treats the first one as primary
        if ident and ident not in seen:
            seen.add(ident)
            out.append(identifier(ident))
    return out


def _solution(comp: Component | None, finding: Finding) -> str | None:
    adv = finding.advisory
    if adv is not None and adv.fixed:
        name = comp.name if comp else "the package"
        text = f"Upgrade {name} to {' or '.join(adv.fixed[:5])} or later."
        return _bounded(md_escape(text, 2_000), MAX_SOLUTION)
    return _bounded(md_escape(finding.fix, 2_000), MAX_SOLUTION) if finding.fix else None


def _vulnerability(finding: Finding, result: ScanResult) -> dict[str, Any] | None:
    adv = finding.advisory
    if adv is None:
        return None
    comp = result.component(finding.component) if finding.component else None
    path = finding.location.path
    if comp is not None and comp.declared_in:
        path = comp.declared_in[0].path
    name = comp.name if comp else (finding.trigger or finding.component or "unknown")
    version = (comp.version or comp.spec or "") if comp else ""
    vuln: dict[str, Any] = {
        "id": str(uuid.uuid5(ID_NAMESPACE, finding.fingerprint)),
        # GitLab renders these as Markdown: advisory text is untrusted, so it is escaped
        # (no HTML, images, links or @-mentions from a database record)
        "name": _bounded(md_escape(adv.summary or adv.id, 200), MAX_NAME),
        "description": _bounded(
            md_escape(adv.details or adv.summary or adv.id, 100_000, keep_newlines=True),
            MAX_DESCRIPTION,
        ),
        "severity": SEVERITY[finding.severity] if adv.severity is not None else "Unknown",
        "identifiers": _identifiers(adv),
        "location": {
            "file": path or ".",
            "dependency": {
                "package": {"name": name},
                "version": version,
            },
        },
    }
    if comp is not None and comp.scope.value != "unknown":
        vuln["location"]["dependency"]["direct"] = comp.scope.value == "direct"
    solution = _solution(comp, finding)
    if solution:
        vuln["solution"] = solution
    links = [{"url": ref} for ref in adv.references if _URL.match(ref)]
    if links:
        vuln["links"] = links[:50]
    if adv.vector and _CVSS3.match(adv.vector):
        vuln["cvss_vectors"] = [{"vendor": "unknown", "vector": adv.vector}]
    return vuln


def _times(result: ScanResult, options: ScanOptions) -> tuple[str, str]:
    if options.reproducible:
        raw = os.environ.get("SOURCE_DATE_EPOCH", "")
        epoch = int(raw) if raw.isdigit() else 0
        end = datetime.fromtimestamp(epoch, tz=UTC)
        start = end
    else:
        end = datetime.now(UTC)
        start = end - timedelta(seconds=dict(result.stats).get("total_seconds", 0.0))
    fmt = "%Y-%m-%dT%H:%M:%S"
    return start.strftime(fmt), end.strftime(fmt)


def report(result: ScanResult, options: ScanOptions) -> dict[str, Any]:
    """The report as a JSON-ready dict."""
    version = options.gitlab_report_version or DEFAULT_GITLAB_REPORT_VERSION
    if not GITLAB_REPORT_VERSION_RE.match(version):
        raise UsageError(
            f"--gitlab-report-version {version!r} is not supported",
            hint="15.0.x, 15.1.x or 15.2.x (GitLab rejects versions it does not know)",
        )
    tool = {
        "id": "mlgate",
        "name": "mlgate",
        "version": result.tool_version or "0",
        "vendor": {"name": "mlgate"},
    }
    start, end = _times(result, options)
    messages: list[dict[str, str]] = []
    cov = result.coverage
    if cov is not None and cov.source:
        messages.append({"level": "info", "value": _bounded(f"OSV: {cov.source}", 2_000)})
    if cov is not None and not cov.complete:
        messages.append(
            {
                "level": "warn",
                "value": f"{len(cov.unchecked)} of {cov.total} packages could not be checked",
            }
        )
    messages.extend(
        {"level": "warn", "value": _bounded(str(warning), 2_000) or "warning"}
        for warning in result.all_warnings[:MAX_MESSAGES]
    )

    vulns: list[dict[str, Any]] = []
    seen: set[str] = set()
    for finding in result.findings:
        if finding.kind != "vulnerability" or finding.suppressed:
            continue
        vuln = _vulnerability(finding, result)
        if vuln is not None and vuln["id"] not in seen:
            seen.add(vuln["id"])
            vulns.append(vuln)

    files: dict[str, list[dict[str, Any]]] = {}
    managers: dict[str, str] = {}
    for comp in result.inventory.components:
        if comp.kind.value != "library" or not comp.declared_in:
            continue
        entry = {"package": {"name": comp.name}, "version": comp.version or comp.spec or ""}
        path = comp.declared_in[0].path
        files.setdefault(path, []).append(entry)
        managers.setdefault(path, PACKAGE_MANAGERS.get(comp.ecosystem, comp.ecosystem.lower()))

    scan: dict[str, Any] = {
        "analyzer": tool,
        "scanner": dict(tool),
        "type": "dependency_scanning",
        "start_time": start,
        "end_time": end,
        "status": "success",
    }
    if messages:
        scan["messages"] = messages
    return {
        "version": version,
        "schema": SCHEMA_URL.format(version=version),
        "scan": scan,
        "vulnerabilities": vulns,
        # read by GitLab's older dependency list; current versions take the CycloneDX report
        "dependency_files": [
            {"path": path, "package_manager": managers[path], "dependencies": deps}
            for path, deps in sorted(files.items())
        ],
        "remediations": [],
    }


def render(result: ScanResult, options: ScanOptions) -> str:
    return json.dumps(report(result, options), indent=2, ensure_ascii=False) + "\n"
