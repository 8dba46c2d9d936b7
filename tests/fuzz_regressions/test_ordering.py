"""Orderings of findings, components and locations are total (issue: a nested pickle crashed the
final sort because ``Location(member=None)`` was compared with ``Location(member="...")``)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

from mlgate.cli import main
from mlgate.exitcodes import ExitCode
from mlgate.model import Component, Finding, Location, PackageSource, ScanWarning, Severity


class _Exec:
    """Pickles to a call of os.system (never unpickled: only its bytes are scanned)."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


def nested_pickle() -> bytes:
    """A pickle that carries another pickle in a bytes argument: the outer stream and the inner
    bytes each call os.system, so two critical findings differ only by ``member`` (None vs str)."""
    inner = pickle.dumps(_Exec(), protocol=4)
    return pickle.dumps([_Exec(), inner], protocol=4)


def test_nested_pickle_does_not_crash_scan(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "model.pkl").write_bytes(nested_pickle())
    out = tmp_path / "r.json"
    code = main(["scan", str(repo), "--no-vulns", "--json", str(out)])
    assert code == ExitCode.FINDINGS
    findings = json.loads(out.read_text())["findings"]
    members = {f["location"].get("member") for f in findings if f["severity"] == "critical"}
    assert None in members
    assert any(m and m.startswith("pickle bytes @") for m in members)


def test_nested_pickle_does_not_crash_models(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(nested_pickle())
    out = tmp_path / "r.json"
    code = main(["models", str(tmp_path), "--json", str(out)])
    assert code == ExitCode.FINDINGS
    assert len(json.loads(out.read_text())["findings"]) >= 2


def test_location_sort_key_is_total() -> None:
    locs = [
        Location("a", member="m"),
        Location("a"),
        Location("a", line=3),
        Location("a", line=3, column=2),
        Location("a", column=1),
        Location("a", line=1, member="m"),
    ]
    ordered = sorted(locs, key=Location.sort_key)
    assert ordered[0] == Location("a")
    assert len({loc.sort_key() for loc in locs}) == len(locs)  # no ties left to input order


def test_finding_component_warning_source_keys_are_total() -> None:
    findings = [
        Finding("R", "model", Severity.HIGH, "m", Location("x", member="p")),
        Finding("R", "model", Severity.HIGH, "m", Location("x")),
        Finding("R", "model", Severity.CRITICAL, "m", Location("x", line=2)),
    ]
    assert sorted(findings, key=Finding.sort_key)[0].severity is Severity.CRITICAL
    comps = [Component("PyPI", "a", None, spec=">=1"), Component("PyPI", "a", "1.0")]
    assert sorted(comps, key=Component.sort_key)[0].version is None
    assert comps[0].sort_key() != comps[1].sort_key()
    warnings = [ScanWarning("x", "m", line=2), ScanWarning("x", "m")]
    assert sorted(warnings, key=ScanWarning.sort_key)[0].line is None
    sources = [
        PackageSource("index-url", "u", Location("r", line=1)),
        PackageSource("index-url", "u", Location("r")),
    ]
    assert sorted(sources, key=PackageSource.sort_key)[0].location.line is None
