"""TensorFlow SavedModel graphs: ops that run Python or touch files outside the model.

``saved_model.pb`` is walked on the protobuf wire without TensorFlow. Field numbers, from
tensorflow/core/protobuf/saved_model.proto, meta_graph.proto and tensorflow/core/framework/
graph.proto, function.proto, node_def.proto::

    SavedModel        meta_graphs = 2 (MetaGraphDef)
    MetaGraphDef      graph_def = 2 (GraphDef)
    GraphDef          node = 1 (NodeDef), library = 2 (FunctionDefLibrary)
    FunctionDefLibrary function = 1 (FunctionDef)
    FunctionDef       signature = 1 (OpDef: name = 1), node_def = 3 (NodeDef)
    NodeDef           name = 1, op = 2

Text SavedModels (``saved_model.pbtxt``) are read line by line for ``op: "..."``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from mlgate.inspect.interface import (
    ModelScanner,
    ScanContext,
    ScanTarget,
    ScanTimeout,
    model_finding,
)
from mlgate.inspect.protowire import LEN, WireError, WireReader
from mlgate.model import Finding, Severity

# Ops that call back into the Python interpreter with a function the loading process resolves:
# tf.py_function / tf.numpy_function. Loading the graph and running it runs Python.
PYTHON_OPS = frozenset({"PyFunc", "PyFuncStateless", "EagerPyFunc"})

# Ops that read, list or write arbitrary files (or stream debug data to a URL) given a path that
# is a tensor of the graph. Checkpoint ops (SaveV2, RestoreV2, MergeV2Checkpoints, ShardedFilename)
# and vocabulary-table initialisers from assets are part of every ordinary SavedModel and are not
# listed.
FILE_OPS = frozenset(
    {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "WholeFileReader",
        "WholeFileReaderV2",
        "ImmutableConst",
        "DatasetToTFRecord",
        "ExperimentalDatasetToTFRecord",
        "DebugIdentity",
        "DebugIdentityV2",
        "DebugNanCount",
        "DebugNumericSummary",
        "DebugNumericSummaryV2",
    }
)

MAX_NODES = 5_000_000
MAX_DEPTH_FUNCTIONS = 1
_PBTXT_OP = re.compile(rb'^\s*op\s*:\s*"([A-Za-z0-9_>.]+)"', re.MULTILINE)
_MAX_PBTXT = 256 * 1024 * 1024

_SM_META_GRAPHS = 2
_MG_GRAPH_DEF = 2
_GD_NODE, _GD_LIBRARY = 1, 2
_LIB_FUNCTION = 1
_FD_SIGNATURE, _FD_NODE_DEF = 1, 3
_OPDEF_NAME = 1
_ND_NAME, _ND_OP = 1, 2


def op_severity(op: str) -> Severity | None:
    """The severity of an op, or None when it is not a concern."""
    if op in PYTHON_OPS:
        return Severity.CRITICAL
    if op in FILE_OPS:
        return Severity.HIGH
    return None


@dataclass
class _Walk:
    reader: WireReader
    ctx: ScanContext
    nodes: int = 0
    hits: dict[str, str] = field(default_factory=dict)  # op -> "where" (first node seen)

    def saved_model(self, end: int) -> None:
        r = self.reader
        for number, wire, value in r.fields(end):
            if wire == LEN and number == _SM_META_GRAPHS:
                for n, w, v in r.fields(r.pos + value):
                    if w == LEN and n == _MG_GRAPH_DEF:
                        self.graph(r.pos + v)

    def graph(self, end: int) -> None:
        r = self.reader
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            if number == _GD_NODE:
                self.node(r.pos + value, "graph")
            elif number == _GD_LIBRARY:
                for n, w, v in r.fields(r.pos + value):
                    if w == LEN and n == _LIB_FUNCTION:
                        self.function(r.pos + v)

    def function(self, end: int) -> None:
        r = self.reader
        name = "?"
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            if number == _FD_SIGNATURE:
                for n, w, v in r.fields(r.pos + value):
                    if w == LEN and n == _OPDEF_NAME:
                        name = r.string(v, 512)
            elif number == _FD_NODE_DEF:
                self.node(r.pos + value, f"function {name}")

    def node(self, end: int, where: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WireError(f"more than {MAX_NODES} nodes")
        if self.nodes % 4096 == 0:
            self.ctx.check_time()
        r = self.reader
        name = op = ""
        for number, wire, value in r.fields(end):
            if wire == LEN and number == _ND_NAME:
                name = r.string(value, 512)
            elif wire == LEN and number == _ND_OP:
                op = r.string(value, 512)
        if op_severity(op) is not None and op not in self.hits:
            self.hits[op] = f"node {name!r} in {where}"


class SavedModelScanner(ModelScanner):
    """Python-executing and file-access ops in the graph and its function library."""

    name = "tf-savedmodel"
    formats = ("tf-savedmodel",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        hits: dict[str, str] = {}
        error: str | None = None
        try:
            with target.open() as stream:
                if target.relpath.lower().endswith(".pbtxt") or (
                    target.member or ""
                ).lower().endswith(".pbtxt"):
                    data = stream.read(_MAX_PBTXT)
                    for m in _PBTXT_OP.finditer(data):
                        op = m.group(1).decode()
                        if op_severity(op) is not None:
                            hits.setdefault(op, "text graph")
                else:
                    walk = _Walk(WireReader(stream, target.size), ctx)
                    try:
                        walk.saved_model(target.size)
                    finally:
                        hits = walk.hits
                    error = walk.reader.damage
        except WireError as exc:
            error = str(exc)
        except ScanTimeout:
            error = "time bound reached before the end of the graph"
        except OSError as exc:
            error = f"unreadable: {exc}"
        yield from _findings(hits, target)
        if error is not None:
            yield model_finding(
                "MLG-TF-MALFORMED",
                Severity.HIGH,
                f"SavedModel protobuf does not parse ({error}); ops past this point were not seen",
                target,
                trigger="malformed",
            )


def _findings(hits: dict[str, str], target: ScanTarget) -> Iterator[Finding]:
    for op, where in sorted(hits.items()):
        severity = op_severity(op) or Severity.HIGH
        if op in PYTHON_OPS:
            what = "runs a Python function of the loading process when the graph executes"
        else:
            what = "reads or writes files (or streams data out) at a path chosen by the graph"
        yield model_finding(
            "MLG-TF-OP",
            severity,
            f"TensorFlow op {op} ({where}) {what}",
            target,
            trigger=op,
            fix="rebuild the model without this op, or only load it from a trusted source",
        )
