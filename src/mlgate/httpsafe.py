"""Bounded reads of HTTP answers: a hostile or broken server must not make us read gigabytes."""

from __future__ import annotations

from typing import Any


class ResponseTooLarge(ValueError):
    """The answer is larger than the limit the caller set."""


def read_bounded(response: Any, limit: int) -> bytes:
    """The (decoded) body of a ``requests`` response opened with ``stream=True``, at most
    ``limit`` bytes; :class:`ResponseTooLarge` beyond it. The response is always closed."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(65536):
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"answer larger than {limit} bytes")
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)
