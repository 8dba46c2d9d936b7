"""Fuzz harness: the policy file (mlgate.policy.config, YAML + JSON Schema).

Invariant: parsing returns a Policy or raises PolicyError only.
"""

from __future__ import annotations

NAME = "policy"
SEEDS = [
    "fail-on: high\nunknown-severity: medium\nignore:\n  - id: GHSA-xxxx-yyyy-zzzz\n"
    "    reason: not reachable\n    expires: 2030-01-01\n  - rule: MLG-UNPINNED\n"
    "    path: 'vendor/**'\n"
    "    reason: vendored\nlicenses:\n  deny: [GPL-3.0-only]\n  allow: [MIT, Apache-2.0]\n"
    "models:\n  allow-globals: [collections.OrderedDict]\n  lock: models.lock.json\n"
    "  scan-code: true\nsources:\n  allow-indexes: ['https://pkgs.registry.example/simple']\n"
    "  pin-actions: true\n",
    "fail-on: none\n",
    "{}\n",
]
TOKENS = [b": ", b"- ", b"&a ", b"*a", b"<<: *a", b"!!python/object:os.system", b"!!binary",
          b"{", b"}", b"[", b"]", b"~", b"2030-13-45", b"\t", b"'", b'"', b"\\u0000", b"? ",
          b"--- ", b"...", b"%YAML 1.1\n"]  # fmt: skip


def seeds() -> list[bytes]:
    return [s.encode() for s in SEEDS]


def check(data: bytes) -> None:
    from mlgate.errors import PolicyError
    from mlgate.policy.config import parse_policy_text

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # the file reader reports it (PolicyError) before parsing
    try:
        parse_policy_text(text, "fuzz.yml")
    except PolicyError:
        return
