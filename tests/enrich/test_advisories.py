"""Records -> advisories: withdrawn, aliases merged, severity from CVSS or labels, fixes."""

from __future__ import annotations

import pytest

from mlgate.enrich.advisories import (
    MalformedRecordError,
    advisories_for,
    finding_for,
    severity_of,
    validate,
)
from mlgate.enrich.interface import PackageQuery
from mlgate.model import Location, Severity
from tests.enrich.conftest import component, record

Q = PackageQuery("PyPI", "demo", "1.0")
V31 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8
V30_LOW = "CVSS:3.0/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"  # 1.8
V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5
V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3


def test_withdrawn_records_are_skipped() -> None:
    live = record("PYSEC-1", "demo", fixed="2.0")
    gone = record("PYSEC-2", "demo", fixed="2.0", withdrawn="2024-02-01T00:00:00Z")
    assert [a.advisory.id for a in advisories_for([live, gone], Q)] == ["PYSEC-1"]


def test_aliases_merge_into_one_advisory_with_a_stable_primary() -> None:
    pysec = record("PYSEC-2024-1", "demo", fixed="1.5", aliases=["CVE-2024-1", "GHSA-aaaa"])
    ghsa = record(
        "GHSA-aaaa", "demo", fixed="1.6", aliases=["CVE-2024-1"], severity=[("CVSS_V3", V31)]
    )
    other = record("PYSEC-2024-9", "demo", fixed="1.2")
    for order in ([pysec, ghsa, other], [other, ghsa, pysec]):
        items = advisories_for(order, Q)
        assert [i.advisory.id for i in items] == ["GHSA-aaaa", "PYSEC-2024-9"]
        merged = items[0]
        assert merged.advisory.aliases == ("CVE-2024-1", "PYSEC-2024-1")
        assert merged.advisory.severity is Severity.CRITICAL
        assert merged.advisory.score == 9.8
        # Both records must be satisfied: the highest of the per-record smallest fixes.
        assert merged.fix == "1.6"
        assert set(merged.advisory.fixed) == {"1.5", "1.6"}
        assert merged.advisory.references == (
            "https://advisories.example/PYSEC-2024-1",
            "https://advisories.example/GHSA-aaaa",
        ) or merged.advisory.references == (
            "https://advisories.example/GHSA-aaaa",
            "https://advisories.example/PYSEC-2024-1",
        )


@pytest.mark.parametrize(
    ("severity", "expected", "score"),
    [
        ([("CVSS_V3", V31)], Severity.CRITICAL, 9.8),
        ([("CVSS_V2", V2)], Severity.HIGH, 7.5),
        ([("CVSS_V4", V4)], Severity.CRITICAL, 9.3),
        ([("CVSS_V3", V30_LOW), ("CVSS_V2", V2)], Severity.HIGH, 7.5),  # the highest wins
        ([("CVSS_V3", "CVSS:3.1/garbage")], None, None),
    ],
)
def test_cvss_scores(
    severity: list[tuple[str, str]], expected: Severity | None, score: float | None
) -> None:
    sev, got_score, _vector = severity_of(record("X-1", "demo", severity=severity))
    assert sev is expected
    assert got_score == score


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("LOW", Severity.LOW),
        ("MODERATE", Severity.MEDIUM),
        ("HIGH", Severity.HIGH),
        ("CRITICAL", Severity.CRITICAL),
    ],
)
def test_database_label(label: str, expected: Severity) -> None:
    rec = record("GHSA-x", "demo", database_specific={"severity": label})
    assert severity_of(rec)[0] is expected


def test_unknown_severity_becomes_high_with_a_property() -> None:
    items = advisories_for([record("PYSEC-7", "demo", fixed="1.1")], Q)
    comp = component("demo", "1.0", path="a/requirements.txt", line=3)
    finding = finding_for(comp, items[0])
    assert items[0].advisory.severity is None
    assert finding.severity is Severity.HIGH
    assert ("severity-unknown", "true") in finding.properties
    assert finding.rule_id == "MLG-VULN"
    assert finding.kind == "vulnerability"
    assert finding.location == Location("a/requirements.txt", 3)
    assert finding.fix == "upgrade demo to >= 1.1"
    assert finding.component == comp.bom_ref


def test_other_locations_are_listed() -> None:
    from dataclasses import replace

    comp = replace(
        component("demo", "1.0"),
        declared_in=(Location("requirements.txt", 2), Location("sub/requirements.txt", 7)),
    )
    items = advisories_for([record("PYSEC-7", "demo", fixed="1.1")], Q)
    finding = finding_for(comp, items[0])
    assert finding.location == Location("requirements.txt", 2)
    assert ("other-locations", "sub/requirements.txt:7") in finding.properties


@pytest.mark.parametrize(
    "raw",
    [[], {"id": 3}, {"id": "X-1", "affected": {"not": "a list"}}, {"id": "X", "modified": 5}],
)
def test_malformed_records(raw: object) -> None:
    with pytest.raises(MalformedRecordError):
        validate(raw)


def test_unknown_fields_are_tolerated() -> None:
    rec = record("X-1", "demo", fixed="2.0", brand_new_field={"x": [1, 2]})
    assert validate(rec) is rec
    assert [i.advisory.id for i in advisories_for([rec], Q)] == ["X-1"]
