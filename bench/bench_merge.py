"""Sharding a scan across a CI matrix: one `mlgate scan` against shards + `mlgate merge`.

The monorepo of bench_inventory (1,000 projects, about 50,000 package entries) is scanned once,
then as SHARDS shards (`--include` of disjoint groups of services), one after the other here;
in CI they run in parallel, so the wall time of a sharded run is the slowest shard plus the merge.
The merged result must hold the same components and findings as the single run (checked here,
and on a small tree by tests/test_merge.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bench_inventory import MONOREPO, PROJECTS, generate
from common import measure, median_run, mlgate_cmd, ratio, table

SHARDS = 4
GROUPS = PROJECTS // 50  # bench_inventory puts 50 projects in a group
SCAN = ["--no-vulns", "--no-models", "--reproducible", "--fail-on", "none"]


def main() -> int:
    MONOREPO.parent.mkdir(parents=True, exist_ok=True)
    entries = generate(MONOREPO)
    print(f"monorepo: {PROJECTS} projects, {entries} package entries; {SHARDS} shards")
    with tempfile.TemporaryDirectory(prefix="mlgate-bench-merge-") as tmp:
        out = Path(tmp)
        single = measure(
            [*mlgate_cmd(), "-q", "scan", str(MONOREPO), *SCAN, "--json", str(out / "one.json")]
        )
        shards = []
        for k in range(SHARDS):
            include = [
                arg
                for g in range(k, GROUPS, SHARDS)
                for arg in ("--include", f"services/group-{g:02d}")
            ]
            target = out / f"shard-{k}.json"
            cmd = [*mlgate_cmd(), "-q", "scan", str(MONOREPO), *SCAN, *include]
            shards.append(measure([*cmd, "--json", str(target)]))
        results = [str(out / f"shard-{k}.json") for k in range(SHARDS)]
        merge_cmd = [*mlgate_cmd(), "-q", "merge", *results]
        merged = median_run([*merge_cmd, "--reproducible", "--json", str(out / "merged.json")])
        failed = [r for r in (single, *shards, merged) if r.returncode != 0]
        if failed:
            print(failed[0].stderr[-2000:])
            return 1
        one = json.loads((out / "one.json").read_text())
        joined = json.loads((out / "merged.json").read_text())
        same = one["components"] == joined["components"] and one["findings"] == joined["findings"]
    slowest = max(r.seconds for r in shards)
    rows = [
        ["single scan", f"{single.seconds:.2f}", f"{single.peak_rss_mb:.0f}"],
        ["slowest shard", f"{slowest:.2f}", f"{max(r.peak_rss_mb for r in shards):.0f}"],
        ["all shards (sum)", f"{sum(r.seconds for r in shards):.2f}", ""],
        ["merge (median of 3)", f"{merged.seconds:.2f}", f"{merged.peak_rss_mb:.0f}"],
    ]
    print(table(rows, ["run", "seconds", "peak RSS MB"]))
    print(
        f"sharded wall time (slowest shard + merge): {slowest + merged.seconds:.2f} s, "
        f"{ratio(single.seconds, slowest + merged.seconds)} faster than one scan; "
        f"merged result equals the single run: {same}"
    )
    return 0 if same else 1
