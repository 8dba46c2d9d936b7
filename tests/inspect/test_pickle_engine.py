"""The pickle engine: every technique a payload uses to hide, and ordinary pickles that must pass.

Each malicious sample is written opcode by opcode or through a ``__reduce__`` that only *names*
the callable; nothing is ever unpickled.
"""

from __future__ import annotations

import builtins
import collections
import datetime
import decimal
import fractions
import io
import os
import pickle
import subprocess
import uuid
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlgate.inspect.allowlist import AllowList
from mlgate.inspect.dispatch import scan_paths
from mlgate.inspect.pickle_engine import Blob, walk_pickles
from mlgate.model import Finding, Severity
from tests.inspect import samples as s
from tests.inspect.scanhelp import at_least, rules, scan


def _scan_bytes(tmp_path: Path, data: bytes, name: str = "model.pkl") -> list[Finding]:
    return scan(s.write(tmp_path / name, data))


def _triggers(findings: list[Finding], rule: str) -> set[str]:
    return {f.trigger or "" for f in findings if f.rule_id == rule}


# ---- classic REDUCE code execution ----------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_reduce_os_system_every_protocol(tmp_path: Path, protocol: int) -> None:
    """Technique: __reduce__ returning (os.system, cmd), the classic payload, protocols 0-5."""
    data = pickle.dumps(s.ReduceTo(os.system, "id"), protocol=protocol)
    findings = _scan_bytes(tmp_path, data)
    exec_ = [f for f in findings if f.rule_id == "MLG-PICKLE-EXEC"]
    assert exec_ and exec_[0].severity is Severity.CRITICAL
    assert exec_[0].trigger in {"posix.system", "os.system"}
    assert "'id'" in exec_[0].message


@pytest.mark.parametrize(
    ("module", "name"),
    [("os", "system"), ("posix", "system"), ("nt", "system"), ("subprocess", "Popen")],
)
def test_reduce_process_callables(tmp_path: Path, module: str, name: str) -> None:
    """Technique: GLOBAL of a process-spawning callable + REDUCE (hand-written)."""
    findings = _scan_bytes(tmp_path, s.call(module, name, "touch /tmp/x"))
    assert _triggers(findings, "MLG-PICKLE-EXEC") == {f"{module}.{name}"}


def test_reduce_subprocess_popen_via_reduce_class(tmp_path: Path) -> None:
    """Technique: subprocess.Popen(['sh', '-c', ...]) named by __reduce__."""
    data = pickle.dumps(s.ReduceTo(subprocess.Popen, ["sh", "-c", "id"]), protocol=4)
    assert "subprocess.Popen" in _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC")


@pytest.mark.parametrize("func", [builtins.eval, builtins.exec, builtins.compile])
def test_builtins_eval_exec(tmp_path: Path, func: object) -> None:
    """Technique: builtins.eval / exec / compile with a code string."""
    data = pickle.dumps(s.ReduceTo(func, "__import__('os').system('id')"), protocol=2)
    name = getattr(func, "__name__", "")
    assert f"builtins.{name}" in _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC")


def test_getattr_import_chain(tmp_path: Path) -> None:
    """Technique: getattr(builtins.__import__('os'), 'system')('id') - the callable is computed."""
    data = (
        s.P2
        + s.glob("builtins", "getattr")
        + s.glob("builtins", "__import__")
        + s.binunicode("os")
        + s.TUPLE1
        + s.REDUCE
        + s.binunicode("system")
        + s.TUPLE2
        + s.REDUCE
        + s.binunicode("id")
        + s.TUPLE1
        + s.REDUCE
        + s.STOP
    )
    findings = _scan_bytes(tmp_path, data)
    triggers = _triggers(findings, "MLG-PICKLE-EXEC")
    assert {"builtins.getattr", "builtins.__import__", "os.system"} <= triggers
    computed = next(f for f in findings if f.trigger == "os.system")
    assert "computed" in computed.message


def test_python2_builtin_module_is_mapped(tmp_path: Path) -> None:
    """Technique: protocol 0 GLOBAL '__builtin__ eval' (Python 2 name, mapped by loaders)."""
    data = b"c__builtin__\neval\n(S'1+1'\ntR."
    assert "builtins.eval" in _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC")


# ---- gadgets no deny-list names -------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [("webbrowser", "open"), ("operator", "methodcaller"), ("logging", "getLogger")],
)
def test_gadget_not_on_deny_list_is_still_a_call(tmp_path: Path, module: str, name: str) -> None:
    """Technique: a callable no deny-list names; the allow-list still rejects the invocation."""
    assert AllowList().deny_reason(module, name) is None  # the point of the test
    findings = _scan_bytes(tmp_path, s.call(module, name, "https://attacker.example/x"))
    hit = [f for f in findings if f.trigger == f"{module}.{name}"]
    assert [(f.rule_id, f.severity) for f in hit] == [("MLG-PICKLE-CALL", Severity.HIGH)]


