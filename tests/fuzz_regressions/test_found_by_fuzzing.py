"""Inputs the fuzzers (fuzz/) found that broke an invariant; each stays fixed.

Inputs are built in code where the mutation is small; otherwise they are small files in
``data/`` (the fuzzer's output, kept as found).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from mlgate.inspect.dispatch import Dispatcher
from mlgate.inspect.interface import Limits

DATA = Path(__file__).parent / "data"


def test_hdf5_that_sends_libhdf5_into_a_loop_is_a_timeout_not_a_hang(tmp_path: Path) -> None:
    """fuzz_hdf5: a mutated Keras .h5 on which h5py's attribute read never returns (native code,
    out of reach of the per-file time bound). h5py now runs in a child killed at the deadline."""
    shutil.copy(DATA / "hdf5-attr-loop.h5", tmp_path / "model.h5")
    start = time.monotonic()
    report = Dispatcher(tmp_path, limits=Limits(seconds_per_file=2)).scan_file("model.h5")
    assert time.monotonic() - start < 30
    assert [f.rule_id for f in report.findings] == ["MLG-MODEL-TIMEOUT"]
