"""The one error hierarchy of mlgate; ``main`` catches :class:`MlgateError` in a single place."""

from __future__ import annotations


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
