"""ONNX: external-data path traversal and custom operator domains (models from onnx.helper)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from mlgate.inspect.onnx_model import escapes_folder
from tests.inspect.scanhelp import rules, scan


def _external(name: str, location: str) -> TensorProto:
    tensor = numpy_helper.from_array(np.zeros(4, dtype=np.float32), name)
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def _model(
    nodes: list[onnx.NodeProto] | None = None,
    initializers: list[TensorProto] | None = None,
    functions: list[onnx.FunctionProto] | None = None,
    opsets: list[onnx.OperatorSetIdProto] | None = None,
) -> onnx.ModelProto:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    graph = helper.make_graph(
        nodes or [helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y], initializers or []
    )
    return helper.make_model(
        graph,
        functions=functions or [],
        opset_imports=opsets or [helper.make_opsetid("", 17)],
    )


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def test_benign_model_with_weights_is_clean(tmp_path: Path) -> None:
    w = numpy_helper.from_array(np.arange(4, dtype=np.float32), "w")
    nodes = [helper.make_node("Add", ["x", "w"], ["y"])]
    assert scan(_save(_model(nodes, [w]), tmp_path / "model.onnx")) == []


def test_benign_external_data_next_to_the_model_is_clean(tmp_path: Path) -> None:
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_external("w", "weights.bin")])
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    assert scan(_save(model, tmp_path / "model.onnx")) == []


def test_microsoft_contrib_ops_and_local_functions_are_not_custom(tmp_path: Path) -> None:
    fn = helper.make_function(
        "local.fn",
        "Twice",
        ["a"],
        ["b"],
        [helper.make_node("Add", ["a", "a"], ["b"])],
        [helper.make_opsetid("", 17)],
    )
    nodes = [
        helper.make_node("Twice", ["x"], ["t"], domain="local.fn"),
        helper.make_node("FusedGemm", ["t"], ["y"], domain="com.microsoft"),
    ]
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)]
    assert scan(_save(_model(nodes, functions=[fn], opsets=opsets), tmp_path / "m.onnx")) == []


@pytest.mark.parametrize(
    "location",
    ["../../../etc/passwd", "/etc/shadow", "sub/../../outside.bin", "C:\\Windows\\win.ini"],
)
def test_external_data_path_traversal_is_high(tmp_path: Path, location: str) -> None:
    # technique: ONNX external-data path traversal (absolute or ".." location)
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_external("w", location)])
    findings = scan(_save(model, tmp_path / "model.onnx"))
    assert [(f.rule_id, f.severity.value, f.trigger) for f in findings] == [
        ("MLG-ONNX-PATH", "high", location)
    ]


def test_traversal_hidden_in_a_subgraph_is_found(tmp_path: Path) -> None:
    # technique: external tensor inside an If branch (nested GraphProto in a node attribute)
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])
    branch = helper.make_graph(
        [helper.make_node("Identity", ["c"], ["y"])], "b", [], [out], [_external("c", "/etc/hosts")]
    )
    node = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)
    findings = scan(_save(_model([node]), tmp_path / "nested.onnx"))
    assert rules(findings) == {"MLG-ONNX-PATH"}


def test_custom_operator_domain_is_flagged(tmp_path: Path) -> None:
    node = helper.make_node("RunShell", ["x"], ["y"], domain="evil.ops")
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("evil.ops", 1)]
    findings = scan(_save(_model([node], opsets=opsets), tmp_path / "custom.onnx"))
    assert [(f.rule_id, f.severity.value, f.trigger) for f in findings] == [
        ("MLG-ONNX-DOMAIN", "medium", "evil.ops::RunShell")
    ]


def test_truncated_model_is_malformed(tmp_path: Path) -> None:
    data = _model([helper.make_node("Relu", ["x"], ["y"])]).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert rules(scan(path)) == {"MLG-ONNX-MALFORMED"}


def test_model_named_bin_is_found_by_content(tmp_path: Path) -> None:
    # technique: misleading file name; ONNX is recognised by its protobuf header
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_external("w", "/etc/passwd")])
    findings = scan(_save(model, tmp_path / "weights.bin"))
    assert rules(findings) == {"MLG-ONNX-PATH"}


def test_large_weights_are_skipped_not_read(tmp_path: Path) -> None:
    # 8 MiB of raw_data: the scan seeks over it (the finding after it proves it read past)
    big = numpy_helper.from_array(np.zeros(2 * 1024 * 1024, dtype=np.float32), "big")
    model = _model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [big, _external("w", "../leak.bin")]
    )
    assert rules(scan(_save(model, tmp_path / "big.onnx"))) == {"MLG-ONNX-PATH"}


@pytest.mark.parametrize(
    ("location", "escapes"),
    [
        ("w.bin", False),
        ("a/b/../w.bin", False),
        ("./w.bin", False),
        ("..", True),
        ("a/../../w", True),
    ],
)
def test_escapes_folder(location: str, escapes: bool) -> None:
    assert escapes_folder(location) is escapes
