"""OSV ``affected`` semantics: events, versions lists, stale lists, GIT ranges, unknown orders."""

from __future__ import annotations

import pytest

from mlgate.enrich.interface import PackageQuery
from mlgate.enrich.matching import fixed_versions, record_affects, smallest_fix_above
from tests.enrich.conftest import record


def q(version: str, name: str = "demo", ecosystem: str = "PyPI") -> PackageQuery:
    return PackageQuery(ecosystem, name, version)


@pytest.mark.parametrize(
    ("version", "affected"),
    [("0.1", True), ("1.4.9", True), ("1.5", False), ("1.5.1", False), ("1.5rc1", True)],
)
def test_introduced_zero_fixed(version: str, affected: bool) -> None:
    rec = record("OSV-1", "demo", fixed="1.5")
    assert record_affects(rec, q(version)) is affected


@pytest.mark.parametrize(
    ("version", "affected"), [("0.9", False), ("1.0", True), ("2.0", True), ("2.0.1", False)]
)
def test_last_affected(version: str, affected: bool) -> None:
    rec = record("OSV-1", "demo", introduced="1.0", last_affected="2.0")
    assert record_affects(rec, q(version)) is affected


def test_several_ranges_and_reintroduction() -> None:
    rec = record("OSV-1", "demo")
    rec["affected"][0]["ranges"] = [
        {
            "type": "ECOSYSTEM",
            "events": [
                {"introduced": "0"},
                {"fixed": "1.2"},
                {"introduced": "2.0"},
                {"fixed": "2.3"},
            ],
        }
    ]
    assert [record_affects(rec, q(v)) for v in ("1.1", "1.2", "1.9", "2.0", "2.2", "2.3")] == [
        True,
        False,
        False,
        True,
        True,
        False,
    ]
    assert smallest_fix_above(fixed_versions(rec, q("1.0")), "1.0", "PyPI") == "1.2"
    assert smallest_fix_above(fixed_versions(rec, q("2.1")), "2.1", "PyPI") == "2.3"
    assert smallest_fix_above(fixed_versions(rec, q("3.0")), "3.0", "PyPI") is None


def test_limit_event() -> None:
    rec = record("OSV-1", "demo", ecosystem="npm", range_type="SEMVER")
    rec["affected"][0]["ranges"][0]["events"] = [{"introduced": "0"}, {"limit": "2.0.0"}]
    assert record_affects(rec, q("1.9.9", ecosystem="npm"))
    assert not record_affects(rec, q("2.0.0", ecosystem="npm"))


def test_ranges_win_over_a_stale_versions_list() -> None:
    # The list was written before 1.3 came out; the open range still covers it.
    rec = record("OSV-1", "demo", introduced="1.0", versions=["1.0", "1.1", "1.2"])
    assert record_affects(rec, q("1.3"))
    assert record_affects(rec, q("1.1"))
    assert not record_affects(rec, q("0.9"))


def test_versions_list_alone() -> None:
    rec = record("OSV-1", "demo", versions=["1.0", "1.1"])
    rec["affected"][0]["ranges"] = []
    assert record_affects(rec, q("1.1"))
    assert record_affects(rec, q("1.1.0"))  # PEP 440: the same version
    assert not record_affects(rec, q("1.2"))


def test_git_ranges_are_ignored_offline() -> None:
    rec = record("OSV-1", "demo", range_type="GIT", introduced="0", fixed="abc123")
    assert not record_affects(rec, q("1.0"))


def test_unknown_ecosystem_uses_versions_lists_only() -> None:
    rec = record("OSV-1", "demo", ecosystem="GHC", fixed="2.0", versions=["1.0"])
    assert record_affects(rec, q("1.0", ecosystem="GHC"))
    assert not record_affects(rec, q("1.5", ecosystem="GHC"))


def test_package_names_are_normalised_and_ecosystems_exact() -> None:
    rec = record("OSV-1", "Foo_Bar.baz", fixed="2.0")
    assert record_affects(rec, q("1.0", name="foo-bar-baz"))
    assert not record_affects(rec, q("1.0", name="foo-bar-baz", ecosystem="npm"))


def test_debian_release_suffix() -> None:
    rec = record("DSA-1", "openssl", ecosystem="Debian:12", fixed="3.0.11-1~deb12u1")
    assert record_affects(rec, q("3.0.9-1", name="openssl", ecosystem="Debian:12"))
    assert record_affects(rec, q("3.0.9-1", name="openssl", ecosystem="Debian"))
    assert not record_affects(rec, q("3.0.9-1", name="openssl", ecosystem="Debian:11"))
    assert not record_affects(rec, q("3.0.11-1~deb12u1", name="openssl", ecosystem="Debian:12"))


def test_rpm_ranges_match_offline() -> None:
    """RPM advisories carry ranges only (no versions list): rpm's epoch:version-release order."""
    rec = record("RLSA-1", "openssl-libs", ecosystem="Rocky Linux:9", fixed="1:3.0.7-25.el9_3")
    for installed, affected in (
        ("1:3.0.7-24.el9", True),
        ("1:3.0.7-25.el9", True),  # el9 < el9_3
        ("1:3.0.7-25.el9_3", False),
        ("3.0.7-27.el9", True),  # no epoch is epoch 0
        ("1:3.0.10-1.el9", False),
    ):
        query = q(installed, name="openssl-libs", ecosystem="Rocky Linux:9")
        assert record_affects(rec, query) is affected, installed


def test_invalid_installed_version_still_matches_lists() -> None:
    rec = record("OSV-1", "demo", fixed="2.0", versions=["weird-1"])
    assert record_affects(rec, q("weird-1"))
    assert not record_affects(rec, q("weird-2"))
