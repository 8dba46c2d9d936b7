"""Run a native-code reader in a forked child with a deadline.

Some readers are C libraries (libhdf5 under h5py) that a crafted file can send into a loop the
per-file time bound cannot interrupt: Python only checks it between bytecodes. Such a call runs
in a child process; past the deadline the child is killed and the caller gets
:class:`~mlgate.inspect.interface.ScanTimeout` (an ``MLG-MODEL-TIMEOUT`` finding), so one file
never hangs the scan.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from mlgate.inspect.interface import ScanTimeout

MAX_RESULT_BYTES = 256 * 1024 * 1024


class ChildFailed(Exception):
    """The isolated call raised (its type and message) or the child died."""


def can_fork() -> bool:
    # forking a process that runs other threads can copy a lock held by one of them
    return hasattr(os, "fork") and threading.active_count() == 1


def call_isolated(func: Callable[[], Any], deadline: float) -> Any:
    """``func()`` in a forked child; its (picklable, own-made) result, or ScanTimeout.

    Without ``fork`` (or with other threads running) ``func`` runs in this process.
    """
    if not can_fork():
        return func()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into the caller's code
        status = 1
        try:
            os.close(read_fd)
            try:
                payload = pickle.dumps(("ok", func()), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                payload = pickle.dumps(("error", f"{type(exc).__name__}: {str(exc)[:300]}"))
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view) :]
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ScanTimeout
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                raise ScanTimeout
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > MAX_RESULT_BYTES:
                raise ChildFailed("result too large")
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    if not chunks:
        raise ChildFailed("the reading process died")
    # our own child's values (the attribute strings it read), never bytes of the scanned file
    kind, value = pickle.loads(b"".join(chunks))
    if kind == "error":
        raise ChildFailed(value)
    return value
