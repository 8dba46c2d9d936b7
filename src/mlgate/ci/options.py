"""The one options model behind every rendered CI config (GitHub, GitLab, Jenkins).

Values are checked here, before any template sees them: a config that renders is a config whose
values are all of the expected shape. Templates still quote every value for their own language
(YAML double-quoted scalars, Groovy single-quoted strings) so that a value that slipped through
could never become YAML keys or Groovy code; in the shell every value travels as an environment
variable expanded inside double quotes, so the shell never parses a value as code either.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mlgate import __version__
from mlgate.errors import UsageError
from mlgate.model import Severity

# Build the project's Dockerfile and push it to your own registry; the example host makes a
# missing --image fail loudly instead of pulling somebody else's image.
DEFAULT_IMAGE = f"registry.example/mlgate/mlgate:{__version__}"
DEFAULT_GITLAB_REPORT_VERSION = "15.1.4"
# GitLab accepts the 15.0.x-15.1.x report schemas; 15.2 is the newest format mlgate knows.
GITLAB_REPORT_VERSION_RE = re.compile(r"^15\.[0-2]\.\d{1,3}$")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# repository[:tag][@sha256:digest], lower-case path components as the OCI distribution spec says
_IMAGE_RE = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]{1,5})?"  # host or first component (optional port)
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?$"
)
_URL_RE = re.compile(r"^https?://[A-Za-z0-9._~:/?#\[\]@!&()*+,;=%-]+$")
# extra arguments are split on spaces by the shell: no quoting, globbing or expansion characters
_ARG_RE = re.compile(r"^[A-Za-z0-9_.,/:=@+%-]+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
_CREDENTIALS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_BRANCH_RE = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
# scanned images travel space-separated and are split by the shell like extra_args: a path (OCI
# layout, tarball, `DIR:TAG`) keeps to its charset less the comma (the list separator of --set),
# so no word is quoted, globbed or expanded
_IMAGE_PATH_RE = re.compile(r"^[A-Za-z0-9_./:=@+%-]+$")
_PLATFORM_RE = re.compile(r"^[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?$")


class Platform(StrEnum):
    GITHUB = "github"
    GITLAB = "gitlab"
    JENKINS = "jenkins"


class GitLabKind(StrEnum):
    COMPONENT = "component"  # CI/CD catalog component: spec:inputs, then the job
    TEMPLATE = "template"  # plain file for include:local / include:remote


@dataclass(frozen=True)
class CiOptions:
    """Everything a rendered config passes to ``mlgate scan``, plus a few platform knobs."""

    path: str = "."
    fail_on: Severity = Severity.HIGH
    image: str = DEFAULT_IMAGE
    policy: str | None = None
    sbom: str = "mlgate.cdx.json"
    sarif: str = "mlgate.sarif"
    json: str = "mlgate.json"
    markdown: str | None = None
    gitlab_report: str = "gl-dependency-scanning-report.json"
    gitlab_report_version: str = DEFAULT_GITLAB_REPORT_VERSION
    codequality: str = "gl-code-quality-report.json"
    osv_url: str | None = None
    osv_db: str | None = None
    extra_args: tuple[str, ...] = ()
    # container images scanned too (`mlgate scan --image`); `image` above is the job's own image
    scan_images: tuple[str, ...] = ()
    scan_platform: str | None = None  # None: mlgate's default platform
    timeout_minutes: int = 30
    job_name: str = "mlgate"
    # GitLab
    gitlab_kind: GitLabKind = GitLabKind.COMPONENT
    stage: str = "test"
    mr_note: bool = False  # sticky merge-request note through the GitLab API
    # Jenkins: credentials id of a GitLab project token for the merge-request note
    credentials_id: str | None = None
    gitlab_api_url: str | None = None
    # GitHub
    default_branch: str = "main"

    def check(self) -> None:
        """Raise :class:`UsageError` naming the first invalid value."""
        _check_relative("path", self.path, allow_dot=True)
        for name in ("sbom", "sarif", "json", "gitlab_report", "codequality"):
            _check_relative(name, getattr(self, name))
        if self.markdown is not None:
            _check_relative("markdown", self.markdown)
        for name in ("policy", "osv_db"):
            value = getattr(self, name)
            if value is not None:
                _check_text(name, value)
        if not _IMAGE_RE.match(self.image) or len(self.image) > 255:
            raise UsageError(
                f"image: {self.image!r} is not an image reference",
                hint="name[:tag][@sha256:digest], e.g. registry.example/mlgate/mlgate:0.1.0",
            )
        for ref in self.scan_images:
            _check_scan_image(ref)
        if self.scan_platform is not None and not _PLATFORM_RE.fullmatch(self.scan_platform):
            raise UsageError(
                f"scan_platform: {self.scan_platform!r} is not a platform",
                hint="os/arch[/variant], e.g. linux/amd64 or linux/arm64",
            )
        for name in ("osv_url", "gitlab_api_url"):
            value = getattr(self, name)
            if value is not None and not _URL_RE.match(value):
                raise UsageError(f"{name}: {value!r} is not an http(s) URL")
        for arg in self.extra_args:
            if not _ARG_RE.match(arg):
                raise UsageError(
                    f"extra_args: {arg!r} has characters the shell would interpret",
                    hint="letters, digits and _ . , / : = @ + % - only (use --opt=value)",
                )
        if not GITLAB_REPORT_VERSION_RE.match(self.gitlab_report_version):
            raise UsageError(
                f"gitlab_report_version: {self.gitlab_report_version!r} is not supported",
                hint="15.0.x, 15.1.x or 15.2.x (GitLab rejects versions it does not know)",
            )
        if not 1 <= self.timeout_minutes <= 1440:
            raise UsageError(f"timeout_minutes: {self.timeout_minutes} is not within 1-1440")
        for name in ("job_name", "stage"):
            if not _NAME_RE.match(getattr(self, name)):
                raise UsageError(f"{name}: {getattr(self, name)!r} must match {_NAME_RE.pattern}")
        if self.credentials_id is not None and not _CREDENTIALS_RE.match(self.credentials_id):
            raise UsageError(f"credentials_id: {self.credentials_id!r} is not a credentials id")
        if not _BRANCH_RE.match(self.default_branch) or ".." in self.default_branch:
            raise UsageError(f"default_branch: {self.default_branch!r} is not a branch name")
        if self.credentials_id is not None and not self.mr_note:
            raise UsageError("credentials_id is the token of the merge-request note: set mr_note")
        if self.mr_note and self.markdown is None:
            raise UsageError("mr_note needs a markdown file (the note's body)")

    def env(self) -> dict[str, str]:
        """The environment every platform sets for the scan step (same keys, same values)."""
        return {
            "MLGATE_PATH": self.path,
            "MLGATE_FAIL_ON": self.fail_on.value,
            "MLGATE_SBOM": self.sbom,
            "MLGATE_SARIF": self.sarif,
            "MLGATE_JSON": self.json,
            "MLGATE_GITLAB_REPORT": self.gitlab_report,
            "MLGATE_GITLAB_REPORT_VERSION": self.gitlab_report_version,
            "MLGATE_CODEQUALITY": self.codequality,
            "MLGATE_MARKDOWN": self.markdown or "",
            "MLGATE_POLICY": self.policy or "",
            "MLGATE_OSV_URL": self.osv_url or "",
            "MLGATE_OSV_DB": self.osv_db or "",
            "MLGATE_SCAN_IMAGES": " ".join(self.scan_images),
            "MLGATE_SCAN_PLATFORM": self.scan_platform or "",
            "MLGATE_EXTRA_ARGS": " ".join(self.extra_args),
        }

    def report_files(self) -> tuple[str, ...]:
        files = [self.sbom, self.sarif, self.json, self.gitlab_report, self.codequality]
        if self.markdown:
            files.append(self.markdown)
        return tuple(files)


# The one command line all three platforms run. Values come from the environment above and are
# expanded inside double quotes (never re-parsed by the shell); optional flags vanish when their
# variable is empty. MLGATE_EXTRA_ARGS is split on spaces on purpose (its words are checked), and
# so is MLGATE_SCAN_IMAGES: printf repeats its format for each checked word, giving one
# --image=REF word each (the newline is a field separator; no space, so the Jenkinsfile's one
# option per line never breaks inside the quotes).
SCAN_COMMAND = (
    "mlgate ${MLGATE_LOG_FLAGS:-} scan"
    ' "$MLGATE_PATH"'
    ' --fail-on "$MLGATE_FAIL_ON"'
    ' --sbom "$MLGATE_SBOM"'
    ' --sarif "$MLGATE_SARIF"'
    ' --json "$MLGATE_JSON"'
    ' --gitlab-report "$MLGATE_GITLAB_REPORT"'
    ' --gitlab-report-version "$MLGATE_GITLAB_REPORT_VERSION"'
    ' --codequality "$MLGATE_CODEQUALITY"'
    ' ${MLGATE_MARKDOWN:+--markdown "$MLGATE_MARKDOWN"}'
    ' ${MLGATE_POLICY:+--policy "$MLGATE_POLICY"}'
    ' ${MLGATE_OSV_URL:+--osv-url "$MLGATE_OSV_URL"}'
    ' ${MLGATE_OSV_DB:+--osv-db "$MLGATE_OSV_DB"}'
    " ${MLGATE_SCAN_IMAGES:+$(printf '\\n--image=%s' $MLGATE_SCAN_IMAGES)}"
    ' ${MLGATE_SCAN_PLATFORM:+--platform "$MLGATE_SCAN_PLATFORM"}'
    " ${MLGATE_EXTRA_ARGS:-}"
)

# GitLab's analyzers take SECURE_LOG_LEVEL (debug, info, warn, error, fatal).
GITLAB_LOG_LEVEL = (
    'case "${SECURE_LOG_LEVEL:-}" in'
    " debug|trace) MLGATE_LOG_FLAGS=-vv ;;"
    " info) MLGATE_LOG_FLAGS=-v ;;"
    " error|fatal) MLGATE_LOG_FLAGS=-q ;;"
    " *) MLGATE_LOG_FLAGS= ;;"
    " esac"
)


def _check_text(name: str, value: str) -> None:
    if not value:
        raise UsageError(f"{name}: must not be empty")
    if len(value) > 1024:
        raise UsageError(f"{name}: longer than 1024 characters")
    if _CONTROL.search(value):
        raise UsageError(f"{name}: {value!r} contains control or line-break characters")
    if value.startswith("-"):
        raise UsageError(f"{name}: {value!r} would be read as an option")
    if "$" in value or "`" in value:
        # Jenkins' environment directive resolves ${...} even in single-quoted strings, GitLab
        # expands $VAR and $[[ inputs ]], GitHub evaluates ${{ }}: none of it belongs in a value
        raise UsageError(f"{name}: {value!r} contains '$' or '`', which CI systems expand")


def _check_scan_image(ref: str) -> None:
    """A registry reference, or an OCI layout/tarball path inside the workspace."""
    if _IMAGE_RE.fullmatch(ref) and len(ref) <= 255:
        return
    if not _IMAGE_PATH_RE.fullmatch(ref):
        _check_text("scan_images", ref)  # names '$', '`' and control characters first
        raise UsageError(
            f"scan_images: {ref!r} is neither an image reference nor a plain relative path",
            hint="host/repo[:tag][@sha256:digest], or a path of letters, digits and _ . , / : "
            "= @ + % - (OCI layout folder or tarball in the workspace)",
        )
    _check_relative("scan_images", ref)


def _check_relative(name: str, value: str, *, allow_dot: bool = False) -> None:
    """Paths inside the workspace: relative, no '..' (CI artifacts must stay in the project)."""
    _check_text(name, value)
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise UsageError(f"{name}: {value!r} must be relative to the repository")
    if ".." in parts:
        raise UsageError(f"{name}: {value!r} must not leave the repository ('..')")
    if value == "." and not allow_dot:
        raise UsageError(f"{name}: must name a file")


_FIELDS = {f.name: f for f in dataclasses.fields(CiOptions)}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(name: str, raw: str) -> Any:
    default = _FIELDS[name].default
    if name == "fail_on":
        try:
            return Severity(raw.lower())
        except ValueError:
            choices = ", ".join(s.value for s in Severity)
            raise UsageError(f"fail_on: {raw!r} is not one of {choices}") from None
    if name == "gitlab_kind":
        try:
            return GitLabKind(raw.lower())
        except ValueError:
            raise UsageError(f"gitlab_kind: {raw!r} is not component or template") from None
    if name == "extra_args":
        return tuple(raw.split())
    if name == "scan_images":
        # comma or space separated (--set scan_images=a,b); a comma is part of no reference
        return tuple(raw.replace(",", " ").split())
    if isinstance(default, bool):
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise UsageError(f"{name}: {raw!r} is not a boolean (true/false)")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"{name}: {raw!r} is not an integer") from None
    return raw


def parse_options(values: Mapping[str, str | None], settings: Iterable[str] = ()) -> CiOptions:
    """Build checked options from named values (``None``: keep the default) and KEY=VALUE pairs.

    Unknown keys and invalid values raise :class:`UsageError` before anything is rendered.
    """
    raw: dict[str, str] = {k: v for k, v in values.items() if v is not None}
    for item in settings:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        raw[key] = value
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise UsageError(
            f"unknown option(s): {', '.join(unknown)}",
            hint="known: " + ", ".join(sorted(_FIELDS)),
        )
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        default = _FIELDS[key].default
        if value == "" and default is None:
            continue  # an empty optional value is the same as not giving it
        kwargs[key] = _convert(key, value)
    if kwargs.get("credentials_id"):
        kwargs.setdefault("mr_note", True)  # the Jenkins credentials exist for the note
    if kwargs.get("mr_note") and "markdown" not in kwargs:
        kwargs["markdown"] = "mlgate.md"
    options = CiOptions(**kwargs)
    options.check()
    return options
