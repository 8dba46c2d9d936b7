"""Pickle and joblib files: the opcode walk of :mod:`pickle_engine` judged by the allow-list.

Rules (stable ids, documented in docs/rules.md):

* ``MLG-PICKLE-EXEC`` (critical) - a deny-listed callable is invoked while loading.
* ``MLG-PICKLE-CALL`` (high) - any other callable outside the allow-list is invoked.
* ``MLG-PICKLE-DENIED`` (high) - a deny-listed global is imported or reconstructed without
  being called (a later ``__setstate__`` or user code can still reach it).
* ``MLG-PICKLE-SETATTR`` (high) - BUILD sets attributes on a global object (monkey-patching).
* ``MLG-PICKLE-UNRESOLVED`` (high) - a global whose name is computed at load time, or an
  extension-registry code: what it imports cannot be known statically.
* ``MLG-PICKLE-MALFORMED`` (high) - the stream does not parse (truncated, bad opcode ...): a
  loader runs everything before the break, and scanners that give up there see nothing after.
* ``MLG-PICKLE-GLOBAL`` (info) - classes reconstructed / globals imported from outside the
  allow-list and the well-known ML namespaces; their own ``__setstate__`` runs on load.

Reconstruction versus invocation: NEWOBJ/NEWOBJ_EX and ``copyreg._reconstructor`` with an
``object`` base call ``cls.__new__`` only; BUILD then hands the state to the class's own
``__setstate__`` (or its ``__dict__``). That is how every scikit-learn estimator and
``torch.nn`` module is pickled, so it is not a finding by itself. REDUCE, INST and OBJ call the
callable with arguments chosen by the file: that is where payloads live, and only the allow-list
lets it pass.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from mlgate.inspect.allowlist import ALLOWLIST_VERSION, AllowList
from mlgate.inspect.interface import (
    ModelScanner,
    ScanContext,
    ScanTarget,
    WindowIO,
    model_finding,
)
from mlgate.inspect.pickle_engine import (
    Call,
    Global,
    Malformed,
    NestedBytes,
    PickleMachine,
    PickleWalk,
    SymDict,
    run_inline,
    walk_pickles,
)
from mlgate.model import Finding, Severity

RULE_EXEC = "MLG-PICKLE-EXEC"
RULE_CALL = "MLG-PICKLE-CALL"
RULE_DENIED = "MLG-PICKLE-DENIED"
RULE_SETATTR = "MLG-PICKLE-SETATTR"
RULE_UNRESOLVED = "MLG-PICKLE-UNRESOLVED"
RULE_MALFORMED = "MLG-PICKLE-MALFORMED"
RULE_GLOBAL = "MLG-PICKLE-GLOBAL"

MAX_NESTED = 64  # nested pickles followed per stream
MAX_INFO_NAMES = 20

_JOBLIB_WRAPPERS = {"joblib.numpy_pickle.NumpyArrayWrapper"}

_CONSEQUENCE = {
    "os": "runs a shell command or touches the file system",
    "posix": "runs a shell command or touches the file system",
    "nt": "runs a shell command or touches the file system",
    "subprocess": "starts a process",
    "pty": "starts a process",
    "builtins": "evaluates code or reaches arbitrary objects",
    "socket": "opens a network connection",
    "urllib": "fetches from the network",
    "requests": "fetches from the network",
    "importlib": "imports arbitrary code",
    "runpy": "runs a module or script",
    "pickle": "deserialises another pickle (arbitrary code)",
    "_pickle": "deserialises another pickle (arbitrary code)",
    "marshal": "loads Python bytecode",
    "types": "builds functions or code objects from data",
    "shutil": "copies, moves or deletes files",
    "ctypes": "calls native code",
}


def _consequence(name: str, denied: str | None) -> str:
    top = name.split(".", 1)[0]
    if denied and top in _CONSEQUENCE:
        return _CONSEQUENCE[top]
    if denied:
        return "code execution, process, import, file or network access (deny-listed)"
    return "runs code the file chose, outside the allow-list of what checkpoints need"


def _dynamic_denied(allow: AllowList, name: str) -> str | None:
    """Deny reason for a computed callable name like ``os.system`` or ``builtins.getattr``."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        reason = allow.deny_reason(".".join(parts[:i]), ".".join(parts[i:]))
        if reason:
            return reason
    return None


