"""Seed inputs, built in code with the same libraries and builders the tests use (no binary
files in the repository). Every builder is cached: harnesses ask for their seeds once."""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import pickle
import struct
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.inspect import samples as s


def _via_file(suffix: str, write: Callable[[Path], object]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"seed{suffix}"
        write(path)
        return path.read_bytes()


class _Exec:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("true",))


@functools.cache
def pickles() -> list[bytes]:
    import numpy as np

    plain = {"w": [0.5, 1.5], "name": "m", "t": (1, 2), "b": b"\x00\x01", "n": None}
    out = [pickle.dumps(plain, protocol=p) for p in range(6)]
    out.append(pickle.dumps([_Exec(), pickle.dumps(_Exec(), protocol=4)], protocol=4))
    out.append(s.call("os", "system", "echo hi"))
    out.append(s.stack_global_call("builtins", "eval", "1+1"))
    out.append(pickle.dumps(np.arange(6, dtype=np.float32), protocol=2))
    out.append(pickle.dumps(np.array([{"a": 1}, "x"], dtype=object), protocol=4))
    return out


@functools.cache
def joblibs() -> list[bytes]:
    import joblib
    import numpy as np

    buf = io.BytesIO()
    joblib.dump({"a": np.arange(50, dtype=np.float64), "b": [1, 2]}, buf)
    return [buf.getvalue()]


def torch_zip() -> bytes:
    body = pickle.dumps({"w": [0.5] * 8, "epoch": 3}, protocol=2)
    return s.zip_bytes(
        {"archive/data.pkl": body, "archive/data/0": bytes(64), "archive/version": b"3\n"},
        method=0,
    )


@functools.cache
def zips() -> list[bytes]:
    evil = pickle.dumps(_Exec(), protocol=2)
    return [
        torch_zip(),
        s.zip_bytes({"archive/data.pkl": evil, "archive/version": b"3\n"}),
        s.zip_bytes({"a/model.pkl": evil, "readme.txt": b"hello\n" * 20}),
        s.zip_bytes({"inner.zip": s.zip_bytes({"x.pkl": evil})}, method=0),
    ]


@functools.cache
def tars() -> list[bytes]:
    evil = pickle.dumps(_Exec(), protocol=2)
    return [
        s.tar_bytes({"m.pkl": pickle.dumps([1, 2], protocol=4), "x.pkl": evil}),
        s.legacy_tar(pickle.dumps({"k": 1}, protocol=2)),
        s.tar_bytes({"nested.zip": s.zip_bytes({"y.pkl": evil})}),
    ]


@functools.cache
def gzips() -> list[bytes]:
    evil = pickle.dumps(_Exec(), protocol=2)
    return [
        s.tar_bytes({"m.pkl": evil, "r.txt": b"x" * 100}, mode="w:gz"),
        gzip.compress(evil),
        gzip.compress(torch_zip()),
    ]


@functools.cache
def sevenzips() -> list[bytes]:
    import py7zr

    evil = pickle.dumps(_Exec(), protocol=2)

    def build(path: Path, header: bool, filters: list[dict[str, object]] | None) -> None:
        with py7zr.SevenZipFile(path, "w", filters=filters) as archive:
            archive.set_encoded_header_mode(header)
            archive.writestr(evil, "m.pkl")
            archive.writestr(b"hello 7z\n" * 50, "notes/readme.txt")

    return [
        _via_file(".7z", lambda p: build(p, True, None)),
        _via_file(".7z", lambda p: build(p, False, [{"id": py7zr.FILTER_COPY}])),
        _via_file(".7z", lambda p: build(p, False, [{"id": py7zr.FILTER_DEFLATE}])),
    ]


@functools.cache
def hdf5s() -> list[bytes]:
    import h5py
    import numpy as np

    config = {
        "class_name": "Sequential",
        "config": {
            "layers": [
                {"class_name": "Dense", "config": {"name": "d", "units": 2}},
                {"class_name": "Lambda", "config": {"name": "l", "function": ["4wEAAAAAAAAA"]}},
            ]
        },
    }

    def keras_h5(path: Path) -> None:
        with h5py.File(path, "w") as h5:
            h5.attrs["model_config"] = json.dumps(config)
            h5.attrs["keras_version"] = "2.15.0"
            h5.create_dataset("model_weights/d/kernel", data=np.ones((2, 2), dtype=np.float32))

    def plain(path: Path) -> None:
        with h5py.File(path, "w") as h5:
            h5.create_dataset("x", data=np.arange(10))
            h5.attrs["note"] = "plain data"

    return [_via_file(".h5", keras_h5), _via_file(".h5", plain)]


