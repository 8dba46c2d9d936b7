"""Run the fuzz harnesses: ``python fuzz/run.py [NAME ...] [--seconds N | --iterations N]``.

Each harness (``fuzz/fuzz_<name>.py``) is fed mutations of its seed inputs. The built-in
engine is deterministic (``--seed``) and needs nothing but the dev environment; with
``--engine atheris`` (``pip install atheris``) each harness runs under libFuzzer's
coverage-guided engine in its own process instead.

An input that breaks a harness's invariant is saved to ``fuzz/crashes/<name>-<sha1>.bin`` and
reported; the exit status is 1 when any harness crashed. Turn each one into a regression test
(see docs/robustness.md).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CRASHES = HERE / "crashes"


def harness_names() -> list[str]:
    return sorted(p.stem.removeprefix("fuzz_") for p in HERE.glob("fuzz_*.py"))


def load(name: str) -> ModuleType:
    return importlib.import_module(f"fuzz.fuzz_{name}")


@dataclass
class Report:
    name: str
    inputs: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    crashes: dict[str, bytes] = field(default_factory=dict)  # signature -> first input

    def line(self) -> str:
        return (
            f"{self.name:18} {self.inputs:7d} inputs {self.seconds:7.1f}s "
            f"slowest {self.slowest * 1000:7.1f}ms  crashes {len(self.crashes)}"
        )


def signature(exc: BaseException) -> str:
    """Type and innermost frame of our code: one signature per distinct bug."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/mlgate/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def run_builtin(
    name: str, *, iterations: int | None, seconds: float | None, seed: int, save: bool = True
) -> Report:
    """Run one harness in this process: the seeds first, then mutations until the bound."""
    from fuzz.common import Mutator

    module = load(name)
    seeds = module.seeds()
    mutate = Mutator(seeds, getattr(module, "TOKENS", ()), seed)
    report = Report(name)
    start = time.perf_counter()
    queue = list(seeds)
    while True:
        if iterations is not None and report.inputs >= iterations:
            break
        if seconds is not None and time.perf_counter() - start >= seconds:
            break
        data = queue.pop() if queue else mutate()
        t = time.perf_counter()
        try:
            module.check(data)
        except Exception as exc:
            sig = signature(exc)
            if sig not in report.crashes:
                report.crashes[sig] = data
                print(f"CRASH {name}: {sig}: {str(exc)[:200]}", file=sys.stderr)
                if save:
                    _save(name, data)
        report.slowest = max(report.slowest, time.perf_counter() - t)
        report.inputs += 1
    report.seconds = time.perf_counter() - start
    return report


def _save(name: str, data: bytes) -> Path:
    CRASHES.mkdir(exist_ok=True)
    path = CRASHES / f"{name}-{hashlib.sha1(data).hexdigest()[:12]}.bin"
    path.write_bytes(data)
    print(f"  input saved: {path.relative_to(REPO)}", file=sys.stderr)
    return path


def run_atheris(name: str, seconds: float) -> int:
    """One harness under atheris/libFuzzer in a child process; returns its exit status."""
    module = load(name)
    with tempfile.TemporaryDirectory(prefix=f"mlgate-corpus-{name}-") as corpus:
        for data in module.seeds():
            Path(corpus, hashlib.sha1(data).hexdigest()).write_bytes(data)
        CRASHES.mkdir(exist_ok=True)
        cmd = [
            sys.executable, str(HERE / "run.py"), "--engine", "atheris-child", name, "--",
            f"-max_total_time={int(seconds)}", f"-artifact_prefix={CRASHES}/{name}-",
            "-rss_limit_mb=4096", "-timeout=60", corpus,
        ]  # fmt: skip
        return subprocess.run(cmd, cwd=REPO, check=False).returncode


def _atheris_child(name: str, argv: list[str]) -> None:
    import atheris

    # coverage of mlgate's own code only (instrumenting numpy, onnx ... costs minutes); the
    # seeds run inside the block so the modules a parser imports lazily are instrumented too
    with atheris.instrument_imports(include=["mlgate"]):
        module = load(name)
        for data in module.seeds():
            module.check(data)

    def one(data: bytes) -> None:
        module.check(data)

    atheris.Setup([sys.argv[0], *argv], one)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="harnesses (default: all)")
    parser.add_argument("--seconds", type=float, help="time bound per harness")
    parser.add_argument("--iterations", type=int, help="inputs per harness")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", choices=["builtin", "atheris", "atheris-child"])
    parser.add_argument("--list", action="store_true")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []  # libFuzzer's own options
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    if args.list:
        print("\n".join(harness_names()))
        return 0
    if args.engine == "atheris-child":
        _atheris_child(args.names[0], extra)
        return 0
    names = args.names or harness_names()
    unknown = sorted(set(names) - set(harness_names()))
    if unknown:
        parser.error(f"unknown harness: {', '.join(unknown)}")
    engine = args.engine
    if engine is None:
        engine = "builtin"
    seconds = args.seconds if args.seconds is not None or args.iterations else 60.0
    failed = 0
    total = 0
    for name in names:
        if engine == "atheris":
            status = run_atheris(name, seconds or 60.0)
            print(f"{name:18} atheris exit {status}")
            failed += status != 0
            continue
        report = run_builtin(name, iterations=args.iterations, seconds=seconds, seed=args.seed)
        total += report.inputs
        print(report.line(), flush=True)
        failed += bool(report.crashes)
    if engine == "builtin":
        print(f"total: {total} inputs, {failed} harness(es) with crashes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    os.chdir(REPO)
    sys.exit(main())
