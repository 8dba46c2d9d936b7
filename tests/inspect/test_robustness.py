"""Never crash: mutated real files go through the dispatcher and come out as findings or nothing.

Seeded mutations of a torch zip, a joblib file, a protocol 0 pickle and a tar.gz: every scan
returns (no exception escapes), and damage that breaks the container is reported.
"""

from __future__ import annotations

import io
import pickle
import random
from pathlib import Path

import joblib
import numpy as np
import pytest

from mlgate.inspect.dispatch import Dispatcher
from mlgate.inspect.interface import Limits
from mlgate.model import Severity
from tests.inspect import samples as s


def _torch_zip() -> bytes:
    # a torch-like zip written without torch: data.pkl, a tensor member, version
    body = pickle.dumps({"w": [0.5] * 64, "epoch": 3}, protocol=2)
    return s.zip_bytes(
        {"archive/data.pkl": body, "archive/data/0": bytes(256), "archive/version": b"3\n"},
        method=0,
    )


def _joblib() -> bytes:
    buf = io.BytesIO()
    joblib.dump({"a": np.arange(50, dtype=np.float64), "b": [1, 2]}, buf)
    return buf.getvalue()


SEEDS = {
    "model.pt": _torch_zip,
    "model.joblib": _joblib,
    "legacy.pkl": lambda: pickle.dumps({"k": (1, 2.5, "x")}, protocol=0),
    "bundle.tgz": lambda: s.tar_bytes({"m.pkl": pickle.dumps([1, 2], protocol=4)}, mode="w:gz"),
}


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    kind = rng.randrange(3)
    if kind == 0:  # flip bytes
        for _ in range(rng.randint(1, 8)):
            buf[rng.randrange(len(buf))] = rng.randrange(256)
    elif kind == 1:  # truncate
        del buf[rng.randrange(1, len(buf)) :]
    else:  # insert garbage
        at = rng.randrange(len(buf))
        buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
    return bytes(buf)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_mutations_never_escape(tmp_path: Path, name: str) -> None:
    rng = random.Random(f"mlgate-{name}")
    original = SEEDS[name]()
    dispatcher = Dispatcher(tmp_path, limits=Limits(seconds_per_file=10))
    (tmp_path / name).write_bytes(original)
    assert not [f for f in dispatcher.scan_file(name).findings if f.severity.at_least(Severity.LOW)]
    broken = 0
    for i in range(60):
        rel = f"m{i}-{name}"
        (tmp_path / rel).write_bytes(_mutate(original, rng))
        report = dispatcher.scan_file(rel)  # must not raise
        broken += any(f.severity.at_least(Severity.HIGH) for f in report.findings)
    assert broken > 0  # damage is reported, not swallowed


def test_truncated_containers_are_reported(tmp_path: Path) -> None:
    dispatcher = Dispatcher(tmp_path)
    for name, make in SEEDS.items():
        data = make()
        (tmp_path / name).write_bytes(data[: len(data) * 2 // 3])
        findings = dispatcher.scan_file(name).findings
        assert any(f.severity.at_least(Severity.HIGH) for f in findings), name
