"""Pulling an image over the OCI distribution API with ``requests``.

``GET /v2/<name>/manifests/<ref>`` with every manifest media type in ``Accept``; a 401 answers
with ``WWW-Authenticate``: ``Bearer realm=...,service=...,scope=...`` is a token fetched from the
realm (with the user's credentials when there are any), ``Basic`` is the credentials themselves.
Credentials come from a Docker ``config.json`` (``auths.<host>.auth``; ``$DOCKER_CONFIG`` or
``~/.docker``); credential helpers are never run. Blobs are streamed and checked against their
digest by the caller; redirects to blob storage are followed by hand so the ``Authorization``
header never reaches another host. Plain ``http`` is used only for loopback hosts and hosts
the user lists as insecure. Tokens and passwords never appear in messages.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import requests

from mlgate.httpsafe import ResponseTooLarge, read_bounded
from mlgate.image.interface import ImageError, ImageMeta, LayerInfo
from mlgate.image.source import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageSource,
    Readable,
    build_meta,
    check_digest,
    resolve_manifest,
    verify_bytes,
)

if TYPE_CHECKING:
    from mlgate.image.layers import ImageLimits

ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
USER_AGENT = "mlgate-image-reader"
MAX_REDIRECTS = 5
MAX_TOKEN_BYTES = 1 << 20
# name components and tags as the distribution spec defines them
NAME = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
HOST = re.compile(r"^(?:\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(?::[0-9]{1,5})?$")


@dataclass(frozen=True)
class Reference:
    host: str  # "registry.example:5000"
    name: str  # "team/serve"
    tag: str | None
    digest: str | None

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.name}"

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one (it pins the image)."""
        return self.digest or self.tag or "latest"


def parse_reference(text: str) -> Reference | None:
    """``HOST[:PORT]/NAME[:TAG][@sha256:HEX]``; None when ``text`` is not one. The host is
    required: a registry mlgate would have to guess is not a registry it should pull from."""
    rest, _, digest = text.partition("@")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}", digest):
        return None
    host, slash, path = rest.partition("/")
    if not slash or not HOST.match(host):
        return None
    if "." not in host and ":" not in host and host != "localhost":
        return None
    name, tag = path, None
    colon = path.rfind(":")
    if colon > path.rfind("/"):
        name, tag = path[:colon], path[colon + 1 :]
        if not TAG.match(tag):
            return None
    if not NAME.match(name):
        return None
    return Reference(host=host, name=name, tag=tag, digest=digest or None)


