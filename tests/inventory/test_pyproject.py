"""pyproject.toml: PEP 621, PEP 735, Poetry, uv and PDM declarations with exact lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.inventory.interface import ExtractContext, ExtractError, ExtractResult, SourceFile
from mlgate.inventory.pyproject import PyprojectExtractor, direct_names_of
from mlgate.inventory.tomlindex import TomlIndex, load_toml, split_key
from mlgate.model import Component, Scope

PEP621 = """\
[build-system]
requires = ["setuptools>=68"]

[project]
name = "vision-service"
version = "0.3.0"
dependencies = [
    "torch==2.2.1",
    "torchvision>=0.17,<0.18",
    'pillow; python_version >= "3.9"',
    "numpy[typing]==1.26.4", "scipy~=1.12",
]

[project.optional-dependencies]
onnx = ["onnxruntime==1.17.1"]
serve = [
    "fastapi>=0.110",
    "numpy[typing]==1.26.4",
]

[dependency-groups]
test = ["pytest==8.1.1", "hypothesis>=6"]
lint = ["ruff==0.3.4"]
dev = [
    {include-group = "test"},
    {include-group = "lint"},
    "ipython",
]

[tool.uv]
dev-dependencies = ["pre-commit==3.7.0"]

[[tool.uv.index]]
name = "internal"
url = "https://pypi.internal.example/simple"
default = true

[[tool.uv.index]]
name = "gpu"
url = "https://gpu.internal.example/simple"
"""

POETRY = """\
[tool.poetry]
name = "nlp"
version = "1.0.0"

[tool.poetry.dependencies]
python = "^3.10"
transformers = "^4.38"
tokenizers = "~0.15.2"
"zope.interface" = "6.2"
accelerate = "==0.27.2"
datasets = { version = ">=2.17", extras = ["audio"], markers = "sys_platform == 'linux'" }
private-lib = { git = "https://git.example/org/private-lib.git", rev = "v2.0.1" }
local-utils = { path = "../utils", develop = true }
wandb = { version = "0.16.4", optional = true }
pyarrow = [
    { version = "<15", python = "<3.9" },
    { version = "15.0.1", python = ">=3.9" },
]
internal-tool = { version = "1.2.3", source = "corp" }

[tool.poetry.group.dev.dependencies]
pytest = "*"
black = "24.2.0"

[tool.poetry.dev-dependencies]
mypy = "1.9.0"

[[tool.poetry.source]]
name = "corp"
url = "https://pypi.corp.example/simple"
priority = "supplemental"

