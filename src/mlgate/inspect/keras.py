"""Keras models: Lambda layers, custom objects and modules a loader would import.

Two containers carry the same JSON model config:

* ``.keras`` (Keras 3): a zip whose ``config.json`` is the config; other members (the weights'
  HDF5, assets) are handed back to the dispatcher.
* ``.h5`` (Keras 2 / tf.keras): an HDF5 file whose root attribute ``model_config`` is the config
  (``training_config`` holds loss, metrics and optimizer objects). It is read with h5py, an optional
  extra imported lazily; without it the scan says so (info) and falls back to finding the JSON in
  the raw bytes, where HDF5 keeps small attributes contiguously.

The config is walked as data, never deserialised: every object (``class_name`` / ``module`` /
``registered_name`` / ``config``) at any depth, so nested Sequential/Functional models are covered.
A Lambda layer carries marshalled Python bytecode (base64) that Keras runs on load when safe mode is
off; it is reported, never decoded. A ``module`` outside Keras is imported by the loader.
"""

from __future__ import annotations

import importlib.util
import json
import time
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

from mlgate.formats import sniff
from mlgate.inspect.hdf5 import read_root_string_attrs
from mlgate.inspect.interface import (
    ModelScanner,
    ScanContext,
    ScanTarget,
    ScanTimeout,
    model_finding,
)
from mlgate.inspect.isolate import ChildFailed, call_isolated
from mlgate.model import Finding, Severity

MAX_CONFIG = 100 * 1024 * 1024
H5PY_SECONDS = 30.0  # h5py reads two root attributes: a healthy file takes milliseconds
MAX_NODES = 2_000_000
MAX_DEPTH = 256
MAX_RAW_CANDIDATES = 64
_RAW_CHUNK = 8 * 1024 * 1024
_RAW_MARKERS = (b'{"class_name":', b'{"module":')
_CONFIG_ATTRS = ("model_config", "training_config")

KERAS_MODULE_ROOTS = frozenset(
    {"keras", "tf_keras", "tensorflow", "keras_hub", "keras_nlp", "keras_cv", "tf"}
)
# Importing these is the attack itself (process, files, network, import machinery).
DANGEROUS_MODULE_ROOTS = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "builtins",
        "__builtin__",
        "sys",
        "shutil",
        "socket",
        "importlib",
        "runpy",
        "pty",
        "code",
        "ctypes",
        "pickle",
        "marshal",
        "webbrowser",
        "urllib",
        "http",
        "requests",
        "multiprocessing",
        "pathlib",
        "io",
        "tempfile",
    }
)
# Layer classes of Keras 2 / tf.keras configs, which carry no ``module``: anything else needs custom
# code the loader is given through ``custom_objects``.
KNOWN_LAYERS = frozenset(
    [
        "InputLayer",
        "Dense",
        "EinsumDense",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
        "SeparableConv1D",
        "SeparableConv2D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "GlobalMaxPooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalAveragePooling3D",
        "MaxPool1D",
        "MaxPool2D",
        "MaxPool3D",
        "AvgPool1D",
        "AvgPool2D",
        "AvgPool3D",
        "GlobalMaxPool1D",
        "GlobalMaxPool2D",
        "GlobalAvgPool1D",
        "GlobalAvgPool2D",
        "Flatten",
        "Reshape",
        "Permute",
        "RepeatVector",
        "Dropout",
        "SpatialDropout1D",
        "SpatialDropout2D",
        "SpatialDropout3D",
        "GaussianNoise",
        "GaussianDropout",
        "AlphaDropout",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "UnitNormalization",
        "Normalization",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "ThresholdedReLU",
        "Softmax",
        "Embedding",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "RNN",
        "Bidirectional",
        "TimeDistributed",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
        "LSTMCell",
        "GRUCell",
        "SimpleRNNCell",
        "StackedRNNCells",
        "CuDNNLSTM",
        "CuDNNGRU",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
        "Dot",
        "Attention",
        "AdditiveAttention",
        "MultiHeadAttention",
        "ZeroPadding1D",
        "ZeroPadding2D",
        "ZeroPadding3D",
        "Cropping1D",
        "Cropping2D",
        "Cropping3D",
        "UpSampling1D",
        "UpSampling2D",
        "UpSampling3D",
        "Masking",
        "ActivityRegularization",
        "Rescaling",
        "Resizing",
        "CenterCrop",
        "RandomFlip",
        "RandomRotation",
        "RandomZoom",
        "RandomTranslation",
        "RandomContrast",
        "RandomCrop",
        "RandomBrightness",
        "RandomHeight",
        "RandomWidth",
        "TextVectorization",
        "StringLookup",
        "IntegerLookup",
        "CategoryEncoding",
        "Hashing",
        "Discretization",
        "HashedCrossing",
        "Identity",
        "Sequential",
        "Functional",
        "Model",
        "TFOpLambda",
        "SlicingOpLambda",
        "LocallyConnected1D",
        "LocallyConnected2D",
        "Lambda",
    ]
)


