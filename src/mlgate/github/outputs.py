"""Step outputs (``$GITHUB_OUTPUT``) and the job summary (``$GITHUB_STEP_SUMMARY``)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from mlgate.model import ScanResult, Severity
from mlgate.report.markdown import SUMMARY_LIMIT

SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
REPORT_OUTPUTS = {"sbom": "sbom", "sarif": "sarif", "json": "json", "markdown": "markdown"}


def format_output(name: str, value: str) -> str:
    """One output in the heredoc form (what actions/core writes), safe for any value.

    The delimiter is random and checked against the value, so a value cannot end the block early
    and inject other outputs.
    """
    while True:
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
        if delimiter not in name and delimiter not in value:
            break
    if "\n" in name or "\r" in name:
        raise ValueError(f"output name with a line break: {name!r}")
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def display_path(path: Path, workspace: Path | None) -> str:
    """Paths as later steps on the runner see them: relative to the workspace when inside it.

    The action runs in a container where the workspace is mounted elsewhere than on the runner,
    so an absolute container path would mean nothing to the next step.
    """
    if workspace is not None:
        try:
            return path.resolve().relative_to(workspace.resolve()).as_posix()
        except ValueError:
            pass
    return str(path)


def outputs(
    result: ScanResult, written: Mapping[str, Path], workspace: Path | None
) -> dict[str, str]:
    active = [f for f in result.findings if not f.suppressed]
    counts = Counter(f.severity for f in active)
    highest = next((s for s in SEVERITIES if counts.get(s)), None)
    out: dict[str, str] = {}
    for field_name, output_name in REPORT_OUTPUTS.items():
        path = written.get(field_name)
        out[output_name] = display_path(path, workspace) if path is not None else ""
    for sev in SEVERITIES:
        out[sev.value] = str(counts.get(sev, 0))
    out["findings"] = str(len(active))
    out["suppressed"] = str(len(result.findings) - len(active))
    out["highest-severity"] = highest.value if highest else "none"
    out["verdict"] = "pass" if result.verdict.passed else "fail"
    if result.coverage is not None:
        out["checked"] = str(result.coverage.checked)
        out["total"] = str(result.coverage.total)
    out["fingerprints"] = "\n".join(f.fingerprint for f in active)  # one per line
    return out


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    with path.open("a", encoding="utf-8") as fh:
        for name, value in values.items():
            fh.write(format_output(name, value))


def append_summary(path: Path, markdown: str) -> None:
    text = markdown if len(markdown) <= SUMMARY_LIMIT else markdown[:SUMMARY_LIMIT]
    with path.open("a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
