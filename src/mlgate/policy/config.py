"""The policy file: find it, validate it against the shipped JSON Schema, turn it into values.

Command-line values win over the file, the file wins over the defaults, and the defaults are the
safe ones (``fail-on: high``, unknown severity treated as high, digest-pinned base images).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlgate.errors import PolicyError
from mlgate.model import Severity
from mlgate.options import ScanOptions

if TYPE_CHECKING:
    import jsonschema
    import yaml

POLICY_NAMES = (".mlgate.yml", ".mlgate.yaml")
MAX_POLICY_BYTES = 1024 * 1024
MAX_POLICY_VALUES = 100_000  # a real policy holds hundreds
DEFAULT_LOCK_NAME = "models.lock.json"
DEPS_DEV_URL = "https://api.deps.dev"


@dataclass(frozen=True)
class IgnoreRule:
    """One accepted risk: an id (or alias, or rule id), optional narrowing, a reason, an expiry."""

    id: str
    reason: str
    package: str | None = None
    versions: str | None = None
    paths: tuple[str, ...] = ()
    expires: dt.date | None = None
    justification: str | None = None  # CycloneDX VEX justification (state not_affected)
    response: tuple[str, ...] = ()  # CycloneDX VEX responses (state exploitable)
    index: int = 0
    line: int | None = None

    def expired(self, today: dt.date) -> bool:
        return self.expires is not None and self.expires < today


@dataclass(frozen=True)
class LicensePolicy:
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    unknown: str = "warn"  # warn | fail | ignore
    severity: Severity = Severity.HIGH  # of a denied / not allowed license
    online: bool = False
    deps_dev_url: str = DEPS_DEV_URL

    @property
    def active(self) -> bool:
        """License rules are only checked when the policy names some licenses."""
        return bool(self.allow or self.deny)


@dataclass(frozen=True)
class ModelPolicy:
    lock: str | None = None  # relative to the root; None: models.lock.json when present
    deny_formats: tuple[str, ...] = ()
    require_formats: tuple[str, ...] = ()
    scan_code: bool = True
    unpinned_severity: Severity = Severity.MEDIUM


@dataclass(frozen=True)
class SourcePolicy:
    indexes: tuple[str, ...] = ()
    registries: tuple[str, ...] = ()
    require_digest: bool = True
    unpinned_image: Severity = Severity.MEDIUM
    extra_index: Severity = Severity.MEDIUM
    pin_actions: bool = False
    unpinned_action: Severity = Severity.MEDIUM


@dataclass(frozen=True)
class ImagePolicy:
    """Checks of scanned container images; ``Severity.NONE`` turns one off."""

    max_age_days: int = 365
    root_user: Severity = Severity.MEDIUM
    exposed_ports: Severity = Severity.INFO
    stale: Severity = Severity.LOW
    base_unpinned: Severity = Severity.LOW


@dataclass(frozen=True)
class Policy:
    fail_on: Severity = Severity.HIGH
    unknown_severity: Severity = Severity.HIGH
    allow_globals: tuple[str, ...] = ()
    path: str | None = None  # the policy file as shown in findings (relative to the root)
    ignores: tuple[IgnoreRule, ...] = ()
    licenses: LicensePolicy = field(default_factory=LicensePolicy)
    models: ModelPolicy = field(default_factory=ModelPolicy)
    sources: SourcePolicy = field(default_factory=SourcePolicy)
    images: ImagePolicy = field(default_factory=ImagePolicy)
    baseline: Path | None = None


@cache
def _policy_loader() -> type[yaml.SafeLoader]:
    # built on first use: yaml is only imported when there is a policy file to read
    import yaml

    class _PolicyLoader(yaml.SafeLoader):
        """Safe loader that keeps dates as text: the schema checks them, a bad one is reported."""

    _PolicyLoader.add_constructor(
        "tag:yaml.org,2002:timestamp",
        lambda loader, node: loader.construct_scalar(node),  # type: ignore[arg-type]
    )
    return _PolicyLoader


@cache
def policy_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) shipped with the package."""
    from importlib import resources

    text = resources.files("mlgate.policy").joinpath("schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def find_policy(root: Path, explicit: Path | None) -> Path | None:
    if explicit is not None:
        if not explicit.is_file():
            raise PolicyError(f"{explicit}: policy file not found")
        return explicit
    for name in POLICY_NAMES:
        candidate = root / name
        if candidate.is_file():
            # a symlink out of the tree is never read: its text would reach the error messages
            if not candidate.resolve().is_relative_to(root.resolve()):
                raise PolicyError(f"{name}: the policy file leads out of the scanned root")
            return candidate
    return None


def _plain(value: Any, display: str) -> Any:
    """YAML values as JSON ones: dates become ISO strings, keys become strings.

    YAML aliases share one object, so a small file can stand for billions of values; the copy
    stops at MAX_POLICY_VALUES instead of expanding them.
    """
    left = MAX_POLICY_VALUES

    def copy(value: Any) -> Any:
        nonlocal left
        left -= 1
        if left < 0:
            raise PolicyError(
                f"{display}: more than {MAX_POLICY_VALUES} values (YAML aliases repeated?)"
            )
        if isinstance(value, dict):
            return {str(k): copy(v) for k, v in value.items()}
        if isinstance(value, list):
            return [copy(v) for v in value]
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    return copy(value)


def _node_line(node: yaml.Node | None, path: tuple[str | int, ...]) -> int | None:
    """1-based line of the value at ``path`` in a composed YAML document."""
    if node is None:
        return None
    import yaml

    line = node.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key, val in node.value:
                if key.value == part:
                    line, node = key.start_mark.line + 1, val
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _json_path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def _describe(error: jsonschema.ValidationError) -> tuple[tuple[str | int, ...], str]:
    path: tuple[str | int, ...] = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        parts = []
        for key in extra:
            guess = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean '{guess[0]}'?)" if guess else ""
            parts.append(f"unknown key '{key}'{hint}")
        key_path = (*path, extra[0]) if extra else path
        return key_path, "; ".join(parts) + f"; allowed keys: {', '.join(allowed)}"
    if error.validator == "required" and isinstance(error.validator_value, list):
        present = error.instance if isinstance(error.instance, dict) else {}
        missing = [k for k in error.validator_value if k not in present]
        return path, f"missing required key '{missing[0] if missing else '?'}'"
    if error.validator == "enum" and isinstance(error.validator_value, list):
        choices = ", ".join(str(c) for c in error.validator_value)
        return path, f"{error.instance!r} is not one of: {choices}"
    return path, error.message


