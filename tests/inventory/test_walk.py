from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest

from mlgate.inventory.build import build_inventory
from mlgate.inventory.dockerfile import DockerfileExtractor
from mlgate.inventory.modelfiles import ModelFileExtractor
from mlgate.inventory.walk import is_excluded, walk
from mlgate.model import Inventory, ScanWarning


def inventory(root: Path, **kwargs: object) -> Inventory:
    return build_inventory(
        root,
        extractors=[DockerfileExtractor(), ModelFileExtractor()],
        **kwargs,  # type: ignore[arg-type]
    )


def relpaths(root: Path, exclude: tuple[str, ...] = ()) -> tuple[list[str], list[ScanWarning]]:
    warnings: list[ScanWarning] = []
    return [f.relpath for f in walk(root, exclude, warnings)], warnings


def test_symlink_escaping_the_root_is_not_followed(tmp_path: Path) -> None:
    """Technique: a symlink planted in the repository that points at a file outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pkl").write_bytes(pickle.dumps({"token": "x"}))
    (outside / "Dockerfile").write_text("FROM alpine:3.20\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "model.pkl").symlink_to(outside / "secret.pkl")
    (repo / "linkdir").symlink_to(outside, target_is_directory=True)
    inv = inventory(repo)
    assert inv.components == ()
    escapes = sorted((w.path, w.code) for w in inv.warnings)
    assert escapes == [("linkdir", "symlink-escape"), ("model.pkl", "symlink-escape")]


def test_symlink_inside_the_root_is_not_duplicated(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "clf.pkl").write_bytes(pickle.dumps([1]))
    (tmp_path / "latest.pkl").symlink_to(tmp_path / "models" / "clf.pkl")
    (tmp_path / "alias").symlink_to(tmp_path / "models", target_is_directory=True)
    inv = inventory(tmp_path)
    assert [c.name for c in inv.components] == ["models/clf.pkl"]
    assert [loc.path for loc in inv.components[0].declared_in] == ["models/clf.pkl"]
    assert inv.warnings == ()


def test_dot_git_is_skipped(tmp_path: Path) -> None:
    (tmp_path / ".git" / "objects").mkdir(parents=True)
    (tmp_path / ".git" / "objects" / "ab.pkl").write_bytes(pickle.dumps(1))
    (tmp_path / ".gitignore").write_text("*.pkl\n")
    paths, _ = relpaths(tmp_path)
    assert paths == [".gitignore"]


def test_exclude_globs(tmp_path: Path) -> None:
    for rel in ("build/x.pkl", "src/a/build/y.pkl", "keep/z.pkl", "keep/tmp.npy", "docs/d.pkl"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(rel))
    paths, _ = relpaths(tmp_path, ("build", "*.npy", "docs/**"))
    assert paths == ["keep/z.pkl"]
    assert is_excluded("a/b", ["a/b/"])
    assert is_excluded("vendor/x/y", ["vendor/**"])
    assert not is_excluded("vendors/x", ["vendor/**"])
    inv = inventory(tmp_path, exclude=("build", "docs", "*.npy"))
    assert [c.name for c in inv.components] == ["keep/z.pkl"]


def test_manifest_over_the_size_bound_is_skipped_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM alpine:3.20\n" + "# padding\n" * 200)
    (tmp_path / "small").mkdir()
    (tmp_path / "small" / "Dockerfile").write_text("FROM debian:12\n")
    inv = inventory(tmp_path, max_manifest_bytes=1024)
    assert [c.name for c in inv.components] == ["debian"]
    (warning,) = inv.warnings
    assert warning.path == "Dockerfile"
    assert "1024-byte bound" in warning.message


def test_unreadable_file_is_a_warning(tmp_path: Path) -> None:
    secret = tmp_path / "Dockerfile"
    secret.write_text("FROM alpine:3.20\n")
    secret.chmod(0)
    try:
        try:
            secret.open("rb").close()
        except PermissionError:
            pass
        else:
            pytest.skip("running with privileges that read mode-000 files (root)")
        (tmp_path / "ok.pkl").write_bytes(pickle.dumps(1))
        inv = inventory(tmp_path)
        assert [c.name for c in inv.components] == ["ok.pkl"]
        assert [w.path for w in inv.warnings] == ["Dockerfile"]
        assert "not readable" in inv.warnings[0].message
    finally:
        secret.chmod(0o644)


def test_unreadable_directory_is_a_warning(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "m.pkl").write_bytes(pickle.dumps(1))
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running with privileges that read mode-000 folders (root)")
        _, warnings = relpaths(tmp_path)
        assert [w.path for w in warnings] == ["locked"]
    finally:
        locked.chmod(0o755)


def test_fifo_and_other_special_files_are_ignored(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.pkl")  # opening it for reading would block the walk
    (tmp_path / "m.pkl").write_bytes(pickle.dumps(1))
    paths, warnings = relpaths(tmp_path)
    assert paths == ["m.pkl"]
    assert warnings == []


def test_walk_order_is_stable(tmp_path: Path) -> None:
    for rel in ("b/2", "a/1", "c", "a/0"):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rel)
    paths, _ = relpaths(tmp_path)
    # Files of a folder (sorted) come before its sub-folders (sorted, depth first).
    assert paths == ["c", "a/0", "a/1", "b/2"]
    assert relpaths(tmp_path)[0] == paths


TREE = ["a.txt", "svc/api/req.txt", "svc/api/sub/x.txt", "svc/apix/y.txt", "top.txt"]


@pytest.mark.parametrize(
    ("include", "expected"),
    [
        ((), TREE),
        (("svc/api",), ["svc/api/req.txt", "svc/api/sub/x.txt"]),  # not the sibling svc/apix
        (("./svc/api/",), ["svc/api/req.txt", "svc/api/sub/x.txt"]),
        (("svc/api/sub/x.txt", "top.txt"), ["svc/api/sub/x.txt", "top.txt"]),  # files too
        ((".",), TREE),
    ],
)
def test_include_walks_sub_paths_with_root_relative_paths(
    tmp_path: Path, include: tuple[str, ...], expected: list[str]
) -> None:
    for rel in TREE:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    warnings: list[ScanWarning] = []
    assert sorted(f.relpath for f in walk(tmp_path, (), warnings, include)) == expected
    assert warnings == []
