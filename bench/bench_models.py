"""Model scanning against picklescan, modelscan, fickling and modelaudit, side by side.

1. A labelled corpus is generated under .bench/models-corpus: every malicious family of the model
   scanning issue (pickle tricks, containers, Keras, TF, ONNX, GGUF, safetensors) and a benign set
   of ordinary checkpoints. Payloads are built, never run.
2. Each tool scans the whole corpus (each peer from its own venv); detections per family, false
   alarms on the benign set, crashes/errors, and the median wall time of 3 runs are printed.
3. Throughput and peak RSS on a generated 1 GiB raw pickle of numpy arrays and a 1 GiB PyTorch zip
   checkpoint (against a 10 MiB one: the scan time must not follow the tensor size).

A sample counts as detected when the tool reports something at its own "unsafe" level on it:
mlgate severity >= high; picklescan "dangerous import"; modelscan any issue; fickling a non-zero
``--check-safety`` exit; modelaudit an issue of severity critical or warning.
"""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import BENCH_DIR, REPO, Run, measure, median, mlgate_cmd, peer_venv, ratio, table

CORPUS = BENCH_DIR / "models-corpus"
BIG = BENCH_DIR / "models-big"
OUT = BENCH_DIR / "models-out"
PEERS: dict[str, list[str]] = {
    # each peer with the optional extras its own docs name for the formats of the corpus
    "picklescan": ["picklescan[7z]", "numpy"],  # numpy: its .npy/.npz support imports it
    "modelscan": ["modelscan[h5py]"],
    "fickling": ["fickling[archive]", "typing_extensions"],
    "modelaudit": ["modelaudit[h5,onnx,safetensors,sevenzip,joblib]", "gguf", "jinja2"],
}
GIB = 1024**3

sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))


# -- payload building blocks (pickled, never called) -------------------------------------------


