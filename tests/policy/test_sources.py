"""Approved sources: indexes, extra indexes, registries, digest pinning, pinned actions."""

from __future__ import annotations

from pathlib import Path

from mlgate.model import Component, ComponentKind, Location, PackageSource, Severity
from mlgate.policy.config import SourcePolicy
from mlgate.policy.sources import (
    RULE_ACTION_UNPINNED,
    RULE_EXTRA_INDEX,
    RULE_IMAGE_UNPINNED,
    RULE_INDEX,
    RULE_INSECURE,
    RULE_REGISTRY,
    check_actions,
    check_images,
    check_indexes,
    config_sources,
    registry_approved,
    url_approved,
)

from .helpers import rules, scan

INTERNAL = "https://pypi.internal.example/simple"
SHA = "0123456789abcdef0123456789abcdef01234567"


def source(kind: str, url: str, path: str = "requirements.txt") -> PackageSource:
    return PackageSource(kind=kind, url=url, location=Location(path, 1))


def test_url_approval_is_a_prefix_match_without_credentials() -> None:
    assert url_approved("https://PYPI.internal.example/simple/", [INTERNAL])
    assert url_approved("https://user:tok@pypi.internal.example/simple", [INTERNAL])
    assert url_approved(f"{INTERNAL}/torch", [INTERNAL])
    assert not url_approved("https://pypi.internal.example/simple-evil", [INTERNAL])
    assert not url_approved("https://pypi.internal.example.evil.example/simple", [INTERNAL])


def test_unapproved_index_and_extra_index() -> None:
    policy = SourcePolicy(indexes=(INTERNAL,))
    out = check_indexes(
        [
            source("index-url", INTERNAL),
            source("extra-index-url", "https://u:secret@mirror.example/simple"),
        ],
        policy,
    )
    assert [(f.rule_id, f.severity) for f in out] == [
        (RULE_INDEX, Severity.HIGH),
        (RULE_EXTRA_INDEX, Severity.MEDIUM),
    ]
    assert all("secret" not in f.message and "secret" not in (f.trigger or "") for f in out)


def test_extra_index_is_reported_without_an_allow_list() -> None:
    out = check_indexes(
        [source("extra-index-url", INTERNAL)], SourcePolicy(extra_index=Severity.HIGH)
    )
    assert [(f.rule_id, f.severity) for f in out] == [(RULE_EXTRA_INDEX, Severity.HIGH)]


def test_plain_http_index_and_local_paths() -> None:
    out = check_indexes(
        [
            source("index-url", "http://mirror.example/simple"),
            source("index-url", "http://localhost:8080/simple"),
            source("find-links", "./wheels"),
            source("index-url", "${PIP_INDEX_URL}"),
        ],
        SourcePolicy(),
    )
    assert [f.rule_id for f in out] == [RULE_INSECURE]


