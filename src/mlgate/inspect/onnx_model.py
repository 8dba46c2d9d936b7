"""ONNX models: external-data paths that leave the model's folder, and custom operator domains.

The model is walked on the protobuf wire (:mod:`mlgate.inspect.protowire`) rather than loaded with
the ``onnx`` package: tensor payloads (``raw_data``, ``float_data`` ...) are skipped by seeking, so
a multi-gigabyte model costs the same as its graph, and no optional dependency is needed. Field
numbers come from ``onnx/onnx.proto`` (ModelProto, GraphProto, NodeProto, AttributeProto,
TensorProto, SparseTensorProto, FunctionProto, TrainingInfoProto, StringStringEntryProto).
"""

from __future__ import annotations

import posixpath
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

# Operator domains every mainstream runtime implements itself. Anything else needs a custom-op
# library that the application registers (onnxruntime ``register_custom_ops_library``): native code
# from outside the model, so it is worth a look but the file alone cannot run it.
STANDARD_DOMAINS = frozenset(
    {
        "",
        "ai.onnx",
        "ai.onnx.ml",
        "ai.onnx.training",
        "ai.onnx.preview.training",
        "com.microsoft",
        "com.microsoft.nchwc",
        "com.microsoft.experimental",
    }
)

MAX_DEPTH = 24  # graphs inside If/Loop/Scan attributes inside functions ...
MAX_NODES = 2_000_000
MAX_FINDINGS_PER_RULE = 50
_DRIVE = re.compile(r"^[A-Za-z]:")

# field numbers (onnx.proto)
_MODEL_OPSET, _MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS = 8, 7, 20, 25
_GRAPH_NODE, _GRAPH_INIT, _GRAPH_SPARSE_INIT = 1, 5, 15
_NODE_OP_TYPE, _NODE_ATTR, _NODE_DOMAIN, _NODE_NAME = 4, 5, 7, 3
_ATTR_T, _ATTR_G, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_TENSOR_NAME, _TENSOR_EXTERNAL, _TENSOR_LOCATION = 8, 13, 14
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_FUNC_NAME, _FUNC_NODE, _FUNC_DOMAIN = 1, 7, 10
_TRAIN_INIT, _TRAIN_ALGO = 1, 2
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_OPSET_DOMAIN = 1


def escapes_folder(location: str) -> bool:
    """True when an external-data path is absolute or climbs out of the model's folder."""
    if not location:
        return False
    norm = location.replace("\\", "/")
    if norm.startswith("/") or _DRIVE.match(norm) or "\x00" in norm:
        return True
    resolved = posixpath.normpath(norm)
    return resolved == ".." or resolved.startswith("../")


