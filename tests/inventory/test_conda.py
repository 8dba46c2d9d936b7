"""conda environment files: conda packages, channels, and the nested pip list."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.inventory.build import build_inventory
from mlgate.inventory.conda import CondaEnvironmentExtractor, parse_matchspec
from mlgate.inventory.interface import ExtractContext, ExtractError, ExtractResult, SourceFile
from mlgate.model import Component, Location, Scope

ENV = """\
name: training
channels:
  - pytorch
  - conda-forge
  - defaults
dependencies:
  - python=3.11
  - numpy=1.26.4=py311h64a7726_0
  - pytorch::pytorch==2.2.1
  - conda-forge/linux-64::cudatoolkit=11.8.0
  - scipy>=1.10,<2
  - pandas
  - "mkl[version='>=2023',build=h6d00ec8_46343]"
  - pip
  - pip:
      - --extra-index-url https://gpu.internal.example/simple
      - transformers==4.40.0
      - "accelerate>=0.27 ; sys_platform == 'linux'"
      - -r requirements-pip.txt
      - git+https://git.example/org/tool.git@v3#egg=tool
"""


def extract(root: Path, rel: str) -> ExtractResult:
    path = root / rel
    file = SourceFile(
        root=root.resolve(), relpath=rel, size=path.stat().st_size, head=path.read_bytes()[:512]
    )
    ctx = ExtractContext(root=root.resolve(), max_bytes=1 << 20)
    return CondaEnvironmentExtractor().extract(file, ctx)


def by_key(result: ExtractResult) -> dict[tuple[str, str], Component]:
    return {(c.ecosystem, c.name): c for c in result.components}


def test_conda_packages_channels_and_pip(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("env/environment.yml", ENV)
    write("env/requirements-pip.txt", "safetensors==0.4.2\n")
    result = extract(tmp_path, "env/environment.yml")
    assert result.warnings == []
    comps = by_key(result)

    python = comps[("conda", "python")]
    assert python.version is None and python.spec == "=3.11"  # conda reads =3.11 as 3.11.*
    numpy = comps[("conda", "numpy")]
    assert numpy.version == "1.26.4" and numpy.prop("mlgate:conda-build") == "py311h64a7726_0"
    assert numpy.purl == "pkg:conda/numpy@1.26.4?build=py311h64a7726_0"
    assert numpy.declared_in == (Location("env/environment.yml", 8),)
    assert numpy.scope is Scope.DIRECT
    torch = comps[("conda", "pytorch")]
    assert torch.version == "2.2.1" and torch.prop("mlgate:conda-channel") == "pytorch"
    assert torch.purl == "pkg:conda/pytorch@2.2.1?channel=pytorch"
    cuda = comps[("conda", "cudatoolkit")]
    assert cuda.version == "11.8.0" and cuda.prop("mlgate:conda-channel") == "conda-forge/linux-64"
    assert comps[("conda", "scipy")].spec == ">=1.10,<2"
    assert comps[("conda", "pandas")].version is None
    mkl = comps[("conda", "mkl")]
    assert mkl.spec == ">=2023" and mkl.prop("mlgate:conda-build") == "h6d00ec8_46343"
    assert mkl.declared_in[0].line == 13

    transformers = comps[("PyPI", "transformers")]
    assert transformers.version == "4.40.0"
    assert transformers.purl == "pkg:pypi/transformers@4.40.0"
    assert transformers.declared_in == (Location("env/environment.yml", 17),)
    accelerate = comps[("PyPI", "accelerate")]
    assert accelerate.spec == ">=0.27" and accelerate.prop("mlgate:marker") is not None
    assert accelerate.declared_in[0].line == 18
    # -r inside the pip list: relative to the environment file, at the included file's line
    assert comps[("PyPI", "safetensors")].declared_in == (Location("env/requirements-pip.txt", 1),)
    assert comps[("PyPI", "tool")].prop("mlgate:source") == "vcs"

    sources = {(s.kind, s.url, s.location.line) for s in result.sources}
    assert sources == {
        ("conda-channel", "pytorch", 3),
        ("conda-channel", "conda-forge", 4),
        ("conda-channel", "defaults", 5),
        ("extra-index-url", "https://gpu.internal.example/simple", 16),
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("numpy", (None, "numpy", None, None, None)),
        ("numpy==1.26", (None, "numpy", "1.26", None, None)),
        ("numpy=1.26.4", (None, "numpy", "1.26.4", None, None)),
        ("numpy=1.26", (None, "numpy", None, "=1.26", None)),
        ("numpy=1.26=py_0", (None, "numpy", "1.26", None, "py_0")),
        ("numpy 1.26.4 py_0", (None, "numpy", "1.26.4", None, "py_0")),
        ("numpy=1.26.*", (None, "numpy", None, "=1.26.*", None)),
        ("numpy >=1.2,<2", (None, "numpy", None, ">=1.2,<2", None)),
        ("conda-forge::numpy", ("conda-forge", "numpy", None, None, None)),
    ],
)
def test_matchspec_forms(spec: str, expected: tuple[str | None, ...]) -> None:
    assert parse_matchspec(spec) == expected


def test_broken_yaml_is_an_error_with_line(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("environment.yml", "name: x\ndependencies:\n  - numpy\n  - [unclosed\n")
    with pytest.raises(ExtractError) as info:
        extract(tmp_path, "environment.yml")
    assert "invalid YAML" in str(info.value) and info.value.line is not None


def test_unexpected_shapes_warn(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "environment.yml",
        "dependencies:\n  - numpy=1.26.4\n  - [nested, list]\n  - other: thing\n"
        "  - pip: not-a-list\n  - '???'\n",
    )
    result = extract(tmp_path, "environment.yml")
    assert [c.name for c in result.components] == ["numpy"]
    assert sorted(w.line for w in result.warnings if w.line is not None) == [3, 4, 5, 6]


def test_top_level_not_a_mapping(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("environment.yaml", "- numpy\n")
    with pytest.raises(ExtractError, match="not a mapping"):
        extract(tmp_path, "environment.yaml")


def test_alias_bomb_is_not_expanded(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Technique: YAML "billion laughs" aliases; nodes are composed, never expanded."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    write("environment.yml", "\n".join([*lines, "dependencies:", "  - *a8", "  - numpy"]) + "\n")
    result = extract(tmp_path, "environment.yml")
    assert [c.name for c in result.components] == ["numpy"]
    assert len(result.warnings) == 1


def test_environment_in_a_tree(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("environment.yml", ENV.replace("      - -r requirements-pip.txt\n", ""))
    write("broken/environment.yml", "dependencies: [\n")
    inv = build_inventory(tmp_path, extractors=[CondaEnvironmentExtractor()])
    assert ("conda", "numpy") in {(c.ecosystem, c.name) for c in inv.components}
    assert [w.path for w in inv.warnings] == ["broken/environment.yml"]
