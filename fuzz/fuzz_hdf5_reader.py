"""Fuzz harness: the fast HDF5 root-attribute reader (mlgate.inspect.hdf5).

Invariant: ``read_root_string_attrs`` never raises (``None`` means "ask h5py").
"""

from __future__ import annotations

import io

from fuzz import seeds as seed_inputs

NAME = "hdf5_reader"


def seeds() -> list[bytes]:
    return seed_inputs.hdf5s()


def check(data: bytes) -> None:
    from mlgate.inspect.hdf5 import read_root_string_attrs

    read_root_string_attrs(io.BytesIO(data), len(data), ("model_config", "keras_version"))
