"""GGUF: chat-template injection (SSTI) and header bounds, on files written with gguf.GGUFWriter."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter

from mlgate.inspect.chat_template import analyse
from tests.inspect.scanhelp import rules, scan

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content']"
    " + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    " + message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}"
)
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}"
    "{% endif %}{% endfor %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'assistant') %}"
    "{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)
TOOLS_NAMESPACE = (
    "{%- set ns = namespace(found=false, sys='') -%}{%- for m in messages -%}"
    "{%- if m.role == 'system' -%}{%- set ns.sys = m.content -%}{%- set ns.found = true -%}"
    "{%- endif -%}{%- endfor -%}{%- if tools is defined and tools -%}"
    "{{- tools | tojson(indent=4) -}}{%- endif -%}{{ ns.sys }}{{ strftime_now('%d %b %Y') }}"
    "{%- for m in messages[1:] -%}{{ m['content'] }}{%- if not loop.last -%}\\n{%- endif -%}"
    "{%- endfor -%}"
)

BENIGN = {"chatml": CHATML, "llama3": LLAMA3, "mistral": MISTRAL, "gemma": GEMMA}
BENIGN["namespace-tools"] = TOOLS_NAMESPACE

# Each technique reaches Python internals from inside a rendered template.
MALICIOUS = {
    "dunder class/mro/subclasses walk": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler globals to os": "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "joiner globals": "{{ joiner.__init__.__globals__ }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].popen('id') }}",
    "item access with dunder string": "{{ messages['__class__'] }}",
    "attr filter with dunder": "{{ messages|attr('__class__') }}",
    "attr filter with computed name": "{{ messages|attr(x ~ y) }}",
    "dunder built by concatenation": "{{ messages['__cla' ~ 'ss__'] }}",
    "name built with join at render time": "{{ messages[['_','_','class','_','_']|join] }}",
    "name built with format": "{{ messages['%c%cclass%c%c'|format(95,95,95,95)] }}",
    "hex-escaped dunder literal": "{{ messages['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "self template reference": "{{ self._TemplateReference__context }}",
    "request global (flask)": "{{ request.application }}",
    "import via builtins": "{{ x.__builtins__.__import__('os') }}",
}


def _write_gguf(path: Path, template: str | None, extra: dict[str, str] | None = None) -> Path:
    writer = GGUFWriter(str(path), arch="llama")
    writer.add_name("tiny")
    writer.add_array("tokenizer.ggml.tokens", ["<s>", "</s>", "a", "b"])
    writer.add_array("tokenizer.ggml.scores", [0.0, 0.0, 0.5, 0.25])
    if template is not None:
        writer.add_chat_template(template)
    for key, value in (extra or {}).items():
        writer.add_string(key, value)
    writer.add_tensor("w", np.ones((4, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_real_chat_templates_are_not_flagged(tmp_path: Path, name: str) -> None:
    assert analyse(BENIGN[name]) == []
    assert scan(_write_gguf(tmp_path / f"{name}.gguf", BENIGN[name])) == []


def test_gguf_without_template_is_clean(tmp_path: Path) -> None:
    assert scan(_write_gguf(tmp_path / "plain.gguf", None)) == []


@pytest.mark.parametrize("technique", sorted(MALICIOUS))
def test_template_injection_is_flagged(tmp_path: Path, technique: str) -> None:
    findings = scan(_write_gguf(tmp_path / "evil.gguf", MALICIOUS[technique]))
    hits = [f for f in findings if f.rule_id == "MLG-GGUF-TEMPLATE"]
    assert hits, technique
    assert all(f.severity.value == "high" for f in hits)
    assert hits[0].trigger and hits[0].trigger.startswith("tokenizer.chat_template:")


def test_named_template_variants_are_inspected(tmp_path: Path) -> None:
    # technique: payload hidden in tokenizer.chat_template.<name> (tool_use / rag variants)
    path = _write_gguf(
        tmp_path / "variant.gguf",
        CHATML,
        {"tokenizer.chat_template.tool_use": MALICIOUS["cycler globals to os"]},
    )
    findings = scan(path)
    assert {dict(f.properties).get("template_key") for f in findings} == {
        "tokenizer.chat_template.tool_use"
    }


def test_unparseable_template_is_flagged_with_raw_dunders(tmp_path: Path) -> None:
    findings = scan(_write_gguf(tmp_path / "broken.gguf", "{{ x.__class__ {% endfor"))
    triggers = {f.trigger for f in findings}
    assert "tokenizer.chat_template:syntax-error" in triggers
    assert "tokenizer.chat_template:__class__" in triggers


def _header(kv: bytes, n_kv: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, 0, n_kv) + kv


def _gstr(text: str | bytes, length: int | None = None) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(data) if length is None else length) + data


def test_huge_declared_string_is_a_finding_not_an_allocation(tmp_path: Path) -> None:
    path = tmp_path / "huge.gguf"
    path.write_bytes(_header(_gstr("general.name") + struct.pack("<I", 8) + _gstr(b"x", 2**62), 1))
    findings = scan(path)
    assert rules(findings) == {"MLG-GGUF-MALFORMED"}
    assert "declares" in findings[0].message


def test_huge_declared_array_is_a_finding(tmp_path: Path) -> None:
    kv = _gstr("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 2**60)
    path = tmp_path / "array.gguf"
    path.write_bytes(_header(kv, 1))
    assert rules(scan(path)) == {"MLG-GGUF-MALFORMED"}


def test_absurd_kv_count_is_a_finding(tmp_path: Path) -> None:
    path = tmp_path / "count.gguf"
    path.write_bytes(_header(b"", 2**40))
    assert rules(scan(path)) == {"MLG-GGUF-MALFORMED"}


def test_truncated_file_still_reports_template_seen_before(tmp_path: Path) -> None:
    # technique: truncated stream; the template before the cut is still inspected
    full = _write_gguf(tmp_path / "full.gguf", MALICIOUS["joiner globals"]).read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(full[: full.index(b"joiner") + 40])
    assert rules(scan(cut)) == {"MLG-GGUF-TEMPLATE", "MLG-GGUF-MALFORMED"}


def test_unknown_version_and_bad_magic(tmp_path: Path) -> None:
    bad_version = tmp_path / "v9.gguf"
    bad_version.write_bytes(b"GGUF" + struct.pack("<IQQ", 9, 0, 0))
    assert rules(scan(bad_version)) == {"MLG-GGUF-MALFORMED"}
    # named .gguf without the magic: reported, not skipped silently
    no_magic = tmp_path / "nomagic.gguf"
    no_magic.write_bytes(b"\x00" * 64)
    assert rules(scan(no_magic)) == {"MLG-GGUF-MALFORMED"}


def test_big_endian_file_is_read(tmp_path: Path) -> None:
    kv = struct.pack(">Q", 23) + b"tokenizer.chat_template" + struct.pack(">I", 8)
    tmpl = MALICIOUS["lipsum globals"].encode()
    kv += struct.pack(">Q", len(tmpl)) + tmpl
    path = tmp_path / "be.gguf"
    path.write_bytes(b"GGUF" + struct.pack(">IQQ", 3, 0, 1) + kv)
    assert rules(scan(path)) == {"MLG-GGUF-TEMPLATE"}
