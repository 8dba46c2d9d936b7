"""Model and data files are recognised by content: every file here has a misleading name."""

from __future__ import annotations

import hashlib
import io
import pickle
import struct
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from mlgate.inventory.build import build_inventory
from mlgate.inventory.interface import HEAD_BYTES, SourceFile
from mlgate.inventory.modelfiles import CHUNK_BYTES, ModelFileExtractor, sha256_file
from mlgate.model import Component, ComponentKind, Inventory

OID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"


def inventory(root: Path) -> Inventory:
    return build_inventory(root, extractors=[ModelFileExtractor()])


def components(root: Path) -> dict[str, Component]:
    return {c.name: c for c in inventory(root).components}


def _zip(path: Path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


def make_pickle(path: Path) -> None:
    path.write_bytes(pickle.dumps({"weights": [0.1, 0.2], "epoch": 3}, protocol=4))


def make_pickle_proto0(path: Path) -> None:
    # Protocol 0 has no PROTO opcode; a GLOBAL opcode first is the telling sign.
    path.write_bytes(b"cbuiltins\nlist\n(tR.")


def make_torch_zip(path: Path) -> None:
    _zip(
        path,
        {
            "archive/data.pkl": pickle.dumps({"w": 1}, protocol=2),
            "archive/version": b"3\n",
            "archive/data/0": b"\x00" * 16,
        },
    )


def make_torchscript(path: Path) -> None:
    _zip(
        path,
        {
            "model/code/__torch__/net.py": b"class Net: pass\n",
            "model/data.pkl": pickle.dumps({}, protocol=2),
            "model/constants.pkl": pickle.dumps((), protocol=2),
        },
    )


def make_torch_legacy(path: Path) -> None:
    # The legacy (pre-1.6) serialisation: magic number, protocol version, sys info, then data.
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    path.write_bytes(magic + pickle.dumps(1001, protocol=2) + pickle.dumps({}, protocol=2))


def make_safetensors(path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((2, 2), dtype=np.float32)}, str(path))


def make_gguf(path: Path) -> None:
    import gguf
    import numpy as np

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(1)
    writer.add_tensor("w", np.zeros((2, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def make_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(path))


def make_npy(path: Path) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.arange(4))
    path.write_bytes(buf.getvalue())


def make_npz(path: Path) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, a=np.arange(3), b=np.ones(2))
    path.write_bytes(buf.getvalue())


def make_h5(path: Path) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        f.create_dataset("dense/kernel", data=[[1.0, 2.0]])


def make_keras(path: Path) -> None:
    _zip(
        path,
        {
            "metadata.json": b'{"keras_version": "3.3.3"}',
            "config.json": b'{"class_name": "Sequential"}',
            "model.weights.h5": b"\x89HDF\r\n\x1a\n",
        },
    )


def make_tflite(path: Path) -> None:
    # A FlatBuffer: root table offset, then the "TFL3" file identifier at byte 4.
    path.write_bytes(struct.pack("<I", 16) + b"TFL3" + b"\x00" * 40)


def make_joblib(path: Path) -> None:
    import joblib

    joblib.dump({"coef": [1.0, 2.0]}, path)


def make_parquet(path: Path) -> None:
    # Parquet's framing: "PAR1", column chunks, footer, footer length, "PAR1".
    path.write_bytes(b"PAR1" + b"\x15\x00" * 8 + struct.pack("<I", 4) + b"PAR1")


def make_arrow(path: Path) -> None:
    path.write_bytes(b"ARROW1\x00\x00" + b"\xff" * 24 + b"ARROW1")


def make_tar_with_model(path: Path) -> None:
    with tarfile.open(path, "w") as tf:
        data = pickle.dumps([1, 2, 3])
        info = tarfile.TarInfo("export/classifier.pkl")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))


CASES: list[tuple[str, Callable[[Path], None], ComponentKind, str]] = [
    ("notes.txt", make_pickle, ComponentKind.MODEL, "pickle"),
    ("old.cfg", make_pickle_proto0, ComponentKind.MODEL, "pickle"),
    ("checkpoint.txt", make_torch_zip, ComponentKind.MODEL, "torch-zip"),
    ("scripted.json", make_torchscript, ComponentKind.MODEL, "torchscript"),
    ("legacy.txt", make_torch_legacy, ComponentKind.MODEL, "torch-legacy"),
    ("README.md", make_safetensors, ComponentKind.MODEL, "safetensors"),
    ("tokenizer.dat", make_gguf, ComponentKind.MODEL, "gguf"),
    ("graph.bin", make_onnx, ComponentKind.MODEL, "onnx"),
    ("array.txt", make_npy, ComponentKind.MODEL, "npy"),
    ("arrays.zip", make_npz, ComponentKind.MODEL, "npz"),
    ("weights.txt", make_h5, ComponentKind.MODEL, "hdf5"),
    ("bundle.txt", make_keras, ComponentKind.MODEL, "keras"),
    ("mobile.dat", make_tflite, ComponentKind.MODEL, "tflite"),
    ("clf.joblib", make_joblib, ComponentKind.MODEL, "joblib"),
    ("table.csv", make_parquet, ComponentKind.DATA, "parquet"),
    ("stream.log", make_arrow, ComponentKind.DATA, "arrow"),
    ("export.tar", make_tar_with_model, ComponentKind.MODEL, "tar"),
]


