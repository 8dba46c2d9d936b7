"""Version order of every ecosystem, including the hard cases (each row: a < b)."""

from __future__ import annotations

import pytest

from mlgate.enrich.versions import InvalidVersionError, scheme_for

ORDERED = {
    "PyPI": [
        ("1.0.dev1", "1.0a1"),
        ("1.0a1", "1.0b1"),
        ("1.0b2", "1.0rc1"),
        ("1.0rc1", "1.0"),
        ("1.0", "1.0.post1"),
        ("1.0", "1.0+local.1"),
        ("1.0+local.1", "1.0+local.2"),
        ("1.0.post1", "1.1.dev0"),
        ("2024.1", "1!0.1"),  # epochs win over everything
        ("1.9", "1.10"),
        ("1.0.0.dev0", "1.0.0a0"),
    ],
    "npm": [
        ("1.0.0-alpha", "1.0.0-alpha.1"),
        ("1.0.0-alpha.1", "1.0.0-alpha.beta"),  # numeric identifiers before alphanumerics
        ("1.0.0-alpha.beta", "1.0.0-beta"),
        ("1.0.0-beta.2", "1.0.0-beta.11"),  # numeric identifiers compare as numbers
        ("1.0.0-rc.1", "1.0.0"),
        ("1.9.0", "1.10.0"),
        ("v1.2.3", "1.2.4"),
    ],
    "crates.io": [("0.9.9", "0.10.0-rc.1"), ("0.10.0-rc.1", "0.10.0")],
    "Go": [
        ("v0.0.0-20191109021931-daa7c04131f5", "v0.0.1"),  # pseudo-versions are prereleases
        ("v1.2.3-pre", "v1.2.3"),
        ("1.2.3", "v1.10.0"),
        ("v2.0.0+incompatible", "v2.0.1+incompatible"),
        ("v1.2.4-0.20200101000000-abcdefabcdef", "v1.2.4"),
    ],
    "Maven": [
        ("1.0-alpha-1", "1.0-alpha-2"),
        ("1.0-alpha1", "1.0-beta1"),
        ("1.0-beta1", "1.0-milestone-1"),
        ("1.0-m1", "1.0-rc1"),
        ("1.0-rc1", "1.0-SNAPSHOT"),
        ("1.0-SNAPSHOT", "1.0"),
        ("1.0", "1.0-sp1"),
        ("1.0-sp1", "1.0.1"),
        ("1.0", "1.0-whatever"),  # unknown qualifiers after the release
        ("1.0.0.9", "1.0.0.10"),
        ("2.0-rc1", "2.0"),
    ],
    "RubyGems": [
        ("1.0.a", "1.0"),
        ("1.0.0.pre1", "1.0.0"),
        ("1.0.b1", "1.0.rc1"),
        ("1.9", "1.10"),
        ("1.0", "1.0.1"),
    ],
    "NuGet": [
        ("1.0.0-alpha", "1.0.0-Beta"),  # labels compare case-insensitively
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0", "1.0.0.1"),
        ("4.1", "4.10"),
    ],
    "Packagist": [
        ("1.0.0-dev", "1.0.0-alpha1"),
        ("1.0.0-alpha1", "1.0.0-beta2"),
        ("1.0.0-beta2", "1.0.0-RC1"),
        ("1.0.0-RC1", "1.0.0"),
        ("1.0.0", "1.0.0-pl1"),
        ("v1.9.0", "1.10.0"),
    ],
    "Debian:12": [
        ("1.0~rc1", "1.0"),  # tilde sorts before anything, even the end
        ("1.0~~", "1.0~"),
        ("1.0", "1.0+b1"),
        ("1.0-1", "1.0-2"),
        ("1.0-9", "1.0-10"),
        ("2.30", "1:1.0"),  # epoch first
        ("1.2.3-1ubuntu1", "1.2.3-1ubuntu2"),
        ("1.0a", "1.0+"),  # letters before non-letters
    ],
    "Ubuntu:22.04:LTS": [("1.0-0ubuntu1~20.04", "1.0-0ubuntu1")],
    "Alpine:v3.18": [
        ("1.2.3_rc1", "1.2.3"),
        ("1.2.3_alpha", "1.2.3_beta"),
        ("1.2.3", "1.2.3_p1"),
        ("1.2.3-r1", "1.2.3-r2"),
        ("1.2.3", "1.2.3a"),
        ("1.2.9", "1.2.10"),
    ],
    "Rocky Linux:9": [
        ("3.0.7-24.el9", "1:3.0.1-1.el9"),  # epoch first
        ("1:3.0.7-24.el9", "1:3.0.7-25.el9"),
        ("1:3.0.7-25.el9", "1:3.0.7-25.el9_2"),
        ("1.0~rc1-1", "1.0-1"),  # tilde before the end
        ("1.0-1", "1.0^git1-1"),  # caret after the end, before anything else
        ("1.0^git1-1", "1.0.1-1"),
        ("1.9-1", "1.10-1"),
        ("1.0a-1", "1.0.1-1"),  # a number beats letters
        ("2.7.0-10.module+el8.4.0+570+c2eaf144", "2.7.0-10.module+el8.5.0+1+a"),
    ],
    "AlmaLinux:9": [("0:4.9.3-2.el9", "4.9.3-2.el9_8.1")],
    "Red Hat": [("8.0.1763-19.el8_6.4", "2:8.0.1763-19.el8_6.4")],
}

