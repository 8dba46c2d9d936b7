"""Read back what a rendered config runs: its environment and the mlgate command line.

Each reader parses the config the way its platform does (YAML for GitLab and GitHub with GitLab's
`$[[ inputs.x ]]` interpolation of component defaults; Groovy string literals for Jenkins), so the
equivalence test compares what each platform would execute, not the template text.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import yaml

_INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")


def split_component(text: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A GitLab component: the spec document and the job document."""
    docs = list(yaml.safe_load_all(text))
    assert len(docs) == 2, "a component is two YAML documents separated by ---"
    return docs[0], docs[1]


def interpolate(node: Any, inputs: dict[str, Any]) -> Any:
    """Replace `$[[ inputs.x ]]` in every string, as GitLab does when it includes a component."""
    if isinstance(node, str):
        return _INPUT.sub(lambda m: str(inputs[m.group(1)]), node)
    if isinstance(node, list):
        return [interpolate(n, inputs) for n in node]
    if isinstance(node, dict):
        return {interpolate(k, inputs): interpolate(v, inputs) for k, v in node.items()}
    return node


def gitlab_config(text: str, inputs: dict[str, Any] | None = None) -> dict[str, Any]:
    docs = list(yaml.safe_load_all(text))
    if len(docs) == 1:
        return docs[0]  # type: ignore[no-any-return]
    spec, job = docs
    values = {name: item.get("default") for name, item in spec["spec"]["inputs"].items()}
    values.update(inputs or {})
    return interpolate(job, values)  # type: ignore[no-any-return]


def gitlab_job(text: str, job: str = "mlgate") -> tuple[dict[str, str], list[str]]:
    config = gitlab_config(text)
    body = config[job]
    env = {}
    for key, value in body["variables"].items():
        env[key] = value["value"] if isinstance(value, dict) else value
    return env, list(body["script"])


def github_job(text: str, job: str = "mlgate") -> tuple[dict[str, str], str]:
    config = yaml.safe_load(text)
    body = config["jobs"][job]
    runs = [s["run"] for s in body["steps"] if "run" in s]
    assert len(runs) == 1
    return dict(body["env"]), runs[0]


_GROOVY_LITERAL = re.compile(r"'''(?P<triple>(?:\\.|[^\\])*?)'''|'(?P<single>(?:\\.|[^'\\\n])*)'")
_GROOVY_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "'": "'", '"': '"', "$": "$"}


def groovy_unescape(body: str) -> str:
    def esc(m: re.Match[str]) -> str:
        ch = m.group(1)
        if ch.startswith("u"):
            return chr(int(ch[1:], 16))
        return _GROOVY_ESCAPES[ch]

    return re.sub(r"\\(u[0-9a-fA-F]{4}|.)", esc, body, flags=re.S)


def jenkins_job(text: str) -> tuple[dict[str, str], list[str]]:
    """The environment block and the `sh` steps of a rendered Jenkinsfile (literals only)."""
    env_block = re.search(r"\n    environment \{\n(.*?)\n    \}\n", text, re.S)
    assert env_block, "no environment block"
    env = {}
    for line in env_block.group(1).splitlines():
        m = re.match(r"\s+([A-Z_][A-Z0-9_]*) = (.*)$", line)
        assert m, line
        lit = _GROOVY_LITERAL.fullmatch(m.group(2))
        if lit is None:
            continue  # credentials('id') and other calls
        env[m.group(1)] = groovy_unescape(lit.group("single") or "")
    steps = []
    for m in re.finditer(r"\bsh (?='|''')", text):
        lit = _GROOVY_LITERAL.match(text, m.end())
        assert lit, "sh without a literal"
        body = lit.group("triple") if lit.group("triple") is not None else lit.group("single")
        steps.append(groovy_unescape(body))
    return env, steps


def one_line(command: str) -> str:
    """A shell command with its backslash-newline continuations joined (as the shell does)."""
    return re.sub(r"[ \t]*\\\n[ \t]*", " ", command).strip()


def shell_argv(script: list[str], env: dict[str, str], extra: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """Run the script lines in a real POSIX shell with `mlgate` replaced by a function that
    prints its arguments: the argv each platform's shell would hand to mlgate."""
    fake = 'mlgate() { for a in "$@"; do printf "%s\\0" "$a"; done; }'
    proc = subprocess.run(
        ["sh", "-c", "\n".join([fake, *script])],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env, **(extra or {})},
        capture_output=True,
        check=True,
        text=True,
    )
    return proc.stdout.split("\0")[:-1]
