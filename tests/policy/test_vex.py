"""CycloneDX 1.6 VEX of accepted risks, validated against the CycloneDX schema."""

from __future__ import annotations

import json
from pathlib import Path

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from mlgate.model import Inventory, ScanResult, Suppression
from mlgate.options import ScanOptions
from mlgate.policy.ignores import VEX_JUSTIFICATION, VEX_RESPONSE
from mlgate.report.vex import render

from .helpers import library, model_finding, vuln

OPTIONS = ScanOptions(root=Path("."), reproducible=True)


def validate(text: str) -> dict:  # type: ignore[type-arg]
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert errors is None, errors
    return json.loads(text)  # type: ignore[no-any-return]


def result(*findings) -> ScanResult:  # type: ignore[no-untyped-def]
    comp = library("jinja2", "2.10")
    return ScanResult(root="/r", inventory=Inventory(components=(comp,)), findings=findings)


def test_accepted_risk_is_exploitable_will_not_fix() -> None:
    f = vuln()
    f = type(f)(**{**f.__dict__, "suppression": Suppression("ignore", "sandbox off", "2027-01-31")})
    data = validate(render(result(f), OPTIONS))
    assert data["specVersion"] == "1.6"
    (v,) = data["vulnerabilities"]
    assert v["id"] == "GHSA-462w-v97r-4m45"
    assert {r["id"] for r in v["references"]} == {"CVE-2019-10906", "PYSEC-2019-217"}
    assert v["analysis"] == {
        "state": "exploitable",
        "response": ["will_not_fix"],
        "detail": "sandbox off (accepted until 2027-01-31)",
    }
    assert v["affects"] == [{"ref": "pkg:pypi/jinja2@2.10"}]
    assert [c["bom-ref"] for c in data["components"]] == ["pkg:pypi/jinja2@2.10"]


def test_justified_ignore_is_not_affected() -> None:
    f = vuln()
    f = type(f)(
        **{
            **f.__dict__,
            "suppression": Suppression("ignore", "never rendered"),
            "properties": ((VEX_JUSTIFICATION, "code_not_reachable"),),
        }
    )
    (v,) = validate(render(result(f), OPTIONS))["vulnerabilities"]
    assert v["analysis"]["state"] == "not_affected"
    assert v["analysis"]["justification"] == "code_not_reachable"


def test_responses_from_the_ignore() -> None:
    f = vuln()
    f = type(f)(
        **{
            **f.__dict__,
            "suppression": Suppression("ignore", "upgrade planned"),
            "properties": ((VEX_RESPONSE, "update,workaround_available"),),
        }
    )
    (v,) = validate(render(result(f), OPTIONS))["vulnerabilities"]
    assert v["analysis"]["response"] == ["update", "workaround_available"]


def test_only_ignored_vulnerabilities_are_in_the_vex() -> None:
    baselined = vuln(adv_id="GHSA-aaaa-bbbb-cccc", aliases=())
    baselined = type(baselined)(
        **{**baselined.__dict__, "suppression": Suppression("baseline", "in base")}
    )
    active = vuln(adv_id="GHSA-dddd-eeee-ffff", aliases=())
    ignored_model = model_finding()
    ignored_model = type(ignored_model)(
        **{**ignored_model.__dict__, "suppression": Suppression("ignore", "known")}
    )
    data = validate(render(result(baselined, active, ignored_model), OPTIONS))
    assert data.get("vulnerabilities", []) == []


def test_reproducible_output_is_byte_identical() -> None:
    f = vuln()
    f = type(f)(**{**f.__dict__, "suppression": Suppression("ignore", "r")})
    assert render(result(f), OPTIONS) == render(result(f), OPTIONS)
