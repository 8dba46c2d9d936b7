"""The inventory of an image from captured files: os-release, dpkg, apk, rpm, Python, models.

The files are real formats written here (and this machine's own dpkg database when it has one);
the ImageContents values are what the layer walk hands over.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgate.image import relocate, scan_contents
from mlgate.image.contents import ImageSelector, image_inventory
from mlgate.image.dpkg import DebFormatError, parse_status
from mlgate.image.interface import Capture, ImageContents, ImageFile, ImageMeta
from mlgate.image.osrelease import parse_os_release
from mlgate.image.rpm import RpmFormatError, parse_header, source_name
from mlgate.model import ComponentKind, Location
from tests.image.rpmdb import header_blob, write_rpmdb
from tests.inspect.samples import call

DIGEST = "sha256:" + "ab" * 32
LAYER1 = "sha256:" + "11" * 32
LAYER2 = "sha256:" + "22" * 32

DEBIAN_OS = b"""PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
ID=debian
"""
STATUS = """Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2
Description: Secure Sockets Layer toolkit - shared libraries
 This package is part of the OpenSSL project.

Package: removed-thing
Status: deinstall ok config-files
Version: 1.0

Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14+deb12u1

Package: bsdutils
Status: install ok installed
Architecture: amd64
Source: util-linux (2.38.1-5)
Version: 1:2.38.1-5+deb12u1
"""
APK = """C:Q1abc=
P:musl
V:1.2.4_git20230717-r4
A:x86_64
L:MIT
o:musl
F:lib
R:ld-musl-x86_64.so.1

P:libcrypto3
V:3.1.4-r5
A:x86_64
L:Apache-2.0
o:openssl
"""
METADATA = b"""Metadata-Version: 2.1
Name: Requests
Version: 2.31.0
License: Apache 2.0
Classifier: License :: OSI Approved :: Apache Software License