class Reduce:
    """Pickles as ``fn(*args)``: the classic __reduce__ payload."""

    def __init__(self, fn: Any, *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.fn, self.args


def _sbu(text: str) -> bytes:  # SHORT_BINUNICODE
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def p4_frame(body: bytes) -> bytes:
    return b"\x80\x04\x95" + struct.pack("<Q", len(body)) + body


def memo_stack_global(module: str, name: str, arg: str) -> bytes:
    # strings memoised first and fetched back by BINGET: the callable name only exists on the stack
    body = _sbu(module) + b"\x940" + _sbu(name) + b"\x940" + _sbu("padding") + b"\x940"
    body += b"h\x00h\x01\x93" + _sbu(arg) + b"\x85R."
    return p4_frame(body)


def proto0_global() -> bytes:
    return b"cos\nsystem\n(S'echo pwned'\ntR."


def proto0_inst() -> bytes:
    return b"(S'echo pwned'\nios\nsystem\n."


def proto0_obj() -> bytes:
    return b"(cos\nsystem\nS'echo pwned'\no."


def build_setstate() -> bytes:
    # an OrderedDict gets __setstate__ = os.system through BUILD, then a second BUILD calls it
    return (
        b"\x80\x02ccollections\nOrderedDict\n)\x81"
        b"N}X\x0c\x00\x00\x00__setstate__cos\nsystem\ns\x86b"
        b"X\x0a\x00\x00\x00echo pwnedb."
    )


def pop_hidden() -> bytes:
    return b"\x80\x02cos\nsystem\nX\x0a\x00\x00\x00echo pwned\x85R0}."


def truncated() -> bytes:
    return pickle.dumps(Reduce(os.system, "echo pwned"), protocol=2)[:-1]


def corrupt_after_payload() -> bytes:
    return pickle.dumps(Reduce(os.system, "echo pwned"), protocol=2)[:-1] + b"\xff\xfe garbage"


def getattr_chain() -> bytes:
    # getattr(__import__("os"), "system")("id"): no os.system global anywhere in the stream
    return (
        b"\x80\x02cbuiltins\ngetattr\ncbuiltins\n__import__\n"
        b"X\x02\x00\x00\x00os\x85RX\x06\x00\x00\x00system\x86RX\x02\x00\x00\x00id\x85R."
    )


def evil(protocol: int = 2) -> bytes:
    return pickle.dumps(Reduce(os.system, "echo pwned"), protocol=protocol)


# -- corpus ---------------------------------------------------------------------------------------


def _w(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _malicious_pickles(root: Path) -> None:
    import builtins
    import cProfile
    import pydoc
    import subprocess as sp
    import timeit

    fam = root / "reduce-exec"
    for proto in (0, 2, 4, 5):
        _w(fam / f"os_system_p{proto}.pkl", evil(proto))
    _w(fam / "builtins_eval.pkl", pickle.dumps(Reduce(builtins.eval, "print(1)"), protocol=4))
    _w(fam / "builtins_exec.pkl", pickle.dumps(Reduce(builtins.exec, "print(1)"), protocol=2))
    _w(fam / "subprocess_popen.pkl", pickle.dumps(Reduce(sp.Popen, ["id"]), protocol=3))
    _w(root / "getattr-chain" / "getattr_import.pkl", getattr_chain())
    fam = root / "gadget-unlisted"
    _w(fam / "timeit.pkl", pickle.dumps(Reduce(timeit.timeit, "print(1)"), protocol=2))
    _w(fam / "cprofile_run.pkl", pickle.dumps(Reduce(cProfile.run, "print(1)"), protocol=2))
    _w(fam / "pydoc_pipepager.pkl", pickle.dumps(Reduce(pydoc.pipepager, "x", "id"), protocol=2))
    _w(root / "memo-stack-global" / "memo.pkl", memo_stack_global("os", "system", "id"))
    fam = root / "proto0-text"
    _w(fam / "global_reduce.pkl", proto0_global())
    _w(fam / "inst.pkl", proto0_inst())
    _w(fam / "obj.pkl", proto0_obj())
    _w(root / "build-setstate" / "setstate.pkl", build_setstate())
    _w(root / "pop-hidden" / "pop.pkl", pop_hidden())
    nested = pickle.dumps(Reduce(pickle.loads, evil(2)), protocol=2)
    _w(root / "nested-pickle" / "nested.pkl", nested)
    fam = root / "broken-stream"
    _w(fam / "truncated.pkl", truncated())
    _w(fam / "corrupt.pkl", corrupt_after_payload())
    fam = root / "misleading-name"
    _w(fam / "notes.txt", evil(2))
    _w(fam / "image.png", evil(4))


def _rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes], add: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            for suffix, new in replace.items():
                if info.filename.endswith(suffix):
                    data = new
            zout.writestr(info.filename, data)
        for name, data in add.items():
            zout.writestr(name, data)


def _malicious_containers(root: Path) -> None:
    import joblib
    import numpy as np
    import torch

    payload = Reduce(os.system, "echo pwned")
    fam = root / "torch-zip"
    fam.mkdir(parents=True, exist_ok=True)
    torch.save({"w": torch.zeros(4), "hook": payload}, fam / "model.pt")
    benign = fam / "_tmp.pt"
    torch.save({"w": torch.zeros(4)}, benign)
    _rewrite_zip(benign, fam / "extra_member.pt", {}, {"_tmp/extra/evil.pkl": evil(2)})
    _rewrite_zip(benign, fam / "data_pkl_replaced.bin", {"data.pkl": evil(2)}, {})
    # zip header tricks: a CRC that does not match and a local name unlike the central one
    tampered = bytearray((fam / "data_pkl_replaced.bin").read_bytes())
    at = tampered.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", tampered, at + 28)[0]
        name = bytes(tampered[at + 46 : at + 46 + name_len])
        if name.endswith(b"data.pkl"):
            struct.pack_into("<I", tampered, at + 16, 0xDEADBEEF)
        at = tampered.find(b"PK\x01\x02", at + 4)
    _w(fam / "bad_crc.pt", bytes(tampered))
    benign.unlink()
    fam = root / "torch-legacy"
    fam.mkdir(parents=True, exist_ok=True)
    torch.save({"hook": payload}, fam / "legacy.pt", _use_new_zipfile_serialization=False)
    fam = root / "torchscript"
    fam.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(torch.nn.Linear(2, 2))
    tmp = fam / "_ts.pt"
    torch.jit.save(scripted, str(tmp))
    _rewrite_zip(tmp, fam / "scripted.pt", {"constants.pkl": evil(2)}, {})
    tmp.unlink()
    fam = root / "joblib-compressed"
    fam.mkdir(parents=True, exist_ok=True)
    for comp in ("zlib", "gzip", "bz2", "lzma"):
        joblib.dump(payload, fam / f"model_{comp}.joblib", compress=(comp, 3))
    joblib.dump(payload, fam / "model_raw.joblib")
    fam = root / "numpy-object"
    fam.mkdir(parents=True, exist_ok=True)
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = payload, 1
    np.save(fam / "objects.npy", arr, allow_pickle=True)
    np.savez(fam / "objects.npz", a=arr, b=np.zeros(3))
    fam = root / "archive-nesting"
    fam.mkdir(parents=True, exist_ok=True)
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("inner/model.pkl")
        data = evil(2)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with zipfile.ZipFile(fam / "bundle.zip", "w") as zf:
        zf.writestr("layer1/models.tar.gz", tar_buf.getvalue())
    try:
        import py7zr

        with py7zr.SevenZipFile(fam / "models.7z", "w") as sz:
            sz.writestr(evil(2), "weights/model.pkl")
    except ImportError:
        pass


def _malicious_other(root: Path) -> None:
    from tests.inspect.test_gguf import MALICIOUS as GGUF_TEMPLATES
    from tests.inspect.test_gguf import _write_gguf
    from tests.inspect.test_keras import (
        FAKE_BYTECODE,
        k2_layer,
        k2_model,
        k3_lambda,
        sequential,
        write_h5,
        write_keras,
    )
    from tests.inspect.test_onnx import _external, _model
    from tests.inspect.test_savedmodel import BENIGN_NODES, function, node, saved_model

    fam = root / "keras-lambda"
    fam.mkdir(parents=True, exist_ok=True)
    write_keras(fam / "lambda.keras", sequential([k3_lambda()]))
    layer = k2_layer("Lambda", function=[FAKE_BYTECODE, None, None], function_type="lambda")
    write_h5(fam / "lambda.h5", k2_model([layer]))
    fam = root / "tf-savedmodel-ops"
    _w(fam / "pyfunc" / "saved_model.pb", saved_model([*BENIGN_NODES, node("p", "PyFunc")]))
    fn = function("__inference_call_1", [node("r", "ReadFile")])
    _w(fam / "readfile" / "saved_model.pb", saved_model(BENIGN_NODES, [fn]))
    from onnx import helper

    fam = root / "onnx-traversal"
    fam.mkdir(parents=True, exist_ok=True)
    for i, loc in enumerate(("../../../etc/passwd", "/etc/shadow")):
        model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_external("w", loc)])
        (fam / f"traversal{i}.onnx").write_bytes(model.SerializeToString())
    fam = root / "gguf-template"
    fam.mkdir(parents=True, exist_ok=True)
    for i, key in enumerate(("cycler globals to os", "dunder built by concatenation")):
        _write_gguf(fam / f"ssti{i}.gguf", GGUF_TEMPLATES[key])
    fam = root / "safetensors-header"
    head = {
        "a": {"dtype": "U8", "shape": [8], "data_offsets": [0, 8]},
        "b": {"dtype": "U8", "shape": [8], "data_offsets": [4, 12]},
    }
    body = json.dumps(head).encode()
    _w(fam / "overlap.safetensors", struct.pack("<Q", len(body)) + body + b"\0" * 12)
    head = {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}
    body = json.dumps(head).encode()
    polyglot = struct.pack("<Q", len(body)) + body + b"\0" * 4 + evil(2)
    _w(fam / "polyglot.safetensors", polyglot)


