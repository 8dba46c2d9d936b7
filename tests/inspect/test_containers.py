"""PyTorch, TorchScript, joblib and NumPy containers: real files from the real libraries, and the
same files with payloads planted or headers tampered with."""

from __future__ import annotations

import io
import os
import pickle
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from mlgate.model import Finding, Severity
from tests.inspect import samples as s
from tests.inspect.scanhelp import at_least, rules, scan

PAYLOAD = s.call("os", "system", "id")


class TinyNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(4, 3)
        self.act = torch.nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


def _torch_bytes(obj: object, **kw: object) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kw)  # type: ignore[arg-type]
    return buf.getvalue()


def _exec(findings: list[Finding]) -> set[str]:
    return {f.trigger or "" for f in findings if f.rule_id == "MLG-PICKLE-EXEC"}


def _clean(findings: list[Finding]) -> bool:
    """Nothing at or above low (an info note about custom classes is allowed)."""
    return not at_least(findings, Severity.LOW)


@pytest.fixture(scope="module")
def state_dict_zip() -> bytes:
    return _torch_bytes(TinyNet().state_dict())


# ---- benign torch ---------------------------------------------------------------------------


def test_state_dict_zip_is_clean(tmp_path: Path, state_dict_zip: bytes) -> None:
    assert scan(s.write(tmp_path / "model.pt", state_dict_zip)) == []


def test_state_dict_legacy_is_clean(tmp_path: Path) -> None:
    data = _torch_bytes(TinyNet().state_dict(), _use_new_zipfile_serialization=False)
    assert scan(s.write(tmp_path / "model.bin", data)) == []


def test_training_checkpoint_with_optimizer_is_clean(tmp_path: Path) -> None:
    net = TinyNet()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    net(torch.ones(2, 4)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, 1)
    ckpt = {
        "model": net.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "epoch": 3,
        "rng": torch.get_rng_state(),
    }
    assert scan(s.write(tmp_path / "ckpt.pth", _torch_bytes(ckpt))) == []


def test_whole_module_is_not_an_alarm(tmp_path: Path) -> None:
    """torch.save(model): nn classes are reconstructed, not called (custom class: info only)."""
    findings = scan(s.write(tmp_path / "whole.pt", _torch_bytes(TinyNet())))
    assert _clean(findings)
    assert [f.rule_id for f in findings] == ["MLG-PICKLE-GLOBAL"]
    assert "TinyNet" in findings[0].message


def test_torchscript_is_clean(tmp_path: Path) -> None:
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(TinyNet()), buf)
    assert scan(s.write(tmp_path / "scripted.pt", buf.getvalue())) == []


# ---- malicious torch zips -------------------------------------------------------------------


def test_zip_with_malicious_data_pkl(tmp_path: Path, state_dict_zip: bytes) -> None:
    """Technique: data.pkl of a torch zip replaced by a payload."""
    data = s.rewrite_zip(state_dict_zip, {"archive/data.pkl": PAYLOAD})
    findings = scan(s.write(tmp_path / "model.pt", data))
    hit = [f for f in findings if f.rule_id == "MLG-PICKLE-EXEC"]
    assert hit and hit[0].location.member == "archive/data.pkl"
    assert "torch.load" in hit[0].message


@pytest.mark.parametrize("member", ["archive/extra.pkl", "archive/notes.txt", "archive/x/y"])
def test_zip_with_extra_pickle_member(tmp_path: Path, state_dict_zip: bytes, member: str) -> None:
    """Technique: an extra pickle member besides data.pkl, whatever its name."""
    data = s.rewrite_zip(state_dict_zip, {}, {member: PAYLOAD})
    findings = scan(s.write(tmp_path / "model.pt", data))
    assert any(f.rule_id == "MLG-PICKLE-EXEC" and f.location.member == member for f in findings)


def test_zip_crc_tampered(tmp_path: Path, state_dict_zip: bytes) -> None:
    """Technique: bad CRC in the central directory (zipfile refuses; torch's reader does not)."""
    data = s.tamper_central_crc(
        s.rewrite_zip(state_dict_zip, {"archive/data.pkl": PAYLOAD}), "archive/data.pkl"
    )
    findings = scan(s.write(tmp_path / "model.pt", data))
    assert "MLG-ZIP-TAMPER" in rules(findings)
    assert _exec(findings) == {"os.system"}  # still read despite the CRC


def test_zip_local_central_name_mismatch(tmp_path: Path, state_dict_zip: bytes) -> None:
    """Technique: local header names another member than the central directory."""
    data = s.rewrite_zip(state_dict_zip, {"archive/data.pkl": PAYLOAD})
    data = s.tamper_local_name(data, "archive/data.pkl", "archive/data.pkx")
    findings = scan(s.write(tmp_path / "model.pt", data))
    tamper = [f for f in findings if f.rule_id == "MLG-ZIP-TAMPER"]
    assert tamper and all(f.severity is Severity.HIGH for f in tamper)
    assert any("data.pkx" in f.message for f in tamper)
    assert _exec(findings) == {"os.system"}