def test_webbrowser_open_via_reduce_class(tmp_path: Path) -> None:
    """Technique: webbrowser.open(url) gadget through __reduce__."""
    data = pickle.dumps(s.ReduceTo(webbrowser.open, "https://attacker.example"), protocol=4)
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-CALL") == {"webbrowser.open"}


def test_attrgetter_chain_resolves_target(tmp_path: Path) -> None:
    """Technique: operator.attrgetter('system')(importlib.import_module('os'))('id')."""
    data = (
        s.P4
        + s.sbu("operator")
        + s.sbu("attrgetter")
        + s.STACK_GLOBAL
        + s.sbu("system")
        + s.TUPLE1
        + s.REDUCE
        + s.sbu("importlib")
        + s.sbu("import_module")
        + s.STACK_GLOBAL
        + s.sbu("os")
        + s.TUPLE1
        + s.REDUCE
        + s.TUPLE1
        + s.REDUCE
        + s.sbu("id")
        + s.TUPLE1
        + s.REDUCE
        + s.STOP
    )
    findings = _scan_bytes(tmp_path, data)
    assert "os.system" in _triggers(findings, "MLG-PICKLE-EXEC")
    assert "operator.attrgetter" in _triggers(findings, "MLG-PICKLE-CALL")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("torch.hub", "load"),
        ("numpy.testing._private.utils", "runstring"),
        ("pydoc", "pipepager"),
        ("runpy", "run_path"),
    ],
)
def test_library_gadgets_are_critical(tmp_path: Path, module: str, name: str) -> None:
    """Technique: code-running helpers inside ML libraries and the standard library."""
    findings = _scan_bytes(tmp_path, s.call(module, name, "x"))
    assert _triggers(findings, "MLG-PICKLE-EXEC") == {f"{module}.{name}"}


def test_rebuild_from_type_invokes_its_argument(tmp_path: Path) -> None:
    """Technique: an allow-listed torch helper (_rebuild_from_type_v2) that calls its first
    argument: the inner callable is judged, not the helper."""
    data = (
        s.P2
        + s.glob("torch._tensor", "_rebuild_from_type_v2")
        + s.MARK
        + s.glob("os", "system")
        + s.glob("torch", "Tensor")
        + s.binunicode("id")
        + s.TUPLE1
        + s.EMPTY_DICT
        + s.TUPLE
        + s.REDUCE
        + s.STOP
    )
    findings = _scan_bytes(tmp_path, data)
    assert _triggers(findings, "MLG-PICKLE-EXEC") == {"os.system"}
    assert not _triggers(findings, "MLG-PICKLE-CALL")


# ---- indirection: memo, STACK_GLOBAL, unicode opcodes ---------------------------------------


def test_stack_global_from_memo(tmp_path: Path) -> None:
    """Technique: module and name strings memoised early (BINPUT), fetched later (BINGET)."""
    data = (
        s.P4
        + s.sbu("os")
        + s.binput(1)
        + s.POP
        + s.sbu("system")
        + s.binput(2)
        + s.POP
        + s.NONE
        + s.POP
        + s.binget(1)
        + s.binget(2)
        + s.STACK_GLOBAL
        + s.sbu("id")
        + s.TUPLE1
        + s.REDUCE
        + s.STOP
    )
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


def test_stack_global_with_memoize_opcode(tmp_path: Path) -> None:
    """Technique: MEMOIZE (protocol 4 implicit index) then BINGET of the names."""
    data = (
        s.P4
        + s.sbu("subprocess")
        + s.MEMOIZE
        + s.sbu("check_output")
        + s.MEMOIZE
        + s.POP
        + s.POP
        + s.binget(0)
        + s.binget(1)
        + s.STACK_GLOBAL
        + s.sbu("id")
        + s.TUPLE1
        + s.REDUCE
        + s.STOP
    )
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"subprocess.check_output"}


@pytest.mark.parametrize(
    "encode", [s.binunicode, s.binunicode8, s.short_binstring, s.unicode0, s.string0]
)
def test_stack_global_names_from_any_string_opcode(tmp_path: Path, encode: object) -> None:
    """Technique: STACK_GLOBAL operands written with every kind of string opcode."""
    enc: Callable[[str], bytes] = encode  # type: ignore[assignment]
    data = s.P4 + enc("os") + enc("system") + s.STACK_GLOBAL + enc("id") + s.TUPLE1
    data += s.REDUCE + s.STOP
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


