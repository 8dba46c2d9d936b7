"""Model provenance: ``models.lock.json`` records every reviewed model and data file.

``mlgate models lock`` writes it from the inventory (path, SHA-256, size, format; source,
revision and card are kept from the previous lock, where people record them). With a lock in
force, a model that is not in it, or whose hash changed, is a finding: an unreviewed model
slipping in. Allowed formats are checked here too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate import __version__
from mlgate.model import Component, ComponentKind, Finding, Inventory, Location, Severity
from mlgate.policy.config import DEFAULT_LOCK_NAME, ModelPolicy
from mlgate.textsafe import for_terminal

LOCK_VERSION = 1
MAX_LOCK_BYTES = 64 * 1024 * 1024
OPTIONAL_FIELDS = ("source", "revision", "card")

RULE_UNLOCKED = "MLG-MODEL-UNLOCKED"
RULE_MISMATCH = "MLG-MODEL-HASH-MISMATCH"
RULE_GONE = "MLG-MODEL-LOCK-MISSING"
RULE_INVALID = "MLG-MODEL-LOCK-INVALID"
RULE_FORMAT_DENIED = "MLG-MODEL-FORMAT-DENIED"
RULE_FORMAT_NOT_ALLOWED = "MLG-MODEL-FORMAT-NOT-ALLOWED"

# Format families: naming one in deny-formats / require-formats names all its members. "pickle"
# is the family because every one of these unpickles when loaded.
FORMAT_FAMILIES = {
    "pickle": frozenset({"pickle", "joblib", "torch-zip", "torch-legacy", "torchscript"}),
    "pickle-based": frozenset({"pickle", "joblib", "torch-zip", "torch-legacy", "torchscript"}),
    "torch": frozenset({"torch-zip", "torch-legacy", "torchscript"}),
}


@dataclass(frozen=True)
class LockEntry:
    path: str
    digest_alg: str  # "sha256" | "md5"
    digest: str
    size: int | None = None
    format: str | None = None
    kind: str = "model"
    extra: tuple[tuple[str, str], ...] = ()  # source / revision / card

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, self.digest_alg: self.digest}
        if self.size is not None:
            out["size"] = self.size
        if self.format:
            out["format"] = self.format
        out["kind"] = self.kind
        out.update(dict(self.extra))
        return out


def locked_components(components: Sequence[Component]) -> list[Component]:
    """Model and data files of the tree (external models referenced in code are not files)."""
    return [
        c
        for c in components
        if c.kind in (ComponentKind.MODEL, ComponentKind.DATA)
        and c.declared_in
        and c.prop("mlgate:external") != "true"
    ]


def _digest(comp: Component) -> tuple[str, str] | None:
    for alg, key in (("SHA-256", "sha256"), ("MD5", "md5")):
        for h in comp.hashes:
            if h.alg == alg:
                return key, h.value.lower()
    return None


def entry_for(comp: Component, previous: LockEntry | None = None) -> LockEntry | None:
    digest = _digest(comp)
    if digest is None:
        return None
    size_text = comp.prop("size")
    return LockEntry(
        path=comp.name,
        digest_alg=digest[0],
        digest=digest[1],
        size=int(size_text) if size_text and size_text.isdigit() else None,
        format=comp.prop("format"),
        kind=comp.kind.value,
        extra=previous.extra if previous is not None else (),
    )


def render_lock(entries: Sequence[LockEntry]) -> str:
    data = {
        "version": LOCK_VERSION,
        "generator": f"mlgate {__version__}",
        "models": [e.to_json() for e in sorted(entries, key=lambda e: e.path)],
    }
    return json.dumps(data, indent=2) + "\n"


def parse_lock(text: str) -> dict[str, LockEntry]:
    """Entries by path; raises ``ValueError`` naming what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise ValueError("expected an object with a 'models' list")
    if data.get("version") != LOCK_VERSION:
        raise ValueError(f"unsupported lock version {data.get('version')!r}")
    out: dict[str, LockEntry] = {}
    for i, item in enumerate(data["models"]):
        if not isinstance(item, dict) or not isinstance(item.get("path"), str):
            raise ValueError(f"models[{i}]: needs a 'path'")
        alg = "sha256" if isinstance(item.get("sha256"), str) else "md5"
        if not isinstance(item.get(alg), str):
            raise ValueError(f"models[{i}] ({item['path']}): needs 'sha256'")
        size = item.get("size")
        out[item["path"]] = LockEntry(
            path=item["path"],
            digest_alg=alg,
            digest=item[alg].lower(),
            size=size if isinstance(size, int) else None,
            format=item.get("format") if isinstance(item.get("format"), str) else None,
            kind=str(item.get("kind", "model")),
            extra=tuple(
                (k, str(item[k])) for k in OPTIONAL_FIELDS if item.get(k) not in (None, "")
            ),
        )
    return out


