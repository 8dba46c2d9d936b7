"""Policy stage: remote models in code against bandit, and the gate over many findings.

1. A generated tree of Python sources (deterministic, under .bench/) with planted remote-model
   loads: ``from_pretrained`` without a revision, ``torch.load`` without ``weights_only``,
   ``pickle.load``, some behind aliased imports. ``mlgate scan --no-vulns --no-models`` (the
   whole pipeline: walk, inventory, the policy stage's ast pass, JSON report) is compared with
   bandit restricted to its matching tests (B301 pickle, B614 pytorch_load, B615
   huggingface_unsafe_download), each in its own process: wall time, peak RSS, planted issues
   found.
2. In process: ``evaluate`` (unknown severity, ignores, threshold) over 50,000 findings with
   500 ignores.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from common import BENCH_DIR, median, median_run, mlgate_cmd, peer_venv, ratio, table

FILES = 3000
SEED = 20240611
REPEAT = 3
TREE = BENCH_DIR / "policy-tree"
PEER_REQS = ["bandit==1.9.4"]

FILLER = '''
def step_{n}(batch, scale={n}):
    """A function like the thousands in any training repository."""
    total = 0
    for i, item in enumerate(batch):
        if i % 3 == 0:
            total += item * scale
        else:
            total -= item
    return {{"total": total, "n": len(batch), "name": "step_{n}"}}
'''

PLANTS = {
    "hf": ("from transformers import AutoModel as M\n", "m = M.from_pretrained('org/model-{n}')\n"),
    "torch": ("import torch as t\n", "w = t.load('weights-{n}.pt')\n"),
    "pickle": ("import pickle\n", "obj = pickle.load(open('obj-{n}.pkl', 'rb'))\n"),
}


def build_tree() -> dict[str, int]:
    """Write the tree once; returns the planted counts per kind."""
    stamp = TREE / ".done"
    rng = random.Random(SEED)
    planted = dict.fromkeys(PLANTS, 0)
    files = []
    for i in range(FILES):
        kind = rng.choice([*PLANTS, None, None, None, None, None, None, None])
        head, call = PLANTS[kind] if kind else ("", "")
        if kind:
            planted[kind] += 1
        body = "".join(FILLER.format(n=i * 10 + j) for j in range(8))
        files.append((f"pkg{i % 30}/mod_{i}.py", head + body + call.format(n=i)))
    if not stamp.exists():
        for rel, text in files:
            path = TREE / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        stamp.write_text(json.dumps(planted))
    return planted


def bench_code() -> None:
    planted = build_tree()
    print(f"tree: {FILES} Python files; planted: {planted}")
    bandit = peer_venv("bandit", PEER_REQS) / "bandit"
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "mlgate.json"
        ml = median_run(
            [
                *mlgate_cmd(),
                "-q",
                "scan",
                str(TREE),
                "--no-vulns",
                "--no-models",
                "--json",
                str(out),
            ],
            REPEAT,
        )
        found = json.loads(out.read_text())["findings"]
        ml_counts = {
            "hf": sum(f["rule_id"] == "MLG-CODE-REMOTE-UNPINNED" for f in found),
            "torch": sum(f["rule_id"] == "MLG-CODE-TORCH-LOAD" for f in found),
            "pickle": sum(f["rule_id"] == "MLG-CODE-PICKLE-LOAD" for f in found),
        }
        peer_out = Path(tmp) / "bandit.json"
        bd = median_run(
            [
                str(bandit),
                "-q",
                "-r",
                str(TREE),
                "-t",
                "B301,B614,B615",
                "-f",
                "json",
                "-o",
                str(peer_out),
            ],
            REPEAT,
        )
        results = json.loads(peer_out.read_text())["results"]
        bd_counts = {
            "hf": sum(r["test_id"] == "B615" for r in results),
            "torch": sum(r["test_id"] == "B614" for r in results),
            "pickle": sum(r["test_id"] == "B301" for r in results),
        }
    rows = [
        [
            "mlgate scan",
            f"{ml.seconds:.2f}",
            f"{ml.peak_rss_mb:.0f}",
            *(f"{ml_counts[k]}/{planted[k]}" for k in PLANTS),
        ],
        [
            "bandit (B301,B614,B615)",
            f"{bd.seconds:.2f}",
            f"{bd.peak_rss_mb:.0f}",
            *(f"{bd_counts[k]}/{planted[k]}" for k in PLANTS),
        ],
    ]
    header = ["tool", "wall s (median)", "peak RSS MB", "from_pretrained", "torch.load", "pickle"]
    print(table(rows, header))
    print(f"bandit / mlgate wall time: {ratio(bd.seconds, ml.seconds)}")


def bench_gate() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
    from mlgate.model import Advisory, Finding, Location, Severity
    from mlgate.options import ScanOptions
    from mlgate.policy import evaluate, parse_policy_text

    findings = [
        Finding(
            rule_id="MLG-VULN",
            kind="vulnerability",
            severity=Severity.HIGH,
            message="m",
            location=Location(f"svc{i % 100}/requirements.txt", 1),
            component=f"pkg:pypi/p{i % 5000}@1.{i % 7}",
            advisory=Advisory(id=f"GHSA-{i:04x}-aaaa-bbbb", aliases=(f"CVE-2024-{i}",)),
        )
        for i in range(50_000)
    ]
    text = "ignore:\n" + "".join(
        f"  - {{id: CVE-2024-{i * 97}, package: p{(i * 97) % 5000}, versions: '<2',"
        f" paths: ['svc*/**'], reason: r, expires: 2999-01-01}}\n"
        for i in range(500)
    )
    policy = parse_policy_text(text)
    times = []
    for _ in range(REPEAT):
        t = time.perf_counter()
        out, verdict, _ = evaluate(findings, policy, ScanOptions(root=Path(".")))
        times.append(time.perf_counter() - t)
    suppressed = sum(f.suppressed for f in out)
    print(
        f"evaluate: 50,000 findings, 500 ignores: {median(times):.2f} s median of {REPEAT}"
        f" ({suppressed} suppressed, {len(verdict.deciding)} deciding)"
    )


def main() -> int:
    bench_code()
    bench_gate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
