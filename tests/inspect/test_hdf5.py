"""The HDF5 root-attribute reader that spares `mlgate models` the h5py import.

Every file is written by h5py itself; the reader must give exactly what ``h5py.File.attrs.get``
gives, or ``None`` ("not sure") so that the Keras scanner asks h5py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from mlgate.inspect.hdf5 import read_root_string_attrs
from tests.inspect.scanhelp import rules, scan

NAMES = ("model_config", "training_config")
LAMBDA = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda"}]}}
CONFIG = json.dumps(LAMBDA)


def write(path: Path, fill: Callable[[h5py.File], object], **kwargs: Any) -> Path:
    with h5py.File(path, "w", **kwargs) as h5:
        fill(h5)
    return path


def fast(path: Path) -> dict[str, bytes | str | None] | None:
    with path.open("rb") as fh:
        return read_root_string_attrs(fh, path.stat().st_size, NAMES)


def by_h5py(path: Path) -> dict[str, Any]:
    with h5py.File(path, "r") as h5:
        return {name: h5.attrs.get(name) for name in NAMES}


def _set(**attrs: Any) -> Callable[[h5py.File], None]:
    def fill(h5: h5py.File) -> None:
        for name, value in attrs.items():
            h5.attrs[name] = value
        h5.create_dataset("model_weights/dense/kernel", data=np.ones((4, 2), dtype=np.float32))

    return fill


def _many(h5: h5py.File) -> None:
    for i in range(40):  # enough attributes for the library to chain continuation blocks
        h5.attrs[f"attr{i}"] = f"value {i}"
    h5.attrs["model_config"] = CONFIG


READABLE: dict[str, Callable[[h5py.File], object]] = {
    "text (variable length, global heap)": _set(model_config=CONFIG, training_config="{}"),
    "bytes (fixed length, as Keras writes them)": _set(model_config=CONFIG.encode()),
    "non-ASCII text": _set(model_config=json.dumps({"name": "modèle ✓"}, ensure_ascii=False)),
    "a 60 KB fixed-length config": _set(model_config=(CONFIG + " " * 60_000).encode()),
    "a 200 KB text config": _set(model_config=CONFIG + " " * 200_000),
    "continuation blocks": _many,
    "no config at all": _set(),
}


@pytest.mark.parametrize("fill", READABLE.values(), ids=READABLE.keys())
def test_reads_what_h5py_reads(tmp_path: Path, fill: Callable[[h5py.File], object]) -> None:
    path = write(tmp_path / "model.h5", fill)
    got = fast(path)
    assert got is not None
    assert got == by_h5py(path)
    assert [type(v) for v in got.values()] == [type(v) for v in by_h5py(path).values()]


UNSURE: dict[str, Callable[[Path], Path]] = {
    "superblock version 2 (libver=latest)": lambda p: write(
        p, _set(model_config=CONFIG), libver="latest"
    ),
    "an array of strings": lambda p: write(p, _set(model_config=np.array([b"{", b"}"]))),
    "a number": lambda p: write(p, _set(model_config=5)),
    "a NUL inside the config": lambda p: write(
        p, _set(model_config=np.array(b'{"a": 1}\0{"b": 2}', dtype="S17"))
    ),
    "a user block before the superblock": lambda p: write(
        p, _set(model_config=CONFIG), userblock_size=512
    ),
}


@pytest.mark.parametrize("make", UNSURE.values(), ids=UNSURE.keys())
def test_unusual_layouts_are_left_to_h5py(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    assert fast(make(tmp_path / "model.h5")) is None


def test_truncated_file_is_left_to_h5py(tmp_path: Path) -> None:
    path = write(tmp_path / "model.h5", _set(model_config=CONFIG))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 1])
    assert fast(path) is None


def test_duplicate_attribute_names_are_left_to_h5py(tmp_path: Path) -> None:
    # technique: two model_config attributes in one header, a benign one first for a parser
    # that stops at the first match
    path = write(tmp_path / "model.h5", _set(model_config=b"{}", model_confiX=CONFIG.encode()))
    data = path.read_bytes()
    assert data.count(b"model_confiX") == 1
    path.write_bytes(data.replace(b"model_confiX", b"model_config"))
    assert fast(path) is None


def test_keras_scan_of_common_h5_does_not_import_h5py(tmp_path: Path) -> None:
    path = write(tmp_path / "lambda.h5", _set(model_config=CONFIG))
    code = (
        "import sys; from pathlib import Path; from tests.inspect.scanhelp import scan, rules; "
        f"print(sorted(rules(scan(Path({str(path)!r}))))); print('h5py' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[:2] == ["['MLG-KERAS-LAMBDA']", "False"]


def test_keras_scan_falls_back_to_h5py_and_still_finds_the_lambda(tmp_path: Path) -> None:
    path = write(tmp_path / "latest.h5", _set(model_config=CONFIG), libver="latest")
    assert fast(path) is None
    assert rules(scan(path)) == {"MLG-KERAS-LAMBDA"}