def read_lock(path: Path) -> dict[str, LockEntry]:
    with path.open("rb") as fh:
        raw = fh.read(MAX_LOCK_BYTES + 1)
    if len(raw) > MAX_LOCK_BYTES:
        raise ValueError(f"larger than {MAX_LOCK_BYTES} bytes")
    return parse_lock(raw.decode("utf-8"))


def _lock_path(root: Path, models: ModelPolicy) -> tuple[Path, str, bool] | None:
    """(absolute path, path as shown, configured explicitly) of the lock in force, if any."""
    if models.lock:
        rel = models.lock
        path = Path(rel) if Path(rel).is_absolute() else root / rel
        return path, rel, True
    default = root / DEFAULT_LOCK_NAME
    if default.is_file():
        return default, DEFAULT_LOCK_NAME, False
    return None


def check_lock(root: Path, inventory: Inventory, models: ModelPolicy) -> list[Finding]:
    found = _lock_path(root, models)
    if found is None:
        return []
    path, shown, _ = found
    where = Location(shown)
    if not Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root))):
        # a lock that is (or is reached through) a symlink out of the tree is never read
        return [
            Finding(
                rule_id=RULE_INVALID,
                kind="provenance",
                severity=Severity.HIGH,
                message=f"model lock {shown} leads out of the scanned root; not read",
                location=where,
                trigger="outside-root",
                fix="keep the lock as a regular file inside the repository",
            )
        ]
    try:
        entries = read_lock(path)
    except FileNotFoundError:
        return [
            Finding(
                rule_id=RULE_INVALID,
                kind="provenance",
                severity=Severity.HIGH,
                message=f"model lock {shown} is configured but does not exist",
                location=where,
                trigger="missing",
                fix="run 'mlgate models lock' and review what it records",
            )
        ]
    except (OSError, ValueError) as exc:
        return [
            Finding(
                rule_id=RULE_INVALID,
                kind="provenance",
                severity=Severity.HIGH,
                message=f"model lock {shown} cannot be used: {exc}",
                location=where,
                trigger="invalid",
                fix="regenerate it with 'mlgate models lock'",
            )
        ]
    out: list[Finding] = []
    seen: set[str] = set()
    for comp in locked_components(inventory.components):
        seen.add(comp.name)
        loc = comp.declared_in[0]
        entry = entries.get(comp.name)
        digest = _digest(comp)
        if entry is None:
            out.append(
                Finding(
                    rule_id=RULE_UNLOCKED,
                    kind="provenance",
                    severity=Severity.HIGH,
                    message=f"{comp.kind.value} file {comp.name} is not in {shown}: "
                    "it has not been reviewed",
                    location=loc,
                    component=comp.bom_ref,
                    trigger=comp.name,
                    fix="review the file, then run 'mlgate models lock' to record it",
                )
            )
        elif digest is not None and digest[0] == entry.digest_alg and digest[1] != entry.digest:
            out.append(
                Finding(
                    rule_id=RULE_MISMATCH,
                    kind="provenance",
                    severity=Severity.HIGH,
                    message=f"{comp.kind.value} file {comp.name} changed: {entry.digest_alg} "
                    f"{entry.digest[:16]}… in {shown}, {digest[1][:16]}… now",
                    location=loc,
                    component=comp.bom_ref,
                    trigger=comp.name,
                    fix="review the new file, then run 'mlgate models lock' to record it",
                )
            )
    for rel, entry in sorted(entries.items()):
        if rel in seen or (root / rel).exists():
            continue  # present but not inventoried (excluded): not gone
        out.append(
            Finding(
                rule_id=RULE_GONE,
                kind="provenance",
                severity=Severity.MEDIUM,
                message=f"{entry.kind} file {rel} is locked in {shown} but no longer present",
                location=where,
                trigger=rel,
                fix="run 'mlgate models lock' to drop it from the lock",
            )
        )
    return out


