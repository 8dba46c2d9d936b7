"""Opening a reference: OCI layouts, docker-save tarballs, OCI archives; bad references."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mlgate.image.interface import ImageError
from mlgate.image.layers import ImageLimits
from mlgate.image.source import choose_platform, open_source, parse_platform, split_name_tag
from tests.image.builder import (
    Image,
    Layer,
    image_blobs,
    sha256,
    write_docker_save,
    write_oci_archive,
    write_oci_layout,
)

LIMITS = ImageLimits()


def meta(ref: str | Path, platform: str = "linux/amd64"):  # type: ignore[no-untyped-def]
    source = open_source(
        str(ref), platform=platform, insecure=(), docker_config=None, limits=LIMITS
    )
    source.close()
    return source.meta


def arch_image(arch: str, variant: str | None = None) -> Image:
    return Image([Layer({"/etc/arch": arch.encode()})], architecture=arch, variant=variant)


def test_oci_layout_single_image(tmp_path: Path) -> None:
    image = Image(
        [Layer({"/a": b"1"}), Layer({"/b": b"2"}, compression="zstd")],
        user="app",
        exposed_ports=["8080/tcp"],
    )
    layout = write_oci_layout(tmp_path / "img", image, tag="v1")
    m = meta(layout)
    blobs = image_blobs(image)
    assert m.source_kind == "oci-layout"
    assert m.digest == blobs.digest
    assert m.tag == "v1"
    assert m.platform == "linux/amd64"
    assert m.config["config"]["User"] == "app"
    assert [layer.digest for layer in m.layers] == [sha256(b) for b in blobs.layers]
    assert m.layers[1].media_type.endswith("+zstd")
    assert meta(f"{layout}:v1").digest == blobs.digest
    assert meta(f"oci:{layout}:v1").digest == blobs.digest
    with pytest.raises(ImageError, match=r"no image tagged 'v2'"):
        meta(f"{layout}:v2")


@pytest.mark.parametrize("nested", [False, True])
def test_multi_platform_layout_chooses_the_platform(tmp_path: Path, nested: bool) -> None:
    images = [arch_image("amd64"), arch_image("arm64", "v8"), arch_image("arm", "v6")]
    layout = write_oci_layout(tmp_path / "multi", images, nested=nested)
    assert meta(layout, "linux/arm64").platform == "linux/arm64/v8"
    assert meta(layout, "linux/aarch64").platform == "linux/arm64/v8"
    assert meta(layout, "linux/amd64").platform == "linux/amd64"
    # the only arm image is v6: an explicit v7 does not match it, a bare linux/arm does
    assert meta(layout, "linux/arm").platform == "linux/arm/v6"
    with pytest.raises(ImageError, match="no image for platform linux/arm/v7"):
        meta(layout, "linux/arm/v7")
    m = meta(layout, "linux/arm64")
    arm64 = image_blobs(images[1]).digest
    if nested:  # the tag names an index blob; the platform's manifest is recorded beside it
        assert (m.digest != arm64, m.manifest_digest) == (True, arm64)
    else:  # index.json lists the platform manifests itself: no index blob to name
        assert (m.digest, m.manifest_digest) == (arm64, None)


def test_attestation_entries_are_never_chosen() -> None:
    entries = [
        {"digest": "sha256:" + "1" * 64, "platform": {"os": "unknown", "architecture": "unknown"}},
        {"digest": "sha256:" + "2" * 64, "platform": {"os": "linux", "architecture": "amd64"}},
    ]
    assert choose_platform("r", entries, "linux/amd64")["digest"].endswith("2" * 64)
    with pytest.raises(ImageError, match=r"offers: linux/amd64\)"):
        choose_platform("r", entries, "windows/amd64")


def test_parse_platform_and_names() -> None:
    assert parse_platform("linux/x86_64") == ("linux", "amd64", None)
    assert parse_platform("Linux/ARM64/v8") == ("linux", "arm64", "v8")
    with pytest.raises(ImageError, match="invalid platform"):
        parse_platform("amd64")
    assert split_name_tag("registry.example:5000/a/b:1") == ("registry.example:5000/a/b", "1")
    assert split_name_tag("registry.example:5000/a/b") == ("registry.example:5000/a/b", None)


@pytest.mark.parametrize("oci", [False, True])
def test_docker_save(tmp_path: Path, oci: bool) -> None:
    image = Image([Layer({"/a": b"1"}), Layer({"/b": b"2"})], user="root")
    saved = write_docker_save(
        tmp_path / "s.tar", image, repo_tag="registry.example/ml/serve:3", oci=oci
    )
    m = meta(saved)
    assert m.name == "registry.example/ml/serve"
    assert m.tag == "3"
    assert m.source_kind == "archive"
    assert m.config["config"]["User"] == "root"
    # docker save stores layers uncompressed: their digests are the config's diff_ids
    assert [layer.digest for layer in m.layers] == [sha256(x.tar_bytes()) for x in image.layers]
    assert (m.digest is not None) == oci


def test_oci_archive(tmp_path: Path) -> None:
    images = [arch_image("amd64"), arch_image("arm64")]
    archive = write_oci_archive(tmp_path / "a.tar", images)
    assert meta(archive, "linux/arm64").platform == "linux/arm64"
    assert meta(f"oci-archive:{archive}", "linux/amd64").platform == "linux/amd64"


def test_skopeo_reads_what_the_builder_writes(tmp_path: Path) -> None:
    """The builder's layouts are real: skopeo (when installed) inspects them identically."""
    import shutil

    if shutil.which("skopeo") is None:
        pytest.skip("skopeo is not installed (`make tools`)")
    image = Image([Layer({"/a": b"1"})], user="app")
    layout = write_oci_layout(tmp_path / "l", image)
    out = subprocess.run(
        ["skopeo", "inspect", f"oci:{layout}:latest"], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout)["Digest"] == meta(layout).digest


