"""The streaming pass over the layers: whiteouts, links, traversal, bounds, truncation."""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import sysconfig
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from mlgate.image.interface import HEAD_BYTES, Capture, ImageContents, ImageError
from mlgate.image.layers import ImageLimits, normalise, read_image
from tests.image.builder import (
    Image,
    Layer,
    hostile_tar,
    sha256,
    write_docker_save,
    write_oci_layout,
)

PICKLE = b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x94."


def select(path: str, size: int, head: bytes) -> Capture:
    if path.startswith(("/etc/", "/var/lib/dpkg/")) or path.endswith("/METADATA"):
        return Capture.MEMORY
    if head.startswith(b"\x80"):
        return Capture.SPOOL
    return Capture.SKIP


def read(tmp_path: Path, image: Image, **kw: object) -> Iterator[ImageContents]:
    layout = write_oci_layout(tmp_path / "layout", image)
    return read_image(str(layout), select, **kw)  # type: ignore[arg-type]


def test_whiteouts_apply_to_lower_layers_only(tmp_path: Path) -> None:
    image = Image(
        [
            Layer(
                {
                    "/etc/keep": b"1",
                    "/etc/gone": b"2",
                    "/etc/app/a.conf": b"3",
                    "/etc/app/sub/b.conf": b"4",
                    "/etc/tree/x": b"5",
                }
            ),
            Layer(
                # same layer: a whiteout never hides a file of its own layer
                {"/etc/app/new.conf": b"6", "/etc/gone": b"again"},
                whiteouts=["/etc/gone", "/etc/tree"],
                opaque=["/etc/app"],
            ),
            Layer({"/etc/tree/y": b"7"}, compression="zstd"),
        ]
    )
    with read(tmp_path, image) as c:
        assert sorted(c.files) == [
            "/etc/app/new.conf",
            "/etc/gone",
            "/etc/keep",
            "/etc/tree/y",
        ]
        assert c.files["/etc/gone"].data == b"again"
        assert c.files["/etc/gone"].layer == sha256(image.layer_blobs()[1])
        assert c.stats["layers"] == 3


def test_overwrite_and_whiteout_drop_spooled_files(tmp_path: Path) -> None:
    image = Image(
        [
            Layer({"/models/a.pkl": PICKLE, "/models/b.pkl": PICKLE, "/models/c.pkl": PICKLE}),
            Layer({"/models/a.pkl": b"now plain text"}, whiteouts=["/models/b.pkl"]),
            Layer(symlinks={"/models/c.pkl": "/dev/null"}, compression="none"),
        ]
    )
    with read(tmp_path, image) as c:
        assert c.files == {}
        assert c.spool_root is not None
        assert not any(p.is_file() for p in c.spool_root.rglob("*"))


def test_spooled_file_keeps_its_image_path_and_content(tmp_path: Path) -> None:
    big = PICKLE + os.urandom(3 << 20)  # crosses the reader's chunks
    image = Image([Layer({"/opt/serve/model.pkl": big}, compression="zstd")])
    with read(tmp_path, image) as c:
        f = c.files["/opt/serve/model.pkl"]
        assert f.spool == "opt/serve/model.pkl" and f.size == len(big)
        assert c.spool_root is not None
        assert (c.spool_root / f.spool).read_bytes() == big
        root = c.spool_root
    assert not root.exists()


def test_selector_sees_path_size_and_head(tmp_path: Path) -> None:
    seen: list[tuple[str, int, bytes]] = []

    def spy(path: str, size: int, head: bytes) -> Capture:
        seen.append((path, size, head))
        return Capture.SKIP

    data = bytes(range(256)) * 8
    layout = write_oci_layout(tmp_path / "l", Image([Layer({"./usr//lib/../bin/tool": data})]))
    with read_image(str(layout), spy) as c:
        assert c.files == {}
    assert seen == [("/usr/bin/tool", len(data), data[:HEAD_BYTES])]