@dataclass(frozen=True)
class KerasIssue:
    rule_id: str
    severity: Severity
    trigger: str
    message: str


def _module_root(module: str) -> str:
    return module.split(".", 1)[0]


def analyse_config(config: Any) -> list[KerasIssue]:
    """Walk a decoded model config (iteratively, bounded) and list what a loader would run."""
    issues: dict[str, KerasIssue] = {}
    legacy = not _has_module_fields(config)
    stack: list[tuple[Any, int, bool]] = [(config, 0, False)]
    seen = 0
    while stack:
        node, depth, is_layer = stack.pop()
        seen += 1
        if seen > MAX_NODES or depth > MAX_DEPTH:
            issues.setdefault(
                "bound",
                KerasIssue(
                    "MLG-KERAS-MALFORMED",
                    Severity.HIGH,
                    "bound",
                    f"the config is larger or deeper than the scan bounds ({MAX_NODES} values, "
                    f"depth {MAX_DEPTH}); the rest was not inspected",
                ),
            )
            break
        if isinstance(node, list):
            stack.extend((item, depth + 1, is_layer) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        for issue in _object_issues(node, legacy, is_layer):
            issues.setdefault(f"{issue.rule_id}:{issue.trigger}", issue)
        for key, value in node.items():
            stack.append((value, depth + 1, key == "layers"))
    return list(issues.values())


def _has_module_fields(config: Any) -> bool:
    return isinstance(config, dict) and "module" in config


def _object_issues(obj: dict[str, Any], legacy: bool, is_layer: bool) -> Iterator[KerasIssue]:
    cls = obj.get("class_name")
    conf = obj.get("config") if isinstance(obj.get("config"), dict) else {}
    assert isinstance(conf, dict)
    layer = conf.get("name", "?")
    if cls == "Lambda":
        fn = conf.get("function")
        ftype = conf.get("function_type")
        if ftype == "function" and isinstance(fn, str):
            fn_module = str(conf.get("module") or "")
            severity = (
                Severity.CRITICAL
                if _module_root(fn_module) in DANGEROUS_MODULE_ROOTS
                else Severity.HIGH
            )
            yield KerasIssue(
                "MLG-KERAS-LAMBDA",
                severity,
                f"{fn_module}.{fn}",
                f"Lambda layer {layer!r} calls {fn_module}.{fn}, which the loader imports and runs",
            )
        elif not (isinstance(fn, dict) and fn.get("class_name") == "__lambda__"):
            # Keras 2 shape ([base64 bytecode, defaults, closure]); Keras 3 is reported below
            yield KerasIssue(
                "MLG-KERAS-LAMBDA",
                Severity.HIGH,
                f"Lambda:{layer}",
                f"Lambda layer {layer!r} carries marshalled Python bytecode that Keras runs when "
                "the model is loaded or called",
            )
    if cls == "__lambda__":
        yield KerasIssue(
            "MLG-KERAS-LAMBDA",
            Severity.HIGH,
            "__lambda__",
            "a serialised Python lambda (marshalled bytecode) that Keras runs when the model is "
            "loaded or called",
        )
    module = obj.get("module")
    if isinstance(module, str) and isinstance(cls, str):
        root = _module_root(module)
        if root in DANGEROUS_MODULE_ROOTS:
            yield KerasIssue(
                "MLG-KERAS-CUSTOM",
                Severity.CRITICAL,
                f"{module}.{cls}",
                f"object {cls!r} comes from module {module!r}: the loader imports it and calls "
                "into it (process, file or import machinery)",
            )
        elif root not in KERAS_MODULE_ROOTS:
            yield KerasIssue(
                "MLG-KERAS-CUSTOM",
                Severity.HIGH,
                f"{module}.{cls}",
                f"custom object {cls!r} from module {module!r}: the loader imports that module "
                "(code from outside the file)",
            )
    registered = obj.get("registered_name")
    if (
        isinstance(registered, str)
        and ">" in registered
        and _module_root(registered.split(">", 1)[0]) not in KERAS_MODULE_ROOTS
        and not isinstance(module, str)
    ):
        yield KerasIssue(
            "MLG-KERAS-CUSTOM",
            Severity.MEDIUM,
            registered,
            f"custom registered object {registered!r}: loading needs code from outside the file",
        )
    if legacy and is_layer and isinstance(cls, str) and cls not in KNOWN_LAYERS:
        yield KerasIssue(
            "MLG-KERAS-CUSTOM",
            Severity.MEDIUM,
            cls,
            f"layer {layer!r} has custom class {cls!r}: loading needs code from outside the file "
            "(custom_objects)",
        )


def _decode(data: bytes | str) -> Any:
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    return json.loads(text)


class KerasScanner(ModelScanner):
    """Lambda layers and custom objects in ``.keras`` zips and Keras ``.h5`` files."""

    name = "keras"
    formats = ("keras", "hdf5")

    def scan(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        if target.format == "keras":
            yield from self._scan_zip(target, ctx)
        else:
            yield from self._scan_h5(target, ctx)

    # -- .keras ---------------------------------------------------------------------------------

    def _scan_zip(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        try:
            with target.open() as stream, zipfile.ZipFile(stream) as zf:
                infos = zf.infolist()[: ctx.limits.max_members]
                config = next((i for i in infos if i.filename == "config.json"), None)
                if config is None:
                    yield _malformed(target, "the .keras archive has no config.json")
                elif config.file_size > MAX_CONFIG:
                    yield _malformed(target, f"config.json is larger than {MAX_CONFIG} bytes")
                else:
                    with zf.open(config) as fh:
                        raw = fh.read(MAX_CONFIG + 1)
                    yield from self._config(target, raw, "config.json")
                for info in infos:
                    if info.is_dir() or info.filename in ("config.json", "metadata.json"):
                        continue
                    yield from _nested(zf, info, target, ctx)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            yield _malformed(target, f"the .keras archive cannot be read ({exc})")

    def _config(self, target: ScanTarget, raw: bytes | str, where: str) -> Iterator[Finding]:
        try:
            config = _decode(raw)
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            yield _malformed(target, f"{where} is not valid JSON ({exc})")
            return
        for issue in analyse_config(config):
            yield model_finding(
                issue.rule_id,
                issue.severity,
                f"{issue.message} ({where})",
                target,
                trigger=issue.trigger,
                fix="load with safe_mode=True and only the custom objects you wrote, or re-export "
                "the model without Lambda layers",
            )

    # -- .h5 ------------------------------------------------------------------------------------

    def _scan_h5(self, target: ScanTarget, ctx: ScanContext) -> Iterable[Finding]:
        if importlib.util.find_spec("h5py") is not None:
            # the common layouts are read without importing h5py (and numpy): that import
            # costs more than scanning a directory of models; anything unusual goes to h5py
            try:
                with target.open() as stream:
                    fast = read_root_string_attrs(stream, target.size, _CONFIG_ATTRS)
            except OSError:
                fast = None
            if fast is not None:
                yield from self._h5_attrs(target, fast)
                return
        try:
            import h5py
        except ImportError:
            yield model_finding(
                "MLG-MODEL-EXTRA-MISSING",
                Severity.INFO,
                "HDF5 file not inspected with h5py: install mlgate[h5]; only JSON configs found "
                "in the raw bytes were checked",
                target,
                trigger="h5py",
                fix="pip install 'mlgate[h5]'",
            )
            yield from self._scan_h5_raw(target, ctx)
            return

        def read_attrs() -> dict[str, Any]:
            with target.open() as stream, h5py.File(stream, "r") as h5:
                return {name: _plain_attr(h5.attrs.get(name)) for name in _CONFIG_ATTRS}

        try:
            # libhdf5 can loop forever on a crafted file, out of reach of the time bound: it
            # runs in a child process that is killed at the deadline (MLG-MODEL-TIMEOUT)
            attrs = call_isolated(read_attrs, min(ctx.deadline, time.monotonic() + H5PY_SECONDS))
        except ChildFailed as exc:
            yield _malformed(target, f"HDF5 file cannot be read ({exc})")
            return
        except ScanTimeout:
            raise
        except Exception as exc:  # h5py raises OSError, KeyError, RuntimeError ... on bad files
            yield _malformed(target, f"HDF5 file cannot be read ({type(exc).__name__}: {exc})")
            return
        yield from self._h5_attrs(target, attrs)

    def _h5_attrs(self, target: ScanTarget, attrs: Mapping[str, Any]) -> Iterator[Finding]:
        for name, value in attrs.items():
            if value is None:
                continue
            if hasattr(value, "tobytes") and not isinstance(value, bytes | str):
                value = value.tobytes()
            if not isinstance(value, bytes | str):
                yield _malformed(target, f"attribute {name} is not a string")
                continue
            if len(value) > MAX_CONFIG:
                yield _malformed(target, f"attribute {name} is larger than {MAX_CONFIG} bytes")
                continue
            yield from self._config(target, value, name)

    def _scan_h5_raw(self, target: ScanTarget, ctx: ScanContext) -> Iterator[Finding]:
        decoder = json.JSONDecoder()
        consumed = 0  # candidates inside a config already decoded are part of it
        try:
            with target.open() as stream:
                for offset in _raw_candidates(stream):
                    if offset < consumed:
                        continue
                    ctx.check_time()
                    here = stream.tell()
                    stream.seek(offset)
                    blob = stream.read(16 * 1024 * 1024)
                    stream.seek(here)
                    try:
                        # latin-1 keeps one character per byte, so ``end`` is a byte count
                        config, end = decoder.raw_decode(blob.decode("latin-1"))
                    except (ValueError, RecursionError):
                        continue
                    consumed = offset + end
                    for issue in analyse_config(config):
                        yield model_finding(
                            issue.rule_id,
                            issue.severity,
                            f"{issue.message} (config found in the raw HDF5 bytes)",
                            target,
                            trigger=issue.trigger,
                        )
        except OSError as exc:
            yield _malformed(target, f"HDF5 file cannot be read ({exc})")


def _raw_candidates(stream: IO[bytes]) -> Iterator[int]:
    """Offsets where a Keras JSON config may start, in order, found chunk by chunk."""
    base = 0
    tail = b""
    hits = 0
    while True:
        chunk = stream.read(_RAW_CHUNK)
        if not chunk:
            return
        data = tail + chunk
        start = base - len(tail)
        found = sorted(
            {start + m for marker in _RAW_MARKERS for m in _find_all(data, marker)}
            - {
                start + i
                for i in range(len(tail))
                for mk in _RAW_MARKERS
                if data.startswith(mk, i) and i + len(mk) <= len(tail)  # seen in the last chunk
            }
        )
        for offset in found:
            hits += 1
            if hits > MAX_RAW_CANDIDATES:
                return
            yield offset
        base += len(chunk)
        tail = data[-32:]


def _find_all(data: bytes, marker: bytes) -> Iterator[int]:
    at = data.find(marker)
    while at != -1:
        yield at
        at = data.find(marker, at + 1)


def _nested(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: ScanTarget, ctx: ScanContext
) -> list[Finding]:
    with zf.open(info) as fh:
        head = fh.read(512)
    sniffed = sniff(head, info.filename, info.file_size)
    if sniffed is None:
        return []
    member = f"{target.member}!{info.filename}" if target.member else info.filename
    child = ScanTarget(
        relpath=target.relpath,
        format=sniffed.format,
        size=info.file_size,
        open=lambda: zf.open(info),
        member=member,
    )
    return ctx.scan_nested(child)


def _malformed(target: ScanTarget, message: str) -> Finding:
    return model_finding(
        "MLG-KERAS-MALFORMED",
        Severity.HIGH,
        f"Keras model: {message}",
        target,
        trigger="malformed",
    )


def _plain_attr(value: Any) -> bytes | str | tuple[str] | None:
    """An attribute as plain values (what the child process sends back)."""
    if value is None or isinstance(value, bytes | str):
        return value
    if hasattr(value, "tobytes"):
        return bytes(value.tobytes())
    return ("not-a-string",)