def validate_policy_data(data: Any, display: str, node: yaml.Node | None = None) -> None:
    """Raise :class:`PolicyError` naming every offending key (with its line when known)."""
    import jsonschema  # lazily: importing it costs seconds (format checkers) on every run

    validator = jsonschema.Draft202012Validator(policy_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if not errors:
        return
    lines = []
    for error in errors[:10]:
        path, text = _describe(error)
        line = _node_line(node, path)
        where = f"{display}:{line}" if line else display
        lines.append(f"{where}: {_json_path(path)}: {text}")
    if len(errors) > 10:
        lines.append(f"... and {len(errors) - 10} more")
    raise PolicyError(
        "invalid policy file\n  " + "\n  ".join(lines),
        hint="the policy file is documented in docs/policy.md and docs/policy-reference.md",
    )


def _read_yaml(path: Path, display: str) -> tuple[Any, yaml.Node | None]:
    import yaml

    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_POLICY_BYTES + 1)
    except OSError as exc:
        raise PolicyError(f"{display}: cannot read the policy file: {exc.strerror}") from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"{display}: policy file larger than {MAX_POLICY_BYTES} bytes")
    try:
        text = raw.decode("utf-8-sig")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_policy_loader())  # a SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{display}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{display}:{mark.line + 1}" if mark is not None else display
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{where}: not valid YAML: {problem}") from None
    return _plain(data, display), node


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _sev(value: Any, default: Severity) -> Severity:
    return Severity(value) if value is not None else default


