"""Sphinx configuration of the kdtheory documentation site (``make docs``, warnings as errors).

Nothing is downloaded at build time: no intersphinx, and the gallery runs the examples offline.
The pages under ``generated/`` (API reference, one page per simulation) are written by the local
extension ``_ext/kdtheory_docs.py`` at every build; ``auto_examples/`` by sphinx-gallery.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))  # kdtheory and kdtheory.simulations, when not installed

os.environ.setdefault("MPLBACKEND", "Agg")

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
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # the numpydoc sections give the types
numpydoc_show_class_members = False  # the class template lists the members with autodoc
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_validation_checks: set[str] = set()

# -- MyST (the claims document, the simulation pages) ---------------------------------------------
myst_enable_extensions = ["colon_fence", "dollarmath"]  # $...$: the methodology's maths
myst_heading_anchors = 3  # CLAIMS.md links to its own headings: [RAT-1](#rat-1)

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