@pytest.mark.parametrize(("name", "make", "kind", "fmt"), CASES, ids=[c[0] for c in CASES])
def test_recognised_by_content_despite_name(
    tmp_path: Path, name: str, make: Callable[[Path], None], kind: ComponentKind, fmt: str
) -> None:
    path = tmp_path / "sub" / name
    path.parent.mkdir()
    make(path)
    comps = components(tmp_path)
    comp = comps[f"sub/{name}"]
    assert comp.kind is kind
    assert comp.version is None
    assert comp.ecosystem == ""
    assert comp.prop("format") == fmt
    assert comp.prop("size") == str(path.stat().st_size)
    assert comp.prop("present") == "true"
    assert [(h.alg, h.value) for h in comp.hashes] == [
        ("SHA-256", hashlib.sha256(path.read_bytes()).hexdigest())
    ]
    assert comp.bom_ref == f"{kind.value}:sub/{name}"


def test_saved_model_and_tfrecord_by_name(tmp_path: Path) -> None:
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "saved_model.pb").write_bytes(b"\x08\x01\x12\x00")
    (tmp_path / "train.tfrecord").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00")
    comps = components(tmp_path)
    assert comps["export/saved_model.pb"].prop("format") == "tf-savedmodel"
    assert comps["train.tfrecord"].kind is ComponentKind.DATA


