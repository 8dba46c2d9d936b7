"""Remote models in code: each pattern, aliased imports, revision as branch vs commit hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgate.inspect.remote_code import (
    RULE_PICKLE,
    RULE_TORCH_HUB,
    RULE_TORCH_LOAD,
    RULE_TRUST,
    RULE_UNPINNED,
    RULE_URL,
    CodeScan,
    redact_url,
    scan_code,
    scan_source,
)
from mlgate.model import ComponentKind, Severity

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def scan(code: str) -> CodeScan:
    return scan_source(code, "train.py")


def found(code: str) -> list[tuple[str, Severity, int | None]]:
    return [(f.rule_id, f.severity, f.location.line) for f in scan(code).findings]


# -- hub downloads and the revision ----------------------------------------------------------


def test_from_pretrained_without_revision() -> None:
    out = scan("from transformers import AutoModel\nm = AutoModel.from_pretrained('org/bert')\n")
    assert [(f.rule_id, f.severity, f.location.line) for f in out.findings] == [
        (RULE_UNPINNED, Severity.MEDIUM, 2)
    ]
    (comp,) = out.components
    assert comp.kind is ComponentKind.MODEL
    assert comp.purl == "pkg:huggingface/org/bert"
    assert comp.prop("mlgate:pinned") == "false"
    assert comp.prop("mlgate:external") == "true"
    assert out.findings[0].component == comp.bom_ref


def test_revision_as_branch_name_is_not_pinned() -> None:
    out = scan(
        "import transformers\ntransformers.AutoModel.from_pretrained('org/bert', revision='main')\n"
    )
    (f,) = out.findings
    assert f.rule_id == RULE_UNPINNED and "'main'" in f.message and "branch or tag" in f.message
    assert out.components[0].prop("mlgate:revision") == "main"


def test_revision_as_tag_is_not_pinned() -> None:
    assert (
        found(
            "from transformers import AutoModel\nAutoModel.from_pretrained('o/m', revision='v1.0')"
        )[0][0]
        == RULE_UNPINNED
    )


def test_revision_as_commit_hash_is_pinned() -> None:
    out = scan(
        f"from transformers import AutoModel\n"
        f"AutoModel.from_pretrained('org/bert', revision='{COMMIT}')\n"
    )
    assert out.findings == []
    (comp,) = out.components
    assert comp.version == COMMIT
    assert comp.purl == f"pkg:huggingface/org/bert@{COMMIT}"
    assert comp.prop("mlgate:pinned") == "true"


def test_revision_not_a_literal_is_low() -> None:
    assert found(
        "from transformers import AutoModel\nAutoModel.from_pretrained('o/m', revision=REV)"
    ) == [(RULE_UNPINNED, Severity.LOW, 2)]


def test_model_id_not_a_literal_is_low_and_has_no_component() -> None:
    out = scan("from transformers import AutoModel\nAutoModel.from_pretrained(args.model)\n")
    assert [(f.rule_id, f.severity) for f in out.findings] == [(RULE_UNPINNED, Severity.LOW)]
    assert out.components == []


def test_model_id_followed_through_a_module_constant() -> None:
    code = (
        f"MODEL = 'org/name'\n"
        f"REV = '{COMMIT}'\n"
        "from transformers import AutoModel\n"
        "AutoModel.from_pretrained(MODEL, revision=REV)\n"
    )
    out = scan(code)
    assert out.findings == []
    assert out.components[0].name == "org/name"


def test_rebound_name_is_not_followed() -> None:
    out = scan(
        "M = 'org/a'\n"
        "M = 'org/b'\nfrom transformers import AutoModel\nAutoModel.from_pretrained(M)\n"
    )
    assert out.components == []
    assert [f.severity for f in out.findings] == [Severity.LOW]


@pytest.mark.parametrize("path", ["./checkpoints/best", "/models/bert", "~/m", "a/b/c", "C:\\\\m"])
def test_local_paths_are_not_remote(path: str) -> None:
    out = scan(f"from transformers import AutoModel\nAutoModel.from_pretrained('{path}')\n")
    assert out.findings == [] and out.components == []


def test_from_pretrained_on_any_class_even_unresolved() -> None:
    out = scan("class X: pass\nself.cls.from_pretrained('org/m')\n")
    assert [f.rule_id for f in out.findings] == [RULE_UNPINNED]


def test_aliased_class_import() -> None:
    out = scan("from transformers import AutoModelForCausalLM as M\nM.from_pretrained('o/m')\n")
    assert out.findings[0].message.startswith("transformers.AutoModelForCausalLM.from_pretrained()")


@pytest.mark.parametrize(
    "code",
    [
        (
            "from huggingface_hub import hf_hub_download\n"
            "hf_hub_download('org/m', 'model.safetensors')"
        ),
        "from huggingface_hub import hf_hub_download as dl\ndl(repo_id='org/m', filename='x.bin')",
        "import huggingface_hub as hh\nhh.hf_hub_download('org/m', filename='x.bin')",
        "from huggingface_hub import snapshot_download\nsnapshot_download('org/m')",
        (
            "import huggingface_hub\n"
            "huggingface_hub.snapshot_download(repo_id='org/m', revision='main')"
        ),
        "from sentence_transformers import SentenceTransformer\nSentenceTransformer('org/m')",
        "from transformers import pipeline\npipeline('text-classification', model='org/m')",
    ],
)
def test_hub_downloads_without_commit(code: str) -> None:
    out = scan(code)
    assert [f.rule_id for f in out.findings] == [RULE_UNPINNED]
    assert [c.name for c in out.components] == ["org/m"]


def test_hub_download_pinned() -> None:
    code = (
        f"from huggingface_hub import hf_hub_download\n"
        f"hf_hub_download('org/m', 'w.bin', revision='{COMMIT}')"
    )
    assert scan(code).findings == []


def test_pipeline_default_model_is_unpinned() -> None:
    out = scan("from transformers import pipeline\npipeline('sentiment-analysis')\n")
    assert [(f.rule_id, f.severity) for f in out.findings] == [(RULE_UNPINNED, Severity.MEDIUM)]
    assert "default model" in out.findings[0].message


def test_load_dataset_is_a_data_component() -> None:
    out = scan("from datasets import load_dataset\nload_dataset('org/corpus')\n")
    assert [c.kind for c in out.components] == [ComponentKind.DATA]


def test_unrelated_function_named_like_a_loader_is_ignored() -> None:
    assert scan("def pipeline(x): return x\npipeline('a')\n").findings == []


# -- trust_remote_code -------------------------------------------------------------------------


def test_trust_remote_code_true_is_high() -> None:
    code = (
        f"from transformers import AutoModel\n"
        f"AutoModel.from_pretrained('o/m', revision='{COMMIT}', trust_remote_code=True)"
    )
    assert found(code) == [(RULE_TRUST, Severity.HIGH, 2)]


def test_trust_remote_code_false_is_fine() -> None:
    code = (
        f"from transformers import AutoModel\n"
        f"AutoModel.from_pretrained('o/m', revision='{COMMIT}', trust_remote_code=False)"
    )
    assert found(code) == []


# -- torch.hub / torch.load --------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import torch\ntorch.hub.load('pytorch/vision:v0.10.0', 'resnet18')",
        "import torch as t\nt.hub.load('pytorch/vision:v0.10.0', 'resnet18')",
        "from torch import hub\nhub.load('pytorch/vision:v0.10.0', 'resnet18')",
        "from torch.hub import load as hl\nhl('pytorch/vision:v0.10.0', 'resnet18')",
    ],
)
def test_torch_hub_load_with_aliases(code: str) -> None:
    out = scan(code)
    assert [(f.rule_id, f.severity) for f in out.findings] == [(RULE_TORCH_HUB, Severity.MEDIUM)]
    (comp,) = out.components
    assert comp.purl == "pkg:github/pytorch/vision@v0.10.0"
    assert comp.prop("mlgate:entrypoint") == "resnet18"


def test_torch_hub_pinned_to_commit_is_low_and_local_is_skipped() -> None:
    pinned = found(f"import torch\ntorch.hub.load('o/r:{COMMIT}', 'm')")
    assert pinned == [(RULE_TORCH_HUB, Severity.LOW, 2)]
    assert found("import torch\ntorch.hub.load('./repo', 'm', source='local')") == []


@pytest.mark.parametrize(
    ("code", "severity"),
    [
        ("import torch\ntorch.load('w.pt')", Severity.MEDIUM),
        ("import torch as t\nt.load('w.pt', weights_only=False)", Severity.HIGH),
        ("from torch import load\nload('w.pt', map_location='cpu')", Severity.MEDIUM),
        ("import torch\ntorch.load('w.pt', weights_only=flag)", Severity.LOW),
    ],
)
def test_torch_load_without_weights_only(code: str, severity: Severity) -> None:
    assert found(code) == [(RULE_TORCH_LOAD, severity, 2)]


def test_torch_load_weights_only_true_is_fine() -> None:
    assert found("import torch\ntorch.load('w.pt', weights_only=True)") == []


def test_a_method_called_load_is_not_torch_load() -> None:
    assert found("import json\njson.load(fh)\nmodel.load('x')") == []


# -- pickle-like loads -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        "import pickle\npickle.load(open('m.pkl', 'rb'))",
        "import pickle as pk\npk.loads(blob)",
        "from pickle import load\nload(fh)",
        "import joblib\njoblib.load('model.joblib')",
        "import dill\ndill.load(fh)",
        "import pandas as pd\npd.read_pickle('df.pkl')",
        "import numpy as np\nnp.load('a.npy', allow_pickle=True)",
    ],
)
def test_pickle_loads(code: str) -> None:
    assert found(code) == [(RULE_PICKLE, Severity.MEDIUM, 2)]


def test_numpy_load_without_pickle_is_fine() -> None:
    assert found("import numpy as np\nnp.load('a.npy')") == []


# -- model URLs --------------------------------------------------------------------------------


def test_model_url_fetched_at_run_time() -> None:
    code = (
        "import torch\n"
        "URL = 'https://user:secret@models.example/weights/resnet.pth?token=abc'\n"
        "sd = torch.hub.load_state_dict_from_url(URL)\n"
    )
    out = scan(code)
    assert [(f.rule_id, f.severity, f.location.line) for f in out.findings] == [
        (RULE_URL, Severity.MEDIUM, 3)
    ]
    text = json.dumps([out.findings[0].message, out.components[0].name, out.components[0].purl])
    assert "secret" not in text and "token" not in text
    assert out.components[0].name == "https://models.example/weights/resnet.pth"


def test_model_url_with_hash_check_is_low() -> None:
    code = (
        "import torch\n"
        "torch.hub.load_state_dict_from_url('https://m.example/r-abc123.pth', check_hash=True)"
    )
    assert found(code) == [(RULE_URL, Severity.LOW, 2)]


def test_requests_get_of_a_model_file_and_not_of_a_page() -> None:
    assert [
        r for r, _, _ in found("import requests\nrequests.get('https://m.example/x.onnx')")
    ] == [RULE_URL]
    assert found("import requests\nrequests.get('https://m.example/index.html')") == []


def test_redact_url() -> None:
    assert redact_url("https://u:p@h.example:8443/a/b?x=1#f") == "https://h.example:8443/a/b"


def test_url_that_urlsplit_rejects_does_not_stop_the_file() -> None:
    """Technique: a model URL with a broken IPv6 host before a real finding in the same file."""
    code = (
        "import torch\n"
        "torch.hub.load_state_dict_from_url('https://u:tok@[::1/model.pt')\n"
        "m = torch.load('x.pt')\n"
    )
    out = scan(code)
    assert [(f.rule_id, f.location.line) for f in out.findings] == [("MLG-CODE-TORCH-LOAD", 3)]
    assert out.warnings == []


def test_redact_url_that_urlsplit_rejects() -> None:
    """Technique: a token in a URL with a broken IPv6 host or a bad port (urlsplit raises)."""
    assert redact_url("https://u:tok@[::1/a?x=1") == "https://[::1/a"
    assert redact_url("https://u:tok@h.example:abc/a#f") == "https://h.example:abc/a"
    assert redact_url("https://u:tok@h.example:99999/a") == "https://h.example:99999/a"


# -- files -------------------------------------------------------------------------------------


def test_unparsable_file_is_a_warning_and_the_rest_goes_on(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("import torch\ndef broken(:\n")
    (tmp_path / "good.py").write_text("import torch\ntorch.load('x')\n")
    out = scan_code(tmp_path, ["bad.py", "good.py"])
    assert [w.path for w in out.warnings] == ["bad.py"]
    assert out.warnings[0].line == 2
    assert [f.location.path for f in out.findings] == ["good.py"]


def test_notebook_cells_are_scanned_with_cell_and_line(tmp_path: Path) -> None:
    nb = {
        "cells": [
            {"cell_type": "markdown", "source": ["torch.load('x')"]},
            {"cell_type": "code", "source": ["!pip install torch\n", "%matplotlib inline\n"]},
            {"cell_type": "code", "source": ["import torch\n", "\n", "torch.load('w.pt')\n"]},
        ]
    }
    (tmp_path / "explore.ipynb").write_text(json.dumps(nb))
    out = scan_code(tmp_path, ["explore.ipynb"])
    (f,) = out.findings
    assert (f.rule_id, f.location.member, f.location.line) == (RULE_TORCH_LOAD, "cell-3", 3)


def test_vendored_site_packages_are_skipped(tmp_path: Path) -> None:
    rel = ".venv/lib/python3.11/site-packages/pkg/mod.py"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).write_text("import torch\ntorch.load('x')\n")
    assert scan_code(tmp_path, [rel]).findings == []


def test_non_utf8_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "latin.py").write_bytes(b"import torch\n# caf\xe9\n")
    out = scan_code(tmp_path, ["latin.py"])
    assert "not UTF-8" in out.warnings[0].message


def test_deeply_nested_source_does_not_crash(tmp_path: Path) -> None:
    # Resource exhaustion: a hostile file nesting brackets past the parser's limits.
    (tmp_path / "deep.py").write_text("import torch\nx = " + "[" * 5000 + "]" * 5000 + "\n")
    out = scan_code(tmp_path, ["deep.py"])
    assert out.findings == [] and len(out.warnings) == 1


def test_scanned_code_warnings_are_not_ours_to_print() -> None:
    import warnings

    code = 'import re, torch\nPAT = "\\d+"\ntorch.load("w.pt")\n'
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [f.rule_id for f in scan(code).findings] == [RULE_TORCH_LOAD]


def test_repeated_calls_get_distinct_fingerprints_in_source_order() -> None:
    code = "import torch\n" + "torch.load('w.pt')\n" * 3
    out = scan(code).findings
    assert [f.location.line for f in out] == [2, 3, 4]
    assert [f.trigger for f in out] == [
        "torch.load:weights_only=-",
        "torch.load:weights_only=-#2",
        "torch.load:weights_only=-#3",
    ]
    assert len({f.fingerprint for f in out}) == 3
    # Adding code above leaves the fingerprints alone (no line numbers in them).
    again = scan("import os\n\n" + code).findings
    assert [f.fingerprint for f in again] == [f.fingerprint for f in out]