def classify(
    walk: PickleWalk, target: ScanTarget, allow: AllowList, *, what: str = "pickle.load"
) -> list[Finding]:
    """Turn the events of a walk into findings (aggregated per callable)."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    used: set[str] = set()
    imported: dict[str, tuple[str, str, int]] = {}
    info: list[str] = []

    def add(rule: str, sev: Severity, msg: str, trigger: str, pos: int, fix: str) -> None:
        if (rule, trigger) in seen:
            return
        seen.add((rule, trigger))
        findings.append(
            model_finding(
                rule,
                sev,
                msg,
                target,
                trigger=trigger,
                fix=fix,
                properties=(("offset", str(pos)), ("allowlist", ALLOWLIST_VERSION)),
            )
        )

    fix_call = (
        "do not load this file; if the callable is expected, add it to models.allow-globals "
        "in .mlgate.yml with a reason"
    )
    for ev in walk.events:
        if ev.kind == "import":
            imported.setdefault(ev.name, (ev.module, ev.qualname, ev.pos))
            continue
        if ev.kind == "call":
            used.add(ev.name)
            if not ev.dynamic and allow.allows_call(ev.module, ev.qualname):
                continue
            denied = (
                _dynamic_denied(allow, ev.name)
                if ev.dynamic
                else allow.deny_reason(ev.module, ev.qualname)
            )
            shown = f"{ev.name}{ev.detail}" if ev.detail.startswith("(") else ev.name
            via = f" (via {ev.via})" if ev.via and ev.via not in ("REDUCE",) else ""
            add(
                RULE_EXEC if denied else RULE_CALL,
                Severity.CRITICAL if denied else Severity.HIGH,
                f"{what} would call {shown}{via} at offset {ev.pos}: "
                f"{_consequence(ev.name, denied)}",
                ev.name,
                ev.pos,
                fix_call,
            )
        elif ev.kind == "reconstruct":
            used.add(ev.name)
            denied = allow.deny_reason(ev.module, ev.qualname)
            if denied:
                add(
                    RULE_DENIED,
                    Severity.HIGH,
                    f"{what} would instantiate deny-listed {ev.name} at offset {ev.pos} "
                    f"({denied}); no ML checkpoint needs it",
                    ev.name,
                    ev.pos,
                    "do not load this file",
                )
            elif not allow.known(ev.module, ev.qualname) and ev.name not in info:
                info.append(ev.name)
        elif ev.kind == "build-global":
            used.add(ev.name)
            denied = (
                _dynamic_denied(allow, ev.name)
                if ev.dynamic
                else allow.deny_reason(ev.module, ev.qualname)
            )
            add(
                RULE_SETATTR,
                Severity.CRITICAL if denied else Severity.HIGH,
                f"{what} would set attributes on the global {ev.name} itself (BUILD at offset "
                f"{ev.pos}): monkey-patching code that runs later",
                ev.name,
                ev.pos,
                "do not load this file",
            )
        elif ev.kind == "unresolved":
            add(
                RULE_UNRESOLVED,
                Severity.HIGH,
                f"{what} would import a global that cannot be resolved statically "
                f"({ev.name}, {ev.via}, {ev.detail}) at offset {ev.pos}",
                f"{ev.via}:{ev.name}"[:200],
                ev.pos,
                "do not load this file",
            )
    for name, (module, qual, pos) in imported.items():
        if name in used:
            continue
        denied = allow.deny_reason(module, qual)
        if denied:
            add(
                RULE_DENIED,
                Severity.HIGH,
                f"{what} would import deny-listed {name} at offset {pos} ({denied}) without "
                "calling it here; no ML checkpoint needs it",
                name,
                pos,
                "do not load this file",
            )
        elif not allow.known(module, qual) and name not in info:
            info.append(name)
    if info:
        shown = ", ".join(info[:MAX_INFO_NAMES]) + (" …" if len(info) > MAX_INFO_NAMES else "")
        findings.append(
            model_finding(
                RULE_GLOBAL,
                Severity.INFO,
                f"{what} would import or reconstruct {len(info)} name(s) outside the allow-list "
                f"and the well-known ML namespaces (no call; their own __setstate__ runs): "
                f"{shown}",
                target,
                trigger="globals",
                fix="expected for custom classes; allow them with models.allow-globals",
                properties=(("allowlist", ALLOWLIST_VERSION),),
            )
        )
    if walk.error:
        findings.append(
            model_finding(
                RULE_MALFORMED,
                Severity.HIGH,
                f"the pickle stream is broken at offset {walk.error_pos} ({walk.error}): a "
                "loader runs everything before the break, and scanners that stop at the error "
                "see nothing after it",
                target,
                trigger="malformed",
                fix="regenerate the file from a trusted source, or remove it",
            )
        )
    elif walk.trailing_error:
        findings.append(
            model_finding(
                RULE_MALFORMED,
                Severity.INFO,
                f"data after the last complete pickle does not parse ({walk.trailing_error})",
                target,
                trigger="trailing",
            )
        )
    return findings


# ---------------------------------------------------------------------------------------------
# joblib: NumpyArrayWrapper is followed by raw array bytes inside the pickle stream


def _dtype_size(dtype: Any) -> tuple[int, bool]:
    """(itemsize, has objects) of a symbolic ``numpy.dtype(code, ...)`` call with its state."""
    if not (isinstance(dtype, Call) and isinstance(dtype.args, tuple) and dtype.args):
        raise Malformed("joblib array without a readable dtype")
    code = dtype.args[0]
    if not isinstance(code, str) or not code:
        raise Malformed("joblib array dtype is not a type code")
    if code[0] == "O":
        return 0, True
    state = dtype.state
    if isinstance(state, tuple) and len(state) > 5 and isinstance(state[5], int) and state[5] > 0:
        if isinstance(state[4], SymDict) and any(
            isinstance(v, tuple) and v and _is_object_dtype(v[0]) for v in state[4].items.values()
        ):
            return state[5], True
        return state[5], False
    digits = code[1:]
    if digits.isdigit():
        return int(digits), False
    if code[0] == "?":
        return 1, False
    raise Malformed(f"joblib array dtype {code!r} has no size")


def _is_object_dtype(value: Any) -> bool:
    return (
        isinstance(value, Call)
        and isinstance(value.args, tuple)
        and bool(value.args)
        and value.args[0] == "O8"
    )


def _wrapper_class(inst: Any) -> str | None:
    if not isinstance(inst, Call):
        return None
    if isinstance(inst.func, Global):
        if inst.func.dotted == "copyreg._reconstructor" and isinstance(inst.args, tuple):
            cls = inst.args[0] if inst.args else None
            return cls.dotted if isinstance(cls, Global) else None
        return inst.func.dotted
    return None


def joblib_build_hook(machine: PickleMachine, inst: Any, state: Any) -> None:
    """After BUILD of a NumpyArrayWrapper, joblib reads the array's bytes from the stream."""
    if _wrapper_class(inst) not in _JOBLIB_WRAPPERS:
        return
    if not isinstance(state, SymDict):
        raise Malformed("joblib NumpyArrayWrapper without a state dict")
    itemsize, has_objects = _dtype_size(state.get("dtype"))
    if has_objects:
        run_inline(machine, joblib_build_hook)  # an object array is a pickle of its own
        return
    shape = state.get("shape")
    if not isinstance(shape, tuple) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise Malformed("joblib NumpyArrayWrapper with an unreadable shape")
    count = math.prod(shape) if shape else 1
    if state.items.get("numpy_array_alignment_bytes") is not None:
        padding = machine.r.read(1)[0]
        machine.r.skip(padding)
    machine.r.skip(count * itemsize)