[[tool.poetry.source]]
name = "mirror"
url = "https://mirror.corp.example/simple"
priority = "primary"
"""


def extract(root: Path, rel: str) -> ExtractResult:
    path = root / rel
    file = SourceFile(
        root=root.resolve(), relpath=rel, size=path.stat().st_size, head=path.read_bytes()[:512]
    )
    ctx = ExtractContext(root=root.resolve(), max_bytes=1 << 20)
    return PyprojectExtractor().extract(file, ctx)


def comps_of(result: ExtractResult) -> dict[str, list[Component]]:
    out: dict[str, list[Component]] = {}
    for c in result.components:
        out.setdefault(c.name, []).append(c)
    return out


def one(result: ExtractResult, name: str) -> Component:
    [comp] = {(c.version, c.spec, c.declared_in): c for c in comps_of(result)[name]}.values()
    return comp


def test_pep621_dependencies_and_extras(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("pyproject.toml", PEP621)
    result = extract(tmp_path, "pyproject.toml")
    assert result.warnings == []
    torch = one(result, "torch")
    assert (torch.version, torch.scope, torch.optional) == ("2.2.1", Scope.DIRECT, False)
    assert torch.declared_in[0].line == 8
    assert one(result, "torchvision").spec == "<0.18,>=0.17"
    pillow = one(result, "pillow")
    assert pillow.declared_in[0].line == 10
    assert pillow.prop("mlgate:marker") == 'python_version >= "3.9"'
    assert one(result, "scipy").declared_in[0].line == 11  # second string on the same line
    onnx = one(result, "onnxruntime")
    assert onnx.optional and onnx.prop("mlgate:group") == "onnx"
    assert onnx.declared_in[0].line == 15
    # the same string in two tables: each occurrence at its own line
    numpy_lines = sorted(c.declared_in[0].line for c in comps_of(result)["numpy"])
    assert numpy_lines == [11, 18]
    assert "setuptools" not in comps_of(result)  # build requirements are not dependencies


def test_dependency_groups_with_include_group(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("pyproject.toml", PEP621)
    result = extract(tmp_path, "pyproject.toml")
    pytest_decls = comps_of(result)["pytest"]
    assert {c.declared_in[0].line for c in pytest_decls} == {22}
    assert all(c.optional and c.version == "8.1.1" for c in pytest_decls)
    assert {c.prop("mlgate:group") for c in pytest_decls} == {"test", "dev"}
    ipython = one(result, "ipython")
    assert ipython.optional and ipython.declared_in[0].line == 27
    assert one(result, "pre-commit").optional  # tool.uv.dev-dependencies


def test_dependency_group_cycle_and_unknown_group_warn(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "pyproject.toml",
        "[dependency-groups]\n"
        'a = ["x==1", {include-group = "b"}]\n'
        'b = ["y==2", {include-group = "a"}]\n'
        'c = [{include-group = "missing"}]\n',
    )
    result = extract(tmp_path, "pyproject.toml")
    assert {c.name for c in result.components} == {"x", "y"}
    messages = {(w.line, w.message) for w in result.warnings}
    assert any(line == 2 and "cycle" in m for line, m in messages)
    assert any(line == 4 and "unknown group 'missing'" in m for line, m in messages)


def test_index_sources(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("pyproject.toml", PEP621)
    result = extract(tmp_path, "pyproject.toml")
    sources = {(s.kind, s.url, s.location.line) for s in result.sources}
    assert sources == {
        ("index-url", "https://pypi.internal.example/simple", 35),
        ("extra-index-url", "https://gpu.internal.example/simple", 40),
    }


def test_poetry_dependencies(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("pyproject.toml", POETRY)
    result = extract(tmp_path, "pyproject.toml")
    assert result.warnings == []
    comps = comps_of(result)
    assert "python" not in comps
    transformers = one(result, "transformers")
    assert (transformers.version, transformers.spec) == (None, "^4.38")
    assert transformers.declared_in[0].line == 7 and transformers.scope is Scope.DIRECT
    assert one(result, "tokenizers").spec == "~0.15.2"
    zope = one(result, "zope-interface")
    assert zope.version == "6.2" and zope.declared_in[0].line == 9  # bare version is a pin
    assert one(result, "accelerate").version == "0.27.2"
    datasets = one(result, "datasets")
    assert datasets.spec == ">=2.17" and datasets.prop("mlgate:extras") == "audio"
    assert datasets.prop("mlgate:marker") == "sys_platform == 'linux'"
    private = one(result, "private-lib")
    assert private.version is None and private.prop("mlgate:source") == "vcs"
    assert private.prop("mlgate:vcs-ref") == "v2.0.1"
    assert private.prop("mlgate:source-url") == "git+https://git.example/org/private-lib.git@v2.0.1"
    local = one(result, "local-utils")
    assert local.prop("mlgate:source") == "path" and local.prop("mlgate:editable") == "true"
    wandb = one(result, "wandb")
    assert wandb.version == "0.16.4" and wandb.optional  # only with an extra
    pyarrow = sorted(comps["pyarrow"], key=lambda c: c.version or "")
    assert [(c.version, c.spec) for c in pyarrow] == [(None, "<15"), ("15.0.1", None)]
    assert {c.declared_in[0].line for c in pyarrow} == {15}
    assert one(result, "internal-tool").prop("mlgate:index") == "corp"
    pytest_ = one(result, "pytest")
    assert pytest_.optional and pytest_.spec is None and pytest_.prop("mlgate:group") == "dev"
    assert one(result, "black").version == "24.2.0"
    mypy = one(result, "mypy")
    assert mypy.optional and mypy.declared_in[0].line == 26
    sources = {(s.kind, s.url, s.location.line) for s in result.sources}
    assert sources == {
        ("extra-index-url", "https://pypi.corp.example/simple", 30),
        ("index-url", "https://mirror.corp.example/simple", 35),
    }


def test_poetry2_project_table_is_not_declared_twice(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "pyproject.toml",
        '[project]\nname = "p"\ndependencies = ["requests>=2.31"]\n\n'
        '[tool.poetry.dependencies]\nrequests = { source = "corp" }\n',
    )
    result = extract(tmp_path, "pyproject.toml")
    assert [(c.name, c.spec, c.declared_in[0].line) for c in result.components] == [
        ("requests", ">=2.31", 3)
    ]


def test_pdm_dev_dependencies_and_sources(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "pyproject.toml",
        '[project]\nname = "p"\ndependencies = []\n\n'
        "[tool.pdm.dev-dependencies]\n"
        'test = ["pytest>=8"]\n\n'
        "[[tool.pdm.source]]\n"
        'name = "private"\n'
        'url = "https://pdm.internal.example/simple"\n',
    )
    result = extract(tmp_path, "pyproject.toml")
    [pytest_] = result.components
    assert pytest_.optional and pytest_.declared_in[0].line == 6
    assert [(s.kind, s.location.line) for s in result.sources] == [("extra-index-url", 10)]


def test_invalid_requirement_string_warns(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("pyproject.toml", '[project]\ndependencies = [\n  "ok==1",\n  "not valid!!",\n]\n')
    result = extract(tmp_path, "pyproject.toml")
    assert [c.name for c in result.components] == ["ok"]
    assert [w.line for w in result.warnings] == [4]


def test_invalid_requirement_warning_redacts_credentials(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Technique: a token in the URL of a requirement that does not parse; the warning quotes it."""
    write(
        "pyproject.toml",
        '[project]\nname = "x"\ndependencies = [\n'
        '  "foo @ https://u:t0ken@files.example/foo.whl ; python_version >>> 3",\n'
        '  "bar @ git+ssh://git@git.example/bar.git ; nope",\n]\n',
    )
    messages = [w.message for w in extract(tmp_path, "pyproject.toml").warnings]
    assert len(messages) == 2
    assert "https://***@files.example/foo.whl" in messages[0]
    assert "t0ken" not in " ".join(messages)
    assert "git+ssh://git@git.example/bar.git" in messages[1]  # an SSH user is no secret