def keras_zip() -> bytes:
    config = {
        "module": "keras",
        "class_name": "Sequential",
        "config": {"layers": [{"module": "keras.layers", "class_name": "Lambda", "config": {}}]},
    }
    return s.zip_bytes(
        {
            "metadata.json": json.dumps({"keras_version": "3.3.3"}).encode(),
            "config.json": json.dumps(config).encode(),
            "model.weights.h5": b"",
        }
    )


@functools.cache
def onnxs() -> list[bytes]:
    import onnx
    from onnx import TensorProto, helper

    tensor = TensorProto()
    tensor.name = "w"
    tensor.data_type = TensorProto.FLOAT
    tensor.dims.extend([2])
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("Add", ["x", "w"], ["y"])
    custom = helper.make_node("Evil", ["y"], ["z"], domain="com.example")
    graph = helper.make_graph(
        [node, custom],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])],
        initializer=[tensor],
    )
    model = helper.make_model(graph)
    plain = helper.make_model(
        helper.make_graph(
            [node],
            "p",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
            initializer=[helper.make_tensor("w", TensorProto.FLOAT, [2], [1.0, 2.0])],
        )
    )
    onnx.checker.check_model(plain)
    return [model.SerializeToString(), plain.SerializeToString()]


@functools.cache
def savedmodels() -> list[bytes]:
    from tests.inspect.test_savedmodel import BENIGN_NODES, function, node, saved_model

    evil = [node("r", "ReadFile", "p"), node("w", "WriteFile", "p", "c")]
    fn = function("__inference_f_1", [node("a", "Relu"), node("b", "PyFunc")])
    return [saved_model(BENIGN_NODES), saved_model(BENIGN_NODES + evil, [fn])]


@functools.cache
def ggufs() -> list[bytes]:
    import numpy as np
    from gguf import GGUFWriter

    def build(path: Path, template: str) -> None:
        writer = GGUFWriter(str(path), arch="llama")
        writer.add_name("tiny")
        writer.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "a"])
        writer.add_chat_template(template)
        writer.add_tensor("w", np.ones((2, 2), dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()

    return [
        _via_file(
            ".gguf", lambda p: build(p, "{% for m in messages %}{{ m.content }}{% endfor %}")
        ),
        _via_file(".gguf", lambda p: build(p, "{{ cycler.__init__.__globals__.os }}")),
    ]


@functools.cache
def safetensors_files() -> list[bytes]:
    import numpy as np
    from safetensors.numpy import save

    plain = save({"w": np.ones((2, 3), dtype=np.float32), "b": np.zeros(3, dtype=np.int64)})
    meta = save({"w": np.ones(2, dtype=np.float16)}, metadata={"format": "pt", "note": "x"})
    return [plain, meta]


@functools.cache
def npys() -> list[bytes]:
    import numpy as np

    out = []
    for arr in (np.arange(12, dtype=np.float32).reshape(3, 4), np.array([1, 2], dtype=">i8")):
        buf = io.BytesIO()
        np.save(buf, arr)
        out.append(buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    out.append(buf.getvalue())
    buf = io.BytesIO()
    np.savez(buf, a=np.arange(3), b=np.ones(2))
    out.append(buf.getvalue())
    return out


@functools.cache
def tflites() -> list[bytes]:
    from tests.inspect.test_tflite import tflite

    return [tflite([None, "FlexDelegate"]), tflite([None])]


def protowire_messages() -> list[bytes]:
    return [*onnxs(), *savedmodels()]


def nested_varint(depth: int) -> bytes:
    from mlgate.inspect.protowire import field_bytes

    out = b""
    for i in range(depth):
        out = field_bytes(1 + i % 5, out)
    return out


def all_model_seeds() -> dict[str, list[bytes]]:
    return {
        "pickle": pickles(),
        "zip": zips(),
        "tar": tars(),
        "gzip": gzips(),
        "7z": sevenzips(),
        "hdf5": hdf5s(),
        "onnx": onnxs(),
        "savedmodel": savedmodels(),
        "gguf": ggufs(),
        "safetensors": safetensors_files(),
        "npy": npys(),
        "tflite": tflites(),
        "keras": [keras_zip()],
    }


def u32(value: int) -> bytes:
    return struct.pack("<I", value)


def zip_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.namelist()


def keras_list() -> list[bytes]:
    return [keras_zip()]
