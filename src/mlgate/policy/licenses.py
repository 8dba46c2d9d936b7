"""Licenses: collected from metadata in the tree (and optionally deps.dev), judged by the policy.

Sources, in order: what the extractors read from lockfiles (``Component.licenses``), the
``METADATA`` of installed packages (``*.dist-info``) and of wheels (``*.whl``) present in the tree,
then, only when asked, the deps.dev API. Expressions are normalised to SPDX with
license-expression and judged over their alternatives: ``MIT OR GPL-3.0-only`` passes an
allow-list holding MIT (the MIT alternative is allowed), ``MIT AND GPL-3.0-only`` fails a deny of
GPL-3.0-only (every alternative needs it).
"""

from __future__ import annotations

import email.parser
import hashlib
import itertools
import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from license_expression import (
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
    get_spdx_licensing,
)
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from mlgate.current import skip_on_error
from mlgate.httpsafe import ResponseTooLarge, read_bounded
from mlgate.inventory.interface import ExtractError
from mlgate.inventory.wheels import open_zip, read_member
from mlgate.model import Component, ComponentKind, Finding, Location, ScanWarning, Severity
from mlgate.policy.config import LicensePolicy

log = logging.getLogger(__name__)

RULE_DENIED = "MLG-LICENSE-DENIED"
RULE_NOT_ALLOWED = "MLG-LICENSE-NOT-ALLOWED"
RULE_UNKNOWN = "MLG-LICENSE-UNKNOWN"

MAX_METADATA_BYTES = 1024 * 1024
MAX_DEPS_DEV_BYTES = 4 * 1024 * 1024  # one version's answer is a few kB
MAX_LICENSE_FIELD = 200  # longer "License:" fields hold the whole text, not an expression
MAX_ALTERNATIVES = 256
DEPS_DEV_SYSTEMS = {
    "PyPI": "pypi",
    "npm": "npm",
    "crates.io": "cargo",
    "Go": "go",
    "Maven": "maven",
    "NuGet": "nuget",
}
DEPS_DEV_TIMEOUT = 10.0
DEPS_DEV_WORKERS = 8
DEPS_DEV_RETRIES = 2
DEPS_DEV_BACKOFF = 0.5  # seconds before the first retry; doubled after each
CACHE_TTL_SECONDS = 30 * 24 * 3600

# Trove classifiers and common free-text spellings -> SPDX ids.
_CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD-3-Clause",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "Zope Public License": "ZPL-2.1",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "Eclipse Public License 2.0 (EPL-2.0)": "EPL-2.0",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Academic Free License (AFL)": "AFL-3.0",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
}
_ALIASES = {
    "mit license": "MIT",
    "the mit license": "MIT",
    "apache 2": "Apache-2.0",
    "apache 2.0": "Apache-2.0",
    "apache-2": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache software license 2.0": "Apache-2.0",
    "new bsd license": "BSD-3-Clause",
    "new bsd": "BSD-3-Clause",
    "bsd 3-clause": "BSD-3-Clause",
    "3-clause bsd": "BSD-3-Clause",
    "bsd-3": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause",
    "bsd 2-clause": "BSD-2-Clause",
    "mpl 2.0": "MPL-2.0",
    "mpl-2": "MPL-2.0",
    "psf": "PSF-2.0",
    "psf license": "PSF-2.0",
    "isc license": "ISC",
}


@cache
def licensing() -> Licensing:
    return get_spdx_licensing()


def parse_expression(text: str) -> LicenseExpression | None:
    """Parse a license string as SPDX (aliases applied); ``None`` when it is not an expression."""
    text = text.strip()
    if not text or len(text) > 2000:
        return None
    text = _ALIASES.get(text.lower(), text)
    try:
        expr = licensing().parse(text, validate=False)
    except (ExpressionError, TypeError, ValueError):
        return None
    return expr


def normalize_expression(text: str) -> str | None:
    expr = parse_expression(text)
    return None if expr is None else str(expr.render())


def _symbol_names(sym: Any) -> set[str]:
    """Names an allow/deny entry may use for one symbol (``X WITH Y`` also matches ``X``)."""
    if isinstance(sym, LicenseWithExceptionSymbol):
        full = f"{sym.license_symbol.key} WITH {sym.exception_symbol.key}"
        return {full.casefold(), str(sym.license_symbol.key).casefold()}
    return {str(getattr(sym, "key", sym)).casefold()}


