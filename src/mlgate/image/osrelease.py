"""``/etc/os-release`` -> the distribution, and the OSV ecosystem its packages are advised in.

OSV spells releases its own way per distribution (https://ossf.github.io/osv-schema/): Debian by
major number (``Debian:12``), Ubuntu by ``YY.MM`` with a mandatory ``:LTS`` suffix for long-term
releases (``Ubuntu:22.04:LTS``), Alpine by ``vX.Y`` (``Alpine:v3.19``), Rocky and Alma by major
number, openSUSE by product and release (``openSUSE:Leap 15.5``, ``openSUSE:Tumbleweed``). A
distribution OSV does not know keeps its name and is reported as not applicable by the enrich
stage rather than queried under a wrong key.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

MAX_OS_RELEASE_BYTES = 64 * 1024
_LINE = re.compile(r"^([A-Z0-9_]+)=(.*)$")


@dataclass(frozen=True)
class OsRelease:
    id: str  # "debian", "ubuntu", "alpine", "rocky" ... ("" when unknown)
    version_id: str = ""
    version: str = ""
    pretty_name: str = ""
    id_like: tuple[str, ...] = ()

    @property
    def ecosystem(self) -> str:
        """The OSV ecosystem of this distribution's packages ("" when it has none)."""
        return osv_ecosystem(self)

    @property
    def purl_namespace(self) -> str:
        return self.id or "unknown"

    @property
    def distro_qualifier(self) -> str:
        """purl ``distro`` qualifier: ``debian-12``, ``alpine-3.19.1``, ``ubuntu-22.04``."""
        if not self.id:
            return ""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


def parse_os_release(data: bytes) -> OsRelease:
    """Parse the shell-like ``KEY=value`` lines (quotes and backslash escapes as in sh)."""
    text = data[:MAX_OS_RELEASE_BYTES].decode("utf-8", "replace")
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _LINE.match(line)
        if not m:
            continue
        key, value = m.groups()
        try:
            parts = shlex.split(value, posix=True)
        except ValueError:  # unbalanced quote: keep the text as written
            parts = [value.strip("\"'")]
        values[key] = " ".join(parts)
    return OsRelease(
        id=values.get("ID", "").lower(),
        version_id=values.get("VERSION_ID", ""),
        version=values.get("VERSION", ""),
        pretty_name=values.get("PRETTY_NAME", ""),
        id_like=tuple(values.get("ID_LIKE", "").lower().split()),
    )


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _ubuntu(osr: OsRelease) -> str:
    m = re.match(r"^(\d+)\.(\d+)", osr.version_id)
    if not m:
        return "Ubuntu"
    year, month = int(m.group(1)), int(m.group(2))
    release = f"{year:02d}.{month:02d}"
    # VERSION says "22.04.3 LTS (Jammy Jellyfish)"; without it, LTS releases are the even
    # years' April releases.
    lts = "LTS" in osr.version or "LTS" in osr.pretty_name or (month == 4 and year % 2 == 0)
    return f"Ubuntu:{release}:LTS" if lts else f"Ubuntu:{release}"


def osv_ecosystem(osr: OsRelease) -> str:
    """OSV's ecosystem string for the distribution; "" when OSV has no such ecosystem."""
    vid = osr.version_id
    match osr.id:
        case "debian":
            # testing/sid have no VERSION_ID: the bare ecosystem matches every release
            return f"Debian:{_major(vid)}" if vid else "Debian"
        case "ubuntu":
            return _ubuntu(osr)
        case "alpine":
            m = re.match(r"^(\d+)\.(\d+)", vid)
            return f"Alpine:v{m.group(1)}.{m.group(2)}" if m else "Alpine"
        case "rocky":
            return f"Rocky Linux:{_major(vid)}" if vid else "Rocky Linux"
        case "almalinux":
            return f"AlmaLinux:{_major(vid)}" if vid else "AlmaLinux"
        case "rhel":
            # Red Hat keys on CPE product streams (baseos, appstream ...) a package database
            # does not name: the bare ecosystem, matched by the API across streams
            return "Red Hat"
        case "opensuse-leap":
            return f"openSUSE:Leap {vid}" if vid else "openSUSE"
        case "opensuse-tumbleweed":
            return "openSUSE:Tumbleweed"
        case "opensuse":
            return "openSUSE"
        case "sles" | "sled" | "sle-micro":
            # SUSE files each package under the product module that ships it ("SUSE:Linux
            # Enterprise Module for Basesystem 15 SP5"), which os-release does not name: the
            # bare family, matched across products
            return "SUSE"
        case "photon":
            return f"Photon OS:{vid}" if vid else "Photon OS"
        case "mageia":
            return f"Mageia:{vid}" if vid else "Mageia"
        case "wolfi":
            return "Wolfi"
        case "chainguard":
            return "Chainguard"
        case "openeuler":
            return f"openEuler:{vid}" if vid else "openEuler"
    return ""