def test_config_files_in_the_tree(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(
        "pip.conf",
        f"[global]\nindex-url = {INTERNAL}\nextra-index-url = https://a.example/simple\n",
    )
    write(
        "svc/uv.toml",
        'extra-index-url = ["https://b.example/simple"]\n[[index]]\nurl = "https://c.example/simple"\n',
    )
    write(
        "pyproject.toml",
        '[project]\nname = "x"\n[tool.uv]\nindex-strategy = "unsafe-best-match"\n'
        'extra-index-url = ["https://d.example/simple"]\n'
        '[[tool.poetry.source]]\nname = "extra"\nurl = "https://e.example/simple"\n'
        'priority = "supplemental"\n',
    )
    found = config_sources(tmp_path, ["pip.conf", "svc/uv.toml", "pyproject.toml"], [])
    got = {(s.kind, s.url, s.location.path, s.location.line) for s in found}
    assert got == {
        ("index-url", INTERNAL, "pip.conf", 2),
        ("extra-index-url", "https://a.example/simple", "pip.conf", 3),
        # uv stops at the first index holding a package: no dependency confusion by default
        ("index-url", "https://b.example/simple", "svc/uv.toml", 1),
        ("index-url", "https://c.example/simple", "svc/uv.toml", 3),
        ("extra-index-url", "https://d.example/simple", "pyproject.toml", 5),
        ("extra-index-url", "https://e.example/simple", "pyproject.toml", 8),
    }


def image(name: str, version: str, registry: str, digest: str | None = None) -> Component:
    props = [
        ("docker:registry", registry),
        ("docker:pinned-by-digest", "true" if digest else "false"),
    ]
    return Component(
        ecosystem="",
        name=name,
        version=digest or version,
        kind=ComponentKind.CONTAINER,
        declared_in=(Location("Dockerfile", 1),),
        properties=tuple(props),
    )


def test_registry_prefix_match() -> None:
    assert registry_approved("registry.example", "acme/base", ["registry.example/acme"])
    assert not registry_approved("registry.example", "acmeevil/base", ["registry.example/acme"])
    assert registry_approved("registry.example", "x/y", ["registry.example"])
    # images named without a registry host match entries without one
    assert registry_approved("", "python", ["library/python"])
    assert not registry_approved("registry.example", "python", ["python"])


def test_images_not_approved_and_not_pinned() -> None:
    digest = "sha256:" + "a" * 64
    comps = [
        image("registry.example/acme/base", "1.0", "registry.example", digest),
        image("registry.example/other/base", "1.0", "registry.example", digest),
        image("registry.example/acme/tool", "latest", "registry.example"),
    ]
    policy = SourcePolicy(registries=("registry.example/acme",), unpinned_image=Severity.HIGH)
    out = check_images(comps, policy)
    assert [(f.rule_id, f.trigger, f.severity) for f in out] == [
        (RULE_REGISTRY, "registry.example/other/base", Severity.HIGH),
        (RULE_IMAGE_UNPINNED, "registry.example/acme/tool", Severity.HIGH),
    ]


def test_digest_requirement_can_be_turned_off() -> None:
    assert check_images([image("app", "1", "")], SourcePolicy(require_digest=False)) == []


WORKFLOW = f"""on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@{SHA} # v5
      - name: local
        uses: ./.github/actions/mine
      - uses: "docker://alpine:3.20"
      - uses: docker://alpine@sha256:{"b" * 64}
      - uses: org/repo/path@main  # comment
"""


def test_pin_actions(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write(".github/workflows/ci.yml", WORKFLOW)
    rel = [".github/workflows/ci.yml"]
    assert check_actions(tmp_path, rel, SourcePolicy(), []) == []  # off by default
    out = check_actions(tmp_path, rel, SourcePolicy(pin_actions=True), [])
    assert [(f.trigger, f.location.line) for f in out] == [
        ("actions/checkout@v4", 6),
        ("docker://alpine:3.20", 10),
        ("org/repo/path@main", 12),
    ]
    assert {f.rule_id for f in out} == {RULE_ACTION_UNPINNED}


def test_end_to_end_sources(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", f"--index-url {INTERNAL}\nrequests==2.32.0\n")
    write("Dockerfile", "FROM registry.example/acme/base:1.0\n")
    write(".github/workflows/ci.yml", WORKFLOW)
    write(
        ".mlgate.yml",
        f"sources: {{indexes: ['{INTERNAL}'], registries: [registry.example/acme], "
        "pin-actions: true}\n",
    )
    code, data = scan(tmp_path)
    assert code == 0  # medium findings only, fail-on high
    assert rules(data) == [RULE_ACTION_UNPINNED] * 3 + [RULE_IMAGE_UNPINNED]
    write("requirements.txt", "--index-url https://mirror.example/simple\nrequests==2.32.0\n")
    code, data = scan(tmp_path)
    assert code == 1
    assert RULE_INDEX in rules(data)


def test_malformed_index_urls_neither_crash_nor_leak(write, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Technique: index URLs that urlsplit rejects (broken IPv6 host, bad port) with a token."""
    write(
        "requirements.txt",
        "--extra-index-url https://u:t0ken@[::1/simple\n"
        "--index-url https://u:t0ken@mirror.example:99999/simple\nrequests==2.32.0\n",
    )
    write("pip.conf", "[global]\nextra-index-url = https://u:t0ken@mirror.example:abc/simple\n")
    out = tmp_path.parent / "malformed-result.json"
    code, data = scan(tmp_path, out=out)
    assert code == 0
    assert rules(data) == [RULE_EXTRA_INDEX, RULE_EXTRA_INDEX]
    assert "t0ken" not in out.read_text()