def test_zip_local_central_method_mismatch(tmp_path: Path, state_dict_zip: bytes) -> None:
    """Technique: local header claims deflate while the central directory says stored."""
    data = s.tamper_local_method(state_dict_zip, "archive/data.pkl", 8)
    findings = scan(s.write(tmp_path / "model.pt", data))
    assert any("compression method" in f.message for f in findings if f.rule_id == "MLG-ZIP-TAMPER")


def test_tensor_bytes_that_look_like_a_pickle_are_not_alarms(
    tmp_path: Path, state_dict_zip: bytes
) -> None:
    """Tensor data that happens to start like a pickle is a guess, not a malformed pickle."""
    data = s.rewrite_zip(state_dict_zip, {"archive/data/0": b"\x80\x02" + os.urandom(46)})
    assert not at_least(scan(s.write(tmp_path / "model.pt", data)), Severity.LOW)


# ---- legacy formats and TorchScript -----------------------------------------------------------


def test_legacy_stacked_with_payload_object(tmp_path: Path) -> None:
    """Technique: legacy format (5 stacked pickles) with the payload as the object pickle."""
    findings = scan(s.write(tmp_path / "old.pt", s.legacy_stack(PAYLOAD)))
    assert _exec(findings) == {"os.system"}


def test_legacy_stacked_with_payload_in_storage_keys(tmp_path: Path) -> None:
    """Technique: payload in the 5th pickle (storage keys), missed when only one is read."""
    data = s.legacy_stack(pickle.dumps({"w": 1}, protocol=2), PAYLOAD)
    assert _exec(scan(s.write(tmp_path / "old.pt", data))) == {"os.system"}


def test_legacy_tar_pickle_member(tmp_path: Path) -> None:
    """Technique: torch's legacy tar format with a payload in the 'pickle' member."""
    findings = scan(s.write(tmp_path / "ancient.pt", s.legacy_tar(PAYLOAD)))
    assert any(f.rule_id == "MLG-PICKLE-EXEC" and f.location.member == "pickle" for f in findings)


def test_legacy_tar_payload_after_raw_storage(tmp_path: Path) -> None:
    """Technique: legacy tar 'storages' member - a payload pickle after raw storage bytes."""
    storages = (
        pickle.dumps(2, protocol=2)
        + s.P2
        + s.MARK
        + s.binunicode("0")
        + s.binunicode("cpu")
        + s.glob("torch", "FloatStorage")
        + s.TUPLE
        + s.STOP
        + (3).to_bytes(8, "little")
        + b"\x00" * 12
        + PAYLOAD
    )
    data = s.legacy_tar(pickle.dumps({}, protocol=2), storages)
    findings = scan(s.write(tmp_path / "ancient.pt", data))
    assert any(f.rule_id == "MLG-PICKLE-EXEC" and f.location.member == "storages" for f in findings)


def test_torchscript_with_malicious_constants(tmp_path: Path) -> None:
    """Technique: TorchScript archive whose constants.pkl carries a payload."""
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(TinyNet()), buf)
    name = next(n for n in _names(buf.getvalue()) if n.endswith("constants.pkl"))
    data = s.rewrite_zip(buf.getvalue(), {name: PAYLOAD})
    findings = scan(s.write(tmp_path / "scripted.pt", data))
    hit = [f for f in findings if f.rule_id == "MLG-PICKLE-EXEC"]
    assert hit and hit[0].location.member == name and "torch.jit.load" in hit[0].message


def _names(data: bytes) -> list[str]:
    import zipfile

    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_7z_wrapped_torch_checkpoint(tmp_path: Path, state_dict_zip: bytes) -> None:
    """Technique: a malicious torch zip inside a 7z archive."""
    py7zr = pytest.importorskip("py7zr")
    inner = s.rewrite_zip(state_dict_zip, {"archive/data.pkl": PAYLOAD})
    path = tmp_path / "bundle.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(inner, "models/model.pt")
    findings = scan(path)
    hit = [f for f in findings if f.rule_id == "MLG-PICKLE-EXEC"]
    assert hit and hit[0].location.member == "models/model.pt!archive/data.pkl"


