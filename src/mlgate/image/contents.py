"""The inventory of an image: which files the layer walk captures, and what they make.

:class:`ImageSelector` tells the reader what to keep: os-release, the dpkg/apk/rpm databases,
Python core metadata under any ``site-packages``/``dist-packages``, and model files recognised
by content (:func:`mlgate.formats.sniff`). :func:`image_inventory` turns the captured files into
components: the image itself (kind ``container``) and below it OS packages and Python packages,
each located at ``<image>:/path`` with the digest of the layer the file came from.

OS packages keep their binary name (what the SBOM and other scanners list). Debian, Ubuntu and
Alpine advise per source package: those carry it (``mlgate:osv-name``, ``mlgate:osv-version``)
and the enrich stage queries it instead. RPM advisories list binary packages: rpm packages are
queried by their own name.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packageurl import PackageURL

from mlgate.enrich import PROP_OSV_NAME, PROP_OSV_VERSION
from mlgate.formats import FormatKind, sniff
from mlgate.image.apk import ApkFormatError, parse_installed
from mlgate.image.dpkg import DebFormatError, parse_status
from mlgate.image.interface import Capture, ImageContents, ImageFile, ImageMeta
from mlgate.image.osrelease import OsRelease, parse_os_release
from mlgate.image.rpm import SQLITE_MAGIC, RpmFormatError, parse_rpmdb
from mlgate.inventory.pypi import pypi_purl
from mlgate.model import (
    Component,
    ComponentKind,
    Finding,
    Hash,
    Location,
    ScanWarning,
    Scope,
    Severity,
)

OS_RELEASE_PATHS = ("/etc/os-release", "/usr/lib/os-release")
DPKG_STATUS = "/var/lib/dpkg/status"
DPKG_STATUS_D = "/var/lib/dpkg/status.d/"
DPKG_INFO = "/var/lib/dpkg/info/"  # <package>[:arch].list: the files each package installed
APK_INSTALLED = "/lib/apk/db/installed"
RPM_SQLITE = (
    "/var/lib/rpm/rpmdb.sqlite",
    "/var/lib/rpm/Packages.db",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/Packages.db",
)
RPM_BDB = ("/var/lib/rpm/Packages", "/usr/lib/sysimage/rpm/Packages")
SITE_DIRS = ("/site-packages/", "/dist-packages/")
_DATABASES = frozenset({*OS_RELEASE_PATHS, DPKG_STATUS, APK_INSTALLED})
MAX_DATABASE_BYTES = 64 * 1024 * 1024  # a dpkg status of a large image is a few MB
MAX_METADATA_BYTES = 4 * 1024 * 1024
# Compressed files in these folders are documentation (changelog.gz, man pages), not shipped
# models: spooling and scanning thousands of them would dominate the scan of any distribution
# image. Only single compressed streams are skipped: a zip or tar hidden there is still read.
DOC_STREAM_FORMATS = frozenset({"gzip", "bz2", "xz", "zlib", "lzma"})
ARCHIVE_SKIP_PREFIXES = (
    "/usr/share/doc/",
    "/usr/share/man/",
    "/usr/share/info/",
    "/usr/share/locale/",
    "/usr/share/i18n/",
    "/usr/share/zoneinfo/",
)

CODE_TRAVERSAL = "image-traversal"  # the reader's warning code for an escaping member
RULE_TRAVERSAL = "MLG-IMAGE-PATH-TRAVERSAL"
PROP_CONTAINER = "mlgate:container"  # bom-ref of the image a component was found in
PROP_LAYER = "mlgate:layer"
PROP_SOURCE_PACKAGE = "mlgate:source-package"  # rpm: the source rpm's name
PROP_SOURCE = "mlgate:image-source"  # registry | oci-layout | archive
PROP_USER = "mlgate:image-user"
PROP_CREATED = "mlgate:image-created"
PROP_PORTS = "mlgate:image-exposed-ports"
PROP_BASE_NAME = "mlgate:image-base-name"
PROP_BASE_DIGEST = "mlgate:image-base-digest"
PROP_REF = "mlgate:image-ref"
BASE_NAME_LABEL = "org.opencontainers.image.base.name"
BASE_DIGEST_LABEL = "org.opencontainers.image.base.digest"


_SITE_NAMES = ("site-packages", "dist-packages")


def _is_metadata(path: str) -> bool:
    """Core metadata of an installed Python distribution under a site/dist-packages folder."""
    if not any(d in path for d in SITE_DIRS):
        return False
    parent, _, base = path.rpartition("/")
    return (
        (base == "METADATA" and parent.endswith(".dist-info"))
        or (base == "PKG-INFO" and parent.endswith(".egg-info"))
        # distutils-era installs write the metadata as one file named NAME-VER.egg-info
        or (base.endswith(".egg-info") and parent.rpartition("/")[2] in _SITE_NAMES)
    )


@dataclass
class ImageSelector:
    """What the layer walk keeps (a :data:`~mlgate.image.interface.Selector`).

    Oversized databases and metadata are remembered so the inventory can say they were skipped.
    """

    models: bool = True
    oversized: dict[str, int] = field(default_factory=dict)
    bdb_seen: set[str] = field(default_factory=set)

    def _bounded(self, path: str, size: int, limit: int) -> Capture:
        if size > limit:
            self.oversized[path] = size
            return Capture.SKIP
        return Capture.MEMORY

    def __call__(self, path: str, size: int, head: bytes) -> Capture:
        if path in _DATABASES:
            return self._bounded(path, size, MAX_DATABASE_BYTES)
        if path.startswith(DPKG_STATUS_D) and not path.endswith(".md5sums"):
            return self._bounded(path, size, MAX_DATABASE_BYTES)
        if path.startswith(DPKG_INFO) and path.endswith(".list"):
            return self._bounded(path, size, MAX_DATABASE_BYTES)
        if path in RPM_SQLITE:
            return Capture.SPOOL  # sqlite reads it as a file
        if path in RPM_BDB:
            self.bdb_seen.add(path)
            return Capture.SKIP
        if _is_metadata(path):
            return self._bounded(path, size, MAX_METADATA_BYTES)
        if not self.models or size == 0:
            return Capture.SKIP
        try:
            found = sniff(head, path, size)
        except Exception:  # a selector must not raise: an unsniffable file is not captured
            return Capture.SKIP
        if found is None or found.kind is FormatKind.DATA:
            return Capture.SKIP
        if found.format in DOC_STREAM_FORMATS and path.startswith(ARCHIVE_SKIP_PREFIXES):
            return Capture.SKIP
        return Capture.SPOOL


@dataclass
class ImageInventory:
    container: Component
    components: list[Component] = field(default_factory=list)  # below the container
    warnings: list[ScanWarning] = field(default_factory=list)
    model_paths: list[str] = field(default_factory=list)  # spool paths, relative to spool_root
    os: OsRelease | None = None


def image_location(meta: ImageMeta, path: str, line: int | None = None) -> Location:
    """``<image>:/path``: the image as displayed (name@digest), then the path inside it."""
    return Location(f"{meta.display}:{path}", line)


def _registry_of(meta: ImageMeta) -> str:
    first, _, rest = meta.name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first
    return ""


def container_component(meta: ImageMeta) -> Component:
    """The image itself: name, tag or digest as version, config facts the policy checks."""
    config = meta.config.get("config") if isinstance(meta.config, dict) else None
    config = config if isinstance(config, dict) else {}
    labels = config.get("Labels") if isinstance(config.get("Labels"), dict) else {}
    props: list[tuple[str, str]] = [
        (PROP_REF, meta.ref),
        (PROP_SOURCE, meta.source_kind),
        ("mlgate:image-platform", meta.platform),
        (PROP_USER, str(config.get("User") or "")),
    ]
    created = meta.config.get("created") if isinstance(meta.config, dict) else None
    if isinstance(created, str) and created:
        props.append((PROP_CREATED, created))
    ports = config.get("ExposedPorts")
    if isinstance(ports, dict) and ports:
        props.append((PROP_PORTS, ",".join(sorted(str(p) for p in ports))))
    if isinstance(labels, dict):
        base_labels = ((BASE_NAME_LABEL, PROP_BASE_NAME), (BASE_DIGEST_LABEL, PROP_BASE_DIGEST))
        for label, prop in base_labels:
            value = labels.get(label)
            if isinstance(value, str) and value:
                props.append((prop, value))
    if meta.source_kind == "registry":
        # what the source policy (sources.registries, require-digest) reads
        props.append(("docker:registry", _registry_of(meta)))
        props.append(("docker:pinned-by-digest", "true" if "@sha256:" in meta.ref else "false"))
    hashes: tuple[Hash, ...] = ()
    purl = None
    if meta.digest and meta.digest.startswith("sha256:"):
        hashes = (Hash("SHA-256", meta.digest.removeprefix("sha256:")),)
        # a name under a registry host is a repository; a layout or tarball path is not one
        qualifiers = {"repository_url": meta.name} if _registry_of(meta) else {}
        if meta.tag:
            qualifiers["tag"] = meta.tag
        arch = meta.platform.split("/")[1] if meta.platform.count("/") >= 1 else ""
        if arch:
            qualifiers["arch"] = arch
        purl = PackageURL(
            type="oci",
            name=meta.name.rpartition("/")[2].lower(),
            version=meta.digest,
            qualifiers=qualifiers,
        ).to_string()
    return Component(
        ecosystem="",
        name=meta.name,
        version=meta.tag or meta.digest,
        kind=ComponentKind.CONTAINER,
        purl=purl,
        scope=Scope.DIRECT,
        declared_in=(Location(meta.display),),
        hashes=hashes,
        properties=tuple(sorted(props)),
    )


def _text(file: ImageFile) -> str:
    return (file.data or b"").decode("utf-8", "replace")


class _Builder:
    def __init__(self, contents: ImageContents, selector: ImageSelector | None) -> None:
        self.contents = contents
        self.meta = contents.meta
        self.container = container_component(self.meta)
        self.out = ImageInventory(container=self.container)
        self.selector = selector
        # Python metadata files an OS package installed (python3-six, py3-six): the distribution
        # advises those, so they are not PyPI components too
        self.os_owned: set[str] = set()

    def warn(self, path: str, message: str, line: int | None = None) -> None:
        self.out.warnings.append(
            ScanWarning(f"{self.meta.display}:{path}", message, line=line, code="image")
        )

    def props(self, file: ImageFile, *extra: tuple[str, str]) -> tuple[tuple[str, str], ...]:
        base = [(PROP_CONTAINER, self.container.bom_ref), (PROP_LAYER, file.layer), *extra]
        return tuple(sorted(base))

    def os_release(self) -> OsRelease | None:
        for path in OS_RELEASE_PATHS:
            file = self.contents.files.get(path)
            if file is not None and file.data is not None:
                return parse_os_release(file.data)
        return None

    def _ecosystem(self, osr: OsRelease | None, what: str, path: str) -> str:
        eco = osr.ecosystem if osr is not None else ""
        if not eco:
            name = (osr.pretty_name or osr.id) if osr is not None else "an unknown distribution"
            self.warn(
                path,
                f"{what} of {name or 'an unknown distribution'}: OSV has no advisories for "
                "this distribution; its packages are listed but not checked for vulnerabilities",
            )
        return eco

    def os_package(
        self,
        ecosystem: str,
        purl: tuple[str, str, str, dict[str, str]],  # type, namespace, version, qualifiers
        name: str,
        version: str,
        location: Location,
        licenses: tuple[str, ...],
        properties: tuple[tuple[str, str], ...],
    ) -> None:
        """One package of the distribution's database (dpkg, apk, rpm) as a component."""
        purl_type, namespace, purl_version, qualifiers = purl
        self.out.components.append(
            Component(
                ecosystem=ecosystem,
                name=name,
                version=version,
                kind=ComponentKind.OS_PACKAGE,
                purl=PackageURL(
                    type=purl_type,
                    namespace=namespace,
                    name=name,
                    version=purl_version,
                    qualifiers=qualifiers,
                ).to_string(),
                scope=Scope.TRANSITIVE,
                declared_in=(location,),
                licenses=licenses,
                properties=properties,
            )
        )

    # -- dpkg ------------------------------------------------------------------------------
    def dpkg(self, osr: OsRelease | None) -> None:
        paths = [DPKG_STATUS] if DPKG_STATUS in self.contents.files else []
        paths += sorted(p for p in self.contents.files if p.startswith(DPKG_STATUS_D))
        if not paths:
            return
        eco = self._ecosystem(osr, "dpkg packages", paths[0])
        namespace = osr.purl_namespace if osr is not None and osr.id else "debian"
        distro = osr.distro_qualifier if osr is not None else ""
        for path in paths:
            file = self.contents.files[path]
            try:
                packages, problems = parse_status(_text(file))
            except DebFormatError as exc:
                self.warn(path, f"dpkg status not read: {exc}", exc.line)
                continue
            for line, problem in problems:
                self.warn(path, problem, line)
            for pkg in packages:
                version = pkg.version
                qualifiers = {"arch": pkg.arch} if pkg.arch else {}
                epoch, sep, rest = version.partition(":")
                if sep and epoch.isdigit():
                    qualifiers["epoch"] = epoch
                    version = rest
                if pkg.source != pkg.name:
                    qualifiers["upstream"] = pkg.source
                if distro:
                    qualifiers["distro"] = distro
                self.os_package(
                    eco,
                    ("deb", namespace, version, qualifiers),
                    pkg.name,
                    pkg.version,
                    image_location(self.meta, path, pkg.line),
                    (),
                    self.props(
                        file,
                        (PROP_OSV_NAME, pkg.source),
                        (PROP_OSV_VERSION, pkg.source_version),
                    ),
                )

    def dpkg_owned(self) -> None:
        """The Python metadata files listed in dpkg's per-package file lists."""
        for path, file in self.contents.files.items():
            if path.startswith(DPKG_INFO) and path.endswith(".list"):
                for line in _text(file).splitlines():
                    if _is_metadata(line):
                        self.os_owned.add(line)

    # -- apk -------------------------------------------------------------------------------
    def apk(self, osr: OsRelease | None) -> None:
        file = self.contents.files.get(APK_INSTALLED)
        if file is None:
            return
        eco = self._ecosystem(osr, "apk packages", APK_INSTALLED)
        namespace = osr.purl_namespace if osr is not None and osr.id else "alpine"
        distro = osr.distro_qualifier if osr is not None else ""
        try:
            packages, problems = parse_installed(_text(file))
        except ApkFormatError as exc:
            self.warn(APK_INSTALLED, f"apk database not read: {exc}", exc.line)
            return
        for line, problem in problems:
            self.warn(APK_INSTALLED, problem, line)
        for pkg in packages:
            self.os_owned.update(pkg.python_metadata)
            qualifiers = {"arch": pkg.arch} if pkg.arch else {}
            if distro:
                qualifiers["distro"] = distro
            if pkg.origin != pkg.name:
                qualifiers["upstream"] = pkg.origin
            self.os_package(
                eco,
                ("apk", namespace, pkg.version, qualifiers),
                pkg.name,
                pkg.version,
                image_location(self.meta, APK_INSTALLED, pkg.line),
                _licenses(pkg.license),
                self.props(file, (PROP_OSV_NAME, pkg.origin), (PROP_OSV_VERSION, pkg.version)),
            )

    # -- rpm -------------------------------------------------------------------------------
    def rpm(self, osr: OsRelease | None) -> None:
        found = [p for p in RPM_SQLITE if p in self.contents.files]
        if not found:
            if self.selector is not None and self.selector.bdb_seen:
                path = sorted(self.selector.bdb_seen)[0]
                self.warn(
                    path,
                    "Berkeley DB rpm database is not read (only the sqlite rpmdb of current "
                    "releases is); rpm packages of this image are not listed",
                )
            return
        path = found[0]
        file = self.contents.files[path]
        spool = self._spool_path(file)
        if spool is None:
            self.warn(path, "rpm database was not captured; rpm packages are not listed")
            return
        try:
            with spool.open("rb") as fh:
                magic = fh.read(len(SQLITE_MAGIC))
        except OSError as exc:
            self.warn(path, f"rpm database not readable: {exc.strerror}")
            return
        if magic != SQLITE_MAGIC:
            self.warn(path, "rpm database is not sqlite (ndb or Berkeley DB); not read")
            return
        try:
            packages, problems = parse_rpmdb(spool)
        except (sqlite3.Error, RpmFormatError) as exc:
            self.warn(path, f"rpm database not read: {exc}")
            return
        for row, problem in problems:
            self.warn(path, problem, row)
        eco = self._ecosystem(osr, "rpm packages", path)
        namespace = osr.purl_namespace if osr is not None and osr.id else "rpm"
        distro = osr.distro_qualifier if osr is not None else ""
        for pkg in packages:
            self.os_owned.update(pkg.python_metadata)
            version = pkg.version.partition(":")[2] if pkg.epoch else pkg.version
            qualifiers = {"arch": pkg.arch} if pkg.arch else {}
            if pkg.epoch:
                qualifiers["epoch"] = str(pkg.epoch)
            if distro:
                qualifiers["distro"] = distro
            # Red Hat, Rocky, Alma and SUSE advisories list every binary rpm they fix: OSV is
            # asked about the package's own name (the source rpm is only recorded)
            source = ((PROP_SOURCE_PACKAGE, pkg.source_name),) if pkg.source_name else ()
            self.os_package(
                eco,
                ("rpm", namespace, version, qualifiers),
                pkg.name,
                pkg.version,
                image_location(self.meta, path),
                _licenses(pkg.license),
                self.props(file, *source),
            )

    # -- Python ----------------------------------------------------------------------------
    def python(self) -> None:
        from mlgate.policy.licenses import licenses_from_metadata

        for path in sorted(self.contents.files):
            if not _is_metadata(path) or path in self.os_owned:
                continue
            file = self.contents.files[path]
            if file.data is None:
                continue
            parsed = licenses_from_metadata(file.data)
            if parsed is None:
                self.warn(path, "Python package metadata without Name or Version; skipped")
                continue
            name, version, licenses = parsed
            self.out.components.append(
                Component(
                    ecosystem="PyPI",
                    name=name,
                    version=version,
                    kind=ComponentKind.LIBRARY,
                    purl=pypi_purl(name, version),
                    scope=Scope.TRANSITIVE,
                    declared_in=(image_location(self.meta, path),),
                    licenses=licenses,
                    properties=self.props(file),
                )
            )

    # -- models ----------------------------------------------------------------------------
    def _spool_path(self, file: ImageFile) -> Path | None:
        root = self.contents.spool_root
        if root is None or file.spool is None:
            return None
        return root / file.spool

    def models(self) -> None:
        covered = set(RPM_SQLITE)
        for path in sorted(self.contents.files):
            file = self.contents.files[path]
            if path in covered or file.spool is None:
                continue
            spool = self._spool_path(file)
            if spool is None:
                continue
            try:
                digest = _sha256(spool)
                with spool.open("rb") as fh:
                    head = fh.read(4096)
            except OSError as exc:
                self.warn(path, f"spooled copy not readable: {exc.strerror}")
                continue
            found = sniff(head, path, file.size)
            self.out.model_paths.append(file.spool)
            props = [("mlgate:external", "true"), ("size", str(file.size))]
            if found is not None:
                props.append(("format", found.format))
            kind = ComponentKind.MODEL
            self.out.components.append(
                Component(
                    ecosystem="",
                    name=f"{self.meta.display}:{path}",
                    version=None,
                    kind=kind,
                    declared_in=(image_location(self.meta, path),),
                    hashes=(Hash("SHA-256", digest),),
                    properties=self.props(file, *props),
                )
            )

    def oversized(self) -> None:
        if self.selector is None:
            return
        for path, size in sorted(self.selector.oversized.items()):
            self.warn(path, f"{size} bytes: larger than the bound for package metadata; not read")


