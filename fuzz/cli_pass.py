"""The end-to-end pass: mutated files of every format in one folder, scanned by the real CLI.

``python fuzz/cli_pass.py [--files N] [--seed S]`` writes N mutated inputs (from every harness's
seeds, under their real file names) into a temporary folder, runs ``mlgate scan`` and
``mlgate models`` on it in subprocesses, and fails unless each exits 0, 1 or 2 with no
traceback on stderr.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def build(folder: Path, files: int, seed: int) -> int:
    from fuzz.common import Mutator
    from fuzz.run import harness_names, load

    modules = [load(n) for n in harness_names()]
    modules = [m for m in modules if hasattr(m, "FILENAME")]
    mutators = [
        Mutator(m.seeds(), getattr(m, "TOKENS", ()), seed + i) for i, m in enumerate(modules)
    ]
    for i in range(files):
        k = i % len(modules)
        rel = Path(f"case{i:04d}") / modules[k].FILENAME
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(mutators[k]())
    return files


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    cmd = [sys.executable, "-m", "mlgate", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=3600, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory(prefix="mlgate-cli-pass-") as tmp:
        folder = Path(tmp) / "corpus"
        folder.mkdir()
        n = build(folder, args.files, args.seed)
        out = Path(tmp) / "out"
        for cmd in (
            ("scan", str(folder), "--no-vulns", "--json", str(out / "r.json"), "--sarif",
             str(out / "r.sarif"), "--markdown", str(out / "r.md")),
            ("models", str(folder), "--json", str(out / "m.json")),
        ):  # fmt: skip
            proc = run(*cmd)
            ok = proc.returncode in (0, 1, 2) and "Traceback" not in proc.stderr
            bad += not ok
            print(f"mlgate {cmd[0]}: {n} files, exit {proc.returncode}, "
                  f"traceback {'yes' if 'Traceback' in proc.stderr else 'no'}")  # fmt: skip
            if not ok:
                print(proc.stderr[-3000:], file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
