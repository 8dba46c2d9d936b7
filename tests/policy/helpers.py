"""Builders for findings and components used by the policy tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlgate.cli import main
from mlgate.model import Advisory, Component, Finding, Location, Severity


def vuln(
    adv_id: str = "GHSA-462w-v97r-4m45",
    aliases: tuple[str, ...] = ("CVE-2019-10906", "PYSEC-2019-217"),
    package: str = "jinja2",
    version: str = "2.10",
    severity: Severity = Severity.HIGH,
    path: str = "requirements.txt",
    ecosystem: str = "pypi",
    properties: tuple[tuple[str, str], ...] = (),
) -> Finding:
    """A vulnerability finding as the OSV stage makes them."""
    return Finding(
        rule_id="MLG-VULN",
        kind="vulnerability",
        severity=severity,
        message=f"{adv_id} in {package} {version}",
        location=Location(path, 3),
        component=f"pkg:{ecosystem}/{package}@{version}",
        advisory=Advisory(id=adv_id, aliases=aliases, severity=severity),
        properties=properties,
    )


def model_finding(severity: Severity = Severity.CRITICAL, path: str = "m/model.pkl") -> Finding:
    return Finding(
        rule_id="MLG-PICKLE-EXEC",
        kind="model",
        severity=severity,
        message="os.system reached by REDUCE",
        location=Location(path),
        trigger="os.system",
        properties=(("format", "pickle"),),
    )


def library(name: str, version: str | None, licenses: tuple[str, ...] = ()) -> Component:
    return Component(
        ecosystem="PyPI",
        name=name,
        version=version,
        purl=f"pkg:pypi/{name}@{version}" if version else None,
        declared_in=(Location("requirements.txt", 1),),
        licenses=licenses,
    )


def scan(root: Path, *args: str, out: Path | None = None) -> tuple[int, dict[str, Any]]:
    """Run ``mlgate scan --no-vulns`` and return (exit code, JSON result)."""
    out = out or root.parent / f"{root.name}-result.json"
    code = main(["-q", "scan", str(root), "--no-vulns", "--json", str(out), *args])
    data = json.loads(out.read_text()) if out.exists() and code != 2 else {}
    return code, data


def rules(data: dict[str, Any], *, active_only: bool = False) -> list[str]:
    return sorted(f["rule_id"] for f in data["findings"] if not (active_only and f["suppressed"]))
