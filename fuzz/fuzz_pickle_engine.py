"""Fuzz harness: the pickle opcode walk itself (mlgate.inspect.pickle_engine.walk_pickles).

Invariant: on an in-memory stream the walk never raises (damage is recorded as
``walk.error``); its findings classify without raising.
"""

from __future__ import annotations

import io

from fuzz import seeds as seed_inputs

NAME = "pickle_engine"


def seeds() -> list[bytes]:
    return [*seed_inputs.pickles(), *seed_inputs.joblibs()]


def check(data: bytes) -> None:
    from mlgate.inspect.allowlist import AllowList
    from mlgate.inspect.interface import ScanTarget
    from mlgate.inspect.pickle_engine import walk_pickles
    from mlgate.inspect.pickles import classify, joblib_build_hook

    walk = walk_pickles(io.BytesIO(data), build_hook=joblib_build_hook)
    target = ScanTarget("x.pkl", "pickle", len(data), lambda: io.BytesIO(data))
    list(classify(walk, target, AllowList.shared(())))
    for nb in walk.nested:
        if nb.data is not None:
            walk_pickles(io.BytesIO(nb.data), follow_on=False)
