"""Built distributions in the tree: wheels (``*.whl``) and sdists (``NAME-VERSION.tar.gz|.zip``).

A wheel is a zip whose ``NAME-VERSION.dist-info/METADATA`` names the package and its licenses;
any other ``*.dist-info/METADATA`` inside it (``pip/_vendor/...``) is a vendored package, listed
as a transitive component the wheel depends on. An sdist's ``NAME-VERSION/PKG-INFO`` names it.
Nothing is extracted to disk: the zip's central directory and one bounded member read are
enough, and a tarball is streamed until its ``PKG-INFO`` with bounded members and bytes. Model
files inside wheels are the model scanner's business: it opens zips by content.
"""

from __future__ import annotations

import gzip
import lzma
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from mlgate.inventory.interface import (
    ExtractContext,
    ExtractError,
    Extractor,
    ExtractResult,
    SourceFile,
)
from mlgate.inventory.pypi import pypi_purl
from mlgate.model import Component, Location, ScanWarning, Scope, normalize_name

MAX_MEMBERS = 100_000  # a large wheel (torch) holds ~15,000 files
MAX_METADATA_BYTES = 1024 * 1024
MAX_SDIST_BYTES = 512 * 1024 * 1024  # decompressed bytes streamed before giving up on PKG-INFO
MAX_TAR_HEADER_BYTES = 1024 * 1024  # pax / GNU long-name records (real ones: a few hundred bytes)
PROP_ARTIFACT = "mlgate:artifact"  # wheel | sdist
PROP_VENDORED_IN = "mlgate:vendored-in"
# What zipfile raises on a member it cannot give back: encrypted (RuntimeError), an unknown
# compression method (NotImplementedError), a bad CRC (BadZipFile), damaged compressed data.
ZIP_MEMBER_ERRORS = (
    RuntimeError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
)


def _metadata(raw: bytes) -> tuple[str, str, tuple[str, ...]] | None:
    # imported here: the license parser is only needed when there is a distribution to read
    from mlgate.policy.licenses import licenses_from_metadata

    return licenses_from_metadata(raw)


def _component(
    name: str,
    version: str,
    licenses: tuple[str, ...],
    location: Location,
    *,
    scope: Scope,
    props: tuple[tuple[str, str], ...],
    depends_on: tuple[str, ...] = (),
) -> Component:
    return Component(
        ecosystem="PyPI",
        name=name,
        version=version,
        purl=pypi_purl(name, version),
        scope=scope,
        declared_in=(location,),
        licenses=licenses,
        properties=tuple(sorted(props)),
        depends_on=depends_on,
    )


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes | None:
    """The member's bytes (None when it is too large); ExtractError when it cannot be read."""
    if info.file_size > MAX_METADATA_BYTES:
        return None
    try:
        with zf.open(info) as fh:
            return fh.read(MAX_METADATA_BYTES + 1)[:MAX_METADATA_BYTES]
    except ZIP_MEMBER_ERRORS as exc:
        raise ExtractError(f"{info.filename}: not readable: {exc}") from None


class _TooManyMembers(ExtractError):
    pass