def test_text_and_source_files_are_not_models(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("torch==2.3.0\n")
    (tmp_path / "train.py").write_text("import torch\nmodel = torch.nn.Linear(2, 2)\n")
    (tmp_path / "config.json").write_text('{"hidden": 4}')
    (tmp_path / "docs.zip").write_bytes(b"")
    _zip(tmp_path / "site.zip", {"index.html": b"<html></html>"})
    assert components(tmp_path) == {}


def test_model_extension_with_unknown_content_is_still_a_component(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"\x00garbage that is no header")
    comp = components(tmp_path)["model.pt"]
    assert comp.kind is ComponentKind.MODEL
    assert comp.prop("format") == "torch"
    assert comp.prop("content") == "unrecognised"


def test_archives_count_by_name_or_members(tmp_path: Path) -> None:
    import gzip

    (tmp_path / "model.tar.gz").write_bytes(gzip.compress(b"x" * 10))
    (tmp_path / "logs.tar.gz").write_bytes(gzip.compress(b"x" * 10))
    (tmp_path / "train.parquet.gz").write_bytes(gzip.compress(b"PAR1"))
    _zip(tmp_path / "bundle.zip", {"a/README": b"r", "a/encoder.onnx": b"\x08\x07"})
    _zip(tmp_path / "sheets.zip", {"a.xlsx": b"x"})
    comps = components(tmp_path)
    assert set(comps) == {"model.tar.gz", "train.parquet.gz", "bundle.zip"}
    assert comps["model.tar.gz"].kind is ComponentKind.MODEL
    assert comps["model.tar.gz"].prop("format") == "gzip"
    assert comps["train.parquet.gz"].kind is ComponentKind.DATA
    assert comps["bundle.zip"].kind is ComponentKind.MODEL


def test_git_lfs_pointer(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 13421772\n"
    )
    (tmp_path / "weights" / "eval.parquet").write_text(
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{OID}\nsize 99\n"
    )
    comps = components(tmp_path)
    model = comps["weights/model.safetensors"]
    assert model.kind is ComponentKind.MODEL
    assert [(h.alg, h.value) for h in model.hashes] == [("SHA-256", OID)]
    assert model.prop("present") == "false"
    assert model.prop("pointer") == "git-lfs"
    assert model.prop("size") == "13421772"
    assert comps["weights/eval.parquet"].kind is ComponentKind.DATA


def test_broken_lfs_pointer_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_text("version https://git-lfs.github.com/spec/v1\nsize 1\n")
    inv = inventory(tmp_path)
    assert inv.components == ()
    assert [w.path for w in inv.warnings] == ["model.bin"]
    assert "oid" in inv.warnings[0].message


def test_dvc_pointers(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv.dvc").write_text(
        "outs:\n"
        "- md5: a304afb96060aad90176268345e10355\n"
        "  size: 1048576\n"
        "  hash: md5\n"
        "  path: train.csv\n"
        "- md5: 22a1a2931c8370d3aeedd7183606fd7f.dir\n"
        "  size: 20\n"
        "  nfiles: 2\n"
        "  path: images\n"
    )
    make_pickle(tmp_path / "data" / "clf.pkl")
    (tmp_path / "data" / "clf.pkl.dvc").write_text(
        "outs:\n- md5: 0cc175b9c0f1b6a831c399e269772661\n  size: 40\n  path: clf.pkl\n"
    )
    comps = components(tmp_path)
    train = comps["data/train.csv"]
    assert train.kind is ComponentKind.DATA
    assert [(h.alg, h.value) for h in train.hashes] == [("MD5", "a304afb96060aad90176268345e10355")]
    assert train.prop("present") == "false"
    assert train.prop("size") == "1048576"
    assert [(loc.path, loc.line) for loc in train.declared_in] == [("data/train.csv.dvc", 2)]
    images = comps["data/images"]
    assert images.hashes == ()  # a directory hash is not a content hash
    assert images.prop("dvc:md5") == "22a1a2931c8370d3aeedd7183606fd7f.dir"
    assert images.declared_in[0].line == 6
    # The pointer and the file it points at are one component with both hashes.
    clf = comps["data/clf.pkl"]
    assert clf.kind is ComponentKind.MODEL
    assert {h.alg for h in clf.hashes} == {"MD5", "SHA-256"}
    assert clf.prop("present") == "true"
    assert {loc.path for loc in clf.declared_in} == {"data/clf.pkl", "data/clf.pkl.dvc"}


def test_malformed_dvc_files_warn_and_the_rest_goes_on(tmp_path: Path) -> None:
    (tmp_path / "a.dvc").write_text("outs: [unclosed\n")
    (tmp_path / "b.dvc").write_text("meta: 1\n")
    (tmp_path / "c.dvc").write_text("outs:\n- path: ../../etc/passwd\n  md5: x\n")
    make_pickle(tmp_path / "ok.pkl")
    inv = inventory(tmp_path)
    assert [c.name for c in inv.components] == ["ok.pkl"]
    assert sorted(w.path for w in inv.warnings) == ["a.dvc", "b.dvc", "c.dvc"]
    assert inv.warnings[0].line == 2  # the YAML error's line


def test_dvc_md5_alias_bomb_is_not_expanded(tmp_path: Path) -> None:
    """Technique: "billion laughs" - a DVC md5 that is a YAML alias of nested lists."""
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    lines.append("outs:\n- path: train.csv\n  md5: *g")
    (tmp_path / "train.csv.dvc").write_text("\n".join(lines) + "\n")
    train = components(tmp_path)["train.csv"]
    assert train.hashes == ()
    assert train.prop("dvc:md5") is None


def test_streamed_hash_matches_hashlib_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    data = bytes(range(256)) * (CHUNK_BYTES // 256 * 2 + 3)  # > 2 chunks, not aligned
    path.write_bytes(data)
    assert sha256_file(path) == (hashlib.sha256(data).hexdigest(), len(data))


def test_matches_uses_the_head_only(tmp_path: Path) -> None:
    ext = ModelFileExtractor()
    head = pickle.dumps({"a": 1})[:HEAD_BYTES]
    # No file on disk: matches() must decide from the head and the name alone.
    missing = SourceFile(root=tmp_path, relpath="nowhere/notes.txt", size=len(head), head=head)
    assert ext.matches(missing)
    text = SourceFile(root=tmp_path, relpath="notes.txt", size=5, head=b"hello")
    assert not ext.matches(text)


def test_dvc_target_behind_a_symlink_out_of_the_root_is_not_read(tmp_path: Path) -> None:
    """Technique: a .dvc pointer whose target path runs through a symlink leaving the tree."""
    outside = tmp_path / "outside"
    outside.mkdir()
    make_pickle(outside / "clf.pkl")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link").symlink_to(outside, target_is_directory=True)
    (repo / "clf.pkl.dvc").write_text(
        "outs:\n- md5: 0cc175b9c0f1b6a831c399e269772661\n  path: link/clf.pkl\n"
    )
    inv = inventory(repo)
    (comp,) = inv.components
    assert comp.name == "link/clf.pkl"
    assert comp.prop("present") == "false"
    assert comp.prop("format") == "pickle"  # from the name: the file was never opened
    assert comp.kind is ComponentKind.MODEL
    assert [(w.path, w.code) for w in inv.warnings] == [("link", "symlink-escape")]