def test_7z_without_the_extra_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without py7zr a 7z the built-in reader does not handle (here: delta filter) is an info
    finding naming the extra, never silence."""
    py7zr = pytest.importorskip("py7zr")
    path = tmp_path / "bundle.7z"
    delta = [{"id": py7zr.FILTER_DELTA}, {"id": py7zr.FILTER_LZMA2}]
    with py7zr.SevenZipFile(path, "w", filters=delta) as archive:
        archive.writestr(PAYLOAD, "x.pkl")
    monkeypatch.setitem(sys.modules, "py7zr", None)
    findings = scan(path)
    assert [(f.rule_id, f.severity) for f in findings] == [
        ("MLG-MODEL-EXTRA-MISSING", Severity.INFO)
    ]
    assert "mlgate[sevenzip]" in findings[0].message


# ---- scikit-learn and joblib ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pipeline() -> object:
    rng = np.random.RandomState(0)
    x = rng.rand(40, 3)
    y = (x[:, 0] > 0.5).astype(int)
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    pipe.fit(x, y)
    tree = DecisionTreeClassifier(max_depth=2).fit(x, y)
    return {"pipe": pipe, "tree": tree}


def test_sklearn_pipeline_pickle_is_clean(tmp_path: Path, pipeline: object) -> None:
    for protocol in (2, 4, 5):
        data = pickle.dumps(pipeline, protocol=protocol)
        assert scan(s.write(tmp_path / f"p{protocol}.pkl", data)) == []


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_sklearn_pipeline_joblib_is_clean(
    tmp_path: Path, pipeline: object, compress: object
) -> None:
    """joblib raw (array bytes inside the pickle stream) and every compressor."""
    path = tmp_path / "model.joblib"
    joblib.dump(pipeline, path, compress=compress)
    assert scan(path) == []


@pytest.mark.parametrize("compress", [0, ("zlib", 3), ("gzip", 3), ("bz2", 3), ("lzma", 3)])
def test_joblib_payload_after_array_bytes(tmp_path: Path, compress: object) -> None:
    """Technique: payload after raw NumpyArrayWrapper bytes, in raw and compressed joblib."""
    path = tmp_path / "model.pkl"
    obj = {"weights": np.arange(1000, dtype=np.float64), "hook": s.ReduceTo(os.system, "id")}
    joblib.dump(obj, path, compress=compress)
    assert _exec(scan(path)) == {"posix.system"}


def test_joblib_object_array_payload(tmp_path: Path) -> None:
    """Technique: payload inside an object array, which joblib stores as an inline pickle."""
    path = tmp_path / "model.joblib"
    arr = np.array([s.ReduceTo(os.system, "id"), 1], dtype=object)
    joblib.dump({"a": np.ones(3), "objs": arr, "b": np.zeros(5)}, path)
    assert _exec(scan(path)) == {"posix.system"}


# ---- numpy ----------------------------------------------------------------------------------


def test_numpy_files_are_clean(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.arange(10))
    np.savez(tmp_path / "b.npz", a=np.arange(3), b=np.eye(2))
    np.savez_compressed(tmp_path / "c.npz", a=np.arange(3))
    np.save(tmp_path / "d.npy", np.array([{"k": 1}, [1, 2]], dtype=object), allow_pickle=True)
    for name in ("a.npy", "b.npz", "c.npz", "d.npy"):
        assert scan(tmp_path / name) == [], name


def test_npy_object_array_payload(tmp_path: Path) -> None:
    """Technique: object-dtype .npy whose embedded pickle runs on numpy.load(allow_pickle=True)."""
    path = tmp_path / "features.npy"
    np.save(path, np.array([s.ReduceTo(os.system, "id")], dtype=object), allow_pickle=True)
    findings = scan(path)
    assert _exec(findings) == {"posix.system"}
    assert "numpy.load" in findings[0].message


def test_npz_object_member_payload(tmp_path: Path) -> None:
    """Technique: .npz with one object-array member among numeric ones."""
    path = tmp_path / "bundle.npz"
    np.savez_compressed(
        path, w=np.ones(4), evil=np.array([s.ReduceTo(os.system, "id")], dtype=object)
    )
    findings = scan(path)
    assert any(f.rule_id == "MLG-PICKLE-EXEC" and f.location.member == "evil.npy" for f in findings)


def test_npy_bad_header(tmp_path: Path) -> None:
    """Technique: a .npy header that is not a literal (numpy refuses; other readers may not)."""
    header = b"{'descr': __import__('os').system('id'), 'fortran_order': False, 'shape': (1,)}"
    raw = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header
    findings = scan(s.write(tmp_path / "x.npy", raw))
    assert [f.rule_id for f in findings] == ["MLG-NUMPY-HEADER"]


# ---- tensors through plain pickle (torch.storage._load_from_bytes) ---------------------------


def test_tensor_in_plain_pickle_is_clean(tmp_path: Path) -> None:
    """pickle.dumps(tensor) stores each storage as torch.save bytes: allowed, scanned nested."""
    obj = {"t": torch.ones(3), "p": torch.nn.Parameter(torch.zeros(2))}
    assert scan(s.write(tmp_path / "t.pkl", pickle.dumps(obj, protocol=4))) == []


def test_load_from_bytes_with_malicious_checkpoint(tmp_path: Path, state_dict_zip: bytes) -> None:
    """Technique: an allow-listed loader helper (_load_from_bytes) fed a malicious torch zip."""
    inner = s.rewrite_zip(state_dict_zip, {"archive/data.pkl": PAYLOAD})
    data = (
        s.P2
        + s.glob("torch.storage", "_load_from_bytes")
        + s.binbytes(inner)
        + s.TUPLE1
        + s.REDUCE
        + s.STOP
    )
    findings = scan(s.write(tmp_path / "t.pkl", data))
    hit = [f for f in findings if f.rule_id == "MLG-PICKLE-EXEC"]
    assert hit and hit[0].location.member == (
        "torch.storage._load_from_bytes argument!archive/data.pkl"
    )
