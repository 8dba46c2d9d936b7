"""The options of one scan: what the CLI, the GitHub Action and the CI templates all map onto."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mlgate.model import Severity

DEFAULT_MAX_MANIFEST_BYTES = 64 * 1024 * 1024
DEFAULT_PLATFORM = "linux/amd64"


class CommentMode(StrEnum):
    ALWAYS = "always"
    ON_FAILURE = "on-failure"
    NEVER = "never"


@dataclass(frozen=True)
class ScanOptions:
    root: Path
    # inventory
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = ()  # sub-paths of root to scan alone (a CI-matrix shard)
    no_dev: bool = False
    strict: bool = False
    max_manifest_bytes: int = DEFAULT_MAX_MANIFEST_BYTES
    # container images (--image): references, OCI layouts or tarballs
    images: tuple[str, ...] = ()
    platform: str = DEFAULT_PLATFORM
    insecure_registries: tuple[str, ...] = ()
    # stages on/off
    vulns: bool = True
    models: bool = True
    # OSV (enrich)
    osv_url: str | None = None  # base URL without /v1; None: OSV's public API
    osv_db: Path | None = None  # offline database
    osv_fallback_db: Path | None = None  # offline database used only when OSV is unreachable
    cache_dir: Path | None = None
    no_cache: bool = False
    allow_incomplete: bool = False
    # policy
    policy: Path | None = None
    fail_on: Severity | None = None  # overrides the policy file
    baseline: Path | None = None
    licenses_online: bool = False
    deps_dev_url: str | None = None
    # reports
    sbom: Path | None = None
    json: Path | None = None
    sarif: Path | None = None
    markdown: Path | None = None
    gitlab_report: Path | None = None
    gitlab_report_version: str | None = None
    codequality: Path | None = None
    vex: Path | None = None
    reproducible: bool = False
    # GitHub publishing
    github: bool = False
    comment: CommentMode = CommentMode.ALWAYS
    upload_sarif: bool = False