def _benign(root: Path) -> None:
    import datetime
    import decimal

    import joblib
    import numpy as np
    import torch
    from safetensors.numpy import save_file
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from tests.inspect.test_gguf import CHATML, LLAMA3, _write_gguf
    from tests.inspect.test_keras import (
        dense,
        functional,
        k2_layer,
        k2_model,
        sequential,
        write_h5,
        write_keras,
    )
    from tests.inspect.test_onnx import _model
    from tests.inspect.test_savedmodel import BENIGN_NODES, saved_model

    root.mkdir(parents=True, exist_ok=True)
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    torch.save(net.state_dict(), root / "state_dict.pt")
    torch.save(
        net.state_dict(), root / "state_dict_legacy.pt", _use_new_zipfile_serialization=False
    )
    torch.jit.save(torch.jit.script(net), str(root / "scripted.pt"))
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 8)).sum().backward()
    opt.step()
    ckpt = {"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": 3, "loss": 0.25}
    torch.save(ckpt, root / "checkpoint.ckpt")
    torch.save(net, root / "whole_module.pt")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(x, y)
    (root / "sklearn_pipeline.pkl").write_bytes(pickle.dumps(pipe, protocol=5))
    joblib.dump(pipe, root / "sklearn_pipeline.joblib")
    joblib.dump(pipe, root / "sklearn_pipeline_zlib.joblib", compress=3)
    np.save(root / "array.npy", rng.normal(size=(16, 16)))
    np.savez(root / "arrays.npz", a=np.arange(10), b=np.ones((3, 3)))
    values = {
        "od": collections.OrderedDict(a=1),
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5),
        "day": datetime.date(2024, 1, 2),
        "set": {1, 2},
        "frozen": frozenset({3}),
        "cplx": complex(1, 2),
        "dec": decimal.Decimal("1.5"),
        "bytes": b"\x00\x01",
    }
    (root / "values.pkl").write_bytes(pickle.dumps(values, protocol=2))
    (root / "values_p0.pkl").write_bytes(pickle.dumps(values, protocol=0))
    save_file({"w": np.ones((4, 4), dtype=np.float32)}, str(root / "model.safetensors"))
    (root / "model.onnx").write_bytes(_model().SerializeToString())
    _write_gguf(root / "chatml.gguf", CHATML)
    _write_gguf(root / "llama3.gguf", LLAMA3)
    write_keras(root / "model.keras", functional([sequential([dense()], "inner"), dense("h")]))
    write_h5(root / "model.h5", k2_model([k2_layer("Dense", units=2)]))
    _w(root / "savedmodel" / "saved_model.pb", saved_model(BENIGN_NODES))