def is_loopback(host: str) -> bool:
    hostname = urlsplit(f"//{host}").hostname or ""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """``Bearer realm="https://auth.example/token",service="x",scope="repository:a:pull"`` ->
    (``bearer``, params)."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for m in re.finditer(
        r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest
    ):
        value = m[2] if m[2] is not None else m[3]
        params[m[1].lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


def docker_credentials(host: str, config: Path | None) -> tuple[str, str] | None:
    """(user, password) for ``host`` from a Docker ``config.json`` (a file or the folder holding
    it; default ``$DOCKER_CONFIG`` or ``~/.docker``)."""
    if config is None:
        env = os.environ.get("DOCKER_CONFIG")
        config = Path(env) if env else Path.home() / ".docker"
    if config.is_dir():
        config = config / "config.json"
    try:
        with config.open("rb") as fh:
            doc = json.loads(fh.read(4 << 20))
    except (OSError, ValueError):
        return None
    auths = doc.get("auths") if isinstance(doc, Mapping) else None
    if not isinstance(auths, Mapping):
        return None
    for key, entry in auths.items():
        key_host = urlsplit(key if "//" in key else f"//{key}").netloc
        if key_host != host or not isinstance(entry, Mapping):
            continue
        if isinstance(entry.get("auth"), str) and entry["auth"]:
            try:
                user, sep, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                continue
            if sep:
                return user, password
        if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
            return entry["username"], entry["password"]
    return None


class RegistryClient:
    """Authenticated GETs against one repository of one registry."""

    def __init__(
        self,
        ref: Reference,
        *,
        display: str,
        insecure: tuple[str, ...],
        docker_config: Path | None,
        timeout: float,
        session: requests.Session | None = None,
    ) -> None:
        self.ref = ref
        self.display = display
        self.insecure = {h.lower() for h in insecure}
        self.scheme = "http" if self._plain_allowed(ref.host) else "https"
        self.base = f"{self.scheme}://{ref.host}/v2/{ref.name}"
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.credentials = docker_credentials(ref.host.lower(), docker_config)
        self._auth: str | None = None  # the Authorization header value, never printed

    def _plain_allowed(self, host: str) -> bool:
        hostname = urlsplit(f"//{host}").hostname or ""
        return is_loopback(host) or host.lower() in self.insecure or hostname in self.insecure

    def _check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme == "https" or (
            parts.scheme == "http" and self._plain_allowed(parts.netloc)
        ):
            return
        raise ImageError(
            f"{self.display}: the registry sent us to {parts.scheme}://{parts.netloc}, "
            "which is not https",
            hint="list the host with --insecure-registry if plain http is intended",
        )

    def _send(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET with redirects followed by hand: Authorization only for the registry's host."""
        origin = urlsplit(self.base).netloc
        for _ in range(MAX_REDIRECTS + 1):
            self._check_url(url)
            send = dict(headers)
            if self._auth and urlsplit(url).netloc == origin:
                send["Authorization"] = self._auth
            try:
                resp = self.session.get(
                    url, headers=send, stream=True, timeout=self.timeout, allow_redirects=False
                )
            except requests.RequestException as exc:
                raise ImageError(
                    f"{self.display}: cannot reach {urlsplit(url).netloc} ({type(exc).__name__})"
                ) from None
            if resp.status_code in (301, 302, 303, 307, 308) and "Location" in resp.headers:
                resp.close()
                url = urljoin(url, resp.headers["Location"])
                continue
            return resp
        raise ImageError(f"{self.display}: more than {MAX_REDIRECTS} redirects")

    def get(self, path: str, headers: dict[str, str]) -> requests.Response:
        """A GET below ``/v2/<name>/`` that answered 200 (authenticating once if asked)."""
        url = f"{self.base}/{path}"
        resp = self._send(url, headers)
        if resp.status_code == 401:
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.close()
            self._authenticate(challenge)
            resp = self._send(url, headers)
            if resp.status_code == 401:
                resp.close()
                raise ImageError(
                    f"{self.display}: the registry refused the credentials (401)",
                    hint=self._cred_hint(),
                )
        if resp.status_code == 200:
            return resp
        resp.close()
        if resp.status_code == 404:
            raise ImageError(f"{self.display}: not found in the registry ({path.split('/')[0]})")
        if resp.status_code == 403:
            raise ImageError(f"{self.display}: access denied by the registry (403)")
        raise ImageError(f"{self.display}: the registry answered {resp.status_code} for {path}")

    def _cred_hint(self) -> str:
        return (
            f"log in to {self.ref.host} so that config.json holds auths.{self.ref.host}.auth "
            "(credential helpers are not run), or set DOCKER_CONFIG"
        )

    def _authenticate(self, challenge: str) -> None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if self.credentials is None:
                raise ImageError(
                    f"{self.display}: the registry asks for credentials (401) and none are "
                    f"configured for {self.ref.host}",
                    hint=self._cred_hint(),
                )
            raw = ":".join(self.credentials).encode()
            self._auth = "Basic " + base64.b64encode(raw).decode()
            return
        if scheme != "bearer" or "realm" not in params:
            raise ImageError(
                f"{self.display}: unauthorized (401) with an authentication scheme mlgate "
                f"does not speak ({scheme or 'none'})",
                hint=self._cred_hint(),
            )
        realm = params["realm"]
        self._check_url(realm)
        query = {"scope": params.get("scope") or f"repository:{self.ref.name}:pull"}
        if params.get("service"):
            query["service"] = params["service"]
        try:
            resp = self.session.get(
                realm,
                params=query,
                auth=self.credentials,
                stream=True,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise ImageError(
                f"{self.display}: cannot reach the token service {urlsplit(realm).netloc} "
                f"({type(exc).__name__})"
            ) from None
        if resp.status_code != 200:
            resp.close()
            who = "with" if self.credentials else "without"
            raise ImageError(
                f"{self.display}: the token service refused a pull token {who} credentials "
                f"({resp.status_code})",
                hint=self._cred_hint(),
            )
        try:
            doc = json.loads(read_bounded(resp, MAX_TOKEN_BYTES))
        except (ResponseTooLarge, ValueError, requests.RequestException):
            raise ImageError(f"{self.display}: the token service sent no usable token") from None
        token = doc.get("token") or doc.get("access_token") if isinstance(doc, Mapping) else None
        if not isinstance(token, str) or not token:
            raise ImageError(f"{self.display}: the token service sent no usable token")
        self._auth = f"Bearer {token}"

    def read(self, path: str, headers: dict[str, str], limit: int, what: str) -> requests.Response:
        resp = self.get(path, headers)
        length = resp.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > limit:
            resp.close()
            raise ImageError(f"{self.display}: {what} is {length} bytes (limit {limit})")
        return resp

    def read_bytes(self, path: str, headers: dict[str, str], limit: int, what: str) -> bytes:
        resp = self.read(path, headers, limit, what)
        try:
            return read_bounded(resp, limit)
        except ResponseTooLarge:
            raise ImageError(f"{self.display}: {what} is larger than {limit} bytes") from None
        except requests.RequestException as exc:
            raise ImageError(
                f"{self.display}: reading {what} failed ({type(exc).__name__})"
            ) from None


class RegistrySource(ImageSource):
    """An image pulled from a registry: manifest and config at open, layers on demand."""

    def __init__(
        self,
        ref: Reference,
        *,
        platform: str,
        insecure: tuple[str, ...],
        docker_config: Path | None,
        limits: ImageLimits,
        display: str | None = None,
    ) -> None:
        text = display or _ref_text(ref)
        self.client = RegistryClient(
            ref,
            display=text,
            insecure=insecure,
            docker_config=docker_config,
            timeout=limits.timeout,
        )
        resp = self.client.read(
            f"manifests/{ref.reference}",
            {"Accept": ACCEPT},
            limits.max_manifest_bytes,
            "the manifest",
        )
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            body = read_bounded(resp, limits.max_manifest_bytes)
        except ResponseTooLarge:
            raise ImageError(f"{text}: the manifest is larger than the limit") from None
        if ref.digest:
            verify_bytes(text, "the manifest", body, ref.digest)
        manifest, digest = resolve_manifest(text, self._load, body, media_type, platform, limits)
        top = ref.digest or _digest_of(body)
        self.meta: ImageMeta = build_meta(
            text,
            manifest,
            self._load,
            limits,
            name=ref.repository,
            digest=top,
            source_kind="registry",
            tag=ref.tag,
            manifest_digest=digest if digest != top else None,
        )

    def _load(self, desc: Mapping[str, Any], limit: int) -> bytes:
        digest = check_digest(self.client.display, "a descriptor", desc.get("digest", ""))
        mtype = str(desc.get("mediaType") or "")
        if mtype in (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST):
            path, headers = f"manifests/{digest}", {"Accept": ACCEPT}
        else:
            path, headers = f"blobs/{digest}", {}
        data = self.client.read_bytes(path, headers, limit, f"blob {digest}")
        return verify_bytes(self.client.display, f"blob {digest}", data, digest)

    def open_blob(self, layer: LayerInfo) -> Readable:
        resp = self.client.get(f"blobs/{layer.digest}", {})
        resp.raw.decode_content = False  # the digest is over the bytes as stored
        return _ResponseStream(resp)

    def close(self) -> None:
        self.client.session.close()


class _ResponseStream:
    """``resp.raw`` as a readable stream that closes its response."""

    def __init__(self, resp: requests.Response) -> None:
        self._resp = resp

    def read(self, n: int = -1) -> bytes:
        data: bytes = self._resp.raw.read(n if n >= 0 else None)
        return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._resp.close()

    def __enter__(self) -> _ResponseStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _digest_of(body: bytes) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(body).hexdigest()


def _ref_text(ref: Reference) -> str:
    text = ref.repository
    if ref.tag:
        text += f":{ref.tag}"
    if ref.digest:
        text += f"@{ref.digest}"
    return text