def _strings(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def policy_from_data(
    data: dict[str, Any], *, display: str | None = None, node: yaml.Node | None = None
) -> Policy:
    """Build a :class:`Policy` from validated data."""
    ignores = []
    for i, entry in enumerate(data.get("ignore") or []):
        expires = entry.get("expires")
        try:
            expiry = dt.date.fromisoformat(expires) if expires else None
        except ValueError:
            line = _node_line(node, ("ignore", i, "expires"))
            where = f"{display}:{line}" if line else (display or "policy")
            raise PolicyError(
                f"{where}: ignore[{i}].expires: {expires!r} is not a date (YYYY-MM-DD)"
            ) from None
        ignores.append(
            IgnoreRule(
                id=entry["id"].strip(),
                reason=entry["reason"].strip(),
                package=entry.get("package"),
                versions=entry.get("versions"),
                paths=_strings(entry.get("paths")),
                expires=expiry,
                justification=entry.get("justification"),
                response=_strings(entry.get("response")),
                index=i,
                line=_node_line(node, ("ignore", i)),
            )
        )
    lic = data.get("licenses") or {}
    mod = data.get("models") or {}
    src = data.get("sources") or {}
    img = data.get("images") or {}
    baseline = data.get("baseline")
    return Policy(
        fail_on=_sev(data.get("fail-on"), Severity.HIGH),
        unknown_severity=_sev(data.get("unknown-severity"), Severity.HIGH),
        allow_globals=_strings(mod.get("allow-globals")),
        path=display,
        ignores=tuple(ignores),
        licenses=LicensePolicy(
            allow=_strings(lic.get("allow")),
            deny=_strings(lic.get("deny")),
            unknown=lic.get("unknown", "warn"),
            severity=_sev(lic.get("severity"), Severity.HIGH),
            online=bool(lic.get("online", False)),
            deps_dev_url=lic.get("deps-dev-url") or DEPS_DEV_URL,
        ),
        models=ModelPolicy(
            lock=mod.get("lock"),
            deny_formats=_strings(mod.get("deny-formats")),
            require_formats=_strings(mod.get("require-formats")),
            scan_code=bool(mod.get("scan-code", True)),
            unpinned_severity=_sev(mod.get("unpinned-severity"), Severity.MEDIUM),
        ),
        sources=SourcePolicy(
            indexes=_strings(src.get("indexes")),
            registries=_strings(src.get("registries")),
            require_digest=bool(src.get("require-digest", True)),
            unpinned_image=_sev(src.get("unpinned-image"), Severity.MEDIUM),
            extra_index=_sev(src.get("extra-index"), Severity.MEDIUM),
            pin_actions=bool(src.get("pin-actions", False)),
            unpinned_action=_sev(src.get("unpinned-action"), Severity.MEDIUM),
        ),
        images=ImagePolicy(
            max_age_days=int(img.get("max-age-days", 365)),
            root_user=_sev(img.get("root-user"), Severity.MEDIUM),
            exposed_ports=_sev(img.get("exposed-ports"), Severity.INFO),
            stale=_sev(img.get("stale"), Severity.LOW),
            base_unpinned=_sev(img.get("base-unpinned"), Severity.LOW),
        ),
        baseline=Path(baseline) if baseline else None,
    )


def parse_policy_text(text: str, display: str = "policy") -> Policy:
    """Validate and build a policy from YAML text (used by tests and the docs check)."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = _plain(yaml.load(text, Loader=_policy_loader()), display)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{display}: not valid YAML: {exc}") from None
    return _build(data, display, node)


def _build(data: Any, display: str, node: yaml.Node | None) -> Policy:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{display}: the policy file must be a mapping of keys to values")
    validate_policy_data(data, display, node)
    return policy_from_data(data, display=display, node=node)


def load_policy_file(path: Path, root: Path) -> Policy:
    display = _display(path, root)
    data, node = _read_yaml(path, display)
    return _build(data, display, node)


def load_policy(options: ScanOptions) -> Policy:
    """Find and validate the policy file; command-line values win over it."""
    root = options.root
    found = find_policy(root, options.policy)
    policy = load_policy_file(found, root) if found is not None else Policy()
    changes: dict[str, Any] = {}
    if options.fail_on is not None:
        changes["fail_on"] = options.fail_on
    if options.baseline is not None:
        changes["baseline"] = options.baseline
    elif policy.baseline is not None and not policy.baseline.is_absolute():
        changes["baseline"] = root / policy.baseline
    lic = policy.licenses
    if options.licenses_online and not lic.online:
        lic = replace(lic, online=True)
    if options.deps_dev_url:
        lic = replace(lic, deps_dev_url=options.deps_dev_url)
    if lic is not policy.licenses:
        changes["licenses"] = lic
    if not changes:
        return policy
    return replace(policy, **changes)
