"""The CI pass of the fuzzers: every harness of fuzz/ for a fixed number of seeded inputs.

Deterministic and bounded (``make fuzz`` runs them for longer); deselect with ``-m 'not fuzz'``.
A failure here names the harness and the crash signature; fuzz/run.py reproduces it with the
same ``--seed`` and keeps the input under fuzz/crashes/.
"""

from __future__ import annotations

import pytest
from fuzz.run import harness_names, run_builtin

ITERATIONS = 120  # the seeds plus mutations: the whole pass takes about half a minute
SEED = 20261207


@pytest.mark.fuzz
@pytest.mark.parametrize("name", harness_names())
def test_harness_keeps_its_invariant(name: str) -> None:
    report = run_builtin(name, iterations=ITERATIONS, seconds=None, seed=SEED, save=False)
    assert report.inputs == ITERATIONS
    assert report.crashes == {}, sorted(report.crashes)


def test_every_parser_has_a_harness() -> None:
    expected = {
        "requirements", "pyproject", "poetry_lock", "uv_lock", "pdm_lock", "pylock", "pipfile",
        "pipfile_lock", "conda", "dockerfile", "pickle_engine", "pickle_scan", "zip",
        "zip_reader", "tar", "gzip", "sevenzip", "sevenzip_reader", "hdf5", "hdf5_reader",
        "protowire", "onnx", "savedmodel", "gguf", "safetensors", "npy", "policy",
        "os_release", "dpkg", "apk", "rpm_header", "rpmdb", "metadata", "wheel", "sdist",
        "image_archive", "image_layout",
    }  # fmt: skip
    assert expected <= set(harness_names())
