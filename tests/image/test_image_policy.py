"""Policy on scanned images: image checks; sources.registries and require-digest on --image."""

from __future__ import annotations

import datetime as dt

import pytest

from mlgate.errors import PolicyError
from mlgate.image.contents import container_component
from mlgate.image.interface import ImageMeta
from mlgate.model import Severity
from mlgate.policy import parse_policy_text
from mlgate.policy.config import ImagePolicy, SourcePolicy
from mlgate.policy.images import check_image_configs, parse_created
from mlgate.policy.sources import RULE_IMAGE_UNPINNED, RULE_REGISTRY, check_images

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
DIGEST = "sha256:" + "cd" * 32


def image(
    user: str | None = None,
    *,
    ref: str = "registry.example/team/serve:1.0",
    kind: str = "registry",
    created: str = "2026-11-20T08:00:00.123456789Z",
    ports: list[str] | None = None,
    labels: dict[str, str] | None = None,
):  # type: ignore[no-untyped-def]
    config: dict[str, object] = {}
    if user is not None:
        config["User"] = user
    if ports:
        config["ExposedPorts"] = {p: {} for p in ports}
    if labels:
        config["Labels"] = labels
    meta = ImageMeta(
        ref=ref, name=ref.split("@")[0].rsplit(":", 1)[0] if kind == "registry" else "serve",
        digest=DIGEST, platform="linux/amd64", source_kind=kind,
        config={"created": created, "config": config}, tag="1.0",
    )  # fmt: skip
    return container_component(meta)


def rules(findings):  # type: ignore[no-untyped-def]
    return sorted(f.rule_id for f in findings)


@pytest.mark.parametrize("user", [None, "", "0", "root", "0:0", "0:1000", "root:app", " root "])
def test_root_user(user: str | None) -> None:
    found = check_image_configs([image(user)], ImagePolicy(), NOW)
    assert rules(found) == ["MLG-IMAGE-ROOT-USER"]
    assert found[0].severity is Severity.MEDIUM
    assert found[0].location.path == f"registry.example/team/serve@{DIGEST}"


def test_non_root_fresh_image_is_clean() -> None:
    assert check_image_configs([image("10001:10001")], ImagePolicy(), NOW) == []
    assert check_image_configs([image("1000:0")], ImagePolicy(), NOW) == []  # group 0 only


@pytest.mark.parametrize(
    "created", ["1970-01-01T00:00:00Z", "1980-01-01T00:00:01Z", "0001-01-01T00:00:00Z"]
)
def test_reproducible_build_placeholder_dates_are_not_an_age(created: str) -> None:
    """ko, Bazel and nix write the Unix epoch, Buildpacks 1980-01-01: no build date at all."""
    assert check_image_configs([image("app", created=created)], ImagePolicy(), NOW) == []


def test_ports_age_and_base() -> None:
    old = image(
        "app",
        created="2023-01-02T03:04:05Z",
        ports=["8080/tcp", "5678/tcp"],
        labels={"org.opencontainers.image.base.name": "registry.example/python:3.11"},
    )
    found = {f.rule_id: f for f in check_image_configs([old], ImagePolicy(), NOW)}
    assert sorted(found) == [
        "MLG-IMAGE-BASE-UNPINNED",
        "MLG-IMAGE-EXPOSED-PORTS",
        "MLG-IMAGE-STALE",
    ]
    assert found["MLG-IMAGE-EXPOSED-PORTS"].severity is Severity.INFO
    assert "5678/tcp, 8080/tcp" in found["MLG-IMAGE-EXPOSED-PORTS"].message
    assert "1428 days" in found["MLG-IMAGE-STALE"].message
    pinned = image("app", labels={
        "org.opencontainers.image.base.name": "registry.example/python:3.11",
        "org.opencontainers.image.base.digest": DIGEST,
    })  # fmt: skip
    assert check_image_configs([pinned], ImagePolicy(), NOW) == []


def test_policy_file_sets_thresholds_and_turns_checks_off() -> None:
    policy = parse_policy_text(
        "images:\n  max-age-days: 5\n  root-user: none\n  stale: high\n  exposed-ports: low\n"
    )
    assert policy.images == ImagePolicy(
        max_age_days=5, root_user=Severity.NONE, stale=Severity.HIGH,
        exposed_ports=Severity.LOW,
    )  # fmt: skip
    found = check_image_configs([image(None, ports=["80/tcp"])], policy.images, NOW)
    assert {(f.rule_id, f.severity) for f in found} == {
        ("MLG-IMAGE-STALE", Severity.HIGH),
        ("MLG-IMAGE-EXPOSED-PORTS", Severity.LOW),
    }
    with pytest.raises(PolicyError, match="did you mean 'max-age-days'"):
        parse_policy_text("images:\n  max-age: 5\n")


def test_created_timestamps() -> None:
    assert parse_created("2024-03-01T10:00:00.123456789Z") == dt.datetime(
        2024, 3, 1, 10, 0, 0, 123456, tzinfo=dt.UTC
    )
    assert parse_created("2024-03-01T10:00:00+02:00") is not None
    assert parse_created("yesterday") is None


def test_dockerfile_images_are_not_config_checked() -> None:
    comp = image(None)
    plain = type(comp)(ecosystem="", name="python", version="3.11", kind=comp.kind)
    assert check_image_configs([plain], ImagePolicy(), NOW) == []


def test_sources_policy_applies_to_registry_refs_only() -> None:
    policy = SourcePolicy(registries=("registry.example/approved",), require_digest=True)
    tagged = image("app", ref="registry.example/team/serve:1.0")
    assert rules(check_images([tagged], policy)) == [RULE_IMAGE_UNPINNED, RULE_REGISTRY]
    pinned = image("app", ref=f"registry.example/approved/serve@{DIGEST}")
    assert check_images([pinned], policy) == []
    local = image("app", ref="./serve.tar", kind="archive")
    assert check_images([local], policy) == []