# ---------------------------------------------------------------------------------------------
# the scanner


def _window(open_: Callable[[], IO[bytes]], start: int, length: int) -> Callable[[], IO[bytes]]:
    """A fresh stream over ``length`` bytes at ``start`` of another stream (read lazily)."""

    def opener() -> IO[bytes]:
        return io.BufferedReader(WindowIO(open_(), start, length))

    return opener


def scan_pickle_stream(
    target: ScanTarget,
    ctx: ScanContext,
    *,
    start: int = 0,
    limit: int | None = None,
    max_pickles: int | None = None,
    what: str = "pickle.load",
    follow_on: bool = True,
) -> Iterator[Finding]:
    """Walk the pickles of a target and yield findings, nested pickles included."""
    allow = AllowList.shared(tuple(ctx.allow_globals))
    with target.open() as fh:
        walk = walk_pickles(
            fh,
            start=start,
            limit=limit,
            max_pickles=max_pickles,
            check=ctx.check_time,
            build_hook=joblib_build_hook,
            follow_on=follow_on,
        )
    yield from classify(walk, target, allow, what=what)
    yield from _nested(walk.nested, target, ctx, allow)


def _nested(
    items: Iterable[NestedBytes], target: ScanTarget, ctx: ScanContext, allow: AllowList
) -> Iterator[Finding]:
    for count, nb in enumerate(items):
        if count >= MAX_NESTED:
            break
        size = len(nb.data) if nb.data is not None else (nb.blob.length if nb.blob else 0)
        opener: Callable[[], IO[bytes]]
        if nb.data is not None:
            data = nb.data

            def opener(data: bytes = data) -> IO[bytes]:
                return io.BytesIO(data)

        elif nb.blob is not None:
            opener = _window(target.open, nb.blob.offset, nb.blob.length)
        else:
            continue
        child = target.child(nb.label, opener, size, "" if not nb.quiet else "pickle")
        if not nb.quiet:
            yield from ctx.scan_nested(child)
            continue
        # only a guess (bytes that start like a pickle): report calls only when it parses
        if ctx.depth + 1 > ctx.limits.max_depth:
            continue
        with opener() as fh:
            walk = walk_pickles(fh, check=ctx.check_time, follow_on=False)
        if walk.error:
            continue
        for finding in classify(walk, child, allow, what="unpickling these bytes"):
            if finding.severity is not Severity.INFO:
                yield finding


class PickleScanner(ModelScanner):
    """Raw pickles (any protocol) and joblib files (NumpyArrayWrapper data skipped)."""

    name = "pickle"
    formats = ("pickle", "joblib")

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        what = "joblib.load" if target.format == "joblib" else "pickle.load"
        return scan_pickle_stream(target, ctx, what=what)