def build_corpus() -> tuple[dict[str, list[str]], list[str]]:
    """Write the corpus; return {family: [sample relpaths]} and the benign sample relpaths."""
    if CORPUS.exists():
        shutil.rmtree(CORPUS)
    mal = CORPUS / "malicious"
    _malicious_pickles(mal)
    _malicious_containers(mal)
    _malicious_other(mal)
    _benign(CORPUS / "benign")
    families: dict[str, list[str]] = {}
    for fam in sorted(p for p in mal.iterdir() if p.is_dir()):
        families[fam.name] = [c.relative_to(CORPUS).as_posix() for c in sorted(fam.iterdir())]
    benign = sorted(p.relative_to(CORPUS).as_posix() for p in (CORPUS / "benign").iterdir())
    return families, benign


# -- tools ----------------------------------------------------------------------------------------


def _norm(path: str) -> str:
    """A tool-reported path (absolute, member-suffixed ...) as a corpus-relative path."""
    text = path.replace("\\", "/")
    marker = CORPUS.name + "/"  # absolute or relative to the working directory
    if marker in text:
        text = text.split(marker, 1)[1]
    for sep in (":", "!", " (", "'", '"', " "):
        text = text.split(sep, 1)[0]
    return text.strip()


class ToolResult:
    def __init__(self) -> None:
        self.flagged: set[str] = set()
        self.errors: set[str] = set()
        self.crashed = False
        self.note = ""


def run_mlgate(corpus: Path) -> tuple[list[str], Callable[[Run], ToolResult]]:
    out = OUT / "mlgate.json"
    cmd = [*mlgate_cmd(), "models", str(corpus), "--json", str(out)]

    def parse(run: Run) -> ToolResult:
        res = ToolResult()
        if run.returncode not in (0, 1) or not out.exists():
            res.crashed = True
            res.note = run.stderr[-300:]
            return res
        data = json.loads(out.read_text())
        for f in _find_findings(data):
            loc = f.get("location") or {}
            path = _norm(str(loc.get("path", "")))
            sev = str(f.get("severity", ""))
            if sev in ("critical", "high"):
                res.flagged.add(path)
            if f.get("rule_id") in ("MLG-MODEL-ERROR", "MLG-MODEL-TIMEOUT"):
                res.errors.add(path)
        return res

    return cmd, parse