def test_hardlinked_content_survives_removal_of_its_first_name(tmp_path: Path) -> None:
    image = Image(
        [
            Layer({"/tmp/stage.pkl": PICKLE}, hardlinks={"/srv/model.pkl": "/tmp/stage.pkl"}),
            Layer(whiteouts=["/tmp/stage.pkl"]),
        ]
    )
    with read(tmp_path, image) as c:
        assert sorted(c.files) == ["/srv/model.pkl"]
        assert c.spool_root is not None
        assert (c.spool_root / "srv/model.pkl").read_bytes() == PICKLE


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    image = Image(
        [
            Layer(symlinks={"/etc/conf": "/root", "/escape": "../../../../etc"}),
            Layer({"/etc/conf/secret": b"x", "/escape/passwd": b"y", "/etc/real": b"z"}),
        ]
    )
    with read(tmp_path, image) as c:
        assert sorted(c.files) == ["/etc/real"]
        messages = [w.message for w in c.warnings]
        assert any("/etc/conf/secret lies below the symlink /etc/conf" in m for m in messages)
        assert any("/escape/passwd lies below the symlink /escape" in m for m in messages)
        assert all(w.path == str(tmp_path / "layout") for w in c.warnings)
        assert all(w.code == "image-traversal" for w in c.warnings)


def test_a_symlinked_folder_replaced_by_a_real_one_is_read(tmp_path: Path) -> None:
    image = Image(
        [
            Layer(symlinks={"/etc/app": "/opt/app"}),
            Layer({"/etc/app/x.conf": b"ok"}, dirs=["/etc/app"]),
        ]
    )
    with read(tmp_path, image) as c:
        assert sorted(c.files) == ["/etc/app/x.conf"]
        assert c.warnings == []


def test_member_climbing_out_of_the_root_is_a_warning_naming_image_and_layer(
    tmp_path: Path,
) -> None:
    tar = hostile_tar([("../../etc/passwd", b"root:x:0:0"), ("etc/hosts", b"127.0.0.1")])
    image = Image([Layer(tar=tar)])
    layout = write_oci_layout(tmp_path / "hostile", image)
    with read_image(str(layout), select) as c:
        assert sorted(c.files) == ["/etc/hosts"]
        [warning] = c.warnings
        assert warning.path == str(layout)
        assert warning.code == "image-traversal"
        digest = sha256(image.layer_blobs()[0])
        assert warning.message == (
            f"layer {digest}: member '../../etc/passwd' escapes the image root; ignored"
        )
    assert not (tmp_path / "etc").exists()


def test_normalise() -> None:
    assert normalise("./a/./b//c/") == "/a/b/c"
    assert normalise("/abs/../x") == "/x"
    assert normalise("a/../../x") is None
    assert normalise("..") is None
    assert normalise(".") == "/"
    assert normalise("a/..") == "/"
    assert normalise("/../x") is None
    assert normalise("dir\\name") == "/dir\\name"  # an ordinary character on Linux


