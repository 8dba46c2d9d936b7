"""Licenses: expression logic, metadata of installed packages and wheels, deps.dev lookup."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from mlgate.inventory.build import build_inventory
from mlgate.model import ScanWarning
from mlgate.options import ScanOptions
from mlgate.policy import check, parse_policy_text
from mlgate.policy.config import LicensePolicy
from mlgate.policy.licenses import (
    RULE_DENIED,
    RULE_NOT_ALLOWED,
    RULE_UNKNOWN,
    DepsDevClient,
    judge,
    license_findings,
    licenses_from_metadata,
    normalize_expression,
    online_licenses,
    tree_licenses,
    with_licenses,
)
from tests.servers.flood_server import FloodState, flood_server

from .deps_dev_server import DepsDevState, deps_dev_server
from .helpers import library, scan

ALLOW = LicensePolicy(allow=("MIT", "Apache-2.0", "BSD-3-Clause"), deny=("GPL-3.0-only",))
DENY_ONLY = LicensePolicy(deny=("GPL-3.0-only",))


# -- expression logic --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("licenses", "policy", "status"),
    [
        (("MIT",), ALLOW, "ok"),
        (("mit",), ALLOW, "ok"),
        (("MIT OR GPL-3.0-only",), ALLOW, "ok"),  # the MIT alternative is allowed
        (("GPL-3.0-only OR MIT",), DENY_ONLY, "ok"),
        (("MIT AND GPL-3.0-only",), DENY_ONLY, "denied"),  # every alternative needs GPL
        (("MIT AND GPL-3.0-only",), ALLOW, "denied"),
        (("GPL-3.0-only",), ALLOW, "denied"),
        (("MIT AND Apache-2.0",), ALLOW, "ok"),
        (("MIT AND LGPL-2.1-only",), ALLOW, "not-allowed"),
        (("(MIT AND LGPL-2.1-only) OR BSD-3-Clause",), ALLOW, "ok"),
        (("LGPL-2.1-only",), DENY_ONLY, "ok"),
        (
            ("GPL-2.0-only WITH Classpath-exception-2.0",),
            LicensePolicy(allow=("GPL-2.0-only",)),
            "ok",
        ),
        (("GPL-2.0+",), LicensePolicy(deny=("GPL-2.0-or-later",)), "denied"),  # normalised
        (("MIT", "GPL-3.0-only"), ALLOW, "denied"),  # two declarations: both apply
        ((), ALLOW, "unknown"),
        (("Acme Proprietary Thing",), ALLOW, "unknown"),
        (("LicenseRef-acme",), LicensePolicy(allow=("LicenseRef-acme",)), "ok"),
        (("Foo-1.0 OR GPL-3.0-only",), DENY_ONLY, "unknown"),
        (("Apache 2.0",), ALLOW, "ok"),  # common spelling mapped to SPDX
    ],
)
def test_judge(licenses: tuple[str, ...], policy: LicensePolicy, status: str) -> None:
    assert judge(licenses, policy).status == status


def test_denied_detail_names_the_license() -> None:
    decision = judge(("MIT AND GPL-3.0-only",), DENY_ONLY)
    assert decision.detail == "requires GPL-3.0-only"
    assert decision.expression == "MIT AND GPL-3.0-only"


def test_normalize_expression() -> None:
    assert normalize_expression("mit or apache-2.0") == "MIT OR Apache-2.0"
    assert normalize_expression("GPL-2.0+") == "GPL-2.0-or-later"


@pytest.mark.parametrize(
    ("unknown", "rule", "severity"),
    [("warn", RULE_UNKNOWN, "info"), ("fail", RULE_UNKNOWN, "high"), ("ignore", None, None)],
)
def test_unknown_license_modes(unknown: str, rule: str | None, severity: str | None) -> None:
    policy = LicensePolicy(allow=("MIT",), unknown=unknown)
    out = license_findings([library("mystery", "1.0")], policy)
    assert [(f.rule_id, f.severity.value) for f in out] == ([(rule, severity)] if rule else [])


def test_findings_name_package_and_location() -> None:
    out = license_findings(
        [library("gplthing", "2.0", ("GPL-3.0-only",)), library("lgpl", "1.0", ("LGPL-3.0-only",))],
        ALLOW,
    )
    assert [f.rule_id for f in out] == [RULE_DENIED, RULE_NOT_ALLOWED]
    assert out[0].location.path == "requirements.txt"
    assert out[0].component == "pkg:pypi/gplthing@2.0"
    assert "gplthing@2.0" in out[0].message


def test_no_rules_no_findings() -> None:
    assert license_findings([library("mystery", "1.0")], LicensePolicy()) == []


# -- metadata ----------------------------------------------------------------------------------

METADATA = """Metadata-Version: 2.4
Name: Acme_Tools
Version: 1.0
{extra}