def test_dotted_name_through_dunders_is_denied(tmp_path: Path) -> None:
    """Technique: protocol 4 dotted name walking OrderedDict.__init__.__globals__ from an
    allow-listed module."""
    data = s.stack_global_call("collections", "OrderedDict.__init__.__globals__", "x")
    findings = _scan_bytes(tmp_path, data)
    assert "collections.OrderedDict.__init__.__globals__" in _triggers(findings, "MLG-PICKLE-EXEC")


def test_stack_global_of_computed_value_is_unresolved(tmp_path: Path) -> None:
    """Technique: STACK_GLOBAL whose module is the result of a call, not a string."""
    data = (
        s.P4
        + s.sbu("builtins")
        + s.sbu("str")
        + s.STACK_GLOBAL
        + s.sbu("os")
        + s.TUPLE1
        + s.REDUCE
        + s.sbu("system")
        + s.STACK_GLOBAL
        + s.STOP
    )
    assert "MLG-PICKLE-UNRESOLVED" in rules(_scan_bytes(tmp_path, data))


def test_extension_registry_code_is_unresolved(tmp_path: Path) -> None:
    """Technique: EXT1 - the global comes from copyreg's extension registry, not the file."""
    data = s.P2 + b"\x82\x07" + s.EMPTY_TUPLE + s.REDUCE + s.STOP
    findings = _scan_bytes(tmp_path, data)
    assert [f.severity for f in findings if f.rule_id == "MLG-PICKLE-UNRESOLVED"] == [Severity.HIGH]


# ---- protocol 0 text opcodes ----------------------------------------------------------------


def test_inst_opcode(tmp_path: Path) -> None:
    """Technique: INST (protocol 0): ``(S'id'\\nios\\nsystem\\n.`` calls os.system('id')."""
    data = b"(S'id'\nios\nsystem\n."
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


def test_obj_opcode(tmp_path: Path) -> None:
    """Technique: OBJ (protocol 1): MARK, class, args, OBJ."""
    data = b"(cos\nsystem\nS'id'\no."
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


# ---- BUILD and __setstate__ -----------------------------------------------------------------


def test_build_on_a_global_is_monkey_patching(tmp_path: Path) -> None:
    """Technique: BUILD with a slot-state dict on a class object itself (setattr at load)."""
    data = (
        s.P2
        + s.glob("torch.nn", "Module")
        + s.NONE
        + s.EMPTY_DICT
        + s.binunicode("__setstate__")
        + s.glob("builtins", "print")
        + s.SETITEM
        + s.TUPLE2
        + s.BUILD
        + s.STOP
    )
    findings = _scan_bytes(tmp_path, data)
    assert _triggers(findings, "MLG-PICKLE-SETATTR") == {"torch.nn.Module"}


def test_reconstructed_class_with_setstate_is_info_only(tmp_path: Path) -> None:
    """Technique: NEWOBJ + BUILD of a class outside the allow-list (its own __setstate__ runs):
    reconstruction, not invocation - an info note naming the class, no alarm."""
    data = (
        s.P2
        + s.glob("mypkg.models", "Tokenizer")
        + s.EMPTY_TUPLE
        + s.NEWOBJ
        + s.EMPTY_DICT
        + s.binunicode("vocab")
        + s.binunicode("abc")
        + s.SETITEM
        + s.BUILD
        + s.STOP
    )
    findings = _scan_bytes(tmp_path, data)
    assert [(f.rule_id, f.severity) for f in findings] == [("MLG-PICKLE-GLOBAL", Severity.INFO)]
    assert "mypkg.models.Tokenizer" in findings[0].message


def test_newobj_of_denied_class(tmp_path: Path) -> None:
    """Technique: NEWOBJ of subprocess.Popen (reconstruction of a deny-listed type)."""
    data = s.P2 + s.glob("subprocess", "Popen") + s.EMPTY_TUPLE + s.NEWOBJ + s.STOP
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-DENIED") == {"subprocess.Popen"}


def test_reconstructor_with_callable_base(tmp_path: Path) -> None:
    """Technique: copyreg._reconstructor(cls, base, state) runs base.__init__(obj, state)."""
    data = (
        s.P2
        + s.glob("copyreg", "_reconstructor")
        + s.glob("mypkg", "Thing")
        + s.glob("mypkg", "Loader")
        + s.binunicode("payload")
        + s.TUPLE3
        + s.REDUCE
        + s.STOP
    )
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-CALL") == {"mypkg.Loader"}


# ---- hiding: POP, nested pickles, several pickles -------------------------------------------