def _truncated_layout(tmp_path: Path, compression: str) -> tuple[Path, str]:
    image = Image([Layer({"/etc/a": os.urandom(200_000)}, compression=compression)])
    layout = write_oci_layout(tmp_path / compression, image)
    digest = sha256(image.layer_blobs()[0])
    blob = layout / "blobs/sha256" / digest.removeprefix("sha256:")
    data = blob.read_bytes()
    blob.write_bytes(data[: len(data) // 2])
    return layout, digest


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_truncated_layer_is_an_error_naming_image_and_layer(
    tmp_path: Path, compression: str
) -> None:
    layout, digest = _truncated_layout(tmp_path, compression)
    with pytest.raises(ImageError) as info:
        read_image(str(layout), select).__enter__()
    assert info.value.message.startswith(f"{layout}: layer {digest} is truncated")


def test_truncated_legacy_docker_save_layer_is_caught_by_the_diff_id(tmp_path: Path) -> None:
    """A legacy layer.tar cut at a header boundary still looks like a tar; its diff_id says no."""
    files = {f"/etc/f{i}": b"x" * 600 for i in range(6)}
    image = Image([Layer(files, compression="none")])
    full = image.layers[0].tar_bytes()
    cut = full[: 512 * 4]  # two whole members, no end-of-archive blocks
    saved = write_docker_save(tmp_path / "s.tar", image)
    hacked = tmp_path / "cut.tar"
    with tarfile.open(saved) as src, tarfile.open(hacked, "w") as dst:
        for m in src.getmembers():
            data = src.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.endswith("layer.tar"):
                data = cut
                m.size = len(cut)
            dst.addfile(m, io.BytesIO(data))
    with pytest.raises(ImageError, match=rf"cut.tar: layer {sha256(full)} does not match"):
        read_image(str(hacked), select).__enter__()


def test_garbage_after_an_unreadable_header_is_an_error(tmp_path: Path) -> None:
    """tarfile stops quietly at a header it cannot parse; what follows must not be ignored."""
    good = hostile_tar([("etc/a", b"a")])
    body = good[:1024] + b"\xff" * 512 + hostile_tar([("etc/hidden", b"h")])
    image = Image([Layer(tar=body)])
    layout = write_oci_layout(tmp_path / "g", image)
    digest = sha256(image.layer_blobs()[0])
    with pytest.raises(ImageError, match=rf"layer {digest} holds data after an unreadable tar"):
        read_image(str(layout), select).__enter__()


def test_blob_replaced_by_another_of_the_same_size_fails_the_digest(tmp_path: Path) -> None:
    image = Image([Layer({"/etc/a": b"A" * 100}, compression="none")])
    layout = write_oci_layout(tmp_path / "d", image)
    digest = sha256(image.layer_blobs()[0])
    blob = layout / "blobs/sha256" / digest.removeprefix("sha256:")
    blob.write_bytes(Layer({"/etc/a": b"B" * 100}, compression="none").blob())
    with pytest.raises(ImageError, match=rf"layer {digest} does not match its digest"):
        read_image(str(layout), select).__enter__()


def test_gzip_crc_error_is_an_error(tmp_path: Path) -> None:
    tar = Layer({"/etc/a": b"content"}).tar_bytes()
    blob = bytearray(gzip.compress(tar, mtime=0))
    blob[-8] ^= 0xFF  # the CRC32 in the trailer
    image = Image([Layer(tar=tar)])
    image._blobs = [bytes(blob)]
    layout = write_oci_layout(tmp_path / "crc", image)
    with pytest.raises(ImageError, match=r"is truncated or corrupt \(.*incorrect data check\)"):
        read_image(str(layout), select).__enter__()


def test_bounds(tmp_path: Path) -> None:
    image = Image([Layer({f"/etc/f{i}": b"x" * 100 for i in range(50)})])
    with pytest.raises(ImageError, match="more than 10 tar entries"):
        read(tmp_path / "a", image, limits=ImageLimits(max_members=10)).__enter__()
    with pytest.raises(ImageError, match="more than 4096 uncompressed bytes"):
        read(tmp_path / "b", image, limits=ImageLimits(max_tar_bytes=4096)).__enter__()
    with read(tmp_path / "c", image, limits=ImageLimits(max_memory_file=99)) as c:
        assert c.files == {}
        assert len(c.warnings) == 50
        assert c.warnings[0].code == "image-limit"
        assert "/etc/f0 (100 bytes) is too large to read" in c.warnings[0].message


def test_zstd_multi_frame_layer(tmp_path: Path) -> None:
    tar = Layer({"/etc/one": b"1" * 5000, "/etc/two": b"2" * 5000}).tar_bytes()
    cctx = zstandard.ZstdCompressor()
    blob = cctx.compress(tar[:4096]) + cctx.compress(tar[4096:])
    image = Image([Layer(tar=tar, compression="zstd")])
    image._blobs = [blob]
    with read(tmp_path, image) as c:
        assert c.files["/etc/two"].data == b"2" * 5000


def test_reading_writes_nothing_beside_the_input(tmp_path: Path) -> None:
    image = Image([Layer({"/m.pkl": PICKLE, "/etc/x": b"1"})])
    layout = write_oci_layout(tmp_path / "layout", image)
    saved = write_docker_save(tmp_path / "save.tar", image)
    before = sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*"))
    for ref in (layout, saved):
        with read_image(str(ref), select) as c:
            assert len(c.files) == 2
            assert c.spool_root is not None
            assert not c.spool_root.is_relative_to(tmp_path)
    assert sorted((p, p.stat().st_mtime_ns) for p in tmp_path.rglob("*")) == before


def test_real_dpkg_status_and_site_packages(tmp_path: Path) -> None:
    """An image holding this machine's dpkg database and a real site-packages distribution."""
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        pytest.skip("no dpkg database on this machine")
    site = Path(sysconfig.get_paths()["purelib"])
    dist = next(iter(sorted(site.glob("packaging-*.dist-info"))), None)
    assert dist is not None, "the venv installs packaging"
    tree = {
        f"/usr/local/lib/python3.11/site-packages/{dist.name}/{p.name}": p.read_bytes()
        for p in dist.iterdir()
        if p.is_file()
    }
    image = Image(
        [
            Layer(
                {
                    "/var/lib/dpkg/status": status.read_bytes(),
                    "/etc/os-release": Path("/etc/os-release").read_bytes(),
                }
            ),
            Layer(tree, compression="zstd"),
        ]
    )
    saved = write_docker_save(tmp_path / "real.tar", image, oci=True)
    with read_image(str(saved), select) as c:
        dpkg = c.files["/var/lib/dpkg/status"].data
        assert dpkg == status.read_bytes()
        assert b"Package: dpkg\n" in dpkg
        meta = c.files[f"/usr/local/lib/python3.11/site-packages/{dist.name}/METADATA"].data
        assert meta is not None and b"Name: packaging" in meta
        assert c.meta.name == "registry.example/team/app"
        assert c.meta.tag == "1.0"
        assert c.meta.digest is not None


def test_final_file_system_matches_umoci_unpack(tmp_path: Path) -> None:
    """The OCI whiteout rules as an independent implementation applies them: umoci unpacks
    the same layout into a real folder; every regular file there is what the walk kept."""
    umoci = shutil.which("umoci")
    if umoci is None:
        pytest.skip("umoci is not installed (`make tools`)")
    image = Image(
        [
            Layer(
                {
                    "/etc/keep": b"1",
                    "/etc/gone": b"2",
                    "/opt/app/a": b"3",
                    "/opt/app/sub/b": b"4",
                    "/srv/tree/x": b"5",
                    "/srv/over": b"old",
                    "/stage/m.pkl": PICKLE,
                },
                hardlinks={"/srv/link.pkl": "/stage/m.pkl"},
            ),
            Layer(
                {"/opt/app/new": b"6", "/etc/gone": b"back", "/srv/over": b"new"},
                whiteouts=["/etc/gone", "/srv/tree"],
                opaque=["/opt/app"],
            ),
            Layer({"/srv/tree/y": b"7"}, whiteouts=["/stage"], compression="none"),
        ]
    )
    layout = write_oci_layout(tmp_path / "layout", image)
    rootfs = tmp_path / "rootfs"
    subprocess.run(
        [umoci, "raw", "unpack", "--image", f"{layout}:latest", str(rootfs)],
        check=True,
        capture_output=True,
    )
    expected = {
        "/" + p.relative_to(rootfs).as_posix(): p.read_bytes()
        for p in rootfs.rglob("*")
        if p.is_file() and not p.is_symlink()
    }
    with read_image(str(layout), lambda path, size, head: Capture.MEMORY) as c:
        got = {path: f.data for path, f in c.files.items()}
    assert got == expected
    assert "/srv/link.pkl" in got and "/stage/m.pkl" not in got


@pytest.mark.parametrize(
    ("suffix", "error"),
    [(b"", None), (b"\0" * 1000, None), (b"garbage", "trailing garbage after the gzip stream")],
)
def test_multi_member_gzip_layer(tmp_path: Path, suffix: bytes, error: str | None) -> None:
    tar = Layer({"/etc/one": b"1" * 5000, "/etc/two": b"2" * 5000}).tar_bytes()
    blob = gzip.compress(tar[:3000], mtime=0) + gzip.compress(tar[3000:], mtime=0) + suffix
    image = Image([Layer(tar=tar)])
    image._blobs = [blob]
    layout = write_oci_layout(tmp_path / "gz", image)
    if error:
        with pytest.raises(ImageError, match=error):
            read_image(str(layout), select).__enter__()
        return
    with read_image(str(layout), select) as c:
        assert c.files["/etc/two"].data == b"2" * 5000
