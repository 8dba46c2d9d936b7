"""Fuzz harness: apk-tools' installed database (mlgate.image.apk).

Invariant: ``parse_installed`` returns packages and problems, or raises ApkFormatError.
"""

from __future__ import annotations

from fuzz import seeds as seed_inputs

NAME = "apk"
TOKENS = [b"\n\n", b"\nP:", b"\nV:", b"\no:", b"\nF:", b"\nR:", b"METADATA", b"PKG-INFO",
          b".egg-info", b":", b"\r", b"\x00", b"\xff", b"\x0b", b"\x85"]  # fmt: skip


def seeds() -> list[bytes]:
    return [seed_inputs.APK_INSTALLED.encode()]


def check(data: bytes) -> None:
    from mlgate.image.apk import ApkFormatError, parse_installed

    try:
        parse_installed(data.decode("utf-8", "replace"))
    except ApkFormatError:
        return