def test_payload_result_discarded_by_pop(tmp_path: Path) -> None:
    """Technique: the REDUCE result is POPped and a harmless value returned instead."""
    data = (
        s.P2
        + s.glob("os", "system")
        + s.binunicode("id")
        + s.TUPLE1
        + s.REDUCE
        + s.POP
        + s.EMPTY_DICT
        + s.STOP
    )
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


def test_unused_denied_global_popped(tmp_path: Path) -> None:
    """Technique: a deny-listed global imported and dropped (import side effects, staging)."""
    data = s.P2 + s.glob("os", "system") + s.POP + s.EMPTY_DICT + s.STOP
    findings = _scan_bytes(tmp_path, data)
    assert [(f.rule_id, f.severity) for f in findings] == [("MLG-PICKLE-DENIED", Severity.HIGH)]


def test_nested_pickle_in_pickle_loads(tmp_path: Path) -> None:
    """Technique: pickle.loads(b'<inner pickle>') - the inner payload is reported too."""
    inner = s.call("webbrowser", "open", "https://attacker.example")
    data = s.P2 + s.glob("pickle", "loads") + s.binbytes(inner) + s.TUPLE1 + s.REDUCE + s.STOP
    findings = _scan_bytes(tmp_path, data)
    assert "pickle.loads" in _triggers(findings, "MLG-PICKLE-EXEC")
    nested = [f for f in findings if f.trigger == "webbrowser.open"]
    assert nested and nested[0].location.member == "pickle.loads argument"


def test_large_nested_pickle_is_skipped_then_scanned(tmp_path: Path) -> None:
    """Technique: an inner pickle larger than the in-memory bound (read back by window)."""
    padding = s.binbytes(b"\0" * 200_000) + s.POP
    inner = s.P2 + padding + s.glob("os", "system") + s.binunicode("id") + s.TUPLE1
    inner += s.REDUCE + s.STOP
    data = s.P2 + s.glob("_pickle", "loads") + s.binbytes(inner) + s.TUPLE1 + s.REDUCE + s.STOP
    findings = _scan_bytes(tmp_path, data)
    assert "os.system" in _triggers(findings, "MLG-PICKLE-EXEC")


def test_pickle_bytes_hidden_as_data(tmp_path: Path) -> None:
    """Technique: a malicious pickle stored as a bytes value (loaded later by custom code)."""
    inner = s.call("os", "system", "id")
    data = pickle.dumps({"blob": inner}, protocol=4)
    assert "os.system" in _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC")


def test_second_pickle_after_stop(tmp_path: Path) -> None:
    """Technique: a harmless pickle followed by a malicious one in the same file."""
    data = pickle.dumps({"weights": [1, 2]}, protocol=2) + s.call("os", "system", "id")
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


# ---- broken streams -------------------------------------------------------------------------


def test_truncated_after_payload_reports_both(tmp_path: Path) -> None:
    """Technique: truncated stream - the call before the break and the break itself."""
    data = s.call("os", "system", "id")[:-1]  # STOP missing
    findings = _scan_bytes(tmp_path, data)
    assert _triggers(findings, "MLG-PICKLE-EXEC") == {"os.system"}
    assert [f.severity for f in findings if f.rule_id == "MLG-PICKLE-MALFORMED"] == [Severity.HIGH]


@pytest.mark.parametrize(
    "data",
    [
        s.P2 + b"\xff" + s.STOP,  # invalid opcode
        s.P2 + s.REDUCE + s.STOP,  # stack underflow
        s.P2 + b"X" + b"\xff\xff\xff\x7f" + b"abc",  # length past the end
        s.P2 + s.binget(3) + s.STOP,  # memo key never stored
        b"\x80\x09" + s.NONE + s.STOP,  # unknown protocol
    ],
    ids=["bad-opcode", "underflow", "length-past-end", "memo-miss", "protocol"],
)
def test_corrupt_streams_are_findings(tmp_path: Path, data: bytes) -> None:
    """Technique: corrupt streams that make other scanners give up silently."""
    assert "MLG-PICKLE-MALFORMED" in rules(_scan_bytes(tmp_path, data))


# ---- misleading names -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["notes.txt", "logo.png", "config.json", "weights"])
def test_misleading_file_names(tmp_path: Path, name: str) -> None:
    """Technique: a pickle under a name no scanner associates with pickles."""
    data = pickle.dumps(s.ReduceTo(os.system, "id"), protocol=4)
    assert "MLG-PICKLE-EXEC" in rules(_scan_bytes(tmp_path, data, name))


# ---- allow-list extension -------------------------------------------------------------------