@dataclass
class _Walk:
    reader: WireReader
    ctx: ScanContext
    nodes: int = 0
    externals: list[tuple[str, str]] = field(default_factory=list)  # (tensor, location)
    ops: list[tuple[str, str, str]] = field(default_factory=list)  # (domain, op_type, node)
    functions: set[tuple[str, str]] = field(default_factory=set)
    opset_domains: set[str] = field(default_factory=set)

    def model(self, end: int) -> None:
        r = self.reader
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            stop = r.pos + value
            if number == _MODEL_GRAPH:
                self.graph(stop, 1)
            elif number == _MODEL_FUNCTIONS:
                self.function(stop, 1)
            elif number == _MODEL_TRAINING:
                for n, w, v in r.fields(stop):
                    if w == LEN and n in (_TRAIN_INIT, _TRAIN_ALGO):
                        self.graph(r.pos + v, 2)
            elif number == _MODEL_OPSET:
                for n, w, v in r.fields(stop):
                    if w == LEN and n == _OPSET_DOMAIN:
                        self.opset_domains.add(r.string(v))

    def _deeper(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise WireError(f"graphs nested deeper than {MAX_DEPTH} levels")
        self.ctx.check_time()

    def graph(self, end: int, depth: int) -> None:
        self._deeper(depth)
        r = self.reader
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            if number == _GRAPH_NODE:
                self.node(r.pos + value, depth)
            elif number == _GRAPH_INIT:
                self.tensor(r.pos + value)
            elif number == _GRAPH_SPARSE_INIT:
                self.sparse(r.pos + value)

    def function(self, end: int, depth: int) -> None:
        self._deeper(depth)
        r = self.reader
        name = domain = ""
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            if number == _FUNC_NAME:
                name = r.string(value)
            elif number == _FUNC_DOMAIN:
                domain = r.string(value)
            elif number == _FUNC_NODE:
                self.node(r.pos + value, depth)
        self.functions.add((domain, name))

    def node(self, end: int, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WireError(f"more than {MAX_NODES} nodes")
        if self.nodes % 4096 == 0:
            self.ctx.check_time()
        r = self.reader
        op_type = domain = name = ""
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            if number == _NODE_OP_TYPE:
                op_type = r.string(value, 1024)
            elif number == _NODE_DOMAIN:
                domain = r.string(value, 1024)
            elif number == _NODE_NAME:
                name = r.string(value, 1024)
            elif number == _NODE_ATTR:
                self.attribute(r.pos + value, depth)
        self.ops.append((domain, op_type, name))

    def attribute(self, end: int, depth: int) -> None:
        r = self.reader
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            stop = r.pos + value
            if number in (_ATTR_G, _ATTR_GRAPHS):
                self.graph(stop, depth + 1)
            elif number in (_ATTR_T, _ATTR_TENSORS):
                self.tensor(stop)
            elif number in (_ATTR_SPARSE, _ATTR_SPARSES):
                self.sparse(stop)

    def sparse(self, end: int) -> None:
        r = self.reader
        for number, wire, value in r.fields(end):
            if wire == LEN and number in (_SPARSE_VALUES, _SPARSE_INDICES):
                self.tensor(r.pos + value)

    def tensor(self, end: int) -> None:
        r = self.reader
        name = ""
        for number, wire, value in r.fields(end):
            if wire != LEN:
                continue
            if number == _TENSOR_NAME:
                name = r.string(value, 1024)
            elif number == _TENSOR_EXTERNAL:
                key = val = ""
                for n, w, v in r.fields(r.pos + value):
                    if w == LEN and n == _ENTRY_KEY:
                        key = r.string(v, 256)
                    elif w == LEN and n == _ENTRY_VALUE:
                        val = r.string(v, 4096)
                if key == "location":
                    self.externals.append((name, val))
            # raw_data (9) and the typed *_data fields are skipped by the reader


class OnnxScanner(ModelScanner):
    """External-data path traversal and custom operator domains, from the wire format."""

    name = "onnx"
    formats = ("onnx",)

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        try:
            stream = target.open()
        except OSError as exc:
            yield model_finding(
                "MLG-ONNX-MALFORMED",
                Severity.HIGH,
                f"ONNX model could not be read: {exc}",
                target,
                trigger="unreadable",
            )
            return
        with stream:
            walk = _Walk(WireReader(stream, target.size), ctx)
            error: str | None = None
            try:
                walk.model(target.size)
            except WireError as exc:
                error = str(exc)
            except ScanTimeout:
                error = "time bound reached before the end of the model"
            error = error or walk.reader.damage
        yield from _findings(walk, target)
        if error is not None:
            yield model_finding(
                "MLG-ONNX-MALFORMED",
                Severity.HIGH,
                f"not a well-formed ONNX protobuf ({error}); a loader would reject it or read "
                "something other than what was inspected",
                target,
                trigger="malformed",
            )


def _findings(walk: _Walk, target: ScanTarget) -> Iterator[Finding]:
    seen: set[str] = set()
    for tensor, location in walk.externals:
        if escapes_folder(location) and location not in seen:
            seen.add(location)
            if len(seen) > MAX_FINDINGS_PER_RULE:
                break
            yield model_finding(
                "MLG-ONNX-PATH",
                Severity.HIGH,
                f"tensor {tensor!r} reads its external data from {location!r}, outside the "
                "model's folder: loading the model reads (and may leak) that file",
                target,
                trigger=location,
                fix="keep external data files next to the model with relative paths",
            )
    custom: dict[tuple[str, str], str] = {}
    for domain, op_type, node in walk.ops:
        if domain in STANDARD_DOMAINS or (domain, op_type) in walk.functions:
            continue
        custom.setdefault((domain, op_type), node)
    for (domain, op_type), node in list(custom.items())[:MAX_FINDINGS_PER_RULE]:
        yield model_finding(
            "MLG-ONNX-DOMAIN",
            Severity.MEDIUM,
            f"node {node!r} uses operator {op_type!r} of custom domain {domain!r}: running the "
            "model needs a custom-op library (native code from outside the model)",
            target,
            trigger=f"{domain}::{op_type}",
            fix="check where the custom operator library comes from before registering it",
        )
