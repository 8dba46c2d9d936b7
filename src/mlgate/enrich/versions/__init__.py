"""Version order of each OSV ecosystem, for matching ``ECOSYSTEM``/``SEMVER`` ranges locally.

Every scheme turns a version string into a sort key; keys of one scheme compare with each other in
that ecosystem's own order. An ecosystem without a scheme matches only ``versions`` lists.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar


class InvalidVersionError(ValueError):
    """The text is not a version of this ecosystem."""


class VersionScheme(ABC):
    """The order of the versions of one ecosystem."""

    name: str = ""

    @abstractmethod
    def key(self, version: str) -> Any:
        """A sort key; raises :class:`InvalidVersionError` when ``version`` cannot be ordered."""

    def compare(self, a: str, b: str) -> int:
        ka, kb = self.key(a), self.key(b)
        return -1 if ka < kb else (1 if ka > kb else 0)

    def canonical(self, version: str) -> str:
        """The form used for string equality with ``versions`` lists (default: as written)."""
        return version


class EpochScheme(VersionScheme):
    """``[epoch:]version[-revision]`` (dpkg, rpm): the epoch as a number, then the version and
    the revision each by the distribution's own string comparison, :meth:`compare_part`."""

    pattern: ClassVar[re.Pattern[str]]  # groups: epoch, version, revision

    @staticmethod
    @abstractmethod
    def compare_part(a: str, b: str) -> int:
        """-1, 0 or 1 for two versions (or two revisions) without their epochs."""

    def split(self, version: str) -> tuple[int, str, str]:
        m = self.pattern.match(version.strip())
        if not m:
            raise InvalidVersionError(version)
        return int(m.group(1) or 0), m.group(2), m.group(3) or ""

    def compare(self, a: str, b: str) -> int:
        ea, va, ra = self.split(a)
        eb, vb, rb = self.split(b)
        if ea != eb:
            return -1 if ea < eb else 1
        return self.compare_part(va, vb) or self.compare_part(ra, rb)

    def key(self, version: str) -> Any:
        self.split(version)  # validate once, so a bad version fails here rather than mid-sort
        return functools.cmp_to_key(self.compare)(version)


def _schemes() -> dict[str, VersionScheme]:
    from mlgate.enrich.versions.apk import ApkScheme
    from mlgate.enrich.versions.dpkg import DpkgScheme
    from mlgate.enrich.versions.maven import MavenScheme
    from mlgate.enrich.versions.packagist import PackagistScheme
    from mlgate.enrich.versions.pypi import PypiScheme
    from mlgate.enrich.versions.rpm import RpmScheme
    from mlgate.enrich.versions.rubygems import RubyGemsScheme
    from mlgate.enrich.versions.semver import GoScheme, NuGetScheme, SemverScheme

    semver = SemverScheme()
    dpkg = DpkgScheme()
    rpm = RpmScheme()
    return {
        "PyPI": PypiScheme(),
        "npm": semver,
        "crates.io": semver,
        "Hex": semver,
        "Pub": semver,
        "SwiftURL": semver,
        "Go": GoScheme(),
        "Maven": MavenScheme(),
        "RubyGems": RubyGemsScheme(),
        "NuGet": NuGetScheme(),
        "Packagist": PackagistScheme(),
        "Debian": dpkg,
        "Ubuntu": dpkg,
        "Alpine": ApkScheme(),
        # rpm's [epoch:]version-release order (OSV's RPM distributions)
        "Red Hat": rpm,
        "Rocky Linux": rpm,
        "AlmaLinux": rpm,
        "SUSE": rpm,
        "openSUSE": rpm,
        "Mageia": rpm,
        "openEuler": rpm,
        "Photon OS": rpm,
    }


_SCHEMES: dict[str, VersionScheme] | None = None


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` -> ``Debian``; ``Alpine:v3.18`` -> ``Alpine``."""
    return ecosystem.split(":", 1)[0]


def scheme_for(ecosystem: str) -> VersionScheme | None:
    """The version order of an OSV ecosystem (release suffixes ignored), or None when unknown."""
    global _SCHEMES
    if _SCHEMES is None:
        _SCHEMES = _schemes()
    return _SCHEMES.get(base_ecosystem(ecosystem))