Long description here.
"""


def meta(**changes: object) -> ImageMeta:
    values: dict[str, object] = {
        "ref": "registry.example:5000/team/serve:1.0",
        "name": "registry.example:5000/team/serve",
        "digest": DIGEST,
        "platform": "linux/amd64",
        "source_kind": "registry",
        "config": {"config": {"User": ""}, "created": "2020-01-01T00:00:00Z"},
        "tag": "1.0",
    }
    values.update(changes)
    return ImageMeta(**values)  # type: ignore[arg-type]


def mem(path: str, data: bytes, layer: str = LAYER1) -> ImageFile:
    return ImageFile(path=path, layer=layer, size=len(data), data=data)


def contents(*files: ImageFile, spool_root: Path | None = None, **kw: object) -> ImageContents:
    return ImageContents(meta=meta(**kw), files={f.path: f for f in files}, spool_root=spool_root)


def by_name(components, name):  # type: ignore[no-untyped-def]
    return next(c for c in components if c.name == name)


# -- os-release ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ecosystem"),
    [
        (DEBIAN_OS, "Debian:12"),
        (
            b'ID=ubuntu\nVERSION_ID="22.04"\nVERSION="22.04.3 LTS (Jammy Jellyfish)"\n',
            "Ubuntu:22.04:LTS",
        ),
        (b'ID=ubuntu\nVERSION_ID="23.10"\nVERSION="23.10 (Mantic Minotaur)"\n', "Ubuntu:23.10"),
        (b"ID=ubuntu\nVERSION_ID=24.04\n", "Ubuntu:24.04:LTS"),
        (b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n', "Alpine:v3.19"),
        (b'ID="rocky"\nVERSION_ID="9.3"\n', "Rocky Linux:9"),
        (b'ID="almalinux"\nVERSION_ID="8.9"\n', "AlmaLinux:8"),
        (b'ID=debian\nPRETTY_NAME="Debian GNU/Linux trixie/sid"\n', "Debian"),
        (b"ID=plan9\n", ""),
        # OSV spells openSUSE by product and release, not by PRETTY_NAME
        (
            b'ID="opensuse-leap"\nVERSION_ID="15.5"\nPRETTY_NAME="openSUSE Leap 15.5"\n',
            "openSUSE:Leap 15.5",
        ),
        (
            b'ID="opensuse-tumbleweed"\nVERSION_ID="20240801"\nPRETTY_NAME="openSUSE Tumbleweed"\n',
            "openSUSE:Tumbleweed",
        ),
        # SLE files packages under the module that ships them (not in os-release): the family
        (
            b'ID="sles"\nVERSION_ID="15.5"\nPRETTY_NAME="SUSE Linux Enterprise Server 15 SP5"\n',
            "SUSE",
        ),
    ],
)
def test_os_release_to_osv_ecosystem(text: bytes, ecosystem: str) -> None:
    assert parse_os_release(text).ecosystem == ecosystem


def test_os_release_of_this_machine_parses() -> None:
    path = Path("/etc/os-release")
    if not path.is_file():
        pytest.skip("no /etc/os-release here")
    osr = parse_os_release(path.read_bytes())
    assert osr.id
    if osr.id == "debian" and osr.version_id:
        assert osr.ecosystem == f"Debian:{osr.version_id.split('.')[0]}"


# -- dpkg ---------------------------------------------------------------------------------------


def test_dpkg_status_source_packages_and_purls() -> None:
    inv = image_inventory(
        contents(mem("/etc/os-release", DEBIAN_OS), mem("/var/lib/dpkg/status", STATUS.encode()))
    )
    names = sorted(c.name for c in inv.components)
    assert names == ["bsdutils", "libgcc-s1", "libssl3"]  # the removed package is not listed
    ssl = by_name(inv.components, "libssl3")
    assert ssl.kind is ComponentKind.OS_PACKAGE
    assert ssl.ecosystem == "Debian:12"
    assert ssl.prop("mlgate:osv-name") == "openssl"
    assert ssl.prop("mlgate:osv-version") == "3.0.11-1~deb12u2"
    assert ssl.prop("mlgate:layer") == LAYER1
    assert ssl.prop("mlgate:container") == inv.container.bom_ref
    assert ssl.purl == (
        "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"
    )
    assert ssl.declared_in == (
        Location(f"registry.example:5000/team/serve@{DIGEST}:/var/lib/dpkg/status", 1),
    )
    gcc = by_name(inv.components, "libgcc-s1")
    # "Source: name (version)": the source version differs from the binary's
    assert (gcc.prop("mlgate:osv-name"), gcc.prop("mlgate:osv-version")) == ("gcc-12", "12.2.0-14")
    bsd = by_name(inv.components, "bsdutils")
    assert bsd.version == "1:2.38.1-5+deb12u1"
    assert "epoch=1" in (bsd.purl or "") and "@2.38.1-5%2Bdeb12u1" in (bsd.purl or "")


def test_distroless_status_d_and_a_malformed_file_is_a_warning() -> None:
    good = (
        "Package: base-files\nStatus: install ok installed\n"
        "Version: 12.4+deb12u5\nArchitecture: amd64\n"
    )
    inv = image_inventory(
        contents(
            mem("/etc/os-release", DEBIAN_OS),
            mem("/var/lib/dpkg/status.d/base-files", good.encode(), LAYER2),
            mem("/var/lib/dpkg/status.d/broken", b"this is not deb822\n"),
        )
    )
    assert [c.name for c in inv.components] == ["base-files"]
    assert by_name(inv.components, "base-files").prop("mlgate:layer") == LAYER2
    [warning] = inv.warnings
    assert (
        warning.path == f"registry.example:5000/team/serve@{DIGEST}:/var/lib/dpkg/status.d/broken"
    )
    assert warning.line == 1 and "Field: value" in warning.message


def test_dpkg_paragraph_without_version_is_reported_with_its_line() -> None:
    text = (
        "Package: a\nStatus: install ok installed\nVersion: 1\n\n"
        "Package: b\nStatus: install ok installed\n"
    )
    packages, problems = parse_status(text)
    assert [p.name for p in packages] == ["a"]
    assert problems == [(5, "package paragraph without Package or Version; skipped")]
    with pytest.raises(DebFormatError):
        parse_status(" continuation first\n")


def test_this_machines_dpkg_database() -> None:
    status = Path("/var/lib/dpkg/status")
    if not status.is_file():
        pytest.skip("no dpkg database on this machine")
    data = status.read_bytes()
    inv = image_inventory(
        contents(mem("/etc/os-release", DEBIAN_OS), mem("/var/lib/dpkg/status", data))
    )
    installed = data.count(b"\nStatus: install ok installed") + data.startswith(
        b"Status: install ok installed"
    )
    assert len(inv.components) == installed > 10
    assert not inv.warnings
    assert all(c.prop("mlgate:osv-name") for c in inv.components)


# -- apk and rpm ----------------------------------------------------------------------------------


def test_apk_installed_origin_and_license() -> None:
    osr = b"ID=alpine\nVERSION_ID=3.19.1\n"
    inv = image_inventory(
        contents(mem("/etc/os-release", osr), mem("/lib/apk/db/installed", APK.encode()))
    )
    crypto = by_name(inv.components, "libcrypto3")
    assert crypto.ecosystem == "Alpine:v3.19"
    assert crypto.prop("mlgate:osv-name") == "openssl"
    assert crypto.licenses == ("Apache-2.0",)
    assert crypto.purl == (
        "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1&upstream=openssl"
    )
    assert crypto.declared_in[0].line == 10
    assert by_name(inv.components, "musl").prop("mlgate:osv-name") == "musl"


def test_rpm_sqlite_database(tmp_path: Path) -> None:
    blobs = [
        header_blob(
            {
                "name": "openssl-libs", "version": "3.0.7", "release": "24.el9", "epoch": 1,
                "arch": "x86_64", "license": "ASL 2.0", "sourcerpm": "openssl-3.0.7-24.el9.src.rpm",
                "vendor": "Rocky Enterprise Software Foundation",
            }
        ),
        header_blob({"name": "gpg-pubkey", "version": "350d275d", "release": "6267fe38"}),
        header_blob({"name": "bash", "version": "5.1.8", "release": "6.el9", "arch": "x86_64",
                     "license": "GPLv3+", "sourcerpm": "bash-5.1.8-6.el9.src.rpm"}),
        b"\x00\x00\x00\x05\x00\x00\x00\x00",  # claims 5 entries, holds none
    ]  # fmt: skip
    spool = tmp_path / "spool"
    write_rpmdb(spool / "var/lib/rpm/rpmdb.sqlite", blobs)
    size = (spool / "var/lib/rpm/rpmdb.sqlite").stat().st_size
    rpmdb = ImageFile("/var/lib/rpm/rpmdb.sqlite", LAYER1, size, spool="var/lib/rpm/rpmdb.sqlite")
    osr = mem("/etc/os-release", b'ID="rocky"\nVERSION_ID="9.3"\n')
    inv = image_inventory(contents(osr, rpmdb, spool_root=spool))
    assert sorted(c.name for c in inv.components) == ["bash", "openssl-libs"]
    ssl = by_name(inv.components, "openssl-libs")
    assert ssl.version == "1:3.0.7-24.el9"
    assert ssl.ecosystem == "Rocky Linux:9"
    # RPM advisories list binary packages: openssl-libs is asked about, not its source openssl
    assert ssl.prop("mlgate:osv-name") is None
    assert ssl.prop("mlgate:source-package") == "openssl"
    assert (
        ssl.purl == "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"
    )
    assert ssl.licenses == ("ASL 2.0",)
    [warning] = inv.warnings
    assert "package header 4" in warning.message and warning.line == 4


def test_rpm_header_bounds() -> None:
    with pytest.raises(RpmFormatError, match="cut short"):
        parse_header(header_blob({"name": "x", "version": "1"})[:-3])
    bad = bytearray(header_blob({"name": "x", "version": "1"}))
    bad[8 + 8 : 8 + 12] = (10_000).to_bytes(4, "big")  # first entry's offset far outside
    with pytest.raises(RpmFormatError, match="outside"):
        parse_header(bytes(bad))
    assert source_name("glibc-2.34-83.el9.src.rpm") == "glibc"
    assert source_name("") == ""


SPEC = """Name: demo-libs
Version: 1.2.3
Release: 4.el9
Epoch: 2
Summary: demo
License: MIT
BuildArch: noarch
%description
demo
%files
"""


def rpm_database(tmp_path: Path, spec: str) -> Path:
    """Build the package of ``spec`` with rpmbuild and record it with ``rpm --justdb`` in a
    sqlite database at ``<tmp_path>/spool/var/lib/rpm/rpmdb.sqlite`` (skip without rpm)."""
    import shutil
    import subprocess

    if shutil.which("rpm") is None or shutil.which("rpmbuild") is None:
        pytest.skip("rpm/rpmbuild are not installed (apt-get install rpm)")
    top, dbpath = tmp_path / "build", tmp_path / "spool/var/lib/rpm"
    (top / "SPECS").mkdir(parents=True)
    dbpath.mkdir(parents=True)
    (top / "SPECS/package.spec").write_text(spec)
    sqlite = ["--define", "_db_backend sqlite"]
    build = [
        "rpmbuild",
        "--define",
        f"_topdir {top}",
        *sqlite,
        "-bb",
        str(top / "SPECS/package.spec"),
    ]
    subprocess.run(build, capture_output=True, check=True)
    [package] = (top / "RPMS").rglob("*.rpm")
    rpm = ["rpm", "--dbpath", str(dbpath), *sqlite]
    subprocess.run([*rpm, "--initdb"], capture_output=True, check=True)
    install = [*rpm, "-i", "--justdb", "--nodeps", "--nosignature", str(package)]
    subprocess.run(install, capture_output=True, check=True)
    return dbpath / "rpmdb.sqlite"


def test_real_rpm_database_written_by_rpm(tmp_path: Path) -> None:
    """rpmbuild makes a package, rpm records it (--justdb) in its own sqlite database."""
    db = rpm_database(tmp_path, SPEC)
    rel = "var/lib/rpm/rpmdb.sqlite"
    rpmdb = ImageFile("/var/lib/rpm/rpmdb.sqlite", LAYER1, db.stat().st_size, spool=rel)
    osr = mem("/etc/os-release", b'ID="almalinux"\nVERSION_ID="9.3"\n')
    inv = image_inventory(contents(rpmdb, osr, spool_root=tmp_path / "spool"))
    [comp] = inv.components
    assert (comp.name, comp.version, comp.ecosystem) == (
        "demo-libs",
        "2:1.2.3-4.el9",
        "AlmaLinux:9",
    )
    assert comp.licenses == ("MIT",) and comp.prop("mlgate:osv-name") is None
    assert comp.prop("mlgate:source-package") == "demo-libs"
    assert inv.warnings == []


def test_berkeley_db_and_non_sqlite_rpm_databases_are_warnings(tmp_path: Path) -> None:
    selector = ImageSelector()
    assert selector("/var/lib/rpm/Packages", 10_000, b"\x00" * 16) is Capture.SKIP
    inv = image_inventory(contents(mem("/etc/os-release", b"ID=centos\nVERSION_ID=7\n")), selector)
    assert any("Berkeley DB" in w.message for w in inv.warnings)
    (tmp_path / "var/lib/rpm").mkdir(parents=True)
    (tmp_path / "var/lib/rpm/Packages.db").write_bytes(b"\x00ndb" + b"\x00" * 60)
    ndb = ImageFile("/var/lib/rpm/Packages.db", LAYER1, 64, spool="var/lib/rpm/Packages.db")
    inv = image_inventory(contents(ndb, spool_root=tmp_path))
    assert [w.message for w in inv.warnings] == [
        "rpm database is not sqlite (ndb or Berkeley DB); not read"
    ]


# -- Python and the selector ----------------------------------------------------------------------


def test_python_metadata_in_site_packages() -> None:
    site = "/usr/local/lib/python3.11/site-packages"
    inv = image_inventory(
        contents(
            mem(f"{site}/requests-2.31.0.dist-info/METADATA", METADATA),
            mem(
                "/usr/lib/python3/dist-packages/six-1.16.0.egg-info",
                b"Metadata-Version: 1.1\nName: six\nVersion: 1.16.0\nLicense: MIT\n",
            ),
            mem(
                f"{site}/broken-1.0.dist-info/METADATA",
                b"Metadata-Version: 2.1\nSummary: no name\n",
            ),
        )
    )
    req = by_name(inv.components, "Requests")
    assert (req.ecosystem, req.version, req.purl) == ("PyPI", "2.31.0", "pkg:pypi/requests@2.31.0")
    assert req.licenses == ("Apache-2.0",)
    assert by_name(inv.components, "six").licenses == ("MIT",)
    [warning] = inv.warnings
    assert warning.path.endswith(
        ":/usr/local/lib/python3.11/site-packages/broken-1.0.dist-info/METADATA"
    )


def test_selector_captures_what_the_inventory_reads() -> None:
    sel = ImageSelector()
    pickle_head = call("os", "system", "id")
    assert sel("/etc/os-release", 200, b"ID=debian") is Capture.MEMORY
    assert sel("/var/lib/dpkg/status", 10, b"") is Capture.MEMORY
    assert sel("/var/lib/dpkg/status.d/libc6", 10, b"") is Capture.MEMORY
    assert sel("/var/lib/dpkg/status.d/libc6.md5sums", 10, b"") is Capture.SKIP
    assert sel("/lib/apk/db/installed", 10, b"") is Capture.MEMORY
    assert sel("/var/lib/rpm/rpmdb.sqlite", 10, b"SQLite format 3\x00") is Capture.SPOOL
    assert (
        sel("/opt/venv/lib/python3.11/site-packages/x-1.dist-info/METADATA", 10, b"")
        is Capture.MEMORY
    )
    assert sel("/opt/x-1.dist-info/METADATA", 10, b"") is Capture.SKIP  # not installed
    assert sel("/srv/model.bin", len(pickle_head), pickle_head) is Capture.SPOOL  # by content
    assert sel("/srv/notes.txt", 5, b"hello") is Capture.SKIP
    assert (
        sel("/usr/share/doc/libc6/changelog.Debian.gz", 40, b"\x1f\x8b\x08" + b"\x00" * 20)
        is Capture.SKIP
    )
    assert sel("/srv/weights.tar.gz", 40, b"\x1f\x8b\x08" + b"\x00" * 20) is Capture.SPOOL
    # only compressed documentation is skipped there: a zip or tar hidden among it is kept
    zip_head = b"PK\x03\x04" + b"\x00" * 40
    assert sel("/usr/share/doc/pkg/weights.zip", 44, zip_head) is Capture.SPOOL
    assert ImageSelector(models=False)("/srv/model.bin", 30, pickle_head) is Capture.SKIP
    big = ImageSelector()
    assert big("/var/lib/dpkg/status", 1 << 40, b"") is Capture.SKIP
    inv = image_inventory(contents(), big)
    assert "larger than the bound" in inv.warnings[0].message


# -- models and the container ---------------------------------------------------------------------


def test_model_files_are_scanned_and_located_in_the_image(tmp_path: Path) -> None:
    payload = call("os", "system", "touch /tmp/pwned")
    (tmp_path / "srv/models").mkdir(parents=True)
    (tmp_path / "srv/models/model.pkl").write_bytes(payload)
    model = ImageFile("/srv/models/model.pkl", LAYER2, len(payload), spool="srv/models/model.pkl")
    inv, findings = scan_contents(contents(model, spool_root=tmp_path), None)
    display = f"registry.example:5000/team/serve@{DIGEST}"
    [comp] = inv.components
    assert comp.kind is ComponentKind.MODEL and comp.name == f"{display}:/srv/models/model.pkl"
    assert comp.prop("format") == "pickle" and comp.prop("mlgate:layer") == LAYER2
    assert findings, "the os.system pickle must be found"
    assert {f.location.path for f in findings} == {f"{display}:/srv/models/model.pkl"}
    # the fingerprint is the one of the final location, not of the spool path
    for f in findings:
        assert f.fingerprint == f.compute_fingerprint()
    assert any("os" in (f.trigger or "") and "system" in (f.trigger or "") for f in findings)
    _, again = scan_contents(contents(model, spool_root=tmp_path), None, models=False)
    assert again == []


def test_relocate_recomputes_the_fingerprint() -> None:
    from mlgate.model import Finding, Severity

    spooled = Finding("MLG-X", "model", Severity.HIGH, "m", Location("srv/a.pkl"))
    moved = relocate(spooled, "img@sha256:00")
    assert moved.location.path == "img@sha256:00:/srv/a.pkl"
    assert moved.fingerprint != spooled.fingerprint
    assert moved.fingerprint == moved.compute_fingerprint()


def test_container_component_carries_the_config_facts() -> None:
    config = {
        "created": "2019-05-01T10:00:00Z",
        "config": {
            "User": "1000",
            "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
            "Labels": {"org.opencontainers.image.base.name": "registry.example/base:12"},
        },
    }
    inv = image_inventory(contents(config=config))
    c = inv.container
    assert c.kind is ComponentKind.CONTAINER
    assert (c.name, c.version) == ("registry.example:5000/team/serve", "1.0")
    assert c.purl == (
        "pkg:oci/serve@sha256:" + "ab" * 32
        + "?arch=amd64&repository_url=registry.example:5000/team/serve&tag=1.0"
    )  # fmt: skip
    assert c.prop("mlgate:image-user") == "1000"
    assert c.prop("mlgate:image-exposed-ports") == "8080/tcp,9090/tcp"
    assert c.prop("mlgate:image-created") == "2019-05-01T10:00:00Z"
    assert c.prop("mlgate:image-base-name") == "registry.example/base:12"
    assert c.prop("docker:registry") == "registry.example:5000"
    assert c.prop("docker:pinned-by-digest") == "false"
    local = image_inventory(
        contents(source_kind="oci-layout", digest=None, ref="./layout")
    ).container
    assert local.purl is None and local.prop("docker:registry") is None
    # a layout on disk has a digest but no repository: the purl names no local path as one
    layout = image_inventory(
        contents(source_kind="oci-layout", name="/home/ci/builds/serve-layout", ref="x", tag=None)
    ).container
    assert layout.purl == f"pkg:oci/serve-layout@{DIGEST}?arch=amd64"


def test_unknown_distribution_is_said_not_checked() -> None:
    inv = image_inventory(
        contents(
            mem("/etc/os-release", b"ID=plan9\n"), mem("/var/lib/dpkg/status", STATUS.encode())
        )
    )
    assert len(inv.components) == 3 and all(c.ecosystem == "" for c in inv.components)
    assert "not checked for vulnerabilities" in inv.warnings[0].message


def test_no_spool_root_leaves_models_alone() -> None:
    model = ImageFile("/srv/m.pkl", LAYER1, 10, spool="srv/m.pkl")
    inv = image_inventory(contents(model))
    assert inv.components == [] and inv.model_paths == []
    assert os.sep == "/"  # image paths are POSIX; the spool layout relies on it


def _rpm_inventory(tmp_path: Path, schema: str, rows: list[tuple[object, bytes]] = ()):  # type: ignore[no-untyped-def,assignment]
    import sqlite3

    db = tmp_path / "spool/var/lib/rpm/rpmdb.sqlite"
    db.parent.mkdir(parents=True)
    conn = sqlite3.connect(db)
    conn.executescript(schema)
    if rows:
        conn.executemany("INSERT INTO Packages (hnum, blob) VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    rel = "var/lib/rpm/rpmdb.sqlite"
    rpmdb = ImageFile("/" + rel, LAYER1, db.stat().st_size, spool=rel)
    osr = mem("/etc/os-release", b'ID="rocky"\nVERSION_ID="9.3"\n')
    return image_inventory(contents(osr, rpmdb, spool_root=tmp_path / "spool"))


def test_hostile_rpm_sqlite_databases_are_warnings(tmp_path: Path) -> None:
    """A database made by an attacker, not by rpm: odd row types, a view computing endless
    rows, a generated column of a gigabyte. Each is a warning naming image:/path."""
    good = header_blob({"name": "bash", "version": "5.1.8", "release": "6.el9"})
    where = f"registry.example:5000/team/serve@{DIGEST}:/var/lib/rpm/rpmdb.sqlite"
    text_key = _rpm_inventory(
        tmp_path / "a",
        "CREATE TABLE Packages (hnum, blob);",
        [("one", good), (None, good), (7, good), (8, "text")],
    )
    assert [c.name for c in text_key.components] == ["bash"]
    assert [w.path for w in text_key.warnings] == [where] * 3
    endless = _rpm_inventory(
        tmp_path / "b",
        "CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n)"
        " SELECT i AS hnum, zeroblob(100000000) AS blob FROM n;",
    )
    assert endless.components == []
    [warning] = endless.warnings
    assert warning.path == where and "not a table" in warning.message
    huge = _rpm_inventory(
        tmp_path / "c",
        "CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, seed BLOB,"
        " blob BLOB GENERATED ALWAYS AS (zeroblob(1000000000)) VIRTUAL);"
        "INSERT INTO Packages (hnum, seed) VALUES (1, x'00');",
    )
    assert huge.components == []
    [warning] = huge.warnings
    assert warning.path == where and "rpm database not read" in warning.message


def test_rpm_sqlite_work_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgate.image import rpm

    monkeypatch.setattr(rpm, "MAX_VM_STEPS", 20_000)  # a bound small enough for a test
    blob = header_blob({"name": "bash", "version": "5.1.8"})
    inv = _rpm_inventory(
        tmp_path, "CREATE TABLE Packages (hnum, blob);", [(i, blob) for i in range(5000)]
    )
    [warning] = inv.warnings
    assert "rpm database not read: interrupted" in warning.message


def test_dpkg_status_with_an_endless_field_parses_in_one_pass() -> None:
    """A hostile status whose one paragraph runs a million continuation lines (19 MB, under the
    64 MB bound): joining them one by one copied the growing field each time (hours)."""
    lines = " continuation line\n" * 1_000_000
    text = f"Package: a\nStatus: install ok installed\nVersion: 1\nDescription: x\n{lines}"
    text += "\nPackage: b\nStatus: install ok installed\nVersion: 2\n"
    packages, problems = parse_status(text)
    assert [(p.name, p.version, p.line) for p in packages] == [("a", "1", 1), ("b", "2", 1_000_006)]
    assert problems == []


def test_python_packages_of_the_os_package_manager_are_not_pypi_packages() -> None:
    """six installed by dpkg (python3-six) or apk (py3-six) is the OS package, advised by the
    distribution (which backports fixes without a new upstream version): not also a PyPI
    component. What pip installed beside it still is."""
    deb_site = "/usr/lib/python3/dist-packages"
    six = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"
    status = b"Package: python3-six\nStatus: install ok installed\nVersion: 1.16.0-4\n"
    listing = (
        f"/.\n/usr\n{deb_site}/six-1.16.0.dist-info\n{deb_site}/six-1.16.0.dist-info/METADATA\n"
    )
    sel = ImageSelector()
    assert sel("/var/lib/dpkg/info/python3-six:amd64.list", 100, b"/.") is Capture.MEMORY
    pip_site = "/usr/local/lib/python3.11/dist-packages"
    inv = image_inventory(
        contents(
            mem("/etc/os-release", DEBIAN_OS),
            mem("/var/lib/dpkg/status", status),
            mem("/var/lib/dpkg/info/python3-six:amd64.list", listing.encode()),
            mem(f"{deb_site}/six-1.16.0.dist-info/METADATA", six),
            mem(f"{pip_site}/requests-2.31.0.dist-info/METADATA", METADATA),
        )
    )
    assert sorted((c.ecosystem, c.name) for c in inv.components) == [
        ("Debian:12", "python3-six"),
        ("PyPI", "Requests"),
    ]
    alpine_site = "/usr/lib/python3.11/site-packages"
    apk = (
        f"P:py3-six\nV:1.16.0-r9\no:py3-six\nF:{alpine_site[1:]}/six-1.16.0.dist-info\nR:METADATA\n"
    )
    inv = image_inventory(
        contents(
            mem("/etc/os-release", b"ID=alpine\nVERSION_ID=3.19.1\n"),
            mem("/lib/apk/db/installed", apk.encode()),
            mem(f"{alpine_site}/six-1.16.0.dist-info/METADATA", six),
            mem(f"{alpine_site}/requests-2.31.0.dist-info/METADATA", METADATA),
        )
    )
    assert sorted((c.ecosystem, c.name) for c in inv.components) == [
        ("Alpine:v3.19", "py3-six"),
        ("PyPI", "Requests"),
    ]


PY_SPEC = """Name: python3-six
Version: 1.16.0
Release: 1.el9
Summary: demo
License: MIT
BuildArch: noarch
%description
demo
%install
mkdir -p %{buildroot}/usr/lib/python3.9/site-packages/six-1.16.0.dist-info
printf 'Metadata-Version: 2.1\\nName: six\\nVersion: 1.16.0\\n' \\
  > %{buildroot}/usr/lib/python3.9/site-packages/six-1.16.0.dist-info/METADATA
