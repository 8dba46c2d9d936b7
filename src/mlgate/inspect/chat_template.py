"""Jinja chat templates that reach Python internals (server-side template injection).

Chat templates ship inside GGUF files (``tokenizer.chat_template``) and tokenizer configs, and are
rendered by inference servers with Jinja. A template that walks from any object to ``__class__``,
``__globals__`` or ``__subclasses__`` reaches ``os`` and runs commands (the known GGUF SSTI
advisories). The template is *parsed* with jinja2 (never rendered) and its AST is searched for:

* attribute or item access to dunder names (``x.__class__``, ``x['__globals__']``, ``|attr('...')``)
  and to frame / code / module internals (``f_globals``, ``gi_frame``, ``popen`` ...);
* names computed at render time so no literal appears (``'__cla' ~ 'ss__'``, ``[...]|join``,
  ``'%c'|format(95)``) and used as an attribute or item;
* Jinja globals that expose Python objects: ``cycler``, ``joiner``, ``lipsum``, ``self``, and the
  Flask-style ``request`` / ``config`` / ``url_for`` names. ``namespace``, ``range``, ``dict``,
  ``raise_exception``, ``strftime_now`` are used by ordinary templates and are not flagged.

A template jinja2 cannot parse is itself a finding, and the raw text is then searched for dunders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

DANGEROUS_GLOBALS = frozenset(
    {"cycler", "joiner", "lipsum", "self", "request", "config", "url_for", "get_flashed_messages"}
)
DANGEROUS_ATTRS = frozenset(
    {
        "mro",
        "func_globals",
        "f_globals",
        "f_locals",
        "f_back",
        "f_builtins",
        "gi_frame",
        "gi_code",
        "cr_frame",
        "ag_frame",
        "tb_frame",
        "co_code",
        "popen",
        "subprocess",
        "builtins",
        "import_module",
        "environ",
        "_TemplateReference__context",
        "_module",
    }
)
# filters and calls that turn pieces into a string at render time
_STRING_BUILDERS = frozenset({"join", "format", "replace", "string", "reverse", "lower", "upper"})
_DUNDER = re.compile(r"__\w+__")
_RAW_DUNDER = re.compile(r"__(class|globals|subclasses|builtins|init|mro|base|bases|import)__")


@dataclass(frozen=True)
class TemplateIssue:
    trigger: str
    message: str


_ENV: Any = None  # jinja2.Environment, created on first use (jinja2 is imported lazily)


def analyse(source: str) -> list[TemplateIssue]:
    """Every way ``source`` reaches Python internals; empty for ordinary chat templates."""
    # the quantisations of one model (and their shards) carry the same template: parse it once
    if len(source) > _CACHE_TEMPLATE_CHARS:  # memory stays bounded: big ones are not kept
        return _analyse(source)
    found = _ANALYSED.get(source)
    if found is None:
        if len(_ANALYSED) >= 256:
            _ANALYSED.clear()
        found = _ANALYSED[source] = tuple(_analyse(source))
    return list(found)


_ANALYSED: dict[str, tuple[TemplateIssue, ...]] = {}
_CACHE_TEMPLATE_CHARS = 64 * 1024


def _analyse(source: str) -> list[TemplateIssue]:
    try:
        from jinja2 import Environment, nodes
        from jinja2.exceptions import TemplateSyntaxError
    except ImportError:  # pragma: no cover - jinja2 is a runtime dependency
        return _raw(source, "jinja2 is not installed")
    global _ENV
    if _ENV is None:  # one parser per process: building one compiles the lexer's rules
        _ENV = Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])
    try:
        tree = _ENV.parse(source)
    except TemplateSyntaxError as exc:
        return [
            TemplateIssue(
                "syntax-error", f"the template does not parse (line {exc.lineno}): {exc.message}"
            ),
            *_raw(source, "unparsed text"),
        ]
    except RecursionError:
        return [TemplateIssue("syntax-error", "the template nests too deeply to parse")]
    issues: dict[str, TemplateIssue] = {}
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node in tree.find_all(
        (nodes.Getattr, nodes.Getitem, nodes.Name, nodes.Filter, nodes.Const)
    ):
        for issue in _node_issues(node, stored):
            issues.setdefault(issue.trigger, issue)
    return list(issues.values())


def _node_issues(node: object, stored: set[str]) -> Iterator[TemplateIssue]:
    from jinja2 import nodes as n

    if isinstance(node, n.Getattr):
        if _suspicious_name(node.attr):
            yield TemplateIssue(node.attr, f"attribute access to {node.attr!r}")
    elif isinstance(node, n.Getitem):
        key = _const_string(node.arg)
        if key is not None and _suspicious_name(key):
            yield TemplateIssue(key, f"item access to {key!r}")
        elif key is None and _builds_string(node.arg):
            yield TemplateIssue("computed-name", "item access with a name computed at render time")
    elif isinstance(node, n.Filter) and node.name == "attr":
        key = _const_string(node.args[0]) if node.args else None
        if key is None:
            yield TemplateIssue("attr-filter", "|attr() with a name computed at render time")
        elif _suspicious_name(key):
            yield TemplateIssue(key, f"|attr() access to {key!r}")
    elif isinstance(node, n.Name) and node.ctx == "load":
        if node.name in DANGEROUS_GLOBALS and node.name not in stored:
            yield TemplateIssue(node.name, f"the Jinja global {node.name!r} exposes Python objects")
    elif isinstance(node, n.Const) and isinstance(node.value, str):
        m = _DUNDER.search(node.value)
        if m:
            yield TemplateIssue(m.group(0), f"string constant naming {m.group(0)!r}")


def _suspicious_name(name: str) -> bool:
    return (name.startswith("__") and name.endswith("__")) or name in DANGEROUS_ATTRS


def _const_string(node: object) -> str | None:
    """The value of a string built only from constants (``'a' ~ 'b'``), else None."""
    from jinja2 import nodes as n

    if isinstance(node, n.Const):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, n.Concat):
        parts = [_const_string(p) for p in node.nodes]
        return None if any(p is None for p in parts) else "".join(p or "" for p in parts)
    if isinstance(node, n.Add):
        left, right = _const_string(node.left), _const_string(node.right)
        return None if left is None or right is None else left + right
    return None


def _builds_string(node: object) -> bool:
    """True for an expression that manufactures a string (concatenation, join, format ...)."""
    from jinja2 import nodes as n

    if isinstance(node, n.Concat):
        return True
    if isinstance(node, n.Add):
        return (
            _builds_string(node.left)
            or _builds_string(node.right)
            or any(
                isinstance(side, n.Const) and isinstance(side.value, str)
                for side in (node.left, node.right)
            )
        )
    if isinstance(node, n.Filter):
        return node.name in _STRING_BUILDERS
    if isinstance(node, n.Mod):  # "%c%c" % (95, 95)
        return True
    if isinstance(node, n.Call) and isinstance(node.node, n.Getattr):
        return node.node.attr in _STRING_BUILDERS
    return False


def _raw(source: str, why: str) -> list[TemplateIssue]:
    return [
        TemplateIssue(m.group(0), f"{why} names {m.group(0)!r}")
        for m in {m.group(0): m for m in _RAW_DUNDER.finditer(source)}.values()
    ]
