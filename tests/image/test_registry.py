"""Pulling from a real registry: Debian's docker-registry on 127.0.0.1, anonymous and behind
htpasswd basic auth, and a bearer-token gateway in front of it (real HTTP throughout)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from mlgate.image.interface import Capture, ImageError
from mlgate.image.layers import read_image
from mlgate.image.registry import (
    Reference,
    RegistryClient,
    docker_credentials,
    parse_challenge,
    parse_reference,
)
from tests.image.builder import Image, Layer, image_blobs, index_bytes
from tests.image.registry_support import (
    Registry,
    docker_config,
    push,
    push_index,
    put_manifest,
    registry_binary,
    run_gateway,
    run_registry,
)

needs_registry = pytest.mark.skipif(
    registry_binary() is None,
    reason="docker-registry is not installed (apt-get install docker-registry, or `make tools`)",
)

OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'


def select(path: str, size: int, head: bytes) -> Capture:
    if path.startswith("/etc/") or path.endswith("/METADATA"):
        return Capture.MEMORY
    if head.startswith(b"\x80"):  # a pickle, by content
        return Capture.SPOOL
    return Capture.SKIP


def serving_image(arch: str = "amd64", variant: str | None = None) -> Image:
    return Image(
        [
            Layer({"/etc/os-release": OS_RELEASE, "/etc/hostname": b"old\n"}),
            Layer(
                {"/srv/model.bin": b"\x80\x04\x95" + arch.encode(), "/etc/arch": arch.encode()},
                whiteouts=["/etc/hostname"],
                compression="zstd",
            ),
        ],
        architecture=arch,
        variant=variant,
        exposed_ports=["8080/tcp"],
    )


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    if registry_binary() is None:
        pytest.skip("docker-registry is not installed")
    with run_registry() as reg:
        yield reg


@pytest.fixture(scope="module")
def auth_registry() -> Iterator[Registry]:
    if registry_binary() is None:
        pytest.skip("docker-registry is not installed")
    with run_registry({"ci": "hunter2-pass"}) as reg:
        yield reg


# --- against the real registry --------------------------------------------------------------


@needs_registry
def test_pull_by_tag_and_by_digest_streams_layers(registry: Registry) -> None:
    image = serving_image()
    blobs = image_blobs(image)
    digest = push(registry, "team/serve", "1.0", blobs)
    assert digest == blobs.digest
    for ref in (f"{registry.host}/team/serve:1.0", f"{registry.host}/team/serve@{digest}"):
        with read_image(ref, select) as contents:
            meta = contents.meta
            assert meta.source_kind == "registry"
            assert meta.name == f"{registry.host}/team/serve"
            assert meta.digest == digest
            assert meta.config["config"]["ExposedPorts"] == {"8080/tcp": {}}
            assert sorted(contents.files) == ["/etc/arch", "/etc/os-release", "/srv/model.bin"]
            spooled = contents.spool_root / "srv/model.bin"  # type: ignore[operator]
            assert spooled.read_bytes() == b"\x80\x04\x95amd64"
            assert contents.stats["layer_bytes"] == sum(len(b) for b in blobs.layers)
        assert not spooled.exists()  # the spool folder goes with the context


@needs_registry
def test_docker_v2_manifest_list_chooses_the_platform(registry: Registry) -> None:
    images = [serving_image("amd64"), serving_image("arm64", "v8"), serving_image("arm", "v7")]
    built = [(img, image_blobs(img, docker=True)) for img in images]
    index = index_bytes(built, docker=True)
    top = push_index(
        registry,
        "team/multi",
        "2",
        [b for _, b in built],
        index,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
    ref = f"{registry.host}/team/multi:2"
    for platform, arch, blobs in (
        ("linux/arm64", "arm64", built[1][1]),
        ("linux/arm64/v8", "arm64", built[1][1]),
        ("linux/arm/v7", "arm", built[2][1]),
        ("linux/amd64", "amd64", built[0][1]),
    ):
        with read_image(ref, select, platform=platform) as contents:
            assert contents.files["/etc/arch"].data == arch.encode()
            assert contents.meta.digest == top
            assert contents.meta.manifest_digest == blobs.digest
            assert contents.meta.platform.startswith(f"linux/{arch}")
    with pytest.raises(ImageError, match=r"no image for platform linux/s390x.*linux/arm64/v8"):
        read_image(ref, select, platform="linux/s390x").__enter__()


@needs_registry
def test_missing_tag_and_wrong_digest_are_errors_naming_the_image(registry: Registry) -> None:
    push(registry, "team/other", "1", image_blobs(serving_image()))
    with pytest.raises(ImageError, match=r"team/other:nope: not found"):
        read_image(f"{registry.host}/team/other:nope", select).__enter__()
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ImageError, match="team/other@sha256:0000"):
        read_image(f"{registry.host}/team/other@{wrong}", select).__enter__()


@needs_registry
def test_basic_auth_from_docker_config(auth_registry: Registry, tmp_path: Path) -> None:
    push(auth_registry, "team/private", "1", image_blobs(serving_image()))
    ref = f"{auth_registry.host}/team/private:1"
    user, password = auth_registry.auth  # type: ignore[misc]
    config = docker_config(tmp_path / "docker", auth_registry.host, user, password)
    with read_image(ref, select, docker_config=config) as contents:
        assert contents.files["/etc/os-release"].data == OS_RELEASE


@needs_registry
def test_401_without_credentials_is_an_error_without_a_traceback(
    auth_registry: Registry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    push(auth_registry, "team/private", "1", image_blobs(serving_image()))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "empty"))
    ref = f"{auth_registry.host}/team/private:1"
    with pytest.raises(ImageError) as info:
        read_image(ref, select).__enter__()
    text = info.value.diagnostics()
    assert text.startswith(f"error: {ref}: the registry asks for credentials (401)")
    assert "config.json" in text
    # wrong credentials: refused, and the password is not in the message
    config = docker_config(tmp_path / "bad", auth_registry.host, "ci", "wrong-password-xyz")
    with pytest.raises(ImageError, match="refused the credentials") as info:
        read_image(ref, select, docker_config=config).__enter__()
    assert "wrong-password-xyz" not in info.value.diagnostics()


@needs_registry
def test_bearer_token_flow_through_the_challenge(registry: Registry, tmp_path: Path) -> None:
    push(registry, "team/tok", "1", image_blobs(serving_image()))
    with run_gateway(registry) as gw:
        config = docker_config(tmp_path / "docker", gw.host, gw.user, gw.password)
        with read_image(f"{gw.host}/team/tok:1", select, docker_config=config) as contents:
            assert contents.files["/srv/model.bin"].size == 8
        token_requests = [s for s in gw.seen if s["path"].startswith("/token")]
        assert len(token_requests) == 1  # one token for the whole pull
        assert "scope=repository%3Ateam%2Ftok%3Apull" in token_requests[0]["path"]
        assert "service=registry.test" in token_requests[0]["path"]
        # without credentials the token service refuses: a clear error
        empty = tmp_path / "none"
        empty.mkdir()
        with pytest.raises(ImageError, match="refused a pull token without credentials"):
            read_image(f"{gw.host}/team/tok:1", select, docker_config=empty).__enter__()


@needs_registry
def test_blob_redirect_to_another_host_drops_the_authorization(
    registry: Registry, tmp_path: Path
) -> None:
    push(registry, "team/redir", "1", image_blobs(serving_image()))
    with run_gateway(registry, redirect_blobs=True) as gw:
        config = docker_config(tmp_path / "docker", gw.host, gw.user, gw.password)
        with read_image(f"{gw.host}/team/redir:1", select, docker_config=config) as contents:
            assert "/srv/model.bin" in contents.files
        storage = [s for s in gw.seen if s["path"].startswith("/storage/")]
        assert len(storage) == 3  # config and two layers, fetched from "localhost"
        assert all("Authorization" not in s["headers"] for s in storage)
        registry_gets = [s for s in gw.seen if s["path"].startswith("/v2/")]
        assert any(
            s["headers"].get("Authorization", "").startswith("Bearer ") for s in registry_gets
        )


@needs_registry
def test_an_artifact_manifest_is_not_an_image(registry: Registry) -> None:
    chart = image_blobs(serving_image(), config_type="application/vnd.cncf.helm.config.v1+json")
    push(registry, "team/chart", "1", chart)
    with pytest.raises(
        ImageError, match=r"team/chart:1: config media type .*helm.* not a container"
    ):
        read_image(f"{registry.host}/team/chart:1", select).__enter__()


@needs_registry
def test_a_layer_shorter_than_its_manifest_says_is_refused(registry: Registry) -> None:
    """The registry serves the blob it has; the manifest claims 7 more bytes: the pull must
    fail naming the layer, never look clean."""
    good = image_blobs(serving_image())
    push(registry, "team/swap", "1", good)
    doc = json.loads(good.manifest)
    doc["layers"][1]["size"] += 7
    with requests.Session() as s:
        put_manifest(s, registry, "team/swap", "2", json.dumps(doc).encode(), good.manifest_type)
    layer = doc["layers"][1]["digest"]
    with pytest.raises(ImageError, match=rf"team/swap:2: layer {layer} is truncated"):
        read_image(f"{registry.host}/team/swap:2", select).__enter__()


# --- the pieces, without a server ------------------------------------------------------------


def test_parse_reference() -> None:
    assert parse_reference("registry.example:5000/team/serve:1.2") == Reference(
        "registry.example:5000", "team/serve", "1.2", None
    )
    digest = "sha256:" + "a" * 64
    assert parse_reference(f"127.0.0.1:5000/a/b@{digest}") == Reference(
        "127.0.0.1:5000", "a/b", None, digest
    )
    assert parse_reference("localhost/app") == Reference("localhost", "app", None, None)
    assert parse_reference("python:3.12") is None  # no host: never guessed
    assert parse_reference("team/serve:1") is None
    assert parse_reference("registry.example/UPPER:1") is None
    assert parse_reference("registry.example/a@sha256:short") is None


def test_parse_challenge() -> None:
    scheme, params = parse_challenge(
        'Bearer realm="https://auth.example/token",service="registry.example",'
        'scope="repository:team/app:pull,push"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.example/token",
        "service": "registry.example",
        "scope": "repository:team/app:pull,push",
    }
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})


def test_docker_config_lookup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = base64.b64encode(b"me:p:w").decode()
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "config.json").write_text(
        json.dumps(
            {
                "auths": {
                    "https://registry.example/v1/": {"auth": auth},
                    "other.example:5000": {"username": "u", "password": "pw"},
                },
                "credHelpers": {"helper.example": "secretservice"},
            }
        )
    )
    assert docker_credentials("registry.example", cfg) == ("me", "p:w")
    assert docker_credentials("other.example:5000", cfg / "config.json") == ("u", "pw")
    assert docker_credentials("helper.example", cfg) is None  # helpers are never run
    monkeypatch.setenv("DOCKER_CONFIG", str(cfg))
    assert docker_credentials("registry.example", None) == ("me", "p:w")


def test_plain_http_only_for_loopback_and_listed_hosts() -> None:
    def client(host: str, insecure: tuple[str, ...] = ()) -> RegistryClient:
        ref = Reference(host, "a/b", "1", None)
        return RegistryClient(ref, display="x", insecure=insecure, docker_config=None, timeout=1)

    assert client("registry.example").base.startswith("https://")
    assert client("127.0.0.1:5000").base.startswith("http://")
    assert client("localhost:5000").base.startswith("http://")
    assert client("[::1]:5000").base.startswith("http://")
    assert client("registry.example:5000", ("registry.example:5000",)).base.startswith("http://")
    c = client("registry.example")
    with pytest.raises(ImageError, match="not https"):
        c._check_url("http://storage.example/blob")
