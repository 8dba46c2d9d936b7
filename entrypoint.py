"""The GitHub Action's entry point: maps the ``INPUT_*`` environment onto mlgate's CLI and runs it.

Nothing else happens here, so everything the action does is also ``mlgate scan ...`` on a laptop.
The runner passes each input as ``INPUT_<NAME>`` with the name upper-cased and spaces turned into
underscores, dashes kept (``fail-on`` -> ``INPUT_FAIL-ON``). Relative paths are resolved against
``$GITHUB_WORKSPACE``. The container runs as root (GitHub requires it for workspace access), so
report files are handed back to the owner of the workspace afterwards for later steps.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

# Inputs that name a file or folder, and the CLI option each one maps to.
PATH_OPTIONS = {
    "sbom": "--sbom",
    "sarif": "--sarif",
    "json": "--json",
    "markdown": "--markdown",
    "policy": "--policy",
    "baseline": "--baseline",
    "osv-db": "--osv-db",
}
OUTPUT_INPUTS = ("sbom", "sarif", "json", "markdown")
VALUE_OPTIONS = {
    "fail-on": "--fail-on",
    "comment": "--comment",
    "osv-url": "--osv-url",
    "platform": "--platform",
}
FLAG_OPTIONS = {  # input -> (CLI flag, the input value that turns the flag on)
    "upload-sarif": ("--upload-sarif", True),
    "allow-incomplete": ("--allow-incomplete", True),
    "no-dev": ("--no-dev", True),
    "strict": ("--strict", True),
    "vulns": ("--no-vulns", False),
    "models": ("--no-models", False),
}
TRUE = {"true", "yes", "1", "on"}
FALSE = {"false", "no", "0", "off", ""}


class InputError(ValueError):
    pass


def get_input(env: Mapping[str, str], name: str) -> str:
    return env.get(f"INPUT_{name.replace(' ', '_').upper()}", "").strip()


def get_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = get_input(env, name).lower()
    if raw in TRUE:
        return True
    if raw in FALSE:
        return default if raw == "" else False
    raise InputError(f"input '{name}' must be true or false, not {raw!r}")


def resolve(workspace: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else workspace / path


def build_argv(env: Mapping[str, str], workspace: Path) -> list[str]:
    """The ``mlgate`` command line for these inputs."""
    argv = ["scan", str(resolve(workspace, get_input(env, "path") or ".")), "--github"]
    for name, option in PATH_OPTIONS.items():
        value = get_input(env, name)
        if value:
            argv += [option, str(resolve(workspace, value))]
    for name, option in VALUE_OPTIONS.items():
        value = get_input(env, name)
        if value:
            argv += [option, value]
    for name, (flag, when) in FLAG_OPTIONS.items():
        if get_bool(env, name, default=not when) is when:
            argv.append(flag)
    for ref in get_input(env, "image").split():
        # an OCI layout or tarball in the workspace is passed by path; anything else is a
        # registry reference and goes as written
        local = resolve(workspace, ref)
        argv += ["--image", str(local) if local.exists() else ref]
    for pattern in get_input(env, "exclude").replace(",", "\n").splitlines():
        if pattern.strip():
            argv += ["--exclude", pattern.strip()]
    try:
        argv += shlex.split(get_input(env, "args"))  # split like a shell would; never run by one
    except ValueError as exc:  # an unclosed quote: a clear error, not a traceback
        raise InputError(f"input 'args' cannot be split: {exc}") from None
    return argv


def _first_missing(path: Path, workspace: Path) -> Path | None:
    """The outermost folder (or the file itself) on the way to ``path`` that does not exist yet."""
    missing = None
    for candidate in (path, *path.parents):
        if candidate == workspace or workspace not in candidate.parents:
            break
        if not candidate.exists():
            missing = candidate
    return missing


def hand_back(created: list[Path], workspace: Path) -> None:
    """chown what we created to the workspace's owner, never following symlinks."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return
    owner = workspace.stat()
    for top in created:
        if not top.exists() and not top.is_symlink():
            continue
        todo = [top]
        while todo:
            path = todo.pop()
            os.lchown(path, owner.st_uid, owner.st_gid)
            if path.is_dir() and not path.is_symlink():
                todo.extend(path.iterdir())


def main() -> int:
    env = os.environ
    workspace = Path(env.get("GITHUB_WORKSPACE") or os.getcwd()).resolve()
    try:
        argv = build_argv(env, workspace)
    except InputError as exc:
        print(f"::error title=mlgate::{exc}", flush=True)
        return 2
    token = get_input(env, "github-token")
    if token:
        os.environ["GITHUB_TOKEN"] = token
    if get_bool(env, "delete-comment-when-clean", default=False):
        os.environ["MLGATE_COMMENT_DELETE_WHEN_CLEAN"] = "true"
    created = []
    for name in OUTPUT_INPUTS:
        value = get_input(env, name)
        if value:
            target = resolve(workspace, value).resolve()
            if workspace in target.parents:
                # An existing report is replaced by a new file (written as root): hand it back too.
                created.append(_first_missing(target, workspace) or target)

    from mlgate.cli import main as mlgate_main

    try:
        return mlgate_main(argv)
    finally:
        sys.stdout.flush()
        hand_back(created, workspace)


if __name__ == "__main__":
    sys.exit(main())
