"""TF SavedModel graphs: real saved_model.pb protobuf bytes built with a small encoder.

Field numbers (tensorflow/core/protobuf/saved_model.proto, meta_graph.proto; framework/graph.proto,
function.proto, node_def.proto, op_def.proto): SavedModel.saved_model_schema_version = 1,
SavedModel.meta_graphs = 2; MetaGraphDef.graph_def = 2; GraphDef.node = 1, GraphDef.library = 2;
FunctionDefLibrary.function = 1; FunctionDef.signature = 1 (OpDef.name = 1),
FunctionDef.node_def = 3; NodeDef.name = 1, NodeDef.op = 2, NodeDef.input = 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.inspect.protowire import field_bytes, field_varint
from tests.inspect.scanhelp import rules, scan


def node(name: str, op: str, *inputs: str) -> bytes:
    out = field_bytes(1, name) + field_bytes(2, op)
    for i in inputs:
        out += field_bytes(3, i)
    return out


def function(name: str, nodes: list[bytes]) -> bytes:
    return field_bytes(1, field_bytes(1, name)) + b"".join(field_bytes(3, n) for n in nodes)


def saved_model(graph_nodes: list[bytes], functions: list[bytes] = ()) -> bytes:  # type: ignore[assignment]
    graph = b"".join(field_bytes(1, n) for n in graph_nodes)
    if functions:
        graph += field_bytes(2, b"".join(field_bytes(1, f) for f in functions))
    meta_graph = field_bytes(1, field_bytes(4, b"serve")) + field_bytes(2, graph)
    return field_varint(1, 1) + field_bytes(2, meta_graph)


BENIGN_NODES = [
    node("x", "Placeholder"),
    node("w", "VarHandleOp"),
    node("mm", "MatMul", "x", "w"),
    node("save/SaveV2", "SaveV2"),
    node("save/RestoreV2", "RestoreV2"),
    node("save/merge", "MergeV2Checkpoints"),
    node("save/ShardedFilename", "ShardedFilename"),
]


def _write(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    path = folder / "saved_model.pb"
    path.write_bytes(data)
    return path


def test_ordinary_graph_with_checkpoint_ops_is_clean(tmp_path: Path) -> None:
    fn = function("__inference_serve_12", [node("a", "Relu"), node("b", "StatefulPartitionedCall")])
    assert scan(_write(tmp_path, saved_model(BENIGN_NODES, [fn]))) == []


@pytest.mark.parametrize(
    ("op", "severity"),
    [
        ("PyFunc", "critical"),
        ("EagerPyFunc", "critical"),
        ("PyFuncStateless", "critical"),
        ("ReadFile", "high"),
        ("WriteFile", "high"),
        ("MatchingFiles", "high"),
    ],
)
def test_dangerous_op_in_the_graph(tmp_path: Path, op: str, severity: str) -> None:
    # technique: TF graph op that runs Python or touches files when the graph executes
    findings = scan(_write(tmp_path, saved_model([*BENIGN_NODES, node("evil", op)])))
    assert [(f.rule_id, f.severity.value, f.trigger) for f in findings] == [
        ("MLG-TF-OP", severity, op)
    ]


def test_op_hidden_in_the_function_library(tmp_path: Path) -> None:
    # technique: payload inside a tf.function body (FunctionDefLibrary), not the top-level graph
    fn = function("__inference_call_7", [node("r", "ReadFile"), node("p", "EagerPyFunc")])
    findings = scan(_write(tmp_path, saved_model(BENIGN_NODES, [fn])))
    assert {f.trigger for f in findings} == {"ReadFile", "EagerPyFunc"}
    assert all("__inference_call_7" in f.message for f in findings)


def test_truncated_saved_model_is_malformed_and_keeps_earlier_hits(tmp_path: Path) -> None:
    data = saved_model([node("evil", "PyFunc"), *BENIGN_NODES])
    findings = scan(_write(tmp_path, data[: len(data) - 5]))
    assert rules(findings) == {"MLG-TF-OP", "MLG-TF-MALFORMED"}


def test_text_saved_model(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    path = folder / "saved_model.pbtxt"
    path.write_text('node {\n  name: "r"\n  op: "ReadFile"\n}\nnode {\n  op: "MatMul"\n}\n')
    assert [f.trigger for f in scan(path)] == ["ReadFile"]
