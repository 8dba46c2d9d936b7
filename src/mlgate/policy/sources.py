"""Approved sources: package indexes, image registries, digest-pinned images, pinned actions.

Index URLs come from the inventory (requirements ``--index-url`` ...) and from pip/uv/poetry
configuration files in the tree. ``--extra-index-url`` is reported on its own: pip takes the
highest version from any index, so a public package can shadow an internal one (dependency
confusion). URLs are shown without credentials, query or fragment.
"""

from __future__ import annotations

import configparser
import re
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from mlgate.inspect.remote_code import redact_url
from mlgate.model import (
    Component,
    ComponentKind,
    Finding,
    Inventory,
    Location,
    PackageSource,
    ScanWarning,
    Severity,
)
from mlgate.policy.config import SourcePolicy

RULE_INDEX = "MLG-SOURCE-INDEX-NOT-APPROVED"
RULE_EXTRA_INDEX = "MLG-SOURCE-EXTRA-INDEX"
RULE_INSECURE = "MLG-SOURCE-INSECURE-INDEX"
RULE_REGISTRY = "MLG-SOURCE-REGISTRY-NOT-APPROVED"
RULE_IMAGE_UNPINNED = "MLG-SOURCE-IMAGE-UNPINNED"
RULE_ACTION_UNPINNED = "MLG-SOURCE-ACTION-UNPINNED"

MAX_CONFIG_BYTES = 1024 * 1024
LOCAL_IMAGE_SOURCES = ("oci-layout", "archive")  # --image read from a folder or tarball
INDEX_KINDS = ("index-url", "extra-index-url", "find-links")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_USES = re.compile(r"^\s*(?:-\s+)?uses\s*:\s*(?P<value>[^#\s][^#]*?)\s*(?:#.*)?$")
_CONFIG_NAMES = {"pip.conf", "pip.ini", "uv.toml", "pyproject.toml"}


def _read(root: Path, relpath: str, warnings: list[ScanWarning]) -> str | None:
    try:
        with (root / relpath).open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        warnings.append(ScanWarning(relpath, f"not readable: {exc.strerror}", code="source"))
        return None
    if len(raw) > MAX_CONFIG_BYTES:
        return None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(ScanWarning(relpath, "not UTF-8; sources not read", code="source"))
        return None


def _line_of(text: str, needle: str) -> int | None:
    for i, line in enumerate(text.splitlines(), 1):
        if needle in line:
            return i
    return None


def _src(kind: str, url: str, relpath: str, text: str) -> PackageSource:
    return PackageSource(kind=kind, url=url, location=Location(relpath, _line_of(text, url)))


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _uv_sources(table: dict[str, Any], relpath: str, text: str) -> list[PackageSource]:
    out: list[PackageSource] = []
    unsafe = table.get("index-strategy") == "unsafe-best-match"
    # uv stops at the first index that has a package (index-strategy first-index), which is
    # what defeats dependency confusion; only the unsafe strategy mixes indexes like pip.
    extra_kind = "extra-index-url" if unsafe else "index-url"
    for key, kind in (
        ("index-url", "index-url"),
        ("extra-index-url", extra_kind),
        ("find-links", "find-links"),
    ):
        out.extend(_src(kind, url, relpath, text) for url in _as_list(table.get(key)))
    for index in table.get("index") or []:
        if isinstance(index, dict) and isinstance(index.get("url"), str):
            kind = "index-url" if index.get("default") else extra_kind
            out.append(_src(kind, index["url"], relpath, text))
    pip = table.get("pip")
    if isinstance(pip, dict):
        out += _uv_sources(pip, relpath, text)
    return out


