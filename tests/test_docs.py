"""The documentation site's generated sources: fast checks only.

``make docs`` (run by CI, warnings as errors) builds the whole site; these tests check, without
running Sphinx, what the site's generator (``docs/_ext/kdtheory_docs.py``) writes: an API page
for every public module listing every name of its ``__all__``, and a page for every simulation
record in ``paper_figures/``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import pkgutil
import re
from pathlib import Path

import pytest

pytest.importorskip("sphinx")

ROOT = Path(__file__).resolve().parents[1]
RECORDS = ROOT / "paper_figures"


def _load_generator():
    spec = importlib.util.spec_from_file_location(
        "kdtheory_docs", ROOT / "docs" / "_ext" / "kdtheory_docs.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


docs = _load_generator()


def _public_modules() -> set[str]:
    import kdtheory

    names = {"kdtheory"}
    for info in pkgutil.walk_packages(kdtheory.__path__, "kdtheory."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.add(info.name)
    return names


@pytest.fixture(scope="module")
def neural():
    pytest.importorskip("jax")
    pytest.importorskip("flax")


def test_every_public_module_has_an_api_page():
    assert set(docs.API_MODULES) == _public_modules()
    assert len(docs.API_MODULES) == len(set(docs.API_MODULES))


def test_api_modules_exist(neural):
    for name in docs.API_MODULES:
        importlib.import_module(name)


def test_api_pages_list_every_public_name(tmp_path, neural):
    pages = docs.write_api_pages(tmp_path)
    assert {p.name for p in pages} == {f"{m}.rst" for m in docs.API_MODULES} | {"index.rst"}
    index = (tmp_path / "index.rst").read_text()
    for name in docs.API_MODULES:
        module = importlib.import_module(name)
        text = (tmp_path / f"{name}.rst").read_text()
        assert f".. automodule:: {name}" in text
        listed = re.findall(r"^   (\w+)$", text.split(".. autosummary::", 1)[-1], flags=re.M)
        expected = getattr(module, "__all__", None) or docs.public_names(name)
        assert expected, name
        assert set(expected) <= set(listed), (name, set(expected) - set(listed))
        for public in expected:
            assert hasattr(module, public), (name, public)
        assert f"   {name}\n" in index


def test_cli_page_lists_its_functions_and_usage(tmp_path, neural):
    docs.write_api_pages(tmp_path, ["kdtheory.cli"])
    text = (tmp_path / "kdtheory.cli.rst").read_text()
    for name in ("main", "run_simulation", "redraw_simulation", "UsageError"):
        assert re.search(rf"^   {name}$", text, flags=re.M), name
    assert "kdtheory run --help" in text and "kdtheory redraw --help" in text


def test_stale_api_stubs_are_removed(tmp_path, neural):
    stubs = tmp_path / docs.STUB_DIR
    stubs.mkdir(parents=True)
    (stubs / "kdtheory.claims.Claim.rst").write_text("kept\n")
    (stubs / "kdtheory.claims.no_such_name.rst").write_text("stale\n")
    (tmp_path / "kdtheory.no_such_module.rst").write_text("stale\n")
    docs.write_api_pages(tmp_path, ["kdtheory.claims"])
    assert (stubs / "kdtheory.claims.Claim.rst").exists()
    assert not (stubs / "kdtheory.claims.no_such_name.rst").exists()
    assert not (tmp_path / "kdtheory.no_such_module.rst").exists()


def test_a_page_for_every_simulation_record(tmp_path):
    records = sorted(RECORDS.glob("*.json"))
    assert records
    pages = docs.write_simulation_pages(tmp_path)
    assert pages[-1].name == "index.md"
    index = pages[-1].read_text()
    for path in records:
        record = json.loads(path.read_text())
        name, preset = record["name"], record["preset"]
        page = tmp_path / f"{name}.md"
        assert page in pages, name
        text = page.read_text()
        assert f"## Preset `{preset}`" in text
        assert f"kdtheory redraw {name} --preset {preset}" in text
        assert record["command"] in text
        for claim in record["claims"]:
            assert f"| {claim['id']} |" in text
        figure = re.search(rf"```{{figure}} (\S*{re.escape(path.stem)}\.png)", text)
        assert figure and (tmp_path / figure.group(1)).resolve() == path.with_suffix(".png")
        assert f"\n{name}\n" in index


def test_simulation_docstrings_render_or_fall_back_to_literal(tmp_path):
    sims, records = tmp_path / "simulations", tmp_path / "records"
    sims.mkdir()
    records.mkdir()
    (sims / "good.py").write_text('"""Good title.\n\nSee :func:`kdtheory.rates.fit_rate`."""\n')
    (sims / "bad.py").write_text('"""Bad title.\n\nBody\n----\n\n*unclosed emphasis\n"""\n')
    (sims / "typo.py").write_text('"""Typo.\n\nA role Sphinx does not know: :fnuc:`f`."""\n')
    record = {"name": "good", "preset": "quick", "claims": [], "command": "kdtheory run good"}
    (records / "good-quick.json").write_text(json.dumps(record))
    (tmp_path / "out" / "gone.md").parent.mkdir()
    (tmp_path / "out" / "gone.md").write_text("stale\n")
    docs.write_simulation_pages(tmp_path / "out", records, sims)
    good = (tmp_path / "out" / "good.md").read_text()
    bad = (tmp_path / "out" / "bad.md").read_text()
    assert good.startswith("(sim-good)=\n# good: Good title\n") and "{eval-rst}" in good
    assert "{eval-rst}" not in bad and "```text\nBody\n----" in bad
    assert "```text\nA role" in (tmp_path / "out" / "typo.md").read_text()
    assert not (tmp_path / "out" / "gone.md").exists()


def test_gallery_examples_have_a_title():
    examples = ROOT / "examples"
    assert (examples / "README.txt").exists()
    scripts = sorted(examples.glob("*.py"))
    assert any(p.name.startswith("plot_") for p in scripts)
    for path in scripts:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        lines = doc.strip().splitlines()
        assert len(lines) >= 2 and set(lines[1]) == {"="}, path.name
