"""Fuzz harness: the os-release parser (mlgate.image.osrelease).

Invariant: ``parse_os_release`` never raises (it has no error: unreadable lines are skipped),
and the OSV ecosystem and purl qualifier of what it returns are computed without raising.
"""

from __future__ import annotations

from fuzz import seeds as seed_inputs

NAME = "os_release"
TOKENS = [b"ID=", b"VERSION_ID=", b"VERSION=", b"PRETTY_NAME=", b"ID_LIKE=", b'"', b"'",
          b"\\", b"\n", b"=", b"ubuntu", b"debian", b"alpine", b"opensuse-leap", b"LTS",
          b"99999999999999999999.04", b"\x00", b"\xff", b"\r"]  # fmt: skip


def seeds() -> list[bytes]:
    return [s.encode() for s in seed_inputs.OS_RELEASES]


def check(data: bytes) -> None:
    from mlgate.image.osrelease import parse_os_release

    osr = parse_os_release(data)
    _ = (osr.ecosystem, osr.purl_namespace, osr.distro_qualifier)