def config_sources(
    root: Path, relpaths: Iterable[str], warnings: list[ScanWarning]
) -> list[PackageSource]:
    """Index URLs named by pip.conf / pip.ini / uv.toml / pyproject.toml (uv, poetry)."""
    out: list[PackageSource] = []
    for relpath in relpaths:
        name = PurePosixPath(relpath).name
        if name not in _CONFIG_NAMES:
            continue
        text = _read(root, relpath, warnings)
        if text is None:
            continue
        if name in {"pip.conf", "pip.ini"}:
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            try:
                parser.read_string(text)
            except configparser.Error as exc:
                warnings.append(ScanWarning(relpath, f"not parsed: {exc}", code="source"))
                continue
            for section in parser.sections():
                for key in INDEX_KINDS:
                    urls = parser.get(section, key, fallback="").split()
                    out.extend(_src(key, url, relpath, text) for url in urls)
            continue
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            if name == "uv.toml":
                warnings.append(ScanWarning(relpath, f"not parsed: {exc}", code="source"))
            continue  # pyproject.toml problems are reported by its own extractor
        if name == "uv.toml":
            out += _uv_sources(data, relpath, text)
            continue
        tool: dict[str, Any] = data["tool"] if isinstance(data.get("tool"), dict) else {}
        if isinstance(tool.get("uv"), dict):
            out += _uv_sources(tool["uv"], relpath, text)
        poetry: dict[str, Any] = tool["poetry"] if isinstance(tool.get("poetry"), dict) else {}
        for source in poetry.get("source") or []:
            if not isinstance(source, dict) or not isinstance(source.get("url"), str):
                continue
            # Poetry's "supplemental" sources are consulted like pip's extra indexes.
            kind = (
                "extra-index-url"
                if source.get("priority") in ("supplemental", "secondary")
                else "index-url"
            )
            out.append(_src(kind, source["url"], relpath, text))
    return out


def normalize_url(url: str) -> str:
    clean = redact_url(url.strip())
    try:
        parts = urlsplit(clean)
    except ValueError:  # a malformed URL (bad port, broken IPv6 host) is compared as text
        return clean.lower().rstrip("/")
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path}".rstrip("/")


def url_approved(url: str, allowed: Sequence[str]) -> bool:
    norm = normalize_url(url)
    for entry in allowed:
        ok = normalize_url(entry)
        if norm == ok or norm.startswith(ok + "/"):
            return True
    return False


def _is_remote(url: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url)) and not url.startswith("file:")


def check_indexes(sources: Sequence[PackageSource], policy: SourcePolicy) -> list[Finding]:
    out = []
    seen: set[tuple[str, str, str]] = set()
    for src in sources:
        if src.kind not in INDEX_KINDS or "$" in src.url or not _is_remote(src.url):
            continue
        key = (src.kind, normalize_url(src.url), src.location.path)
        if key in seen:
            continue
        seen.add(key)
        shown = redact_url(src.url)
        try:
            host = (urlsplit(shown).hostname or "").lower()
        except ValueError:
            host = ""
        if shown.lower().startswith("http://") and host not in {"localhost", "127.0.0.1", "::1"}:
            out.append(
                Finding(
                    rule_id=RULE_INSECURE,
                    kind="source",
                    severity=Severity.HIGH,
                    message=f"package index {shown} is plain http: packages can be swapped in "
                    "transit",
                    location=src.location,
                    trigger=normalize_url(src.url),
                    fix="use https",
                )
            )
        if policy.indexes and not url_approved(src.url, policy.indexes):
            out.append(
                Finding(
                    rule_id=RULE_INDEX,
                    kind="source",
                    severity=Severity.HIGH,
                    message=f"{src.kind} {shown} is not an approved index (sources.indexes)",
                    location=src.location,
                    trigger=normalize_url(src.url),
                    fix="install from an approved index, or add it to sources.indexes",
                )
            )
        if src.kind == "extra-index-url":
            out.append(
                Finding(
                    rule_id=RULE_EXTRA_INDEX,
                    kind="source",
                    severity=policy.extra_index,
                    message=f"extra index {shown}: pip takes the highest version found on any "
                    "index, so a public package can shadow an internal one "
                    "(dependency confusion)",
                    location=src.location,
                    trigger=normalize_url(src.url),
                    fix="use a single index that proxies the others, or pin hashes "
                    "(--require-hashes)",
                )
            )
    return out


def _image_parts(comp: Component) -> tuple[str, str, bool]:
    """(registry, repository path, pinned by digest) of a container component."""
    name = comp.name
    registry = comp.prop("docker:registry")
    if registry is None:
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            registry, name = first, rest
        else:
            registry = ""
    elif name.startswith(registry + "/"):
        name = name[len(registry) + 1 :]
    pinned_prop = comp.prop("docker:pinned-by-digest")
    if pinned_prop is not None:
        pinned = pinned_prop == "true"
    else:
        pinned = bool(comp.hashes) or (comp.version or "").startswith("sha256:")
    return registry.lower(), name, pinned


