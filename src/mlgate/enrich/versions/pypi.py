"""PyPI: PEP 440 through ``packaging`` (epochs, pre/post/dev releases, local versions)."""

from __future__ import annotations

from typing import Any

from packaging.version import InvalidVersion, Version

from mlgate.enrich.versions import InvalidVersionError, VersionScheme


class PypiScheme(VersionScheme):
    name = "PEP 440"

    def key(self, version: str) -> Any:
        try:
            return Version(version)
        except InvalidVersion as exc:
            raise InvalidVersionError(version) from exc

    def canonical(self, version: str) -> str:
        try:
            return str(Version(version))
        except InvalidVersion:
            return version
