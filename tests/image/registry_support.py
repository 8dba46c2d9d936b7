"""A real registry for the tests: Debian's ``docker-registry`` (the CNCF distribution server)
on 127.0.0.1, a small push client, and a bearer-token gateway in front of it.

The gateway is what a registry with token auth looks like from the outside: ``/v2/`` answers
401 with ``WWW-Authenticate: Bearer realm=...,service=...,scope=...``; ``/token`` hands out a
token for good basic credentials; authorised GETs are relayed to the registry behind it.
With ``redirect_blobs`` it sends blob GETs to ``http://localhost:<port>/storage/...`` (another
host name) the way registries redirect to blob storage, and records the headers it got there.
"""

from __future__ import annotations

import base64
import contextlib
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests

from tests.image.builder import Blobs

REGISTRY_BIN = "/usr/bin/docker-registry"


def registry_binary() -> str | None:
    return shutil.which("docker-registry") or (
        REGISTRY_BIN if Path(REGISTRY_BIN).is_file() else None
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    url: str  # http://127.0.0.1:PORT
    host: str  # 127.0.0.1:PORT
    auth: tuple[str, str] | None = None


@contextlib.contextmanager
def run_registry(users: dict[str, str] | None = None) -> Iterator[Registry]:
    """docker-registry serving a fresh storage folder on 127.0.0.1 (htpasswd auth with
    ``users``)."""
    binary = registry_binary()
    assert binary
    with tempfile.TemporaryDirectory(prefix="mlgate-registry-") as tmp:
        root = Path(tmp)
        port = free_port()
        auth = ""
        if users:
            import bcrypt

            lines = [
                f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt(rounds=4)).decode()}"
                for u, p in users.items()
            ]
            (root / "htpasswd").write_text("\n".join(lines) + "\n")
            auth = f"auth:\n  htpasswd:\n    realm: test\n    path: {root / 'htpasswd'}\n"
        (root / "config.yml").write_text(
            "version: 0.1\nlog:\n  level: warn\n"
            f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
            f"http:\n  addr: 127.0.0.1:{port}\n{auth}"
        )
        log = (root / "log").open("wb")
        proc = subprocess.Popen([binary, "serve", str(root / "config.yml")], stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while True:
                try:
                    requests.get(url + "/v2/", timeout=1)
                    break
                except requests.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            "docker-registry did not start: " + (root / "log").read_text()[-2000:]
                        ) from None
                    time.sleep(0.05)
            first = next(iter(users.items())) if users else None
            yield Registry(url=url, host=f"127.0.0.1:{port}", auth=first)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


def upload(s: requests.Session, registry: Registry, name: str, blobs: Blobs) -> None:
    """Monolithic blob uploads (``POST`` then ``PUT ?digest=``) of an image's config and layers."""
    for digest, data in blobs.all().items():
        if s.head(f"{registry.url}/v2/{name}/blobs/{digest}", timeout=10).status_code == 200:
            continue
        r = s.post(f"{registry.url}/v2/{name}/blobs/uploads/", timeout=10)
        assert r.status_code == 202, r.text
        location = urljoin(registry.url, r.headers["Location"])
        sep = "&" if "?" in location else "?"
        r = s.put(
            f"{location}{sep}digest={digest}",
            data=data,
            timeout=60,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 201, r.text


def push(registry: Registry, name: str, tag: str, blobs: Blobs) -> str:
    """One image under ``name:tag``; the manifest digest the registry computed."""
    with requests.Session() as s:
        s.auth = registry.auth
        upload(s, registry, name, blobs)
        return put_manifest(s, registry, name, tag, blobs.manifest, blobs.manifest_type)


def push_index(
    registry: Registry, name: str, tag: str, children: Sequence[Blobs], index: bytes, mtype: str
) -> str:
    """Several platform images by digest, and their index under ``name:tag``."""
    with requests.Session() as s:
        s.auth = registry.auth
        for child in children:
            upload(s, registry, name, child)
            put_manifest(s, registry, name, child.digest, child.manifest, child.manifest_type)
        return put_manifest(s, registry, name, tag, index, mtype)


def put_manifest(
    s: requests.Session, registry: Registry, name: str, ref: str, body: bytes, mtype: str
) -> str:
    r = s.put(
        f"{registry.url}/v2/{name}/manifests/{ref}",
        data=body,
        headers={"Content-Type": mtype},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return str(r.headers["Docker-Content-Digest"])


@dataclass
class Gateway:
    url: str
    host: str
    user: str
    password: str
    token: str
    seen: list[dict[str, Any]] = field(default_factory=list)  # every request: path and headers


@contextlib.contextmanager
def run_gateway(
    upstream: Registry,
    *,
    user: str = "puller",
    password: str = "s3cret",
    redirect_blobs: bool = False,
) -> Iterator[Gateway]:
    """A token-auth front for ``upstream`` on 127.0.0.1 (real HTTP, stdlib server)."""
    token = secrets.token_hex(16)
    state = Gateway(url="", host="", user=user, password=password, token=token)
    basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.seen.append({"path": self.path, "headers": dict(self.headers)})
            if self.path.startswith("/token"):
                if self.headers.get("Authorization") != basic:
                    self._send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}')
                    return
                self._send(200, f'{{"token":"{token}","expires_in":300}}'.encode())
                return
            if self.path.startswith("/storage/"):  # blob storage: no registry auth here
                self._relay("/v2/" + self.path.removeprefix("/storage/"))
                return
            if self.headers.get("Authorization") != f"Bearer {token}":
                name = self.path.split("/v2/", 1)[-1].split("/manifests/")[0].split("/blobs/")[0]
                challenge = (
                    f'Bearer realm="{state.url}/token",service="registry.test",'
                    f'scope="repository:{name}:pull"'
                )
                self._send(
                    401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', {"WWW-Authenticate": challenge}
                )
                return
            if redirect_blobs and "/blobs/" in self.path:
                where = f"http://localhost:{self.server.server_address[1]}/storage/"
                self._send(307, b"", {"Location": where + self.path.removeprefix("/v2/")})
                return
            self._relay(self.path)

        def _relay(self, path: str) -> None:
            r = requests.get(
                upstream.url + path,
                headers={"Accept": self.headers.get("Accept", "*/*")},
                auth=upstream.auth,
                stream=True,
                timeout=30,
            )
            self.send_response(r.status_code)
            for key in ("Content-Type", "Content-Length", "Docker-Content-Digest"):
                if key in r.headers:
                    self.send_header(key, r.headers[key])
            self.end_headers()
            for chunk in r.iter_content(1 << 16):
                self.wfile.write(chunk)
            r.close()

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    state.url, state.host = f"http://127.0.0.1:{port}", f"127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def docker_config(folder: Path, host: str, user: str, password: str) -> Path:
    """A Docker ``config.json`` with ``auths.<host>.auth`` (what ``docker login`` writes)."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    (folder / "config.json").write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return folder
