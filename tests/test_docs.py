"""The docs: generated parts current, rule catalogue complete, README short, links alive."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

from mlgate.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README_LIMIT = 12 * 1024


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("docs_generate", module)
    spec.loader.exec_module(module)
    return module


def test_generated_docs_are_current() -> None:
    gen = generator()
    for name, render in gen.GENERATED.items():
        current = (DOCS / name).read_text(encoding="utf-8")
        assert current == render(), f"docs/{name} is stale: run 'make docs'"


def test_stale_docs_are_detected(tmp_path: Path) -> None:
    gen = generator()
    for name, render in gen.GENERATED.items():
        (tmp_path / name).write_text(render(), encoding="utf-8")
    assert gen.stale(tmp_path) == []
    (tmp_path / "rules.md").write_text("# an old table\n", encoding="utf-8")
    assert gen.stale(tmp_path) == ["rules.md"]


def test_every_rule_id_in_the_code_is_catalogued_and_the_other_way_round() -> None:
    used = set()
    for path in (ROOT / "src" / "mlgate").rglob("*.py"):
        if path.name == "rules.py":
            continue
        used |= set(re.findall(r'"(MLG-[A-Z0-9-]+)"', path.read_text(encoding="utf-8")))
    catalogued = [r.id for r in RULES]
    assert len(catalogued) == len(set(catalogued)), "a rule id is catalogued twice"
    assert sorted(used - set(catalogued)) == [], "add these to mlgate/rules.py, then 'make docs'"
    assert sorted(set(catalogued) - used) == [], "catalogued but raised nowhere"


def test_every_catalogued_rule_is_in_the_generated_table() -> None:
    table = (DOCS / "rules.md").read_text(encoding="utf-8")
    assert all(f"| `{r.id}` |" in table for r in RULES)


def test_every_policy_key_of_the_schema_is_in_the_reference() -> None:
    from mlgate.policy.config import policy_schema

    schema = policy_schema()
    reference = (DOCS / "policy-reference.md").read_text(encoding="utf-8")
    for key, node in schema["properties"].items():
        assert f"| `{key}` |" in reference
        for sub in node.get("properties") or ():
            assert f"| `{key}.{sub}` |" in reference


def test_readme_is_short_and_keeps_the_first_five_minutes() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.encode()) < README_LIMIT
    for must in ("make demo", "make test", "## Exit codes", "## GitHub Action", "## GitLab CI"):
        assert must in readme
    assert "## Jenkins" in readme and "mlgate scan" in readme


def test_relative_links_of_the_readme_and_docs_resolve() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if re.match(r"^[a-z]+:", target):
                continue  # an absolute URL
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
