"""Workflow commands (``::error file=...::``), escaped as the runner expects.

The runner unescapes ``%25 %0D %0A`` in the message and additionally ``%3A %2C`` in properties,
so untrusted text can neither end a command early nor forge another one.
"""

from __future__ import annotations

import sys
from typing import TextIO


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(name: str, message: str = "", **properties: object) -> str:
    props = ",".join(
        f"{key}={escape_property(str(value))}"
        for key, value in properties.items()
        if value is not None and value != ""
    )
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def issue(name: str, message: str, out: TextIO | None = None, **properties: object) -> None:
    print(command(name, message, **properties), file=out or sys.stdout, flush=True)


def add_mask(secret: str, out: TextIO | None = None) -> None:
    """Ask the runner to hide ``secret`` in every later log line (how actions/core does it)."""
    if secret:
        print(f"::add-mask::{escape_data(secret)}", file=out or sys.stdout, flush=True)