def alternatives(expr: Any) -> list[list[Any]] | None:
    """Disjunctive normal form: the sets of licenses any one of which satisfies ``expr``."""
    lic = licensing()
    if isinstance(expr, LicenseSymbol | LicenseWithExceptionSymbol):
        return [[expr]]
    if isinstance(expr, lic.OR):
        out: list[list[Any]] = []
        for arg in expr.args:
            sub = alternatives(arg)
            if sub is None:
                return None
            out += sub
        return out if len(out) <= MAX_ALTERNATIVES else None
    if isinstance(expr, lic.AND):
        combos: list[list[Any]] = [[]]
        for arg in expr.args:
            sub = alternatives(arg)
            if sub is None:
                return None
            combos = [a + b for a, b in itertools.product(combos, sub)]
            if len(combos) > MAX_ALTERNATIVES:
                return None
        return combos
    return None


@dataclass(frozen=True)
class LicenseDecision:
    status: str  # ok | denied | not-allowed | unknown
    expression: str
    detail: str = ""


def _known(sym: Any) -> bool:
    key = str(getattr(sym, "key", ""))
    if isinstance(sym, LicenseWithExceptionSymbol):
        return _known(sym.license_symbol)
    return not licensing().unknown_license_keys(key)


def judge(licenses: Sequence[str], policy: LicensePolicy) -> LicenseDecision:
    """Decide one component's licenses (several strings count as all of them: AND)."""
    exprs = [e for e in (parse_expression(t) for t in licenses) if e is not None]
    shown = " AND ".join(f"({t})" if " " in t else t for t in licenses) or "(none)"
    if not exprs:
        detail = "no license information" if not licenses else "not an SPDX expression"
        return LicenseDecision("unknown", shown, detail)
    combined = exprs[0] if len(exprs) == 1 else licensing().AND(*exprs)
    shown = str(combined.render())
    alts = alternatives(combined)
    if alts is None:
        return LicenseDecision("unknown", shown, "expression too complex to evaluate")
    allow = {a.casefold() for a in policy.allow}
    deny = {d.casefold() for d in policy.deny}
    statuses = []
    for alt in alts:
        names = [_symbol_names(s) for s in alt]
        if any(n & deny for n in names):
            statuses.append(("denied", alt))
        elif any(
            not (n & (allow | deny)) and not _known(s) for n, s in zip(names, alt, strict=True)
        ):
            statuses.append(("unknown", alt))
        elif allow and not all(n & allow for n in names):
            statuses.append(("not-allowed", alt))
        else:
            return LicenseDecision("ok", shown)
    for wanted in ("unknown", "not-allowed", "denied"):
        for status, alt in statuses:
            if status == wanted:
                if wanted == "denied":
                    bad = [s.render() for s in alt if _symbol_names(s) & deny]
                    detail = f"requires {', '.join(sorted(set(bad)))}"
                elif wanted == "not-allowed":
                    bad = [s.render() for s in alt if not _symbol_names(s) & allow]
                    detail = f"{', '.join(sorted(set(bad)))} not in the allow-list"
                else:
                    bad = [s.render() for s in alt if not _known(s)]
                    detail = f"unknown license id(s): {', '.join(sorted(set(bad)))}"
                return LicenseDecision(wanted, shown, detail)
    return LicenseDecision("unknown", shown)


# -- metadata in the tree ---------------------------------------------------------------------


def licenses_from_metadata(raw: bytes) -> tuple[str, str, tuple[str, ...]] | None:
    """(name, version, licenses) from a core-metadata file (``METADATA`` / ``PKG-INFO``)."""
    text = raw.decode("utf-8", errors="replace")
    head, _, _ = text.partition("\n\n")  # the body is the long description
    msg = email.parser.HeaderParser().parsestr(head)
    name, version = msg.get("Name"), msg.get("Version")
    if not name or not version:
        return None
    expr = (msg.get("License-Expression") or "").strip()
    if expr and (norm := normalize_expression(expr)):
        return name, version, (norm,)
    field_text = (msg.get("License") or "").strip()
    if field_text and len(field_text) <= MAX_LICENSE_FIELD and "\n" not in field_text:
        parsed = parse_expression(field_text)
        if parsed is not None and not licensing().unknown_license_keys(parsed):
            return name, version, (str(parsed.render()),)
    found = []
    for classifier in msg.get_all("Classifier") or []:
        parts = [p.strip() for p in classifier.split("::")]
        if parts[0] == "License" and parts[-1] in _CLASSIFIERS:
            found.append(_CLASSIFIERS[parts[-1]])
    if found:
        unique = sorted(set(found))
        return name, version, (" OR ".join(unique),)  # several classifiers: dual licensing
    if field_text and len(field_text) <= MAX_LICENSE_FIELD and "\n" not in field_text:
        return name, version, (field_text,)
    return name, version, ()


