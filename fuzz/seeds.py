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

from tests.image.builder import Image, Layer, hostile_tar, write_docker_save
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


# -- container images and built distributions ----------------------------------------------

OS_RELEASES = (
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\n'
    'VERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n'
    'HOME_URL="https://www.debian.example/"\n',
    'NAME="Ubuntu"\nVERSION="22.04.3 LTS (Jammy Jellyfish)"\nID=ubuntu\nID_LIKE=debian\n'
    'PRETTY_NAME="Ubuntu 22.04.3 LTS"\nVERSION_ID="22.04"\n',
    'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME="Alpine Linux v3.19"\n',
    'NAME="Rocky Linux"\nVERSION="9.3 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
    'VERSION_ID=\'9.3\'\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\nX=a\\ b\\"c\n',
    'NAME="openSUSE Leap"\nID="opensuse-leap"\nVERSION_ID="15.5"\n',
)

DPKG_STATUS = """\
Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12986
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.example>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u4
Replaces: libc6-amd64
Depends: libgcc-s1
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.
 .
 This package includes shared versions of the standard C library.

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.11-1~deb12u2)
Version: 3.0.11-1~deb12u2+b1
Description: Secure Sockets Layer toolkit - shared libraries

Package: old-tool
Status: deinstall ok config-files
Architecture: all
Version: 1.0-1

Package: python3-six
Status: install ok installed
Architecture: all
Source: six
Version: 1:1.16.0-4
Description: Python 2 and 3 compatibility library
"""

APK_INSTALLED = """\
C:Q1abcdefghijklmnopqrstuvwxyz0=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.example/
L:MIT
o:musl
m:Natanael Copa <ncopa@alpinelinux.example>
t:1705064567
c:f93af038c3de7146121c2ea8124ba5ce29b4b058
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1yeEh3R/j4ZSbR+bAbjc7dd6bC5Q=
R:libc.musl-x86_64.so.1

C:Q1bbbbbbbbbbbbbbbbbbbbbbbbbbbb0=
P:py3-six
V:1.16.0-r9
A:noarch
L:MIT
o:py-six
F:usr/lib/python3.11/site-packages/six-1.16.0.dist-info
R:METADATA
R:RECORD
F:usr/lib/python3.11/site-packages/legacy.egg-info
R:PKG-INFO
"""

METADATAS = (
    "Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nLicense: Apache 2.0\n"
    "Classifier: License :: OSI Approved :: Apache Software License\n"
    "Requires-Dist: idna<4,>=2.5\n\nLong description\n",
    "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\n",
    "Metadata-Version: 1.0\nName: old\nVersion: 0.1\nLicense: GPL-2.0-or-later WITH\n"
    " Classpath-exception-2.0\nClassifier: License :: OSI Approved :: BSD License\n"
    "Classifier: License :: OSI Approved :: MIT License\n",
)


def rpm_file_list(blob: bytes, dirs: list[str], files: list[tuple[int, str]]) -> bytes:
    """``blob`` (a header from tests/image/rpmdb.py) with a file list added: base names, folder
    names and each base name's folder index, laid out as rpm exports them."""
    from tests.image.rpmdb import RPM_INT32, RPM_STRING_ARRAY

    from mlgate.image.rpm import TAG_BASENAMES, TAG_DIRINDEXES, TAG_DIRNAMES

    il, dl = struct.unpack_from(">II", blob)
    entries = [struct.unpack_from(">iIiI", blob, 8 + 16 * i) for i in range(il)]
    data = bytearray(blob[8 + 16 * il : 8 + 16 * il + dl])
    while len(data) % 4:
        data.append(0)
    entries.append((TAG_DIRINDEXES, RPM_INT32, len(data), len(files)))
    data += b"".join(struct.pack(">i", d) for d, _ in files)
    entries.append((TAG_BASENAMES, RPM_STRING_ARRAY, len(data), len(files)))
    data += b"".join(name.encode() + b"\x00" for _, name in files)
    entries.append((TAG_DIRNAMES, RPM_STRING_ARRAY, len(data), len(dirs)))
    data += b"".join(d.encode() + b"\x00" for d in dirs)
    entries.sort()
    out = struct.pack(">II", len(entries), len(data))
    return out + b"".join(struct.pack(">iIiI", *e) for e in entries) + bytes(data)