def registry_approved(registry: str, path: str, allowed: Sequence[str]) -> bool:
    """Prefix match on ``host/path``; entries without a host match the default registry."""
    candidates = {f"{registry}/{path}" if registry else path}
    if not registry or "." not in registry:
        candidates |= {path, f"library/{path}"} if "/" not in path else {path}
    for entry in allowed:
        ok = entry.strip().rstrip("/").lower()
        for cand in candidates:
            full = cand.lower()
            if full == ok or full.startswith(ok + "/") or full.startswith(ok + ":"):
                return True
        if registry and ok == registry:
            return True
    return False


def check_images(components: Sequence[Component], policy: SourcePolicy) -> list[Finding]:
    out = []
    for comp in components:
        if comp.kind is not ComponentKind.CONTAINER or comp.name in ("scratch", ""):
            continue
        if comp.prop("mlgate:image-source") in LOCAL_IMAGE_SOURCES:
            continue  # read from a file: no registry, and a digest pin means nothing there
        registry, path, pinned = _image_parts(comp)
        shown = f"{registry}/{path}" if registry else path
        for loc in comp.declared_in or (Location("."),):
            if policy.registries and not registry_approved(registry, path, policy.registries):
                out.append(
                    Finding(
                        rule_id=RULE_REGISTRY,
                        kind="source",
                        severity=Severity.HIGH,
                        message=f"image {shown} is not from an approved registry "
                        "(sources.registries)",
                        location=loc,
                        component=comp.bom_ref,
                        trigger=shown,
                        fix="pull from an approved registry, or add it to sources.registries",
                    )
                )
            if policy.require_digest and not pinned:
                out.append(
                    Finding(
                        rule_id=RULE_IMAGE_UNPINNED,
                        kind="source",
                        severity=policy.unpinned_image,
                        message=f"image {shown}:{comp.version or 'latest'} is not pinned by "
                        "digest: the tag can be moved to other content",
                        location=loc,
                        component=comp.bom_ref,
                        trigger=shown,
                        fix="pin it as name:tag@sha256:<digest>",
                    )
                )
    return out


def is_workflow(relpath: str) -> bool:
    p = PurePosixPath(relpath)
    return str(p.parent) == ".github/workflows" and p.suffix in (".yml", ".yaml")


def check_actions(
    root: Path, relpaths: Iterable[str], policy: SourcePolicy, warnings: list[ScanWarning]
) -> list[Finding]:
    """Workflow steps (``uses:``) not pinned to a commit SHA (only with sources.pin-actions)."""
    if not policy.pin_actions:
        return []
    out = []
    for relpath in relpaths:
        if not is_workflow(relpath):
            continue
        text = _read(root, relpath, warnings)
        if text is None:
            continue
        for lineno, line in enumerate(text.splitlines(), 1):
            m = _USES.match(line)
            if not m:
                continue
            value = m.group("value").strip().strip("'\"")
            if value.startswith("./") or "${{" in value:
                continue
            if value.startswith("docker://"):
                if "@sha256:" in value:
                    continue
            else:
                _, _, ref = value.partition("@")
                if _COMMIT.match(ref):
                    continue
            out.append(
                Finding(
                    rule_id=RULE_ACTION_UNPINNED,
                    kind="source",
                    severity=policy.unpinned_action,
                    message=f"workflow step uses {value}, not pinned to a commit SHA",
                    location=Location(relpath, lineno),
                    trigger=value,
                    fix="pin the action to a full 40-hex commit SHA (keep the tag in a comment)",
                )
            )
    return out


def check_sources(
    root: Path,
    inventory: Inventory,
    relpaths: Sequence[str],
    policy: SourcePolicy,
    warnings: list[ScanWarning],
) -> list[Finding]:
    sources = [*inventory.sources, *config_sources(root, relpaths, warnings)]
    return [
        *check_indexes(sources, policy),
        *check_images(inventory.components, policy),
        *check_actions(root, relpaths, policy, warnings),
    ]