def _family(names: Sequence[str]) -> set[str]:
    out: set[str] = set()
    for name in names:
        out |= FORMAT_FAMILIES.get(name.lower(), frozenset({name.lower()}))
    return out


def check_formats(inventory: Inventory, models: ModelPolicy) -> list[Finding]:
    if not models.deny_formats and not models.require_formats:
        return []
    deny = _family(models.deny_formats)
    require = _family(models.require_formats)
    out = []
    for comp in locked_components(inventory.components):
        fmt = (comp.prop("format") or "unknown").lower()
        loc = comp.declared_in[0]
        if fmt in deny:
            out.append(
                Finding(
                    rule_id=RULE_FORMAT_DENIED,
                    kind="provenance",
                    severity=Severity.HIGH,
                    message=f"{comp.name} is in format '{fmt}', denied by models.deny-formats",
                    location=loc,
                    component=comp.bom_ref,
                    trigger=fmt,
                    fix="convert the model to an allowed format (e.g. safetensors)",
                )
            )
        elif require and comp.kind is ComponentKind.MODEL and fmt not in require:
            out.append(
                Finding(
                    rule_id=RULE_FORMAT_NOT_ALLOWED,
                    kind="provenance",
                    severity=Severity.HIGH,
                    message=f"{comp.name} is in format '{fmt}', not one of models.require-formats"
                    f" ({', '.join(models.require_formats)})",
                    location=loc,
                    component=comp.bom_ref,
                    trigger=fmt,
                    fix="convert the model to a required format",
                )
            )
    return out


def cmd_lock(args: argparse.Namespace) -> int:
    """``mlgate models lock [PATH] [-o FILE]``: write models.lock.json for the tree."""
    from mlgate.errors import UsageError
    from mlgate.inventory import build_inventory
    from mlgate.report import write_atomic

    paths = [str(p) for p in getattr(args, "paths", None) or []]
    if paths and paths[0] == "lock":
        paths = paths[1:]
    if len(paths) > 1:
        raise UsageError("'models lock' takes one folder", hint="mlgate models lock [PATH]")
    root = Path(paths[0] if paths else ".")
    if not root.is_dir():
        raise UsageError(f"{root}: not a directory")
    output: Path = getattr(args, "output", None) or root / DEFAULT_LOCK_NAME
    previous: dict[str, LockEntry] = {}
    if output.is_file():
        try:
            previous = read_lock(output)
        except (OSError, ValueError) as exc:
            raise UsageError(
                f"{output}: existing lock cannot be read: {exc}",
                hint="move it away to write a new one",
            ) from None
    inventory = build_inventory(root, exclude=tuple(getattr(args, "exclude", None) or ()))
    entries = []
    skipped = []
    for comp in locked_components(inventory.components):
        entry = entry_for(comp, previous.get(comp.name))
        if entry is None:
            skipped.append(comp.name)
        else:
            entries.append(entry)
    write_atomic(output, render_lock(entries))
    if not getattr(args, "quiet", False):
        print(f"models lock: {len(entries)} file(s) -> {output}", file=sys.stderr)
        for name in skipped:
            print(f"  not locked (no hash): {for_terminal(name)}", file=sys.stderr)
    return 0