@functools.cache
def rpm_headers() -> list[bytes]:
    from tests.image.rpmdb import header_blob

    site = "/usr/lib/python3.9/site-packages/"
    six = header_blob(
        {"name": "python3-six", "version": "1.16.0", "release": "1.el9", "epoch": 1,
         "arch": "noarch", "license": "MIT", "vendor": "Rocky Enterprise Software Foundation",
         "sourcerpm": "python-six-1.16.0-1.el9.src.rpm"}
    )  # fmt: skip
    return [
        rpm_file_list(
            six,
            [site, site + "six-1.16.0.dist-info/", "/usr/share/doc/"],
            [(0, "six.py"), (1, "METADATA"), (1, "RECORD"), (0, "old.egg-info"), (2, "README")],
        ),
        header_blob({"name": "bash", "version": "5.1.8", "release": "6.el9", "arch": "x86_64",
                     "license": "GPLv3+", "sourcerpm": "bash-5.1.8-6.el9.src.rpm"}),
        header_blob({"name": "gpg-pubkey", "version": "350d275d", "release": "6"}),
    ]  # fmt: skip


@functools.cache
def rpmdbs() -> list[bytes]:
    from tests.image.rpmdb import write_rpmdb

    return [_via_file(".sqlite", lambda p: write_rpmdb(p, rpm_headers()))]


@functools.cache
def wheels() -> list[bytes]:
    meta = METADATAS[0].encode()
    vendored = METADATAS[1].encode()
    return [
        s.zip_bytes(
            {
                "demo/__init__.py": b"",
                "demo-1.0.dist-info/METADATA": meta,
                "demo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n",
                "demo/_vendor/dep-1.0.dist-info/METADATA": vendored,
            }
        ),
        s.zip_bytes({"demo-1.0.dist-info/METADATA": meta}, method=0),
    ]


@functools.cache
def sdists() -> list[bytes]:
    pkg_info = METADATAS[2].encode()
    files = {"demo-1.0/setup.py": b"", "demo-1.0/PKG-INFO": pkg_info}
    return [  # gzip with mtime 0: the seeds are the same on every run
        gzip.compress(s.tar_bytes(files), mtime=0),
        gzip.compress(s.tar_bytes({"./demo-1.0/PKG-INFO": pkg_info}), mtime=0),
        s.zip_bytes(files),
    ]


def image_files() -> dict[str, bytes]:
    """What the inventory reads in an image: os-release, the package databases, metadata."""
    site = "/usr/lib/python3/dist-packages/"
    return {
        "/etc/os-release": OS_RELEASES[0].encode(),
        "/var/lib/dpkg/status": DPKG_STATUS.encode(),
        "/var/lib/dpkg/info/python3-six.list": f"{site}six-1.16.0.dist-info/METADATA\n".encode(),
        f"{site}six-1.16.0.dist-info/METADATA": METADATAS[1].encode(),
        "/usr/local/lib/python3.11/site-packages/requests-2.31.0.dist-info/METADATA": (
            METADATAS[0].encode()
        ),
        "/models/model.pkl": pickle.dumps(_Exec(), protocol=2),
    }


@functools.cache
def image_layers() -> list[Layer]:
    """Layers that exercise the walk: whiteouts, opaque folders, symlinks, hardlinks."""
    site = "/usr/local/lib/python3.11/site-packages/"
    return [
        Layer(files=image_files(), dirs=["/etc", "/tmp/cache"]),
        Layer(
            files={"/tmp/cache/x.pkl": pickle.dumps([1], protocol=2), "/opt/a/METADATA": b""},
            whiteouts=[site + "requests-2.31.0.dist-info"],
            opaque=["/var/lib/dpkg/info"],
            symlinks={"/opt/link": "/etc", "/models/alias.pkl": "model.pkl"},
            hardlinks={"/models/copy.pkl": "/models/model.pkl"},
        ),
    ]


def image_layer_tars() -> list[bytes]:
    """Top layers (uncompressed tars) for the layout harness, hostile ones included."""
    return [
        image_layers()[1].tar_bytes(),
        Layer(files={"/apk/../lib/apk/db/installed": APK_INSTALLED.encode()}).tar_bytes(),
        hostile_tar([("../../etc/passwd", b"x"), ("opt/link/os-release", b"ID=evil\n"),
                     ("./etc//os-release", b"ID=alpine\n")]),
    ]  # fmt: skip


@functools.cache
def docker_saves() -> list[bytes]:
    image = Image(layers=image_layers(), user="root", exposed_ports=["8080/tcp"])
    small = Image(layers=[Layer(files={"/etc/os-release": OS_RELEASES[2].encode()})])
    saves = [
        _via_file(".tar", lambda p: write_docker_save(p, image)),
        _via_file(".tar", lambda p: write_docker_save(p, small, oci=True)),
    ]
    # the same with the small JSON members first: damage to a layer no longer hides them
    return [*saves, *(_json_first(t) for t in saves)]


def _json_first(tar: bytes) -> bytes:
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        members = [(m, tf.extractfile(m)) for m in tf.getmembers()]
        order = sorted(members, key=lambda mf: mf[0].size > 4096)
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as out:
            for member, fh in order:
                out.addfile(member, fh)
    return buf.getvalue()
