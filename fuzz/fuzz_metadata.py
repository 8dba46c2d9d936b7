"""Fuzz harness: Python core metadata (METADATA / PKG-INFO) as the image inventory, the wheel and
sdist extractors read it (mlgate.policy.licenses.licenses_from_metadata).

Invariant: returns (name, version, licenses) or None; it never raises.
"""

from __future__ import annotations

from fuzz import seeds as seed_inputs

NAME = "metadata"
TOKENS = [b"\nName: ", b"\nVersion: ", b"\nLicense: ", b"\nLicense-Expression: ",
          b"\nClassifier: License :: OSI Approved :: MIT License", b" :: ", b"\n\n", b"\n ",
          b" OR ", b" AND ", b" WITH ", b"(", b")", b"=?utf-8?q?", b"?=", b"\r", b"\x00",
          b"\xff", b"LicenseRef-", b"+"]  # fmt: skip


def seeds() -> list[bytes]:
    return [s.encode() for s in seed_inputs.METADATAS]


def check(data: bytes) -> None:
    from mlgate.policy.licenses import licenses_from_metadata

    licenses_from_metadata(data)