def _find_findings(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        if isinstance(data.get("findings"), list):
            return [f for f in data["findings"] if isinstance(f, dict)]
        for value in data.values():
            found = _find_findings(value)
            if found:
                return found
    return []


def run_picklescan(bin_dir: Path, corpus: Path) -> tuple[list[str], Callable[[Run], ToolResult]]:
    cmd = [str(bin_dir / "picklescan"), "-p", str(corpus)]

    def parse(run: Run) -> ToolResult:
        res = ToolResult()
        for line in (run.stdout + "\n" + run.stderr).splitlines():
            if CORPUS.as_posix() not in line:
                continue
            path = _norm(line[line.index(CORPUS.as_posix()) :])
            if "dangerous" in line.lower():
                res.flagged.add(path)
            elif "error" in line.lower():
                res.errors.add(path)
        # exit 2 means "errors during the scan" (counted above); a traceback is a crash
        res.crashed = run.returncode not in (0, 1, 2) or "Unhandled exception" in run.stdout
        res.note = "unhandled exception" if res.crashed else ""
        return res

    return cmd, parse


def run_modelscan(bin_dir: Path, corpus: Path) -> tuple[list[str], Callable[[Run], ToolResult]]:
    out = OUT / "modelscan.json"
    cmd = [str(bin_dir / "modelscan"), "scan", "-p", str(corpus), "-r", "json", "-o", str(out)]

    def parse(run: Run) -> ToolResult:
        res = ToolResult()
        if not out.exists():
            res.crashed = True
            res.note = (run.stderr or run.stdout)[-300:]
            return res
        data = json.loads(out.read_text())
        for issue in data.get("issues", []):
            res.flagged.add(_norm(str(issue.get("source", ""))))
        for err in data.get("errors", []):
            res.errors.add(_norm(str(err.get("source", ""))))
        res.crashed = run.returncode not in (0, 1, 2, 3, 4)
        return res

    return cmd, parse


def run_modelaudit(bin_dir: Path, corpus: Path) -> tuple[list[str], Callable[[Run], ToolResult]]:
    out = OUT / "modelaudit.json"
    cmd = [
        str(bin_dir / "modelaudit"),
        "scan",
        str(corpus),
        "--format",
        "json",
        "--output",
        str(out),
        "--no-cache",
    ]

    def parse(run: Run) -> ToolResult:
        res = ToolResult()
        if not out.exists():
            res.crashed = True
            res.note = (run.stderr or run.stdout)[-300:]
            return res
        data = json.loads(out.read_text())
        for issue in data.get("issues", []):
            sev = str(issue.get("severity", "")).lower()
            where = str(issue.get("location") or (issue.get("details") or {}).get("path") or "")
            if sev in ("critical", "warning") and where:
                res.flagged.add(_norm(where))
        for err in data.get("errors", []) if isinstance(data.get("errors"), list) else []:
            res.errors.add(_norm(str(err)))
        res.crashed = run.returncode not in (0, 1, 2)
        return res

    return cmd, parse


def run_fickling_all(bin_dir: Path, files: list[Path]) -> tuple[float, ToolResult]:
    """fickling has no directory mode: one --check-safety process per file."""
    res = ToolResult()
    total = 0.0
    tmp = OUT / "fickling.json"
    for path in files:
        run = measure(
            [str(bin_dir / "fickling"), "--check-safety", "--json-output", str(tmp), str(path)],
            timeout=300,
        )
        total += run.seconds
        rel = path.relative_to(CORPUS).as_posix()
        if run.returncode == 1 and "Traceback" not in run.stderr:
            res.flagged.add(rel)  # its verdict: anything but LIKELY_SAFE
        elif run.returncode != 0:
            res.errors.add(rel)  # 2: "failed to parse this pickle file"
    return total, res


def _matches(sample: str, flagged: set[str]) -> bool:
    return any(f == sample or f.startswith(sample + "/") for f in flagged)


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.is_file())


# -- big files ------------------------------------------------------------------------------------