def _licenses(text: str) -> tuple[str, ...]:
    from mlgate.policy.licenses import normalize_expression

    text = text.strip()
    if not text:
        return ()
    return (normalize_expression(text) or text,)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def image_inventory(
    contents: ImageContents, selector: ImageSelector | None = None
) -> ImageInventory:
    """Components (the container and what it holds), warnings, and the model files to scan."""
    builder = _Builder(contents, selector)
    osr = builder.os_release()
    builder.out.os = osr
    builder.dpkg(osr)
    builder.dpkg_owned()
    builder.apk(osr)
    builder.rpm(osr)
    builder.python()
    builder.models()
    builder.oversized()
    builder.out.warnings[:0] = [w for w in contents.warnings if w.code != CODE_TRAVERSAL]
    return builder.out


def layer_findings(contents: ImageContents) -> list[Finding]:
    """Hostile layer content the reader refused (members escaping the root) as findings: a
    tool that extracts the layer naively would write outside its folder."""
    out = []
    for warning in contents.warnings:
        if warning.code != CODE_TRAVERSAL:
            continue
        out.append(
            Finding(
                rule_id=RULE_TRAVERSAL,
                kind="model",
                severity=Severity.HIGH,
                message=f"{warning.message} (path traversal in a layer: extracting it with a "
                "naive tool writes outside the target folder)",
                location=Location(contents.meta.display),
                trigger=warning.message[:200],
                fix="rebuild the image from trusted sources; do not extract its layers by hand",
            )
        )
    return out


def nested(components: Sequence[Component], container: Component) -> list[Component]:
    """The components found in ``container`` (by their ``mlgate:container`` property)."""
    ref = container.bom_ref
    return [c for c in components if (PROP_CONTAINER, ref) in c.properties]
