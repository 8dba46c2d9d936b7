"""The "current file" tracker: an exception names the innermost file it escaped from."""

from __future__ import annotations

import pytest

from mlgate.current import current, skip_on_error, where_failed, working_on
from mlgate.errors import ScanAborted
from mlgate.model import ScanWarning


def test_innermost_place_is_kept_after_unwinding() -> None:
    with (
        pytest.raises(KeyError) as info,
        working_on("report", "--json out.json"),
        working_on("models", "a/b.pkl"),
    ):
        assert current() == "models: a/b.pkl"
        raise KeyError("x")
    assert current() is None
    assert where_failed(info.value) == "models: a/b.pkl"
    text = ScanAborted(info.value, where_failed(info.value)).diagnostics()
    assert (
        text.splitlines()[0]
        == "error: mlgate stopped while processing models: a/b.pkl: KeyError: 'x'"
    )


def test_chained_exception_keeps_the_place() -> None:
    try:
        with working_on("inventory", "requirements.txt"):
            raise ValueError("inner")
    except ValueError as exc:
        outer = RuntimeError("outer")
        outer.__cause__ = exc
    assert where_failed(outer) == "inventory: requirements.txt"


def test_skip_on_error_is_a_warning_naming_the_file() -> None:
    warnings: list[ScanWarning] = []
    with skip_on_error("source scan", "train.py", warnings, code="source"):
        raise RecursionError("deep")
    assert [(w.path, w.code) for w in warnings] == [("train.py", "source")]
    assert "RecursionError" in warnings[0].message


def test_untrusted_text_in_the_error_line_is_escaped() -> None:
    exc = ValueError("bad\n\x1b[31mred")
    line = ScanAborted(exc, "models: x\u202e.pkl").diagnostics().splitlines()[0]
    assert "\x1b" not in line and "\u202e" not in line
