"""The three groups every report uses: one SARIF run each, one Markdown section each."""

from __future__ import annotations

from mlgate.model import Finding

CATEGORIES = ("dependencies", "models", "policy")
_CATEGORY_OF_KIND = {
    "vulnerability": "dependencies",
    "model": "models",
    "provenance": "models",
    "source": "models",
}


def category_of(finding: Finding) -> str:
    return _CATEGORY_OF_KIND.get(finding.kind, "policy")
