"""OSV lookups: mlgate against pip-audit 2.10 on a local OSV-compatible server (+100 ms/request).

Records: ../shared/osv/PyPI/all.zip (skipped when absent). Requirements files of 50, 200 and 1,000
pinned PyPI packages drawn from those records. 50 and 200 are the worst case: every package is
pinned at its most-affected listed version. The dump names only a few hundred packages, so the
1,000 file pins every one of them at a vulnerable version and fills up with names the dump does
not know (clean packages). Offline: 10,000 pinned packages (a monorepo of requirements files)
against the whole dump with a warm index.
"""

from __future__ import annotations

import json
import math
import os
import resource
import shutil
import sys
import tempfile
import zipfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from common import REPO, SHARED, Run, measure, median_run, mlgate_cmd, peer_venv, ratio, table

sys.path.insert(0, str(REPO))

from tests.servers.osv_server import OsvServer  # needs the repository on sys.path

DUMP = SHARED / "osv" / "PyPI" / "all.zip"
LATENCY = 0.1
SIZES = (50, 200, 1000)


def load() -> list[dict[str, Any]]:
    with zipfile.ZipFile(DUMP) as zf:
        return [json.loads(zf.read(n)) for n in zf.namelist() if n.endswith(".json")]


def most_affected_versions(records: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(package, version, listed advisories) per package, most advisories first."""
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for rec in records:
        if rec.get("withdrawn"):
            continue
        for entry in rec.get("affected", []):
            if entry["package"]["ecosystem"] != "PyPI":
                continue
            name = canonicalize_name(entry["package"]["name"])
            for v in set(entry.get("versions", [])):
                try:
                    if str(Version(v)) == v:  # exact, canonical pins only
                        counts[name][v] += 1
                except InvalidVersion:
                    continue
    best = [(name, *c.most_common(1)[0]) for name, c in counts.items() if c]
    return sorted(best, key=lambda t: (-t[2], t[0]))


def all_versions(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version

    out: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        for entry in rec.get("affected", []):
            name = canonicalize_name(entry["package"]["name"])
            for v in entry.get("versions", []):
                try:
                    if str(Version(v)) == v:
                        out[name].add(v)
                except InvalidVersion:
                    continue
    return {k: sorted(v) for k, v in out.items()}


def write_requirements(folder: Path, pins: list[tuple[str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "requirements.txt"
    path.write_text("".join(f"{n}=={v}\n" for n, v in pins))
    return path


def mlgate_ids(path: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]], dict[str, Any]]:
    """(package, primary id) and (package, any id or alias) of mlgate's JSON result."""
    data = json.loads(path.read_text())
    primary, every = set(), set()
    names = {c.get("bom_ref") or c.get("bom-ref"): c.get("name") for c in data["components"]}
    for f in data["findings"]:
        adv = f.get("advisory")
        if f["rule_id"] != "MLG-VULN" or not adv:
            continue
        name = names.get(f["component"]) or f["message"].split(" ", 1)[0]
        name = name.lower().replace("_", "-").replace(".", "-")
        primary.add((name, adv["id"]))
        every |= {(name, i) for i in [adv["id"], *adv["aliases"]]}
    return primary, every, data


def pip_audit_ids(path: Path) -> set[tuple[str, str]]:
    data = json.loads(path.read_text())
    return {
        (d["name"].lower().replace("_", "-").replace(".", "-"), v["id"])
        for d in data.get("dependencies", [])
        for v in d.get("vulns", [])
    }


def cpu_of(run: Any) -> tuple[Run, float]:
    """Run a ``measure``-style call and return it with the CPU seconds its child used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return result, cpu


def run_mlgate(
    folder: Path, url: str, out: Path, *, cache: Path | None, env: dict[str, str] | None = None
) -> Run:
    cmd = [*mlgate_cmd(), "-q", "scan", str(folder), "--no-models", "--osv-url", url]
    cmd += ["--fail-on", "none", "--json", str(out)]
    cmd += ["--cache-dir", str(cache)] if cache else ["--no-cache"]
    return measure(cmd, env={**os.environ, **(env or {})}, cwd=REPO)


def main() -> int:
    if not DUMP.is_file():
        print(f"skipped: {DUMP} is absent")
        return 0
    records = load()
    ranked = most_affected_versions(records)
    print(
        f"dump: {len(records)} records, {len(ranked)} PyPI packages with listed vulnerable "
        f"versions, {DUMP.stat().st_size / 1e6:.1f} MB"
    )
    bin_dir = peer_venv("pip-audit", ["pip-audit==2.10.*"])
    pip_audit = str(bin_dir / "pip-audit")
    rows = []
    notes = []
    work = Path(tempfile.mkdtemp(prefix="mlgate-bench-osv-"))
    try:
        with OsvServer(DUMP, latency=LATENCY) as srv:
            for n in SIZES:
                pins = [(name, v) for name, v, _ in ranked[:n]]
                filler = n - len(pins)
                pins += [(f"mlgate-bench-filler-{i:04d}", "1.0.0") for i in range(filler)]
                folder = work / f"n{n}"
                req = write_requirements(folder, pins)
                out = work / f"mlgate-{n}.json"
                before = srv.counts["total"]
                cold_cmd = [*mlgate_cmd(), "-q", "scan", str(folder), "--no-models"]
                cold_cmd += ["--osv-url", srv.url, "--no-cache", "--fail-on", "none"]
                cold_cmd += ["--json", str(out)]
                cold, cold_cpu = cpu_of(
                    lambda: median_run(cold_cmd, repeat=3, cwd=REPO)  # noqa: B023 - called at once
                )
                cold_cpu /= 3
                cold_requests = (srv.counts["total"] - before) // 3
                primary, every, data = mlgate_ids(out)
                stats = data["stats"]
                vulnerable = len({p for p, _ in primary})
                unique = len({i for _, i in primary})
                raw_ids = len({i for _, i in every})
                target = math.ceil(n / 1000) + min(vulnerable, raw_ids)
                # warm: a first run fills the cache, the second answers from it (TTL valid),
                # the third with expired query answers (one querybatch, records from cache)
                cache = work / f"cache-{n}"
                run_mlgate(folder, srv.url, work / "w0.json", cache=cache)
                before = srv.counts["total"]
                warm = run_mlgate(folder, srv.url, work / "w1.json", cache=cache)
                warm_requests = srv.counts["total"] - before
                before = srv.counts["total"]
                stale = run_mlgate(
                    folder, srv.url, work / "w2.json", cache=cache,
                    env={"MLGATE_OSV_CACHE_TTL": "0"},
                )  # fmt: skip
                stale_requests = srv.counts["total"] - before
                pa_out = work / f"pip-audit-{n}.json"
                before = srv.counts["total"]
                pa = measure(
                    [pip_audit, "-r", str(req), "--no-deps", "--disable-pip", "-s", "osv",
                     "--osv-url", f"{srv.url}/v1/query", "-f", "json", "-o", str(pa_out),
                     "--cache-dir", str(work / f"pa-cache-{n}"), "--progress-spinner", "off"],
                    cwd=work,
                )  # fmt: skip
                pa_requests = srv.counts["total"] - before
                pa_ids = pip_audit_ids(pa_out) if pa_out.is_file() else set()
                same = pa_ids <= every and primary <= pa_ids
                rows.append(
                    [
                        n,
                        f"{vulnerable} ({filler} filler)" if filler else vulnerable,
                        f"{unique}/{raw_ids}",
                        f"{cold.seconds:.2f} ({cold_cpu:.2f} CPU)",
                        f"{stats.get('osv_seconds', 0):.2f}",
                        f"{warm.seconds:.2f}",
                        f"{stale.seconds:.2f}",
                        f"{pa.seconds:.2f}",
                        ratio(pa.seconds, cold.seconds),
                        ratio(pa.seconds, stats.get("osv_seconds", 0)),
                        f"{cold_requests} (<= {target})",
                        f"{warm_requests}/{stale_requests}",
                        pa_requests,
                        "yes" if same else f"NO ({len(pa_ids ^ primary)} differ)",
                    ]
                )
                if pa.returncode not in (0, 1) or cold.returncode != 0:
                    notes.append(f"n={n}: pip-audit rc={pa.returncode} {pa.stderr[-300:]}")
                    notes.append(f"n={n}: mlgate rc={cold.returncode} {cold.stderr[-300:]}")
                route = "/v1/query per package" if stats.get("osv_hydration_by_query") else "vulns"
                notes.append(
                    f"n={n}: hydration via {route}; peak RSS mlgate {cold.peak_rss_mb:.0f} MB, "
                    f"pip-audit {pa.peak_rss_mb:.0f} MB"
                )
        print(
            table(
                rows,
                [
                    "packages",
                    "vulnerable",
                    "advisories (merged/ids)",
                    "mlgate cold s",
                    "of which OSV s",
                    "warm s",
                    "warm, TTL expired s",
                    "pip-audit s",
                    "speed-up (wall)",
                    "speed-up (OSV stage)",
                    "mlgate requests (target)",
                    "warm requests",
                    "pip-audit requests",
                    "same ids",
                ],
            )
        )
        for note in notes:
            print(note)
        offline(work, records)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def offline(work: Path, records: list[dict[str, Any]]) -> None:
    """10,000 pinned packages across requirements files against the whole dump, warm index.

    Each file pins every package at most once; file k pins the k-th newest version listed as
    affected, so every pin is vulnerable (the worst case for matching and findings).
    """
    versions = all_versions(records)
    names = sorted(versions)
    files: list[list[tuple[str, str]]] = []
    total = 0
    depth = 0
    while total < 10_000:
        pins = []
        for name in names:
            vs = versions[name]
            if depth < len(vs) and total < 10_000:
                pins.append((name, vs[-1 - depth]))  # newest listed first, all distinct
                total += 1
        if not pins:
            break
        files.append(pins)
        depth += 1
    filler = 10_000 - total
    if filler:
        files.append([(f"mlgate-bench-filler-{i:05d}", "1.0.0") for i in range(filler)])
    root = work / "monorepo"
    for i, pins in enumerate(files):
        write_requirements(root / f"svc{i:03d}", pins)
    db = work / "osvdb" / "PyPI"
    db.mkdir(parents=True)
    shutil.copy2(DUMP, db / "all.zip")
    out = work / "offline.json"
    cmd = [*mlgate_cmd(), "-q", "scan", str(root), "--no-models", "--osv-db", str(db.parent)]
    cmd += ["--fail-on", "none", "--json", str(out), "--cache-dir", str(work / "offline-cache")]
    first = measure(cmd, cwd=REPO)
    runs = sorted(
        (cpu_of(lambda: measure(cmd, cwd=REPO)) for _ in range(3)), key=lambda r: r[0].seconds
    )
    warm, warm_cpu = runs[1]
    bare = [c for c in cmd if c not in ("--json", str(out))]
    no_report, no_report_cpu = cpu_of(lambda: measure(bare, cwd=REPO))
    data = json.loads(out.read_text())
    stats = data["stats"]
    vulns = sum(1 for f in data["findings"] if f["rule_id"] == "MLG-VULN")
    print(
        f"offline: {data['coverage']['total']} pinned packages in {len(files)} requirements files "
        f"({filler} filler names), {stats.get('osv_offline_records', 0):.0f} records indexed; "
        f"index build run {first.seconds:.2f} s; warm index: {warm.seconds:.2f} s wall "
        f"(median of 3; {warm_cpu:.2f} s CPU; in-process: enrich "
        f"{stats.get('osv_seconds', 0):.2f} s wall / {stats.get('osv_cpu_seconds', 0):.2f} s CPU, "
        "inventory "
        f"{stats.get('inventory_seconds', 0):.2f} s), {vulns} MLG-VULN findings, "
        f"peak RSS {warm.peak_rss_mb:.0f} MB; without --json: {no_report.seconds:.2f} s wall, "
        f"{no_report_cpu:.2f} s CPU"
    )


if __name__ == "__main__":
    sys.exit(main())