Long description mentioning License: GPL-3.0-only in the body.
"""


def test_license_expression_field_wins() -> None:
    raw = METADATA.format(extra="License-Expression: mit OR Apache-2.0\nLicense: whatever")
    assert licenses_from_metadata(raw.encode()) == ("Acme_Tools", "1.0", ("MIT OR Apache-2.0",))


def test_license_field_then_classifiers() -> None:
    raw = METADATA.format(extra="License: BSD-3-Clause")
    assert licenses_from_metadata(raw.encode())[2] == ("BSD-3-Clause",)  # type: ignore[index]
    full_text = "License: Copyright (c) 2020 Acme\n        Permission is hereby granted"
    raw = METADATA.format(
        extra=full_text + "\nClassifier: License :: OSI Approved :: MIT License\n"
        "Classifier: License :: OSI Approved :: Apache Software License"
    )
    assert licenses_from_metadata(raw.encode())[2] == ("Apache-2.0 OR MIT",)  # type: ignore[index]


def wheel(path: Path, name: str, version: str, extra: str) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/__init__.py", "")
        zf.writestr(
            f"{name}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{extra}\n\n",
        )


def test_tree_licenses_from_dist_info_and_wheels(tmp_path: Path) -> None:
    site = tmp_path / "venv/lib/site-packages/acme_tools-1.0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text(METADATA.format(extra="License-Expression: MIT"))
    (tmp_path / "wheels").mkdir()
    wheel(tmp_path / "wheels/other-2.0-py3-none-any.whl", "other", "2.0", "License: Apache-2.0")
    (tmp_path / "wheels/broken-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 not a zip")
    rels = [
        "venv/lib/site-packages/acme_tools-1.0.dist-info/METADATA",
        "wheels/other-2.0-py3-none-any.whl",
        "wheels/broken-1.0-py3-none-any.whl",
    ]
    warnings: list[ScanWarning] = []
    found = tree_licenses(tmp_path, rels, warnings)
    assert sorted(found.values()) == [("Apache-2.0",), ("MIT",)]
    assert [w.path for w in warnings] == ["wheels/broken-1.0-py3-none-any.whl"]
    comps = [library("acme.tools", "1.0.0"), library("other", "2.0"), library("nope", "1.0")]
    updated = with_licenses(comps, found)
    assert {c.name: c.licenses for c in updated} == {
        "acme.tools": ("MIT",),
        "other": ("Apache-2.0",),
    }


def test_wheel_metadata_over_the_size_bound_is_not_read(tmp_path: Path) -> None:
    # Resource exhaustion: a METADATA member claiming to be huge is skipped, not read.
    wheel(tmp_path / "big-1.0-py3-none-any.whl", "big", "1.0", "License: MIT\n" + "X" * 2_000_000)
    assert tree_licenses(tmp_path, ["big-1.0-py3-none-any.whl"], []) == {}


def test_licenses_reach_the_result_and_gate(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "wheels").mkdir(parents=True)
    (repo / "requirements.txt").write_text("gplthing==2.0\nfriendly==1.0\n")
    wheel(repo / "wheels/gplthing-2.0-py3-none-any.whl", "gplthing", "2.0", "License: GPL-3.0-only")
    wheel(repo / "wheels/friendly-1.0-py3-none-any.whl", "friendly", "1.0", "License: MIT")
    (repo / ".mlgate.yml").write_text("licenses: {allow: [MIT], deny: [GPL-3.0-only]}\n")
    code, data = scan(repo)
    assert code == 1
    lic = {c["name"]: c["licenses"] for c in data["components"] if c["kind"] == "library"}
    assert lic == {"friendly": ["MIT"], "gplthing": ["GPL-3.0-only"]}
    assert [f["rule_id"] for f in data["findings"]] == [RULE_DENIED]


# -- deps.dev ----------------------------------------------------------------------------------


def test_deps_dev_lookup_and_cache(tmp_path: Path) -> None:
    state = DepsDevState(
        licenses={
            ("pypi", "jinja2", "3.1.2"): ["BSD-3-Clause"],
            ("npm", "@scope/pkg", "1.0.0"): ["MIT"],
        }
    )
    comps = [
        library("Jinja2", "3.1.2"),
        library("unknown-pkg", "0.1"),
        library("has-license", "1.0", ("MIT",)),
    ]
    npm = replace(library("x", "1.0.0"), ecosystem="npm", name="@scope/pkg", purl=None)
    comps.append(npm)
    with deps_dev_server(state) as url:
        policy_url = LicensePolicy(deps_dev_url=url)
        updated, warnings = online_licenses(comps, policy_url, tmp_path / "cache")
        assert warnings == []
        assert {c.name: c.licenses for c in updated} == {
            "Jinja2": ("BSD-3-Clause",),
            "@scope/pkg": ("MIT",),
        }
        # name canonicalised for PyPI, scoped npm names percent-encoded; licensed ones skipped
        assert sorted(state.paths) == [
            "/v3/systems/npm/packages/%40scope%2Fpkg/versions/1.0.0",
            "/v3/systems/pypi/packages/jinja2/versions/3.1.2",
            "/v3/systems/pypi/packages/unknown-pkg/versions/0.1",
        ]
        # Second run: every answer (the 404 too) comes from the cache.
        again, _ = online_licenses(comps, policy_url, tmp_path / "cache")
        assert len(state.paths) == 3
        assert {c.name for c in again} == {"Jinja2", "@scope/pkg"}


def test_deps_dev_retries_then_reports_failure(tmp_path: Path) -> None:
    state = DepsDevState(licenses={("pypi", "a", "1.0"): ["MIT"]}, fail=[503])
    with deps_dev_server(state) as url:
        client = DepsDevClient(url, None, backoff=0.01)
        found, failed = client.licenses([library("a", "1.0")])
        assert found == {"pkg:pypi/a@1.0": ("MIT",)} and failed == []
        assert client.requests == 2
        state.fail = [500, 500, 500]
        found, failed = client.licenses([library("a", "1.0")])
        assert found == {} and failed == [("pkg:pypi/a@1.0", "HTTP 500")]
        assert client.requests == 5
        # A failed lookup is a warning naming the package, never "no license".
        state.fail = [400]
        updated, warnings = online_licenses(
            [library("a", "1.0")], LicensePolicy(deps_dev_url=url), None
        )
    assert updated == []
    assert len(warnings) == 1 and "HTTP 400" in warnings[0].message
    assert "pkg:pypi/a@1.0" in warnings[0].message
    assert warnings[0].code == "licenses-online"


def test_deps_dev_endless_answer_is_cut_at_the_size_limit(tmp_path: Path) -> None:
    # Technique: a hostile or broken deps.dev server streams an endless chunked body.
    state = FloodState()
    with flood_server(state) as url:
        client = DepsDevClient(url, None, backoff=0.01)
        found, failed = client.licenses([library("a", "1.0")])
    assert found == {}
    assert failed == [("pkg:pypi/a@1.0", "answer larger than the size limit")]
    assert state.requests == 1  # a size overrun is final, not retried


def test_deps_dev_is_off_by_default_and_on_with_the_flag(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("jinja2==3.1.2\n")
    state = DepsDevState(licenses={("pypi", "jinja2", "3.1.2"): ["BSD-3-Clause"]})
    with deps_dev_server(state) as url:
        code, data = scan(repo, "--deps-dev-url", url)
        assert state.paths == []
        code, data = scan(
            repo, "--licenses-online", "--deps-dev-url", url, "--cache-dir", str(tmp_path / "c")
        )
    assert code == 0
    assert [c["licenses"] for c in data["components"]] == [["BSD-3-Clause"]]
    assert len(state.paths) == 1


def test_check_adds_licenses_without_rules(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("acme-tools==1.0\n")
    site = tmp_path / "site-packages/acme_tools-1.0.dist-info"
    site.mkdir(parents=True)
    (site / "METADATA").write_text(METADATA.format(extra="License-Expression: MIT"))
    inventory = build_inventory(tmp_path)
    checks = check(tmp_path, inventory, parse_policy_text("{}"), ScanOptions(root=tmp_path))
    assert [(c.name, c.licenses) for c in checks.components] == [("acme-tools", ("MIT",))]
    assert checks.findings == []
