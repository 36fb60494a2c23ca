"""The user guide (``docs/user_guide/``) and the documentation's intersphinx set-up: fast checks.

Without building the site: every public estimator is documented in the guide, every API name the
guide cites exists, every page is in the guide's table of contents, the guide's code runs and
prints what its comments say, and ``docs/conf.py`` maps intersphinx to cached inventories only,
fetching nothing when offline.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import re
import runpy
import urllib.error
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "user_guide"
PAGES = sorted(GUIDE.glob("*.md"))
ROLE = re.compile(r"\{py:(?:class|func|meth|mod|data|attr|exc|obj)\}`~?([\w.]+)`")
FENCE = re.compile(r"^```python\n(.*?)^```", flags=re.M | re.S)
EXPECTED = re.compile(r"^print\(.*\)\s+# (.+)$")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _guide() -> str:
    return "\n".join(_text(p) for p in PAGES)


def _resolve(dotted: str):
    """The object a dotted name refers to: the longest importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def test_the_guide_has_pages_and_is_in_the_site_toctree():
    assert (GUIDE / "index.md").exists() and len(PAGES) >= 5
    index = _text(GUIDE / "index.md")
    toctree = index.split("```{toctree}", 1)[1].split("```", 1)[0]
    listed = {line.strip() for line in toctree.splitlines()[1:] if line.strip()}
    listed = {name for name in listed if not name.startswith(":")}
    assert listed == {p.stem for p in PAGES if p.stem != "index"}
    assert re.search(r"^   user_guide/index$", (ROOT / "docs" / "index.rst").read_text(), re.M)


def test_every_public_estimator_is_documented():
    import kdtheory

    cited = set(ROLE.findall(_guide()))
    names = [f"kdtheory.{name}" for name in kdtheory.__all__] + [
        "kdtheory.nystrom.NystromKernelRidge",
        "kdtheory.structured.StructuredKernelRidge",
    ]
    for name in names:
        obj = _resolve(name)
        documented = {c for c in cited if c.rsplit(".", 1)[-1] == obj.__name__}
        assert any(_resolve(c) is obj for c in documented), name


def test_every_cited_name_exists():
    cited = set(ROLE.findall(_guide()))
    assert len(cited) > 40
    for name in sorted(cited):
        _resolve(name)  # raises for a name that is not there


def test_maths_is_not_code_formatted():
    """Formulas are MyST maths (``$...$``), not code: no ``^`` or ``_{`` inside backticks."""
    for page in PAGES:
        prose = FENCE.sub("", _text(page))
        for code in re.findall(r"(?<![`{])`([^`\n]+)`", prose):
            assert not re.search(r"\^|_\{|\\(frac|sum|lambda|alpha)", code), (page.name, code)


@pytest.mark.parametrize("page", [p for p in PAGES if FENCE.search(_text(p))], ids=lambda p: p.stem)
def test_the_guide_code_runs_and_prints_what_it_says(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace: dict = {"__name__": f"user_guide_{page.stem}"}
    for block in FENCE.findall(_text(page)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, f"{page.name}", "exec"), namespace)  # noqa: S102
        expected = [m.group(1) for line in block.splitlines() if (m := EXPECTED.match(line))]
        printed = out.getvalue().splitlines()
        assert len(printed) == len(expected), (page.name, printed)
        for got, want in zip(printed, expected, strict=True):
            assert got.split() == want.split(), (page.name, got, want)


# ------------------------------------------------------------------------------- intersphinx
@pytest.fixture
def conf(monkeypatch):
    """``docs/conf.py``'s namespace, executed as Sphinx would (offline: pytest is running)."""
    calls = []

    def no_network(*args, **kwargs):
        calls.append(args)
        raise urllib.error.URLError("no network in the tests")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    namespace = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert calls == []  # a build from the test suite never touches the network
    return namespace["_cached_inventory"].__globals__, calls


def test_conf_maps_only_cached_inventories(conf):
    globs, _ = conf
    assert globs["OFFLINE"] is True  # PYTEST_CURRENT_TEST is set
    assert set(globs["INTERSPHINX_PROJECTS"]) == {"numpy", "scipy", "sklearn", "jax"}
    assert "sphinx.ext.intersphinx" in globs["extensions"]
    for name, (url, path) in globs["intersphinx_mapping"].items():
        assert url == globs["INTERSPHINX_PROJECTS"][name]
        assert Path(path).is_file() and Path(path).parent == globs["INVENTORY_CACHE"]


def test_inventory_cache_offline_and_online(conf, tmp_path, monkeypatch):
    pytest.importorskip("sphinx")  # the docs extra: parsing an inventory needs Sphinx's reader
    globs, calls = conf
    monkeypatch.setitem(globs, "INVENTORY_CACHE", tmp_path)
    fetch = globs["_cached_inventory"]
    url = "https://example.org/doc/"
    old, new = _inventory("old.Name"), _inventory("new.Name")
    # offline: no fetch; a cached copy (however old) serves, unless it is not an inventory
    assert fetch("proj", url) is None and calls == []
    cached = tmp_path / "proj-objects.inv"
    cached.write_bytes(old[:-5])  # truncated
    assert fetch("proj", url) is None
    cached.write_bytes(old)
    assert fetch("proj", url) == cached and calls == []
    # online, network down: the stale copy serves, with one attempt
    monkeypatch.setitem(globs, "OFFLINE", False)
    monkeypatch.setitem(globs, "INVENTORY_MAX_AGE", -1.0)  # every copy is stale
    assert fetch("proj", url) == cached and len(calls) == 1
    assert cached.read_bytes() == old

    # online: a fresh inventory replaces the cache; a page that is not one is ignored
    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    for body in (new, b"<html>", new[:-5]):
        monkeypatch.setattr("urllib.request.urlopen", lambda u, timeout, b=body: Response(b))
        assert fetch("proj", url) == cached
        assert cached.read_bytes() == new  # the fresh inventory, kept over the bad answers
    assert not list(tmp_path.glob("*.part"))


def _inventory(name: str) -> bytes:
    """A one-entry Sphinx inventory (version 2: a header, then zlib-compressed lines)."""
    header = b"# Sphinx inventory version 2\n# Project: p\n# Version: 1\n"
    header += b"# The remainder of this file is compressed using zlib.\n"
    return header + zlib.compress(f"{name} py:class 1 api.html#$ -\n".encode())
