"""What the scan is working on, so that an unexpected failure can name the file it happened in.

The walk, the extractors, the model dispatcher and the report writers wrap their work in
:func:`working_on`. An exception leaving such a block is tagged with the innermost place once;
``main`` reads it back with :func:`where_failed` after the blocks have unwound.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar

from mlgate.model import ScanWarning

log = logging.getLogger("mlgate")

_ATTR = "_mlgate_where"
_CURRENT: ContextVar[str | None] = ContextVar("mlgate_current", default=None)


@contextmanager
def working_on(stage: str, path: str) -> Iterator[None]:
    """Mark ``path`` as being processed by ``stage`` (e.g. ``"inventory"``, ``"report"``)."""
    where = f"{stage}: {path}"
    token = _CURRENT.set(where)
    try:
        yield
    except Exception as exc:
        if getattr(exc, _ATTR, None) is None:  # the innermost block names the file
            with suppress(AttributeError):  # an exception type with __slots__: named nowhere
                setattr(exc, _ATTR, where)
        raise
    finally:
        _CURRENT.reset(token)


def current() -> str | None:
    """The place being processed now (``"stage: path"``), if any."""
    return _CURRENT.get()


def where_failed(exc: BaseException) -> str | None:
    """The place ``exc`` (or an exception it was raised from) escaped from, if it was tagged."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        where = getattr(cur, _ATTR, None)
        if isinstance(where, str):
            return where
        cur = cur.__cause__ or cur.__context__
    return None


@contextmanager
def skip_on_error(
    stage: str, path: str, warnings: list[ScanWarning], *, code: str = "input"
) -> Iterator[None]:
    """Like :func:`working_on`, but an unexpected exception becomes a warning naming the file
    and the scan goes on without it (for per-file work whose loss is reported, not fatal)."""
    with working_on(stage, path):
        try:
            yield
        except Exception as exc:
            log.debug("%s: %s failed", path, stage, exc_info=True)
            warnings.append(
                ScanWarning(path, f"{stage}: not processed: {type(exc).__name__}: {exc}", code=code)
            )