def test_broken_toml_raises_with_line(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("pyproject.toml", '[project]\nname = "x"\ndependencies = ["a",\n[tool.x]\n')
    with pytest.raises(ExtractError) as info:
        extract(tmp_path, "pyproject.toml")
    assert "invalid TOML" in str(info.value) and info.value.line is not None


def test_direct_names_cover_every_table() -> None:
    doc = load_toml(PEP621 + "\n" + POETRY.replace("[tool.poetry]", "[tool.poetry]", 1))
    names = direct_names_of(doc)
    assert {"torch", "onnxruntime", "pytest", "pre-commit", "transformers", "mypy"} <= names
    assert "python" not in names


def test_toml_index_is_not_fooled_by_strings_and_arrays() -> None:
    text = (
        'title = """\n[not.a.table]\n"""\n'
        "matrix = [\n"
        '  ["a"]\n'
        "]\n"
        "[real]\n"
        'key = "v"\n'
        '[ "quoted.part" . other ]  # comment\n'
        "k2 = 1\n"
        "[[arr]]\n"
        "name = 'one'\n"
        "[[arr]]\n"
        "name = 'two'\n"
    )
    index = TomlIndex(text)
    assert set(index.headers) == {("real",), ("quoted.part", "other"), ("arr",)}
    assert index.key_line(("real",), "key") == 8
    assert index.key_line(("quoted.part", "other"), "k2") == 10
    assert index.key_line(("arr",), "name", occurrence=1) == 14
    assert index.key_line(("arr",), "name", occurrence=2) is None
    assert index.key_line((), "matrix") == 4
    assert split_key('tool."poetry".dependencies') == ("tool", "poetry", "dependencies")
    assert split_key("a..b") is None


def test_poetry_dependency_as_its_own_table(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "pyproject.toml",
        '[tool.poetry]\nname = "x"\n\n[tool.poetry.dependencies]\npython = "^3.11"\n\n'
        '[tool.poetry.dependencies.torch]\nversion = "2.2.1"\nsource = "gpu"\n',
    )
    [torch] = extract(tmp_path, "pyproject.toml").components
    assert torch.version == "2.2.1" and torch.declared_in[0].line == 7
    assert torch.prop("mlgate:index") == "gpu"


def test_uv_sources_turn_index_requirements_into_git_and_path(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "pyproject.toml",
        '[project]\nname = "x"\ndependencies = ["lib>=1.0", "tools", "numpy==1.26.4"]\n\n'
        "[tool.uv.sources]\n"
        'lib = { git = "https://git.example/org/lib", tag = "v1.2" }\n'
        'tools = { path = "../tools", editable = true }\n',
    )
    result = extract(tmp_path, "pyproject.toml")
    lib, tools, numpy = (one(result, n) for n in ("lib", "tools", "numpy"))
    assert lib.prop("mlgate:source") == "vcs" and lib.prop("mlgate:vcs-ref") == "v1.2"
    assert lib.spec == "@ git+https://git.example/org/lib@v1.2" and lib.declared_in[0].line == 3
    assert tools.prop("mlgate:source") == "path" and tools.prop("mlgate:editable") == "true"
    assert numpy.version == "1.26.4" and numpy.prop("mlgate:source") is None
