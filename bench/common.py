"""Shared helpers of the benchmarks: peer venvs, timing with peak RSS, medians and ratios."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO / ".bench"
SHARED = REPO.parent / "shared"


def peer_venv(name: str, requirements: Sequence[str]) -> Path:
    """A venv of its own for a peer tool under .bench/venvs/NAME; returns its bin folder."""
    home = BENCH_DIR / "venvs" / name
    stamp = home / ".installed"
    wanted = "\n".join(requirements)
    if not stamp.exists() or stamp.read_text() != wanted:
        venv.EnvBuilder(with_pip=True, clear=True).create(home)
        subprocess.run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "-q", *requirements],
            check=True,
        )
        stamp.write_text(wanted)
    return home / "bin"


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_rss_mb: float
    returncode: int
    stdout: str
    stderr: str


def measure(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 1800,
) -> Run:
    """Run a command, reaping the child with wait4 so its own ru_maxrss is known."""
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
    )
    chunks: dict[str, bytes] = {}

    def drain(name: str, stream: object) -> None:
        chunks[name] = stream.read()  # type: ignore[attr-defined]

    threads = [
        threading.Thread(target=drain, args=(n, s))
        for n, s in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for t in threads:
        t.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    _, status, rusage = os.wait4(proc.pid, 0)
    timer.cancel()
    seconds = time.perf_counter() - start
    for t in threads:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = rusage.ru_maxrss / 1024  # Linux reports KiB
    return Run(
        seconds,
        rss_mb,
        proc.returncode,
        chunks.get("out", b"").decode(errors="replace"),
        chunks.get("err", b"").decode(errors="replace"),
    )


def median_run(cmd: Sequence[str], repeat: int = 3, **kw: object) -> Run:
    """Run ``repeat`` times; the run with the median wall time (its RSS comes with it)."""
    runs = sorted(
        (measure(cmd, **kw) for _ in range(repeat)),  # type: ignore[arg-type]
        key=lambda r: r.seconds,
    )
    return runs[len(runs) // 2]


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a"


def table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header], *[[str(c) for c in r] for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def mlgate_cmd() -> list[str]:
    return [sys.executable, "-m", "mlgate"]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