def _wheel_metadata(path: Path) -> bytes | None:
    """The wheel's own METADATA, read as the wheel extractor does (bounded members and bytes)."""
    with open_zip(path, path.stat().st_size) as zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "METADATA":
                return read_member(zf, info)
    return None


def is_metadata_file(relpath: str) -> bool:
    p = PurePosixPath(relpath)
    if p.suffix == ".whl":
        return True
    parent = p.parent.name
    return (p.name == "METADATA" and parent.endswith(".dist-info")) or (
        p.name == "PKG-INFO" and parent.endswith(".egg-info")
    )


def _version_key(version: str) -> str:
    """PEP 440 identity: ``1.0`` and ``1.0.0`` are the same version."""
    try:
        v = Version(version)
    except InvalidVersion:
        return version
    release = list(v.release)
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    return repr((v.epoch, tuple(release), v.pre, v.post, v.dev, v.local))


def tree_licenses(
    root: Path, relpaths: Iterable[str], warnings: list[ScanWarning]
) -> dict[tuple[str, str], tuple[str, ...]]:
    """(canonical name, version) -> licenses, from metadata files and wheels in the tree."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for relpath in relpaths:
        if not is_metadata_file(relpath):
            continue
        with skip_on_error("license metadata", relpath, warnings, code="license"):
            path = root / relpath
            try:
                if relpath.endswith(".whl"):
                    raw = _wheel_metadata(path)
                else:
                    with path.open("rb") as fh:
                        raw = fh.read(MAX_METADATA_BYTES)
            except (OSError, ExtractError) as exc:
                warnings.append(
                    ScanWarning(relpath, f"license metadata not read: {exc}", code="license")
                )
                continue
            if raw is None:
                continue
            parsed = licenses_from_metadata(raw)
            if parsed is None or not parsed[2]:
                continue
            name, version, lic = parsed
            found[(canonicalize_name(name), _version_key(version))] = lic
    return found


def _lookup_key(comp: Component) -> tuple[str, str] | None:
    if comp.version is None:
        return None
    if comp.ecosystem == "PyPI":
        return canonicalize_name(comp.name), _version_key(comp.version)
    return comp.normalized_name, comp.version


def with_licenses(
    components: Sequence[Component], found: dict[tuple[str, str], tuple[str, ...]]
) -> list[Component]:
    """Components that gain licenses from ``found`` (matched by normalised name and version)."""
    out = []
    for comp in components:
        key = _lookup_key(comp)
        if comp.ecosystem != "PyPI" or comp.kind is not ComponentKind.LIBRARY:
            continue
        if key is None or key not in found:
            continue
        new = tuple(sorted(set(comp.licenses) | set(found[key])))
        if new != comp.licenses:
            out.append(replace(comp, licenses=new))
    return out


# -- deps.dev ---------------------------------------------------------------------------------


class DepsDevClient:
    """``GET {base}/v3/systems/{system}/packages/{name}/versions/{version}`` -> licenses.

    Answers (404 included) are cached on disk per URL; a failed lookup is reported, never
    taken for "no license".
    """

    def __init__(
        self,
        base_url: str,
        cache_dir: Path | None,
        *,
        timeout: float = DEPS_DEV_TIMEOUT,
        backoff: float = DEPS_DEV_BACKOFF,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.backoff = backoff
        self.cache_dir = cache_dir
        self.timeout = timeout
        self.requests = 0
        self._lock = threading.Lock()
        import requests  # lazily: only runs that look licenses up online pay for it

        self._requests = requests
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "mlgate"

    def url(self, comp: Component) -> str | None:
        system = DEPS_DEV_SYSTEMS.get(comp.ecosystem)
        if system is None or comp.version is None:
            return None
        name = canonicalize_name(comp.name) if comp.ecosystem == "PyPI" else comp.name
        return (
            f"{self.base_url}/v3/systems/{system}/packages/{quote(name, safe='')}"
            f"/versions/{quote(comp.version, safe='')}"
        )

    def _cache_path(self, url: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{hashlib.sha256(url.encode()).hexdigest()}.json"

    def _cached(self, url: str) -> tuple[str, ...] | None:
        path = self._cache_path(url)
        if path is None:
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or time.time() - data.get("at", 0) > CACHE_TTL_SECONDS:
            return None
        return tuple(str(x) for x in data.get("licenses", ()))

    def _store(self, url: str, licenses: tuple[str, ...]) -> None:
        path = self._cache_path(url)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({"at": time.time(), "licenses": list(licenses)}))
            tmp.replace(path)
        except OSError as exc:
            log.debug("deps.dev cache not written: %s", exc)

    def fetch(self, url: str) -> tuple[str, ...]:
        """Licenses for one version URL; raises ``RuntimeError`` when the lookup failed."""
        cached = self._cached(url)
        if cached is not None:
            return cached
        error = "no answer"
        for attempt in range(DEPS_DEV_RETRIES + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            with self._lock:
                self.requests += 1
            try:
                resp = self._session.get(url, timeout=self.timeout, stream=True)
                status = resp.status_code
                body = b""
                if status == 200:
                    body = read_bounded(resp, MAX_DEPS_DEV_BYTES)  # closes it
                else:
                    resp.close()
            except self._requests.RequestException as exc:
                error = type(exc).__name__
                continue
            except ResponseTooLarge:
                raise RuntimeError("answer larger than the size limit") from None
            if status == 404:
                self._store(url, ())
                return ()
            if status == 429 or status >= 500:
                error = f"HTTP {status}"
                continue
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
            try:
                data = json.loads(body)
            except ValueError:
                raise RuntimeError("answer is not JSON") from None
            raw = data.get("licenses") if isinstance(data, dict) else None
            found = tuple(str(x) for x in raw or () if isinstance(x, str) and x.strip())
            found = tuple(normalize_expression(x) or x for x in found if x != "non-standard")
            self._store(url, found)
            return found
        raise RuntimeError(error)

    def licenses(
        self, components: Sequence[Component]
    ) -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str]]]:
        """bom-ref -> licenses for the components it could look up; and (bom-ref, error)."""
        todo = [(c.bom_ref, u) for c in components if (u := self.url(c)) is not None]
        found: dict[str, tuple[str, ...]] = {}
        failed: list[tuple[str, str]] = []

        def one(item: tuple[str, str]) -> tuple[str, tuple[str, ...] | None, str]:
            ref, url = item
            try:
                return ref, self.fetch(url), ""
            except RuntimeError as exc:
                return ref, None, str(exc)

        with ThreadPoolExecutor(max_workers=DEPS_DEV_WORKERS) as pool:
            for ref, lic, err in pool.map(one, todo):
                if lic is None:
                    failed.append((ref, err))
                elif lic:
                    found[ref] = lic
        return found, failed


def online_licenses(
    components: Sequence[Component], policy: LicensePolicy, cache_dir: Path | None
) -> tuple[list[Component], list[ScanWarning]]:
    """Ask deps.dev about library components that have no license yet."""
    wanted = [
        c
        for c in components
        if c.kind is ComponentKind.LIBRARY and not c.licenses and c.version is not None
    ]
    if not wanted:
        return [], []
    client = DepsDevClient(policy.deps_dev_url, cache_dir)
    found, failed = client.licenses(wanted)
    updated = [replace(c, licenses=found[c.bom_ref]) for c in wanted if c.bom_ref in found]
    warnings = []
    if failed:
        names = ", ".join(ref for ref, _ in failed[:10])
        more = f" and {len(failed) - 10} more" if len(failed) > 10 else ""
        reasons = "; ".join(sorted({e for _, e in failed})[:5])
        warnings.append(
            ScanWarning(
                "deps.dev",
                f"license lookup failed for {len(failed)} package(s) ({reasons}): {names}{more}",
                code="licenses-online",
            )
        )
    return updated, warnings


# -- findings ---------------------------------------------------------------------------------


def license_findings(components: Sequence[Component], policy: LicensePolicy) -> list[Finding]:
    if not policy.active:
        return []
    out = []
    for comp in components:
        if comp.kind is not ComponentKind.LIBRARY or not comp.ecosystem:
            continue
        decision = judge(comp.licenses, policy)
        if decision.status == "ok":
            continue
        loc = comp.declared_in[0] if comp.declared_in else Location(".")
        label = f"{comp.name}{'@' + comp.version if comp.version else ''}"
        if decision.status == "unknown":
            if policy.unknown == "ignore":
                continue
            sev = Severity.INFO if policy.unknown == "warn" else policy.severity
            rule, text = RULE_UNKNOWN, f"license of {label} is unknown ({decision.detail})"
        elif decision.status == "denied":
            rule, sev = RULE_DENIED, policy.severity
            text = f"{label} is licensed {decision.expression}, which {decision.detail} (denied)"
        else:
            rule, sev = RULE_NOT_ALLOWED, policy.severity
            text = f"{label} is licensed {decision.expression}: {decision.detail}"
        out.append(
            Finding(
                rule_id=rule,
                kind="license",
                severity=sev,
                message=text,
                location=loc,
                component=comp.bom_ref,
                trigger=decision.expression,
                fix="replace the package, or record the decision in licenses.allow / an ignore",
            )
        )
    return out
