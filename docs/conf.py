"""Sphinx configuration of the kdtheory documentation site (``make docs``, warnings as errors).

The build works offline. The gallery runs the examples without the network. Intersphinx links to
numpy, scipy, scikit-learn and JAX come from inventories cached in ``_build/intersphinx/``
(build output, git-ignored): each build tries to refresh an inventory older than a day (5 s
timeout per project, all fetched at once) and maps the project to its cached file, fresh or from
an earlier build; a project whose inventory cannot be had is left out, with one printed note, and
its names are shown as plain code. ``KDTHEORY_DOCS_OFFLINE=1`` (set it in CI to skip the
network) or a build started from the test suite (``PYTEST_CURRENT_TEST`` set) fetches nothing and
uses the cache alone.

The pages under ``generated/`` (API reference, one page per simulation) are written by the local
extension ``_ext/kdtheory_docs.py`` at every build; ``auto_examples/`` by sphinx-gallery.
"""

from __future__ import annotations

import importlib.metadata
import io
import os
import posixpath
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))  # kdtheory and kdtheory.simulations, when not installed

os.environ.setdefault("MPLBACKEND", "Agg")

from kdtheory_docs import API_MODULES, GENERATED  # noqa: E402  (docs/_ext, on the path above)

# -- project metadata, from the installed package ----------------------------------------------
_meta = importlib.metadata.metadata("kdtheory")
project = _meta["Name"]
release = _meta["Version"]
version = ".".join(release.split(".")[:2])
author = _meta.get("Author") or "the kdtheory contributors"
copyright = f"the kdtheory contributors; {_meta.get('License-Expression') or 'BSD-3-Clause'}"
html_title = f"{project} {release}"

# -- extensions ----------------------------------------------------------------------------------
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax copied into the site: maths renders without the network
    "sphinx.ext.intersphinx",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "kdtheory_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# readme_template.md is the README's source (kdtheory claims renders it), not a page
exclude_patterns = [
    "_build",
    "Thumbs.db",
    ".DS_Store",
    "**.ipynb_checkpoints",
    "readme_template.md",
]
templates_path = ["_templates"]

# -- autodoc / autosummary / numpydoc ------------------------------------------------------------
# the API pages by name, not ``True``: ``True`` means the documents of the *previous* build
# (Sphinx's pickled environment), which misses the page of a module added since
autosummary_generate = [f"{GENERATED}/api/{name}.rst" for name in API_MODULES]
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False  # the class template lists the members with autodoc
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_validation_checks: set[str] = set()

# -- MyST (the claims document, the simulation pages) ---------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath"]  # $...$: the methodology's maths
myst_heading_anchors = 4  # CLAIMS.md links to its own headings: [RAT-1](#rat-1); the guide to them

# -- sphinx-gallery: the examples, executed at build time ----------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # other scripts are shown, not executed (Imagenette)
    "abort_on_example_error": True,
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "min_reported_time": 1,
    "show_signature": False,
}

# -- HTML -----------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "header_links_before_dropdown": 6,
}
html_static_path: list[str] = []
html_show_sourcelink = False

# -- intersphinx: cached inventories, never required ---------------------------------------------
#: the projects linked to, and where their documentation lives
INTERSPHINX_PROJECTS = {
    "numpy": "https://numpy.org/doc/stable/",
    "scipy": "https://docs.scipy.org/doc/scipy/",
    "sklearn": "https://scikit-learn.org/stable/",
    "jax": "https://docs.jax.dev/en/latest/",
}
INVENTORY_CACHE = DOCS / "_build" / "intersphinx"
INVENTORY_TIMEOUT = 5.0  # seconds per project (the fetches run concurrently)
INVENTORY_MAX_AGE = 86400.0  # seconds: a younger cached inventory is used without a fetch
_OFFLINE_FLAG = os.environ.get("KDTHEORY_DOCS_OFFLINE", "").strip().lower()
OFFLINE = _OFFLINE_FLAG not in ("", "0", "false", "no") or "PYTEST_CURRENT_TEST" in os.environ


def _is_inventory(data: bytes, url: str) -> bool:
    """Whether ``data`` parses as a Sphinx inventory (a truncated or HTML answer does not: mapped,
    it would make intersphinx warn, and the build fail)."""
    from sphinx.util.inventory import InventoryFile

    if not data.startswith(b"# Sphinx inventory version"):
        return False
    try:
        if hasattr(InventoryFile, "loads"):  # Sphinx >= 8.2
            InventoryFile.loads(data, uri=url)
        else:
            InventoryFile.load(io.BytesIO(data), url, posixpath.join)
    except Exception:  # noqa: BLE001 - any parse error: not an inventory
        return False
    return True


def _cached_inventory(name: str, url: str) -> Path | None:
    """The cached ``objects.inv`` of a project, refreshed when stale and the network allows."""
    path = INVENTORY_CACHE / f"{name}-objects.inv"
    stale = not path.is_file() or time.time() - path.stat().st_mtime > INVENTORY_MAX_AGE
    if stale and not OFFLINE:
        try:
            with urllib.request.urlopen(url + "objects.inv", timeout=INVENTORY_TIMEOUT) as r:
                data = r.read()
            if not _is_inventory(data, url):
                raise ValueError("not a Sphinx inventory")
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.part")
            partial.write_bytes(data)
            partial.replace(path)  # atomic: a concurrent build never reads half a file
        except (OSError, ValueError):
            pass  # no network, a timeout, a moved page: the cached copy (if any) serves
    if path.is_file() and _is_inventory(path.read_bytes(), url):
        return path
    return None


with ThreadPoolExecutor(max_workers=len(INTERSPHINX_PROJECTS)) as _pool:
    _inventories = dict(
        zip(
            INTERSPHINX_PROJECTS,
            _pool.map(lambda item: _cached_inventory(*item), INTERSPHINX_PROJECTS.items()),
            strict=True,
        )
    )
intersphinx_mapping = {
    name: (INTERSPHINX_PROJECTS[name], str(path))
    for name, path in _inventories.items()
    if path is not None
}
_missing = [name for name, path in _inventories.items() if path is None]
if _missing:
    print(
        f"intersphinx: no inventory of {', '.join(_missing)} "
        f"({'offline build' if OFFLINE else 'not reachable'}, none cached): "
        "their names are not linked"
    )
intersphinx_timeout = INVENTORY_TIMEOUT
