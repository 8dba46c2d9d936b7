"""Escaping of untrusted text (package names, file names, advisory text) for terminals and logs."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def for_terminal(text: str, limit: int = 500) -> str:
    """One line, control and bidi characters shown as escapes, bounded in length."""
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\n", "\\n"))
    return text if len(text) <= limit else text[: limit - 1] + "…"


_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)[^/?#]*@")


def without_userinfo(url: str, replacement: str = "") -> str:
    """``url`` with the ``user:password@`` of its authority replaced, by pattern alone: it also
    works on URLs that ``urlsplit`` rejects (a bad port, a broken IPv6 host)."""
    return _USERINFO.sub(lambda m: m.group(1) + replacement, url, count=1)


_CREDENTIALS = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)([^/?#\s]*)@")


def redact_credentials(text: str) -> str:
    """Free text with the ``user:password@`` of every URL in it replaced by ``***@`` (a bare
    ``git@`` SSH user is kept): for messages that quote a line of the scanned files."""
    if "@" not in text:
        return text
    return _CREDENTIALS.sub(
        lambda m: m.group(0) if m.group(2) == "git" else f"{m.group(1)}***@", text
    )