def open_zip(path: Path, size: int) -> zipfile.ZipFile:
    """The zip, once its member count is known to be within the bound: zipfile lists the whole
    central directory in memory, our own reader stops at the bound."""
    from mlgate.inspect.archives import ZipFormatError, ZipReader

    try:
        with path.open("rb") as fh:
            too_many = ZipReader(fh, size, MAX_MEMBERS).too_many
        if too_many:
            raise _TooManyMembers(f"more than {MAX_MEMBERS} members; not read")
        return zipfile.ZipFile(path)
    # NotImplementedError: a member needs a newer zip version than zipfile knows
    except (
        ZipFormatError,
        struct.error,
        zipfile.BadZipFile,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as exc:
        raise ExtractError(f"not a readable zip: {exc}") from None


class WheelExtractor(Extractor):
    """``*.whl``: the wheel's own package and the packages vendored inside it."""

    name = "wheel"
    patterns = ("*.whl",)

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        try:
            fname, fversion, _, _ = parse_wheel_filename(file.name)
        except InvalidWheelFilename as exc:
            raise ExtractError(f"not a wheel file name: {exc}") from None
        result = ExtractResult()
        main: tuple[str, str, tuple[str, ...], str] | None = None
        vendored: list[tuple[str, str, tuple[str, ...], str]] = []
        with open_zip(file.path, file.size) as zf:
            for info in zf.infolist():
                member = info.filename
                if not member.endswith(".dist-info/METADATA"):
                    continue
                try:
                    raw = read_member(zf, info)
                except ExtractError as exc:
                    result.warnings.append(ScanWarning(f"{file.relpath}!{member}", str(exc)))
                    continue
                parsed = _metadata(raw) if raw is not None else None
                if parsed is None:
                    why = "too large" if raw is None else "without Name or Version"
                    result.warnings.append(
                        ScanWarning(f"{file.relpath}!{member}", f"package metadata {why}; skipped")
                    )
                    continue
                if member.count("/") == 1 and main is None:
                    main = (*parsed, member)
                else:
                    vendored.append((*parsed, member))
        if main is None:
            result.warnings.append(
                ScanWarning(
                    file.relpath,
                    "wheel without a readable .dist-info/METADATA; "
                    "name and version taken from the file name",
                )
            )
            main = (str(fname), str(fversion), (), "")
        name, version, licenses, member = main
        props = ((PROP_ARTIFACT, "wheel"),)
        for vname, vversion, vlic, vmember in vendored:
            result.components.append(
                _component(
                    vname,
                    vversion,
                    vlic,
                    Location(file.relpath, member=vmember),
                    scope=Scope.TRANSITIVE,
                    props=(*props, (PROP_VENDORED_IN, name)),
                )
            )
        result.components.append(
            _component(
                name,
                version,
                licenses,
                Location(file.relpath, member=member or None),
                scope=Scope.DIRECT,
                props=props,
                depends_on=tuple(sorted({normalize_name("PyPI", v[0]) for v in vendored})),
            )
        )
        return result


_LONG_HEADERS = frozenset(
    {
        tarfile.XHDTYPE,
        tarfile.XGLTYPE,
        tarfile.SOLARIS_XHDTYPE,
        tarfile.GNUTYPE_LONGNAME,
        tarfile.GNUTYPE_LONGLINK,
    }
)


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads pax and GNU long-name headers whole into memory: a size beyond any real
    header is refused before that read."""

    def _proc_member(self, tarfile: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _LONG_HEADERS and self.size > MAX_TAR_HEADER_BYTES:
            raise ExtractError(f"a {self.size}-byte extended tar header; not read")
        return super()._proc_member(tarfile)  # type: ignore[misc,no-any-return]


class _Bounded:
    """A read-only stream that refuses to give more than ``limit`` bytes."""

    def __init__(self, fh: gzip.GzipFile, limit: int) -> None:
        self.fh, self.left = fh, limit

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise ExtractError(f"PKG-INFO not found in the first {MAX_SDIST_BYTES} bytes")
        data = self.fh.read(self.left if n < 0 else min(n, self.left))
        self.left -= len(data)
        return data


class SdistExtractor(Extractor):
    """``NAME-VERSION.tar.gz`` / ``.zip`` source distributions, by their ``PKG-INFO``."""

    name = "sdist"
    patterns = ("*.tar.gz", "*.zip")

    def matches(self, file: SourceFile) -> bool:
        if not super().matches(file):
            return False
        try:
            parse_sdist_filename(file.name)
        except InvalidSdistFilename:
            return False
        return True

    def _pkg_info(self, file: SourceFile) -> tuple[bytes | None, str]:
        if file.name.endswith(".zip"):
            try:
                zf = open_zip(file.path, file.size)
            except _TooManyMembers:
                return None, ""  # more files than any sdist: a data archive named like one
            with zf:
                for info in zf.infolist():
                    if info.filename.count("/") == 1 and info.filename.endswith("/PKG-INFO"):
                        return read_member(zf, info), info.filename
            return None, ""
        try:
            with gzip.open(file.path, "rb") as gz:
                stream = _Bounded(gz, MAX_SDIST_BYTES)
                with tarfile.open(  # type: ignore[call-overload]
                    fileobj=stream, mode="r|", tarinfo=_BoundedTarInfo
                ) as tf:
                    for count, member in enumerate(tf):
                        if count >= MAX_MEMBERS:
                            raise ExtractError(
                                f"PKG-INFO not among the first {MAX_MEMBERS} members"
                            )
                        name = member.name.removeprefix("./")
                        if name.count("/") == 1 and name.endswith("/PKG-INFO") and member.isfile():
                            if member.size > MAX_METADATA_BYTES:
                                return None, name
                            fh = tf.extractfile(member)
                            return (fh.read(MAX_METADATA_BYTES) if fh else None), name
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise ExtractError(f"not a readable tar.gz: {exc}") from None
        return None, ""

    def extract(self, file: SourceFile, ctx: ExtractContext) -> ExtractResult:
        result = ExtractResult()
        raw, member = self._pkg_info(file)
        if not member:
            return result  # a tarball named like an sdist that is not one: nothing to say
        parsed = _metadata(raw) if raw is not None else None
        if parsed is None:
            raise ExtractError(f"{member}: package metadata too large or without Name/Version")
        name, version, licenses = parsed
        result.components.append(
            _component(
                name,
                version,
                licenses,
                Location(file.relpath, member=member),
                scope=Scope.DIRECT,
                props=((PROP_ARTIFACT, "sdist"),),
            )
        )
        return result