def make_big_files() -> dict[str, Path]:
    import numpy as np
    import torch

    BIG.mkdir(parents=True, exist_ok=True)
    files = {}
    raw = BIG / "raw" / "numpy_1g.pkl"
    raw.parent.mkdir(exist_ok=True)
    if not raw.exists():
        arrays = [np.full(16 * 1024 * 1024, i, dtype=np.float32) for i in range(16)]  # 16 x 64 MiB
        with raw.open("wb") as fh:
            pickle.dump(arrays, fh, protocol=4)
        del arrays
    files["raw pickle 1 GiB"] = raw
    for label, numel in (
        ("torch zip 10 MiB", 10 * 1024 * 1024 // 4),
        ("torch zip 1 GiB", GIB // 4),
    ):
        path = BIG / label.replace(" ", "_") / "checkpoint.pt"
        path.parent.mkdir(exist_ok=True)
        if not path.exists():
            torch.save({"w": torch.zeros(numel, dtype=torch.float32)}, path)
        files[label] = path
    return files


# -- main -----------------------------------------------------------------------------------------


def generate() -> int:
    """Child process: write the corpus and the big files, and the labels as JSON."""
    families, benign = build_corpus()
    big = make_big_files()
    labels = {"families": families, "benign": benign, "big": {k: str(v) for k, v in big.items()}}
    (OUT / "labels.json").write_text(json.dumps(labels))
    return 0


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    print("building corpus and big files (in a child process) ...", flush=True)
    # numpy/torch stay out of this process: a child's peak RSS as reported by wait4 starts from
    # its parent's high-water mark (fork/exec), so this process must stay small
    subprocess.run([sys.executable, __file__, "--generate"], check=True, cwd=REPO)
    labels = json.loads((OUT / "labels.json").read_text())
    families: dict[str, list[str]] = labels["families"]
    benign: list[str] = labels["benign"]
    big = {k: Path(v) for k, v in labels["big"].items()}
    n_mal = sum(len(v) for v in families.values())
    print(f"corpus: {n_mal} malicious samples in {len(families)} families, {len(benign)} benign")
    bins: dict[str, Path] = {}
    for name, reqs in PEERS.items():
        try:
            bins[name] = peer_venv(name, reqs)
        except subprocess.CalledProcessError as exc:
            print(f"  {name}: could not be installed ({exc})")

    results: dict[str, ToolResult] = {}
    walls: dict[str, float] = {}
    runners: dict[str, tuple[list[str], Callable[[Run], ToolResult]]] = {
        "mlgate": run_mlgate(CORPUS)
    }
    if "picklescan" in bins:
        runners["picklescan"] = run_picklescan(bins["picklescan"], CORPUS)
    if "modelscan" in bins:
        runners["modelscan"] = run_modelscan(bins["modelscan"], CORPUS)
    if "modelaudit" in bins:
        runners["modelaudit"] = run_modelaudit(bins["modelaudit"], CORPUS)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    for name, (cmd, parse) in runners.items():
        times = []
        last: Run | None = None
        for _ in range(3):
            last = measure(cmd, env=env if name == "mlgate" else None, cwd=REPO, timeout=1800)
            times.append(last.seconds)
            if last.seconds > 60:  # slow tools: one run is the figure (noted in the output)
                print(f"  {name}: single run (over 60 s)")
                break
        assert last is not None
        results[name] = parse(last)
        walls[name] = median(times)
        print(f"  {name}: median {walls[name]:.2f}s, exit {last.returncode}", flush=True)
        if results[name].crashed:
            print(f"    crashed: {results[name].note}")
    if "fickling" in bins:
        runs = [run_fickling_all(bins["fickling"], corpus_files()) for _ in range(3)]
        walls["fickling"] = median([r[0] for r in runs])
        results["fickling"] = runs[-1][1]
        print(f"  fickling: median {walls['fickling']:.2f}s (one process per file)", flush=True)

    tools = list(results)
    rows = []
    for fam, samples in families.items():
        counts = [sum(_matches(s, results[t].flagged) for s in samples) for t in tools]
        rows.append([fam, len(samples), *counts])
    total_row: list[object] = ["ALL MALICIOUS", n_mal]
    fam_row: list[object] = ["families fully caught", len(families)]
    fa_row: list[object] = ["false alarms (benign)", len(benign)]
    err_row: list[object] = ["files with errors", ""]
    crash_row: list[object] = ["tool crashed", ""]
    wall_row: list[object] = ["corpus wall s (median 3)", ""]
    for tool in tools:
        r = results[tool]
        total_row.append(sum(_matches(s, r.flagged) for v in families.values() for s in v))
        fam_row.append(sum(all(_matches(s, r.flagged) for s in v) for v in families.values()))
        fa_row.append(sum(_matches(b, r.flagged) for b in benign))
        err_row.append(len(r.errors))
        crash_row.append("yes" if r.crashed else "no")
        wall_row.append(f"{walls[tool]:.2f}")
    rows += [total_row, fam_row, fa_row, err_row, crash_row, wall_row]
    print()
    print(table(rows, ["family", "n", *tools]))
    false_alarms = {t: sorted(b for b in benign if _matches(b, results[t].flagged)) for t in tools}
    print("\nfalse alarms:", json.dumps({t: v for t, v in false_alarms.items() if v}, indent=1))
    misses = {
        t: sorted(s for v in families.values() for s in v if not _matches(s, results[t].flagged))
        for t in ("mlgate",)
    }
    print("mlgate misses:", json.dumps(misses["mlgate"], indent=1))

    import resource

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nbig files (throughput and peak RSS of the tool process; floor = this process's "
        f"{own:.0f} MB) ...",
        flush=True,
    )
    big_rows = []
    per_tool = {
        "mlgate": lambda p: [
            *mlgate_cmd(),
            "models",
            str(p.parent),
            "--json",
            str(OUT / "big.json"),
        ]
    }
    if "picklescan" in bins:
        per_tool["picklescan"] = lambda p: [str(bins["picklescan"] / "picklescan"), "-p", str(p)]
    if "modelscan" in bins:
        per_tool["modelscan"] = lambda p: [
            str(bins["modelscan"] / "modelscan"),
            "scan",
            "-p",
            str(p),
            "-r",
            "json",
            "-o",
            str(OUT / "big-ms.json"),
        ]
    if "modelaudit" in bins:
        per_tool["modelaudit"] = lambda p: [
            str(bins["modelaudit"] / "modelaudit"),
            "scan",
            str(p),
            "--format",
            "json",
            "--output",
            str(OUT / "big-ma.json"),
            "--no-cache",
        ]
    figures: dict[tuple[str, str], Run] = {}
    for label, path in big.items():
        size_mib = path.stat().st_size / 1024**2
        for tool, make in per_tool.items():
            repeat = 3 if tool in ("mlgate", "picklescan") else 1
            runs = sorted(
                (
                    measure(
                        make(path), env=env if tool == "mlgate" else None, cwd=REPO, timeout=900
                    )
                    for _ in range(repeat)
                ),
                key=lambda r: r.seconds,
            )
            run = runs[len(runs) // 2]
            figures[(label, tool)] = run
            big_rows.append(
                [
                    label,
                    tool,
                    f"{run.seconds:.2f}",
                    f"{size_mib / run.seconds:.0f}" if run.seconds else "n/a",
                    f"{run.peak_rss_mb:.0f}",
                    run.returncode,
                ]
            )
            print(f"  {label} / {tool}: {run.seconds:.2f}s {run.peak_rss_mb:.0f} MB", flush=True)
    print()
    print(table(big_rows, ["file", "tool", "wall s", "MiB/s", "peak RSS MB", "exit"]))
    raw_ml = figures.get(("raw pickle 1 GiB", "mlgate"))
    raw_ps = figures.get(("raw pickle 1 GiB", "picklescan"))
    if raw_ml and raw_ps:
        print(
            f"\nraw pickle: mlgate throughput {ratio(raw_ps.seconds, raw_ml.seconds)} "
            f"picklescan's (target >= 2x), peak RSS {raw_ml.peak_rss_mb:.0f} MB (target < 100)"
        )
    small, large = (
        figures.get(("torch zip 10 MiB", "mlgate")),
        figures.get(("torch zip 1 GiB", "mlgate")),
    )
    if small and large:
        print(
            f"torch zip: 1 GiB scan {large.seconds:.2f}s vs 10 MiB {small.seconds:.2f}s "
            f"({ratio(large.seconds, small.seconds)})"
        )
    if "picklescan" in walls:
        print(
            f"corpus: mlgate {walls['mlgate']:.2f}s vs picklescan directory mode "
            f"{walls['picklescan']:.2f}s ({ratio(walls['picklescan'], walls['mlgate'])} faster)"
        )
    if os.environ.get("MLGATE_BENCH_KEEP_BIG") != "1":
        shutil.rmtree(BIG, ignore_errors=True)
    return 1 if results["mlgate"].crashed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(generate() if "--generate" in sys.argv else main())