EQUAL = {
    "PyPI": [("1.0", "1.0.0"), ("1.0a1", "1.0.0-alpha.1"), ("0!1.0", "1.0")],
    "npm": [("1.0.0+build.1", "1.0.0+build.2")],  # build metadata is ignored
    "Maven": [("1.0", "1.0.0"), ("1.0-ga", "1.0"), ("1.0-final", "1"), ("1.0-cr1", "1.0-rc1")],
    "RubyGems": [("1.0", "1.0.0")],
    "NuGet": [("1.0", "1.0.0.0"), ("1.0.0-RC", "1.0.0-rc")],
    "Debian": [("0:1.0", "1.0"), ("1.0-0", "1.0-00")],
    "Go": [("v1.0.0+incompatible", "1.0.0")],
    "Rocky Linux:9": [("0:1.0-1.el9", "1.0-1.el9"), ("1.01-1", "1.1-1"), ("1.0.0-1", "1..0_0-1")],
}


@pytest.mark.parametrize(
    ("ecosystem", "lower", "higher"),
    [(eco, a, b) for eco, rows in ORDERED.items() for a, b in rows],
)
def test_order(ecosystem: str, lower: str, higher: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    assert scheme.compare(lower, higher) < 0
    assert scheme.compare(higher, lower) > 0
    assert scheme.key(lower) < scheme.key(higher)


@pytest.mark.parametrize(
    ("ecosystem", "a", "b"), [(eco, a, b) for eco, rows in EQUAL.items() for a, b in rows]
)
def test_equal(ecosystem: str, a: str, b: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    assert scheme.compare(a, b) == 0


@pytest.mark.parametrize(
    ("ecosystem", "text"),
    [("PyPI", "not a version"), ("npm", "1.x"), ("Debian", "abc"), ("Alpine", "1.0-beta")],
)
def test_invalid(ecosystem: str, text: str) -> None:
    scheme = scheme_for(ecosystem)
    assert scheme is not None
    with pytest.raises(InvalidVersionError):
        scheme.key(text)


def test_unknown_ecosystem_has_no_order() -> None:
    assert scheme_for("GHC") is None
    assert scheme_for("Linux") is None


def test_sorting_a_list() -> None:
    scheme = scheme_for("Maven")
    assert scheme is not None
    versions = ["1.0", "1.0-SNAPSHOT", "1.0-alpha1", "1.0-sp1", "1.0-rc1", "1.0-beta1"]
    assert sorted(versions, key=scheme.key) == [
        "1.0-alpha1",
        "1.0-beta1",
        "1.0-rc1",
        "1.0-SNAPSHOT",
        "1.0",
        "1.0-sp1",
    ]


RPM_PAIRS = [
    ("1.0", "1.0"), ("1.0", "2.0"), ("2.0.1", "2.0"), ("2.0.1a", "2.0.1"), ("5.5p1", "5.5p10"),
    ("10xyz", "10.1xyz"), ("xyz10", "xyz10.1"), ("1.0~rc1", "1.0"), ("1.0~rc1", "1.0~rc2"),
    ("1.0~rc1~git123", "1.0~rc1"), ("1.0^", "1.0"), ("1.0^git1", "1.0^git2"), ("1.0^git1", "1.01"),
    ("1.0^20160101", "1.0.1"), ("1.0~rc1^git1", "1.0~rc1"), ("a", "1"), ("abc", "abd"),
    ("1.0a", "1.0.1"), ("2_0", "2.0"), ("1.0.0", "1..0_0"), ("el9", "el9_2"), ("0001", "1"),
    ("4.999.9", "5.0"), ("1b.fc17", "1.fc17"), ("1.0", "1.0.0"), ("+", "_"),
    ("1:1.0-1", "2.0-1"), ("0:1.0-1", "1.0-1"), ("1.0-1.el9", "1.0-1.el9_2"), ("1.0-2", "1.0"),
    ("3.0.7-24.el9", "3.0.7-24.el9.1"), ("2:8.0-1", "10:1.0-1"), ("1.0-1~beta", "1.0-1"),
]  # fmt: skip


def test_rpmvercmp_agrees_with_rpm_itself() -> None:
    """rpm's own comparison (its Lua binding, epoch:version-release) is the reference for every
    pair, both ways."""
    import shutil
    import subprocess

    from mlgate.enrich.versions.rpm import RpmScheme

    compare = RpmScheme().compare

    if shutil.which("rpm") is None:
        pytest.skip("rpm is not installed (apt-get install rpm)")
    calls = " ".join(
        f"print(rpm.vercmp({a!r}, {b!r}) .. ' ' .. rpm.vercmp({b!r}, {a!r}) .. ' ')"
        for a, b in RPM_PAIRS
    )
    out = subprocess.run(
        ["rpm", "--eval", f"%{{lua: {calls}}}"], capture_output=True, text=True, check=True
    ).stdout.split()
    expected = [int(x) for x in out]
    ours = [r for a, b in RPM_PAIRS for r in (compare(a, b), compare(b, a))]
    assert ours == expected