def test_bad_references_are_errors_naming_them(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^python:3.12: no such file or folder") as info:
        meta("python:3.12")
    assert "registry.example/team/app" in (info.value.hint or "")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match="not an OCI image layout"):
        meta(tmp_path / "empty")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ImageError, match=r"junk\.tar: not a readable tar archive"):
        meta(tmp_path / "junk.tar")
    (tmp_path / "plain.tar").write_bytes(b"")
    with pytest.raises(ImageError, match=r"plain\.tar: "):
        meta(tmp_path / "plain.tar")


def _layout_with_manifest(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    image = Image([Layer({"/a": b"1"})])
    layout = write_oci_layout(tmp_path / "l", image)
    index = json.loads((layout / "index.json").read_text())
    desc = index["manifests"][0]
    path = layout / "blobs/sha256" / desc["digest"].removeprefix("sha256:")
    doc = json.loads(path.read_text())
    mutate(doc)
    body = json.dumps(doc).encode()
    (layout / "blobs/sha256" / sha256(body).removeprefix("sha256:")).write_bytes(body)
    desc.update(digest=sha256(body), size=len(body), mediaType=doc.get("mediaType", ""))
    (layout / "index.json").write_text(json.dumps(index))
    return layout


def test_manifest_of_another_media_type_is_an_error(tmp_path: Path) -> None:
    def schema1(doc: dict) -> None:  # type: ignore[type-arg]
        doc["mediaType"] = "application/vnd.docker.distribution.manifest.v1+prettyjws"

    layout = _layout_with_manifest(tmp_path / "1", schema1)
    with pytest.raises(ImageError, match=r"manifest media type .*v1\+prettyjws.* not a container"):
        meta(layout)

    def artifact(doc: dict) -> None:  # type: ignore[type-arg]
        doc["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json"

    with pytest.raises(ImageError, match=r"config media type .*helm"):
        meta(_layout_with_manifest(tmp_path / "2", artifact))

    def encrypted(doc: dict) -> None:  # type: ignore[type-arg]
        doc["layers"][0]["mediaType"] += "+encrypted"

    with pytest.raises(ImageError, match=r"layer sha256:\w+ has media type .*encrypted"):
        meta(_layout_with_manifest(tmp_path / "3", encrypted))


def test_digests_cannot_point_out_of_the_layout(tmp_path: Path) -> None:
    def escape(doc: dict) -> None:  # type: ignore[type-arg]
        doc["layers"][0]["digest"] = "sha256:../../../../etc/passwd"

    with pytest.raises(ImageError, match="a layer has an invalid digest"):
        meta(_layout_with_manifest(tmp_path, escape))


def test_a_blob_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    image = Image([Layer({"/a": b"1"})])
    layout = write_oci_layout(tmp_path / "l", image)
    config = layout / "blobs/sha256" / sha256(image.config_bytes()).removeprefix("sha256:")
    outside = tmp_path / "outside.json"
    outside.write_bytes(config.read_bytes())
    config.unlink()
    config.symlink_to(outside)
    with pytest.raises(ImageError, match="missing from the layout"):
        meta(layout)


def test_oversized_manifest_and_config_are_refused(tmp_path: Path) -> None:
    image = Image([Layer({"/a": b"1"})], labels={"pad": "x" * 5000})
    layout = write_oci_layout(tmp_path / "l", image)
    small = ImageLimits(max_config_bytes=1000)
    with pytest.raises(ImageError, match=r"is \d+ bytes \(limit 1000\)"):
        open_source(
            str(layout), platform="linux/amd64", insecure=(), docker_config=None, limits=small
        )
