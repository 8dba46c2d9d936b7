"""The one error hierarchy of mlgate; ``main`` catches :class:`MlgateError` in a single place."""

from __future__ import annotations

from mlgate.textsafe import for_terminal, redact_credentials


class MlgateError(Exception):
    """Base error. ``diagnostics()`` explains what went wrong and what to do about it."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        text = f"error: {self.message}"
        if self.hint:
            text += f"\nhint: {self.hint}"
        return text


class UsageError(MlgateError):
    """The command line or a configuration value is wrong (exit 2 before any work)."""


class PolicyError(UsageError):
    """The policy file is invalid."""


class IncompleteScanError(MlgateError):
    """Some packages could not be checked and the user did not allow an incomplete scan."""


class ScanAborted(MlgateError):
    """An unexpected failure stopped the scan; ``partial`` holds what was found before it.

    The reports that can still be written are written from ``partial`` (marked incomplete) and
    the run exits 2: a crash is never read as "findings" or "clean".
    """

    def __init__(self, cause: BaseException, where: str | None, partial: object = None) -> None:
        place = f" while processing {where}" if where else ""
        # file names and exception texts come from scanned input: one escaped line, no tokens
        text = for_terminal(redact_credentials(f"{place}: {type(cause).__name__}: {cause}"), 400)
        super().__init__(
            f"mlgate stopped{text}",
            hint="run with -v for the traceback; the reports written are marked incomplete",
        )
        self.cause = cause
        self.where = where
        self.partial = partial  # a ScanResult (typed loosely: errors import nothing of the model)
