"""Keras: Lambda layers and custom objects in .keras zips (config.json) and .h5 (model_config).

Configs follow what Keras 3 (``module`` / ``class_name`` / ``registered_name``) and Keras 2 /
tf.keras (``class_name`` / ``config`` only, Lambda as ``[base64 bytecode, defaults, closure]``)
write. The base64 strings are placeholders: the scanner must never decode them anyway.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest

from tests.inspect.scanhelp import rules, scan

FAKE_BYTECODE = "4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMIAAAAfABkARQAUwApAk7pAgAAAKkAKQHaAXhyAgAAAHIC"


def k3(module: str, cls: str, config: dict[str, Any], registered: str | None = None) -> dict:
    return {"module": module, "class_name": cls, "config": config, "registered_name": registered}


def dense(name: str = "dense") -> dict:
    init = k3("keras.initializers", "GlorotUniform", {"seed": None})
    return k3(
        "keras.layers",
        "Dense",
        {"name": name, "units": 2, "activation": "relu", "kernel_initializer": init},
    )


def k3_lambda(name: str = "lambda") -> dict:
    fn = {"class_name": "__lambda__", "config": {"code": FAKE_BYTECODE, "defaults": None}}
    return k3("keras.layers", "Lambda", {"name": name, "function": fn, "arguments": {}})


def sequential(layers: list[dict], name: str = "sequential") -> dict:
    inp = k3("keras.layers", "InputLayer", {"batch_shape": [None, 4], "name": "input"})
    return k3("keras", "Sequential", {"name": name, "layers": [inp, *layers]})


def functional(layers: list[dict]) -> dict:
    return k3("keras", "Functional", {"name": "functional", "layers": layers})


def write_keras(path: Path, config: dict | str) -> Path:
    weights = path.parent / "w.h5"
    with h5py.File(weights, "w") as h5:
        h5.create_dataset("layers/dense/vars/0", data=np.ones((4, 2), dtype=np.float32))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.6.0"}))
        zf.writestr("config.json", config if isinstance(config, str) else json.dumps(config))
        zf.write(weights, "model.weights.h5")
    weights.unlink()
    return path


def k2_layer(cls: str, **config: Any) -> dict:
    return {"class_name": cls, "config": {"name": cls.lower(), **config}}


def k2_model(layers: list[dict]) -> dict:
    return {
        "class_name": "Sequential",
        "config": {"name": "sequential", "layers": [k2_layer("InputLayer"), *layers]},
        "keras_version": "2.15.0",
        "backend": "tensorflow",
    }


def write_h5(path: Path, config: dict) -> Path:
    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["training_config"] = json.dumps({"loss": "mse", "optimizer_config": {}})
        h5.create_dataset("model_weights/dense/kernel", data=np.ones((4, 2), dtype=np.float32))
    return path


def test_benign_keras3_model_is_clean(tmp_path: Path) -> None:
    model = functional([sequential([dense()], "inner"), dense("head")])
    assert scan(write_keras(tmp_path / "model.keras", model)) == []


def test_benign_keras2_h5_is_clean(tmp_path: Path) -> None:
    layers = [k2_layer("Dense", units=2), k2_layer("Dropout", rate=0.1), k2_layer("TFOpLambda")]
    assert scan(write_h5(tmp_path / "model.h5", k2_model(layers))) == []


def test_plain_hdf5_data_file_is_clean(tmp_path: Path) -> None:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as h5:
        h5.create_dataset("x", data=np.arange(10))
    assert scan(path) == []


def test_keras3_lambda_layer_is_high(tmp_path: Path) -> None:
    # technique: Keras Lambda layer with marshalled bytecode in config.json (CVE-2024-3660 family)
    findings = scan(write_keras(tmp_path / "model.keras", sequential([dense(), k3_lambda()])))
    assert [(f.rule_id, f.severity.value) for f in findings] == [("MLG-KERAS-LAMBDA", "high")]
    assert FAKE_BYTECODE not in findings[0].message


def test_lambda_in_a_nested_model_is_found(tmp_path: Path) -> None:
    # technique: Lambda hidden in a Sequential inside a Functional model
    model = functional([dense("a"), sequential([sequential([k3_lambda("deep")], "s2")], "s1")])
    assert rules(scan(write_keras(tmp_path / "nested.keras", model))) == {"MLG-KERAS-LAMBDA"}


def test_keras_zip_found_by_content_under_another_name(tmp_path: Path) -> None:
    # technique: misleading file name (.keras saved as .zip)
    path = write_keras(tmp_path / "backup.zip", sequential([k3_lambda()]))
    assert rules(scan(path)) == {"MLG-KERAS-LAMBDA"}


def test_keras2_h5_lambda_is_high(tmp_path: Path) -> None:
    # technique: Keras 2 .h5 Lambda ([base64 bytecode, defaults, closure], function_type lambda)
    layer = k2_layer("Lambda", function=[FAKE_BYTECODE, None, None], function_type="lambda")
    findings = scan(write_h5(tmp_path / "model.h5", k2_model([layer])))
    assert [(f.rule_id, f.severity.value) for f in findings] == [("MLG-KERAS-LAMBDA", "high")]


def test_lambda_referencing_os_system_is_critical(tmp_path: Path) -> None:
    # technique: Lambda of function_type "function" resolved by module name (os.system)
    layer = k2_layer("Lambda", function="system", function_type="function", module="os")
    findings = scan(write_h5(tmp_path / "model.h5", k2_model([layer])))
    assert [(f.severity.value, f.trigger) for f in findings] == [("critical", "os.system")]


def test_module_field_outside_keras_is_custom_code(tmp_path: Path) -> None:
    # technique: custom object whose module the loader imports
    custom = k3("my_company.layers", "FancyDense", {"name": "fancy"}, "MyLayers>FancyDense")
    findings = scan(write_keras(tmp_path / "model.keras", sequential([custom])))
    assert [(f.rule_id, f.severity.value, f.trigger) for f in findings] == [
        ("MLG-KERAS-CUSTOM", "high", "my_company.layers.FancyDense")
    ]


def test_builtins_function_object_is_critical(tmp_path: Path) -> None:
    # technique: config object naming a dangerous module (CVE-2025-1550 style module import)
    evil = k3("builtins", "function", "exec", "function")
    layer = k3("keras.layers", "Dense", {"name": "d", "units": 1, "activation": evil})
    findings = scan(write_keras(tmp_path / "model.keras", sequential([layer])))
    assert [(f.severity.value, f.trigger) for f in findings] == [("critical", "builtins.function")]


def test_keras2_unknown_layer_class_is_custom(tmp_path: Path) -> None:
    findings = scan(write_h5(tmp_path / "model.h5", k2_model([k2_layer("AttentionWithCode")])))
    assert [(f.rule_id, f.severity.value) for f in findings] == [("MLG-KERAS-CUSTOM", "medium")]


def test_invalid_config_json_is_high(tmp_path: Path) -> None:
    findings = scan(write_keras(tmp_path / "bad.keras", '{"module": "keras", '))
    assert [(f.rule_id, f.severity.value) for f in findings] == [("MLG-KERAS-MALFORMED", "high")]


def test_without_h5py_the_scan_says_so_and_reads_raw_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = k2_layer("Lambda", function=[FAKE_BYTECODE, None, None], function_type="lambda")
    path = write_h5(tmp_path / "model.h5", k2_model([layer]))
    monkeypatch.setitem(sys.modules, "h5py", None)  # the optional extra is not installed
    findings = scan(path)
    assert {(f.rule_id, f.severity.value) for f in findings} == {
        ("MLG-MODEL-EXTRA-MISSING", "info"),
        ("MLG-KERAS-LAMBDA", "high"),
    }


def test_corrupt_hdf5_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "cut.h5"
    good = write_h5(tmp_path / "good.h5", k2_model([])).read_bytes()
    path.write_bytes(good[:600])
    assert rules(scan(path)) == {"MLG-KERAS-MALFORMED"}
