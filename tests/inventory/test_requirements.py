"""pip requirements / constraints files: every edge case of the format, with exact lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.inventory.build import build_inventory
from mlgate.inventory.interface import ExtractContext, ExtractError, ExtractResult, SourceFile
from mlgate.inventory.requirements import RequirementsExtractor, logical_lines
from mlgate.model import Component, Hash, Location, Scope

REQS = """\
# ML service requirements
--index-url https://pypi.internal.example/simple
--extra-index-url=https://extra.internal.example/simple
-f ./wheels
--trusted-host pypi.internal.example

numpy==1.26.4 \\
    --hash=sha256:AAAA0000aaaa0000 \\
    --hash sha256:bbbb1111
requests[socks,security]>=2.31,<3 ; python_version >= "3.8"  # pinned by CI later
torch==2.*
legacy===1.0-custom
scikit-learn~=1.4.0
pandas
tokenizers == 0.15.2  # spaces around the operator
"""


def extract(root: Path, rel: str) -> ExtractResult:
    path = root / rel
    file = SourceFile(
        root=root.resolve(), relpath=rel, size=path.stat().st_size, head=path.read_bytes()[:512]
    )
    ctx = ExtractContext(root=root.resolve(), max_bytes=1 << 20)
    return RequirementsExtractor().extract(file, ctx)


def by_name(result: ExtractResult) -> dict[str, Component]:
    return {c.name: c for c in result.components}


def test_pins_ranges_extras_markers_hashes_and_lines(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", REQS)
    result = extract(tmp_path, "requirements.txt")
    comps = by_name(result)
    assert result.warnings == []

    numpy = comps["numpy"]
    assert numpy.version == "1.26.4" and numpy.pinned
    assert numpy.declared_in == (Location("requirements.txt", 7),)  # first physical line
    assert numpy.hashes == (Hash("SHA-256", "aaaa0000aaaa0000"), Hash("SHA-256", "bbbb1111"))
    assert numpy.purl == "pkg:pypi/numpy@1.26.4"
    assert numpy.scope is Scope.DIRECT

    requests = comps["requests"]
    assert requests.version is None and requests.spec == "<3,>=2.31"
    assert requests.prop("mlgate:extras") == "security,socks"
    assert requests.prop("mlgate:marker") == 'python_version >= "3.8"'
    assert requests.declared_in[0].line == 10
    assert requests.purl == "pkg:pypi/requests"

    assert comps["torch"].version is None and comps["torch"].spec == "==2.*"  # wildcard: range
    assert comps["legacy"].version == "1.0-custom"  # === arbitrary equality is a pin
    assert comps["scikit-learn"].spec == "~=1.4.0"
    assert comps["pandas"].version is None and comps["pandas"].spec is None
    assert comps["tokenizers"].version == "0.15.2"
    assert comps["tokenizers"].declared_in[0].line == 15


def test_index_options_are_package_sources(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", REQS)
    result = extract(tmp_path, "requirements.txt")
    sources = {(s.kind, s.url, s.location.line) for s in result.sources}
    assert sources == {
        ("index-url", "https://pypi.internal.example/simple", 2),
        ("extra-index-url", "https://extra.internal.example/simple", 3),
        ("find-links", "./wheels", 4),
        ("trusted-host", "pypi.internal.example", 5),
    }


def test_short_option_forms(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("base.txt", "six==1.16.0\n")
    write(
        "requirements.txt",
        "-ihttps://mirror.internal.example/simple\n-rbase.txt\n--requirement=base.txt\n",
    )
    result = extract(tmp_path, "requirements.txt")
    assert [(s.kind, s.url) for s in result.sources] == [
        ("index-url", "https://mirror.internal.example/simple")
    ]
    assert [c.name for c in result.components] == ["six"]  # included once, not twice
    assert result.warnings == []


def test_comments_do_not_eat_url_fragments() -> None:
    lines = list(
        logical_lines(
            "# whole line\n"
            "git+https://git.example/org/repo.git@v1#egg=repo  # trailing\n"
            "a==1 \\\n"
            "  # a comment line ends the continuation\n"
            "b==2\n"
        )
    )
    assert lines[1] == (2, "git+https://git.example/org/repo.git@v1#egg=repo", "trailing")
    assert lines[2][0] == 3 and lines[2][1].startswith("a==1")
    assert lines[-1] == (5, "b==2", "")


def test_vcs_url_path_and_editable_requirements(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "requirements.txt",
        "-e git+https://git.example/org/repo.git@v1.2#egg=mylib[extra1]\n"
        "git+https://git.example/org/other.git@0123abcd\n"
        "https://files.internal.example/pkgs/foo-1.0-py3-none-any.whl\n"
        "./vendor/localpkg\n"
        "-e .\n"
        "named @ git+https://git.example/org/named.git@main ; sys_platform == 'linux'\n"
        "dist/bar-2.0.tar.gz\n",
    )
    result = extract(tmp_path, "requirements.txt")
    assert result.warnings == []
    comps = by_name(result)
    assert set(comps) == {"mylib", "other", "foo", "localpkg", "named", "bar"}  # "-e ." is us

    mylib = comps["mylib"]
    assert mylib.version is None and not mylib.pinned
    assert mylib.prop("mlgate:source") == "vcs"
    assert mylib.prop("mlgate:vcs-ref") == "v1.2"
    assert mylib.prop("mlgate:editable") == "true"
    assert mylib.prop("mlgate:extras") == "extra1"
    assert mylib.spec == "@ git+https://git.example/org/repo.git@v1.2#egg=mylib[extra1]"
    assert mylib.purl is not None and mylib.purl.startswith("pkg:pypi/mylib?vcs_url=")
    assert mylib.declared_in == (Location("requirements.txt", 1),)

    assert comps["other"].prop("mlgate:vcs-ref") == "0123abcd"
    assert comps["foo"].prop("mlgate:source") == "url"
    assert comps["foo"].version is None
    assert comps["localpkg"].prop("mlgate:source") == "path"
    assert comps["bar"].prop("mlgate:source") == "path"
    named = comps["named"]
    assert named.prop("mlgate:source") == "vcs" and named.prop("mlgate:vcs-ref") == "main"
    assert named.prop("mlgate:marker") == 'sys_platform == "linux"'
    assert named.declared_in[0].line == 6


def test_includes_resolve_relative_to_including_file(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", "flask==3.0.0\n-r requirements/base.txt\n-c constraints/pins.txt\n")
    write("requirements/base.txt", "# shared\n-r common.txt\njinja2==3.1.3\n")
    write("requirements/common.txt", "click==8.1.7\n")
    write("constraints/pins.txt", "werkzeug==3.0.1\n")
    result = extract(tmp_path, "requirements.txt")
    assert result.warnings == []
    comps = by_name(result)
    assert comps["flask"].declared_in == (Location("requirements.txt", 1),)
    assert comps["jinja2"].declared_in == (Location("requirements/base.txt", 3),)
    assert comps["click"].declared_in == (Location("requirements/common.txt", 1),)
    werkzeug = comps["werkzeug"]
    assert werkzeug.declared_in == (Location("constraints/pins.txt", 1),)
    assert werkzeug.prop("mlgate:constraint") == "true"
    assert werkzeug.scope is Scope.UNKNOWN  # a constraint alone installs nothing


def test_include_cycle_is_a_warning_naming_file_and_line(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", "a==1\n-r sub/more.txt\n")
    write("sub/more.txt", "b==2\n\n-r ../requirements.txt\n")
    result = extract(tmp_path, "requirements.txt")
    assert {c.name for c in result.components} == {"a", "b"}
    [warning] = result.warnings
    assert (warning.path, warning.line, warning.code) == ("sub/more.txt", 3, "include-cycle")
    assert "requirements.txt -> sub/more.txt -> requirements.txt" in warning.message


def test_missing_escaping_and_remote_includes_are_warnings(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "outside.txt").write_text("evil==6.6.6\n")
    write(
        "repo/requirements.txt",
        "ok==1.0\n-r nope.txt\n-r ../outside.txt\n-c https://x.example/c.txt\n",
    )
    result = extract(tmp_path / "repo", "requirements.txt")
    assert [c.name for c in result.components] == ["ok"]
    got = {(w.line, w.code) for w in result.warnings}
    assert got == {(2, "input"), (3, "include-escape"), (4, "input")}
    messages = " ".join(w.message for w in result.warnings)
    assert "not found" in messages and "leaves the scanned root" in messages
    assert "not fetched" in messages


def test_remote_include_warning_redacts_credentials(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Technique: a token in the URL of a remote -r/-c include (warnings reach logs and SARIF)."""
    write("requirements.txt", "-r https://u:t0ken@reqs.example/base.txt\n")
    result = extract(tmp_path, "requirements.txt")
    (warning,) = result.warnings
    assert "https://***@reqs.example/base.txt" in warning.message
    assert "t0ken" not in warning.message