def test_project_allow_globals(tmp_path: Path) -> None:
    """A project allows its own callable (exact and wildcard); deny-listed names stay denied."""
    s.write(tmp_path / "a.pkl", s.call("mypkg.models", "build_tokenizer", "x"))
    s.write(tmp_path / "b.pkl", s.call("os", "system", "id"))
    assert at_least(scan_paths(tmp_path, ["a.pkl"]), Severity.HIGH)
    assert not scan_paths(tmp_path, ["a.pkl"], ("mypkg.models.build_tokenizer",))
    assert not scan_paths(tmp_path, ["a.pkl"], ("mypkg.*",))
    assert "MLG-PICKLE-EXEC" in rules(scan_paths(tmp_path, ["b.pkl"], ("os.*", "os.system")))


# ---- streaming: large arguments are skipped, not read -----------------------------------------


def test_large_bytes_become_placeholders() -> None:
    """Large BINBYTES8 arguments are skipped (seek), standing as a Blob that remembers where."""
    payload = b"\x01" * 3_000_000
    data = pickle.dumps(payload, protocol=5)
    walk = walk_pickles(io.BytesIO(data))
    assert walk.error is None and walk.pickles == 1 and walk.events == []
    assert isinstance(walk.value, Blob)
    assert walk.value.length == 3_000_000 and walk.value.head == b"\x01" * 16


def test_large_bytes_skipped_on_unseekable_stream() -> None:
    """Without seek the payload is read and discarded in chunks; a short one is truncation."""

    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.src = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self.src.read(min(len(b), 4096))
            b[: len(chunk)] = chunk
            return len(chunk)

    data = pickle.dumps([b"\x02" * 2_000_000, "tail"], protocol=4)
    walk = walk_pickles(Pipe(data))  # type: ignore[arg-type]
    assert walk.error is None and walk.pickles == 1
    cut = walk_pickles(Pipe(data[: len(data) // 2]))  # type: ignore[arg-type]
    assert cut.error is not None


# ---- benign pickles that must pass ----------------------------------------------------------


class Plain:
    def __init__(self) -> None:
        self.x = 1


BENIGN = [
    collections.OrderedDict(a=1, b=[1, 2]),
    collections.Counter("hello"),
    collections.defaultdict(list, {"a": [1]}),
    collections.deque([1, 2]),
    datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
    datetime.date(2024, 1, 2),
    datetime.timedelta(days=3),
    {1, 2, 3},
    frozenset({"a"}),
    complex(1, 2),
    bytearray(b"abc"),
    b"raw bytes",
    decimal.Decimal("1.25"),
    fractions.Fraction(1, 3),
    uuid.UUID(int=7),
    slice(1, 10, 2),
    range(5),
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.array(["a", "bc"]),
    np.float64(1.5),
    np.int32(3),
    np.dtype("f8"),
    np.random.RandomState(0),
    np.random.default_rng(0),
    np.ma.masked_array([1, 2], mask=[0, 1]),
    np.array(["2020-01-01"], dtype="M8[D]"),
]


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_standard_values_pass(tmp_path: Path, protocol: int) -> None:
    """OrderedDict, datetime, sets, numpy arrays and random state: no finding at all."""
    data = pickle.dumps(BENIGN, protocol=protocol)
    assert _scan_bytes(tmp_path, data) == []


def test_plain_custom_object_is_info_only(tmp_path: Path) -> None:
    data = pickle.dumps(Plain(), protocol=4)
    findings = _scan_bytes(tmp_path, data)
    assert [f.severity for f in findings] == [Severity.INFO]
    assert not at_least(findings, Severity.LOW)


def test_payload_after_flood_of_distinct_globals(tmp_path: Path) -> None:
    """Technique: thousands of harmless distinct imports first, to exhaust a scanner's event
    budget before the payload."""
    flood = b"".join(s.glob("collections", f"name{i}") + s.POP for i in range(12_000))
    data = s.P2 + flood + s.glob("os", "system") + s.binunicode("id") + s.TUPLE1 + s.REDUCE
    data += s.STOP
    assert _triggers(_scan_bytes(tmp_path, data), "MLG-PICKLE-EXEC") == {"os.system"}


def test_stack_flood_is_bounded(tmp_path: Path) -> None:
    """Technique: resource exhaustion - millions of values pushed and never consumed."""
    data = s.P2 + s.MARK + b"K\x01" * 1_100_000 + s.TUPLE + s.STOP
    findings = _scan_bytes(tmp_path, data)
    assert [f.rule_id for f in findings] == ["MLG-PICKLE-MALFORMED"]
    assert "resource exhaustion" in findings[0].message