touch %{buildroot}/usr/lib/python3.9/site-packages/six.py
%files
/usr/lib/python3.9/site-packages/six-1.16.0.dist-info
/usr/lib/python3.9/site-packages/six.py
"""


def test_python_metadata_owned_by_an_rpm_is_not_a_pypi_package(tmp_path: Path) -> None:
    """rpm records every file of python3-six (basenames, dirnames, dir indexes): its METADATA
    is the rpm's, advised by the distribution, not a PyPI component too."""
    dbfile = rpm_database(tmp_path, PY_SPEC)
    rel = "var/lib/rpm/rpmdb.sqlite"
    db = ImageFile("/" + rel, LAYER1, dbfile.stat().st_size, spool=rel)
    site = "/usr/lib/python3.9/site-packages"
    six = b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"
    inv = image_inventory(
        contents(
            db,
            mem("/etc/os-release", b'ID="rocky"\nVERSION_ID="9.3"\n'),
            mem(f"{site}/six-1.16.0.dist-info/METADATA", six),
            mem(f"{site}/requests-2.31.0.dist-info/METADATA", METADATA),
            spool_root=tmp_path / "spool",
        )
    )
    assert sorted((c.ecosystem, c.name) for c in inv.components) == [
        ("PyPI", "Requests"),
        ("Rocky Linux:9", "python3-six"),
    ]
    assert inv.warnings == []
    # the same header with a lying count of file names: a warning, the package still counts
    import sqlite3
    import struct

    from mlgate.image.rpm import TAG_BASENAMES

    conn = sqlite3.connect(dbfile)
    [(hnum, blob)] = conn.execute("SELECT hnum, blob FROM Packages").fetchall()
    bad = bytearray(blob)
    for i in range(struct.unpack_from(">I", blob)[0]):
        if struct.unpack_from(">i", blob, 8 + 16 * i)[0] == TAG_BASENAMES:
            struct.pack_into(">I", bad, 8 + 16 * i + 12, 10_000_000)
    conn.execute("UPDATE Packages SET blob = ? WHERE hnum = ?", (bytes(bad), hnum))
    conn.commit()
    conn.close()
    db = ImageFile("/" + rel, LAYER1, dbfile.stat().st_size, spool=rel)
    inv = image_inventory(contents(db, spool_root=tmp_path / "spool"))
    assert [c.name for c in inv.components] == ["python3-six"]
    [warning] = [w for w in inv.warnings if "file list" in w.message]
    assert "file names but 3 folder indexes" in warning.message
    assert warning.path.endswith(f":/{rel}")
