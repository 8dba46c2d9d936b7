"""Where the external validators live; tests that need one skip with a message when it is absent.

`make tools` (run by `.ci/run`) installs them: gitlab-ci-local and npm-groovy-lint with npm into
`.tools/`, Debian's groovy and rsync with apt-get.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NPM_BIN = REPO / ".tools" / "node_modules" / ".bin"
VENV_BIN = REPO / ".venv" / "bin"


def npm_tool(name: str) -> Path:
    path = NPM_BIN / name
    if not path.exists():
        pytest.skip(f"{name} is not installed (run `make tools`)")
    if shutil.which("node") is None:
        pytest.skip(f"{name} needs node, which is not on PATH")
    return path


def venv_tool(name: str) -> Path:
    path = VENV_BIN / name
    if not path.exists():
        found = shutil.which(name)
        if found is None:
            pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
        return Path(found)
    return path


def java_env() -> dict[str, str]:
    """The environment for JVM tools: JAVA_HOME from the java on PATH when it is not set."""
    env = dict(os.environ)
    java = shutil.which("java")
    if java is None:
        pytest.skip("java is not installed")
    if not env.get("JAVA_HOME") or not Path(env["JAVA_HOME"], "bin", "java").exists():
        env["JAVA_HOME"] = str(Path(java).resolve().parent.parent)
    return env


def groovy() -> tuple[Path, dict[str, str]]:
    path = shutil.which("groovy")
    if path is None:
        pytest.skip("groovy is not installed (apt-get install groovy; `make tools`)")
    return Path(path), java_env()
