"""Exit codes, named in one place (documented in the README)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # clean: nothing at or above the threshold
    FINDINGS = 1  # unsuppressed findings at or above the threshold
    ERROR = 2  # mlgate could not do its job (usage, invalid policy, incomplete scan, --strict)
