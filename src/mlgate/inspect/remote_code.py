"""Remote models in code: a static pass (``ast``) over Python sources and notebooks.

Nothing is imported or executed. Calls are resolved through the file's imports, so
``import torch as t; t.hub.load(...)``, ``from torch import hub; hub.load(...)`` and
``from transformers import AutoModel as M; M.from_pretrained(...)`` are all recognised, and a
string constant assigned once in the file (``MODEL_ID = "org/name"``) is followed to its use.

Rules:

* ``MLG-CODE-REMOTE-UNPINNED`` - ``from_pretrained`` / ``hf_hub_download`` /
  ``snapshot_download`` / ``pipeline`` / ``SentenceTransformer`` / ``load_dataset`` without a
  ``revision`` that is a commit hash (40 hex digits); a branch or tag name can move.
* ``MLG-CODE-TRUST-REMOTE-CODE`` - ``trust_remote_code=True``: the hub repository's Python runs.
* ``MLG-CODE-TORCH-HUB`` - ``torch.hub.load`` runs the repository's ``hubconf.py``.
* ``MLG-CODE-TORCH-LOAD`` - ``torch.load`` without ``weights_only=True`` (or with ``False``).
* ``MLG-CODE-PICKLE-LOAD`` - ``pickle``/``dill``/``cloudpickle``/``joblib`` loads,
  ``pandas.read_pickle``, ``numpy.load(allow_pickle=True)``.
* ``MLG-CODE-MODEL-URL`` - a model file fetched from a URL at run time.

Each remote model that is named by a literal becomes an external component of kind ``model``
(``data`` for datasets) so the SBOM records it.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from packageurl import PackageURL

from mlgate.current import skip_on_error
from mlgate.model import (
    Component,
    ComponentKind,
    Finding,
    Location,
    ScanWarning,
    Scope,
    Severity,
)

MAX_SOURCE_BYTES = 4 * 1024 * 1024
MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024  # outputs (images) make notebooks large
MAX_LITERAL_SHOWN = 200
KIND = "provenance"

RULE_UNPINNED = "MLG-CODE-REMOTE-UNPINNED"
RULE_TRUST = "MLG-CODE-TRUST-REMOTE-CODE"
RULE_TORCH_HUB = "MLG-CODE-TORCH-HUB"
RULE_TORCH_LOAD = "MLG-CODE-TORCH-LOAD"
RULE_PICKLE = "MLG-CODE-PICKLE-LOAD"
RULE_URL = "MLG-CODE-MODEL-URL"

_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[\w.-]+)?$")
# A cheap pre-filter: files that mention none of these cannot match any rule.
_TRIGGERS = re.compile(
    rb"from_pretrained|hf_hub_download|snapshot_download|trust_remote_code|pipeline|"
    rb"SentenceTransformer|load_dataset|hub|torch|pickle|joblib|dill|read_pickle|"
    rb"allow_pickle|https?://"
)

# Qualified callables (after import resolution) and where their model id is passed.
# value: (positional index, keyword names, component kind)
_HUB_LOADERS: dict[str, tuple[int | None, tuple[str, ...], ComponentKind]] = {
    "huggingface_hub.hf_hub_download": (0, ("repo_id",), ComponentKind.MODEL),
    "huggingface_hub.file_download.hf_hub_download": (0, ("repo_id",), ComponentKind.MODEL),
    "huggingface_hub.snapshot_download": (0, ("repo_id",), ComponentKind.MODEL),
    "huggingface_hub._snapshot_download.snapshot_download": (0, ("repo_id",), ComponentKind.MODEL),
    "transformers.pipeline": (1, ("model",), ComponentKind.MODEL),
    "sentence_transformers.SentenceTransformer": (
        0,
        ("model_name_or_path",),
        ComponentKind.MODEL,
    ),
    "datasets.load_dataset": (0, ("path",), ComponentKind.DATA),
}
# Recognised by their bare name even when the import could not be resolved.
_HUB_BARE = {"hf_hub_download", "snapshot_download"}
_FROM_PRETRAINED_KW = ("pretrained_model_name_or_path", "model_name_or_path", "model_id")

_PICKLE_LOADS = {
    f"{mod}.{fn}"
    for mod in ("pickle", "cPickle", "_pickle", "dill", "cloudpickle")
    for fn in ("load", "loads", "Unpickler")
} | {
    "joblib.load",
    "sklearn.externals.joblib.load",
    "pandas.read_pickle",
    "pandas.io.pickle.read_pickle",
}
_TORCH_LOADS = {"torch.load", "torch.serialization.load"}
_TORCH_HUB_LOADS = {"torch.hub.load"}
_NUMPY_LOADS = {"numpy.load"}

_FETCHERS = {
    "load_state_dict_from_url",
    "download_url_to_file",
    "urlretrieve",
    "urlopen",
    "get",
    "request",
    "Request",
    "stream",
    "download",
    "download_url",
    "get_file",
    "cached_path",
    "cached_download",
    "open",
    "load",
    "fetch",
}
_MODEL_URL_EXTS = (
    ".pt",
    ".pth",
    ".bin",
    ".ckpt",
    ".safetensors",
    ".onnx",
    ".pkl",
    ".pickle",
    ".joblib",
    ".h5",
    ".hdf5",
    ".keras",
    ".gguf",
    ".tflite",
    ".pb",
    ".msgpack",
    ".npz",
    ".npy",
    ".mar",
)
_HASH_KWARGS = {"check_hash", "file_hash", "hash_prefix", "known_hash", "sha256", "md5_hash"}


@dataclass
class CodeScan:
    findings: list[Finding] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    warnings: list[ScanWarning] = field(default_factory=list)
    files: int = 0

    def extend(self, other: CodeScan) -> None:
        self.findings += other.findings
        self.components += other.components
        self.warnings += other.warnings
        self.files += other.files


def _shown(text: str) -> str:
    return text if len(text) <= MAX_LITERAL_SHOWN else text[: MAX_LITERAL_SHOWN - 1] + "…"


def redact_url(url: str) -> str:
    """Drop credentials, query and fragment: a token in a URL must not reach a report."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port:  # raises ValueError for a port that is not a number in range
            host += f":{parts.port}"
    except ValueError:
        from mlgate.textsafe import without_userinfo

        return without_userinfo(url).split("?", 1)[0].split("#", 1)[0]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _is_local(model_id: str) -> bool:
    """True when a literal passed as a model id names a local path, not a hub repository."""
    if model_id.startswith((".", "/", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", model_id):
        return True
    return not _HF_ID.match(model_id)


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name -> qualified name, from every import statement of the module."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    top = alias.name.split(".", 1)[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _constants(tree: ast.AST) -> dict[str, str]:
    """Names bound exactly once (in the whole file) to a string literal."""
    values: dict[str, str | None] = {}
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        for target in targets:
            if not isinstance(target, ast.Name):
                continue
            literal = (
                value.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str)
                else None
            )
            if target.id in values and values[target.id] != literal:
                values[target.id] = None  # rebound: no longer a known constant
            else:
                values[target.id] = literal
    return {k: v for k, v in values.items() if v is not None}


def _dotted(expr: ast.expr, imports: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if not isinstance(expr, ast.Name):
        return None
    parts.append(imports.get(expr.id, expr.id))
    return ".".join(reversed(parts))


def _last_name(expr: ast.expr) -> str | None:
    if isinstance(expr, ast.Attribute):
        return expr.attr
    if isinstance(expr, ast.Name):
        return expr.id
    return None


_MISSING = object()


class _Call:
    """One call site with helpers to read its arguments as literals."""

    def __init__(self, node: ast.Call, constants: dict[str, str]) -> None:
        self.node = node
        self.constants = constants
        self.kwargs = {kw.arg: kw.value for kw in node.keywords if kw.arg is not None}

    def arg(self, index: int | None, names: Iterable[str]) -> ast.expr | None:
        for name in names:
            if name in self.kwargs:
                return self.kwargs[name]
        if index is not None and index < len(self.node.args):
            value = self.node.args[index]
            return None if isinstance(value, ast.Starred) else value
        return None

    def string(self, expr: ast.expr | None) -> str | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        if isinstance(expr, ast.Name):
            return self.constants.get(expr.id)
        return None

    def literal(self, name: str) -> object:
        """The keyword's literal value; ``_MISSING`` when absent; ``None`` when not literal."""
        if name not in self.kwargs:
            return _MISSING
        value = self.kwargs[name]
        if isinstance(value, ast.Constant):
            return value.value
        if isinstance(value, ast.Name) and value.id in self.constants:
            return self.constants[value.id]
        return None

    def strings(self) -> Iterator[str]:
        for value in [*self.node.args, *self.kwargs.values()]:
            text = self.string(value)
            if text is not None:
                yield text


class _FileScanner:
    def __init__(
        self, relpath: str, member: str | None, unpinned: Severity, line_offset: int
    ) -> None:
        self.relpath = relpath
        self.member = member
        self.unpinned = unpinned
        self.line_offset = line_offset
        self.out = CodeScan()

    def loc(self, node: ast.AST) -> Location:
        line = getattr(node, "lineno", 0) + self.line_offset
        col = getattr(node, "col_offset", None)
        return Location(
            self.relpath, line or None, col + 1 if col is not None else None, self.member
        )

    def finding(
        self,
        rule: str,
        severity: Severity,
        message: str,
        node: ast.AST,
        trigger: str,
        fix: str,
        component: str | None = None,
    ) -> None:
        self.out.findings.append(
            Finding(
                rule_id=rule,
                kind=KIND,
                severity=severity,
                message=message,
                location=self.loc(node),
                component=component,
                fix=fix,
                trigger=trigger,
            )
        )

    def component(
        self,
        kind: ComponentKind,
        purl: PackageURL,
        name: str,
        version: str | None,
        node: ast.AST,
        props: list[tuple[str, str]],
    ) -> Component:
        where = self.loc(node)
        comp = Component(
            ecosystem="",
            name=name,
            version=version,
            kind=kind,
            purl=purl.to_string(),
            scope=Scope.DIRECT,
            declared_in=(Location(where.path, where.line, member=where.member),),
            properties=tuple(sorted([("mlgate:external", "true"), *props])),
        )
        self.out.components.append(comp)
        return comp

    # -- rules ---------------------------------------------------------------------------

    def hub_load(
        self,
        call: _Call,
        callee: str,
        id_expr: ast.expr | None,
        kind: ComponentKind,
        default_model: bool = False,
    ) -> None:
        node = call.node
        model_id = call.string(id_expr)
        if model_id is not None and _is_local(model_id):
            return
        revision = call.literal("revision")
        shown = _shown(model_id) if model_id is not None else None
        ref = None
        if model_id is not None:
            pinned = isinstance(revision, str) and bool(_COMMIT.match(revision))
            namespace, _, name = model_id.rpartition("/")
            props = [("mlgate:source", "huggingface"), ("mlgate:loader", callee)]
            if isinstance(revision, str):
                props.append(("mlgate:revision", revision))
            props.append(("mlgate:pinned", "true" if pinned else "false"))
            purl = PackageURL(
                type="huggingface",
                namespace=namespace or None,
                name=name,
                version=revision.lower() if pinned and isinstance(revision, str) else None,
            )
            ref = self.component(kind, purl, model_id, purl.version, node, props).bom_ref
        what = (
            f"'{shown}'"
            if shown is not None
            else (
                "the task's default model" if default_model else "a model id not known statically"
            )
        )
        trigger = f"{callee}:{shown or '?'}"
        fix = "pass revision=<40-hex commit hash> so the download cannot change under you"
        if revision is _MISSING:
            sev = self.unpinned if (shown is not None or default_model) else Severity.LOW
            self.finding(
                RULE_UNPINNED,
                sev,
                f"{callee}() loads {what} from the hub without a pinned revision",
                node,
                trigger,
                fix,
                ref,
            )
        elif revision is None or not isinstance(revision, str):
            self.finding(
                RULE_UNPINNED,
                Severity.LOW,
                f"{callee}() loads {what} with a revision that is not a literal; "
                "cannot tell whether it is a commit hash",
                node,
                trigger,
                fix,
                ref,
            )
        elif not _COMMIT.match(revision):
            self.finding(
                RULE_UNPINNED,
                self.unpinned,
                f"{callee}() loads {what} at revision '{_shown(revision)}', a branch or tag "
                "name that can move; pin a commit hash",
                node,
                f"{trigger}@{_shown(revision)}",
                fix,
                ref,
            )

    def torch_hub(self, call: _Call, callee: str) -> None:
        node = call.node
        source = call.literal("source")
        if source == "local":
            return
        repo = call.string(call.arg(0, ("repo_or_dir", "github")))
        entry = call.string(call.arg(1, ("model",)))
        ref = None
        pinned = False
        if repo is not None:
            owner_repo, _, tag = repo.partition(":")
            owner, _, name = owner_repo.partition("/")
            pinned = bool(_COMMIT.match(tag))
            if owner and name:
                props = [("mlgate:source", "torch.hub"), ("mlgate:loader", callee)]
                if tag:
                    props.append(("mlgate:revision", tag))
                if entry:
                    props.append(("mlgate:entrypoint", entry))
                props.append(("mlgate:pinned", "true" if pinned else "false"))
                purl = PackageURL(type="github", namespace=owner, name=name, version=tag or None)
                comp_name = owner_repo + (f"#{entry}" if entry else "")
                ref = self.component(
                    ComponentKind.MODEL, purl, comp_name, tag or None, node, props
                ).bom_ref
        shown = _shown(repo) if repo else "a repository not known statically"
        self.finding(
            RULE_TORCH_HUB,
            Severity.MEDIUM if not pinned else Severity.LOW,
            f"torch.hub.load() runs hubconf.py of {shown}"
            + ("" if pinned else " (not pinned to a commit)"),
            node,
            f"{callee}:{_shown(repo or '?')}:{_shown(entry or '?')}",
            "vendor the model, or pin 'owner/repo:<commit hash>' and review its hubconf.py",
            ref,
        )

    def torch_load(self, call: _Call, callee: str) -> None:
        weights_only = call.literal("weights_only")
        if weights_only is True:
            return
        if weights_only is False:
            sev, text = Severity.HIGH, "with weights_only=False unpickles arbitrary objects"
        elif weights_only is _MISSING:
            sev = Severity.MEDIUM
            text = "without weights_only=True unpickles arbitrary objects on torch < 2.6"
        else:
            sev, text = Severity.LOW, "with a weights_only value that is not a literal"
        self.finding(
            RULE_TORCH_LOAD,
            sev,
            f"{callee}() {text}",
            call.node,
            f"{callee}:weights_only={weights_only if weights_only is not _MISSING else '-'}",
            "pass weights_only=True (or store tensors as safetensors)",
        )

    def pickle_load(self, call: _Call, callee: str) -> None:
        self.finding(
            RULE_PICKLE,
            Severity.MEDIUM,
            f"{callee}() deserialises a pickle: loading an untrusted file runs code",
            call.node,
            callee,
            "load only files whose hash is locked, or use a format without code (safetensors)",
        )

    def model_url(self, call: _Call, callee: str) -> None:
        for text in call.strings():
            if not re.match(r"^https?://", text, re.IGNORECASE):
                continue
            clean = redact_url(text)
            try:
                path = urlsplit(clean).path.lower()
            except ValueError:  # a broken host cannot be downloaded from; the file goes on
                continue
            if not (path.endswith(_MODEL_URL_EXTS) or "/resolve/" in path):
                continue
            checked = any(
                k in _HASH_KWARGS and call.literal(k) not in (False, None, "") for k in call.kwargs
            )
            name = path.rsplit("/", 1)[-1] or "model"
            purl = PackageURL(type="generic", name=name, qualifiers={"download_url": clean})
            props = [
                ("mlgate:source", "url"),
                ("mlgate:loader", callee),
                ("mlgate:integrity-checked", "true" if checked else "false"),
            ]
            ref = self.component(ComponentKind.MODEL, purl, clean, None, call.node, props).bom_ref
            self.finding(
                RULE_URL,
                Severity.LOW if checked else Severity.MEDIUM,
                f"{callee}() fetches the model {_shown(clean)} at run time"
                + ("" if checked else " without checking its hash"),
                call.node,
                f"{callee}:{_shown(clean)}",
                "vendor the file with a locked hash, or verify a pinned hash when downloading",
                ref,
            )
            return

    # -- driver ---------------------------------------------------------------------------

    def scan(self, tree: ast.AST) -> CodeScan:
        imports = _imports(tree)
        constants = _constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            call = _Call(node, constants)
            qual = _dotted(node.func, imports)
            last = _last_name(node.func)
            if call.literal("trust_remote_code") is True:
                self.finding(
                    RULE_TRUST,
                    Severity.HIGH,
                    f"{qual or last or 'call'}() with trust_remote_code=True runs Python code "
                    "from the model repository",
                    node,
                    f"{qual or last}:trust_remote_code",
                    "drop trust_remote_code, or vendor and review the code at a pinned revision",
                )
            if last == "from_pretrained":
                self.hub_load(
                    call, qual or last, call.arg(0, _FROM_PRETRAINED_KW), ComponentKind.MODEL
                )
            elif qual in _HUB_LOADERS or (last in _HUB_BARE and qual == last):
                index, kws, kind = _HUB_LOADERS.get(
                    qual or "", (0, ("repo_id",), ComponentKind.MODEL)
                )
                id_expr = call.arg(index, kws)
                default = qual == "transformers.pipeline" and id_expr is None
                self.hub_load(call, qual or last or "?", id_expr, kind, default_model=default)
            elif qual in _TORCH_HUB_LOADS:
                self.torch_hub(call, qual)
            elif qual in _TORCH_LOADS:
                self.torch_load(call, qual)
            elif qual in _PICKLE_LOADS:
                self.pickle_load(call, qual)
            elif qual in _NUMPY_LOADS and call.literal("allow_pickle") is True:
                self.pickle_load(call, f"{qual}(allow_pickle=True)")
            if last in _FETCHERS:
                self.model_url(call, qual or last)
        self.out.findings = _number_repeats(self.out.findings)
        return self.out


def _number_repeats(findings: list[Finding]) -> list[Finding]:
    """Source order; the same call repeated in one file gets ``#2``, ``#3`` on its trigger.

    Fingerprints leave out line numbers (so edits above do not churn them); without this, two
    identical calls would share one and a second one added later would pass as already known.
    """
    ordered = sorted(findings, key=lambda f: (f.location.sort_key(), f.rule_id))
    seen: dict[tuple[str, str | None], int] = {}
    out = []
    for f in ordered:
        key = (f.rule_id, f.trigger)
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            f = replace(f, trigger=f"{f.trigger}#{seen[key]}", fingerprint="")
        out.append(f)
    return out


def scan_source(
    text: str,
    relpath: str,
    *,
    member: str | None = None,
    unpinned_severity: Severity = Severity.MEDIUM,
    line_offset: int = 0,
) -> CodeScan:
    """Scan one Python source text. Raises ``SyntaxError``/``ValueError`` when it does not parse."""
    with warnings.catch_warnings():
        # Invalid escape sequences and the like in scanned code are not our warnings to print.
        warnings.simplefilter("ignore")
        tree = ast.parse(text, filename=relpath)
    return _FileScanner(relpath, member, unpinned_severity, line_offset).scan(tree)


def _notebook_cells(raw: bytes) -> Iterator[tuple[int, str]]:
    data = json.loads(raw)
    cells = data.get("cells") if isinstance(data, dict) else None
    for i, cell in enumerate(cells if isinstance(cells, list) else ()):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        src = cell.get("source", "")
        text = "".join(src) if isinstance(src, list) else str(src)
        # IPython magics and shell escapes are not Python; blank them, keeping line numbers.
        lines = ["" if ln.lstrip().startswith(("%", "!")) else ln for ln in text.split("\n")]
        yield i + 1, "\n".join(lines)


def scan_file(
    root: Path, relpath: str, *, unpinned_severity: Severity = Severity.MEDIUM
) -> CodeScan:
    """Scan one ``.py`` or ``.ipynb`` file of the tree; problems become warnings."""
    out = CodeScan(files=1)
    bound = MAX_NOTEBOOK_BYTES if relpath.endswith(".ipynb") else MAX_SOURCE_BYTES
    try:
        with (root / relpath).open("rb") as fh:
            raw = fh.read(bound + 1)
    except OSError as exc:
        out.warnings.append(ScanWarning(relpath, f"not readable: {exc.strerror}", code="code"))
        return out
    if len(raw) > bound:
        out.warnings.append(
            ScanWarning(
                relpath,
                f"larger than {bound} bytes; not scanned for remote models",
                code="code",
            )
        )
        return out
    if not _TRIGGERS.search(raw):
        return out
    try:
        if relpath.endswith(".ipynb"):
            for index, text in _notebook_cells(raw):
                try:
                    out.extend(
                        scan_source(
                            text,
                            relpath,
                            member=f"cell-{index}",
                            unpinned_severity=unpinned_severity,
                        )
                    )
                except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
                    out.warnings.append(_unparsable(relpath, exc, f"cell {index}"))
        else:
            text = raw.decode("utf-8-sig")
            out.extend(scan_source(text, relpath, unpinned_severity=unpinned_severity))
    except UnicodeDecodeError as exc:
        out.warnings.append(
            ScanWarning(relpath, f"not UTF-8 (byte {exc.start}); not scanned", code="code")
        )
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        out.warnings.append(_unparsable(relpath, exc))
    return out


def _unparsable(relpath: str, exc: BaseException, where: str | None = None) -> ScanWarning:
    line = exc.lineno if isinstance(exc, SyntaxError) else None
    what = type(exc).__name__
    detail = f": {exc.msg}" if isinstance(exc, SyntaxError) else ""
    prefix = f"{where}: " if where else ""
    return ScanWarning(
        relpath,
        f"{prefix}not parsed as Python ({what}{detail}); not scanned for remote models",
        line=line,
        code="code",
    )


def is_code_file(relpath: str) -> bool:
    return relpath.endswith((".py", ".ipynb"))


# Third-party code vendored into the tree (virtual environments) is not the repository's code.
_THIRD_PARTY = re.compile(r"(^|/)(site-packages|dist-packages|node_modules|__pypackages__)/")


def scan_code(
    root: Path, relpaths: Iterable[str], *, unpinned_severity: Severity = Severity.MEDIUM
) -> CodeScan:
    out = CodeScan()
    for relpath in relpaths:
        if is_code_file(relpath) and not _THIRD_PARTY.search(relpath):
            with skip_on_error("source scan", relpath, out.warnings, code="source"):
                out.extend(scan_file(root, relpath, unpinned_severity=unpinned_severity))
    return out