def test_symlinked_include_out_of_root_is_not_followed(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Technique: a symlink inside the repo pointing at a file outside it, reached by -r."""
    (tmp_path / "secret.txt").write_text("leak==1.0\n")
    repo = tmp_path / "repo"
    write("repo/requirements.txt", "-r link.txt\n")
    (repo / "link.txt").symlink_to(tmp_path / "secret.txt")
    result = extract(repo, "requirements.txt")
    assert result.components == []
    assert [w.code for w in result.warnings] == ["include-escape"]


def test_invalid_line_warns_and_the_rest_is_read(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", "good==1.0\nthis is not valid!!\n--frobnicate\nalso-good==2.0\n")
    result = extract(tmp_path, "requirements.txt")
    assert [c.name for c in result.components] == ["good", "also-good"]
    assert [(w.path, w.line) for w in result.warnings] == [
        ("requirements.txt", 2),
        ("requirements.txt", 3),
    ]


def test_url_that_urlsplit_rejects_loses_only_its_line(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Technique: a direct reference with a broken IPv6 host (urlsplit raises ValueError)."""
    write(
        "requirements.txt",
        "good==1.0\ngit+https://[bad/repo.git#egg=x\nhttps://h.example:99999/x-1.0.tar.gz\n"
        "also-good==2.0\n",
    )
    result = extract(tmp_path, "requirements.txt")
    # the port is only checked by urlsplit when asked for: that reference is kept
    assert [c.name for c in result.components] == ["good", "x", "also-good"]
    assert [(w.line, "not a valid URL" in w.message) for w in result.warnings] == [(2, True)]


def test_bad_hash_is_a_warning(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", "x==1 --hash=crc32:zz\ny==2 --hash=sha512:ABCD\n")
    result = extract(tmp_path, "requirements.txt")
    assert [c.name for c in result.components] == ["y"]
    assert result.components[0].hashes == (Hash("SHA-512", "abcd"),)
    assert [w.line for w in result.warnings] == [1]


def test_pip_compile_via_annotations_give_scope(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write(
        "requirements.txt",
        "#\n# This file is autogenerated by pip-compile with Python 3.11\n#\n"
        "certifi==2024.2.2\n    # via requests\n"
        "requests==2.31.0\n    # via -r requirements.in\n"
        "torch==2.2.0\n    # via\n    #   -r requirements.in\n    #   torchvision\n"
        "demo-helper==0.1\n    # via demo (pyproject.toml)\n"
        "urllib3==2.2.1\n    # via\n    #   requests\n    #   botocore\n",
    )
    comps = by_name(extract(tmp_path, "requirements.txt"))
    assert comps["certifi"].scope is Scope.TRANSITIVE
    assert comps["urllib3"].scope is Scope.TRANSITIVE
    assert comps["requests"].scope is Scope.DIRECT
    assert comps["torch"].scope is Scope.DIRECT
    assert comps["demo-helper"].scope is Scope.DIRECT


def test_binary_junk_named_requirements_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_bytes(b"\x00\x01\x02PK\x03\x04" * 100)
    with pytest.raises(ExtractError, match="binary"):
        extract(tmp_path, "requirements.txt")


def test_file_names_the_extractor_claims(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.in", "torch>=2\n")
    write("dev-requirements.txt", "pytest==8.0.0\n")
    write("requirements/prod.txt", "gunicorn==21.2.0\n")
    write("constraints.txt", "urllib3==2.2.1\n")
    write("tools.in", "black==24.1.0\n")  # a pip-tools input with any name
    write("MANIFEST.in", "include README.md\nrecursive-include src *.py\n")
    write("Makefile.in", "CC = @CC@\n")
    write("notes.txt", "numpy==1.0\n")
    inv = build_inventory(tmp_path, extractors=[RequirementsExtractor()])
    assert inv.warnings == ()
    got = {c.name: (c.declared_in[0].path, c.scope) for c in inv.components}
    assert got == {
        "torch": ("requirements.in", Scope.DIRECT),
        "pytest": ("dev-requirements.txt", Scope.DIRECT),
        "gunicorn": ("requirements/prod.txt", Scope.DIRECT),
        "urllib3": ("constraints.txt", Scope.UNKNOWN),
        "black": ("tools.in", Scope.DIRECT),
    }


def test_file_both_included_and_walked_is_one_component(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    write("requirements.txt", "-r requirements-base.txt\nflask==3.0.0\n")
    write("requirements-base.txt", "numpy==1.26.4 --hash=sha256:abcd\n")
    inv = build_inventory(tmp_path, extractors=[RequirementsExtractor()])
    numpy = [c for c in inv.components if c.name == "numpy"]
    assert len(numpy) == 1
    assert numpy[0].declared_in == (Location("requirements-base.txt", 1),)
    assert numpy[0].hashes == (Hash("SHA-256", "abcd"),)


def test_bad_file_does_not_stop_the_inventory(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "requirements.txt").write_bytes(b"\xff\xfe\x00junk")
    write("b/requirements.txt", "numpy==1.26.4\n")
    inv = build_inventory(tmp_path, extractors=[RequirementsExtractor()])
    assert [c.name for c in inv.components] == ["numpy"]
    [warning] = inv.warnings
    assert warning.path == "a/requirements.txt" and "binary" in warning.message


def test_credentials_in_urls_are_redacted(tmp_path: Path, write) -> None:  # type: ignore[no-untyped-def]
    """Technique: an index/VCS URL carrying a token must not leak into SBOMs or reports."""
    write(
        "requirements.txt",
        "--extra-index-url https://user:s3cr3t@pypi.internal.example/simple\n"
        "git+https://ghp_TOKEN123@git.example/org/private.git@v1#egg=private\n"
        "git+ssh://git@git.example/org/ssh.git@v2#egg=sshpkg\n",
    )
    result = extract(tmp_path, "requirements.txt")
    assert [s.url for s in result.sources] == ["https://***@pypi.internal.example/simple"]
    comps = by_name(result)
    private = comps["private"]
    assert "TOKEN123" not in repr(private)
    assert (
        private.prop("mlgate:source-url")
        == "git+https://***@git.example/org/private.git@v1#egg=private"
    )
    assert (
        comps["sshpkg"].prop("mlgate:source-url")
        == "git+ssh://git@git.example/org/ssh.git@v2#egg=sshpkg"
    )
