"""Sphinx extension of the kdtheory site: the pages generated at every build.

On ``config-inited`` it writes, under ``docs/generated/``
(untracked, see ``.gitignore``):

* ``generated/api/``: one page per public module of :data:`API_MODULES` (the module docstring, an
  autosummary table of the module's ``__all__`` whose ``:toctree: generate`` makes a page per
  name) and an index of the modules;
* ``generated/simulations/``: one page per simulation, from its module docstring
  (``simulations/NAME.py``) and the JSON records ``paper_figures/NAME-PRESET.json`` written by
  :func:`kdtheory.io.save_outputs` (figure, claims table, the commands that regenerate and redraw
  it), and an index of the simulations.

A file is rewritten only when its text changes, and files that are no longer generated (a removed
simulation, a name dropped from an ``__all__``) are deleted, so that no stale page is left outside
every toctree. The generator functions take their folders as arguments, so that the tests call them
on a temporary folder (``tests/test_docs.py``).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import json
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "API_MODULES",
    "GENERATED",
    "public_names",
    "api_page",
    "write_api_pages",
    "SPHINX_ROLES",
    "rst_is_clean",
    "simulation_page",
    "write_simulation_pages",
    "generate",
    "skip_metadata_requests",
    "data_docstring",
    "setup",
]

#: the public modules of the package, in the order of the API reference (private modules,
#: ``kdtheory/_*.py``, are not documented on their own: public modules re-export their names)
API_MODULES = [
    "kdtheory",
    "kdtheory.student_teacher",
    "kdtheory.structured",
    "kdtheory.circulant",
    "kdtheory.lowrank",
    "kdtheory.nystrom",
    "kdtheory.dynamics",
    "kdtheory.semiparametric",
    "kdtheory.exact",
    "kdtheory.kernels",
    "kdtheory.linalg",
    "kdtheory.losses",
    "kdtheory.shift",
    "kdtheory.theory",
    "kdtheory.rates",
    "kdtheory.montecarlo",
    "kdtheory.claims",
    "kdtheory.verdicts",
    "kdtheory.formatting",
    "kdtheory.io",
    "kdtheory.plotting",
    "kdtheory.cli",
    "kdtheory.neural",
    "kdtheory.neural.data",
    "kdtheory.neural.shift",
    "kdtheory.neural.models",
    "kdtheory.neural.airnet",
    "kdtheory.neural.train",
    "kdtheory.neural.bank",
    "kdtheory.neural.losses",
    "kdtheory.neural.distill",
    "kdtheory.neural.imperfect",
    "kdtheory.neural.projector",
]

#: order in which the presets of a simulation are shown; other presets follow alphabetically
PRESET_ORDER = ("quick", "full", "cpu")

#: folder of the generated pages, relative to the documentation source folder
GENERATED = "generated"

#: autosummary's ``:toctree:`` folder, relative to the API pages
STUB_DIR = "generate"

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------
def _underline(title: str, char: str = "=") -> str:
    return f"{title}\n{char * len(title)}\n"


def _write_if_changed(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def _remove_stale(folder: Path, keep: Iterable[Path], pattern: str) -> None:
    keep = {p.resolve() for p in keep}
    for path in folder.glob(pattern):
        if path.is_file() and path.resolve() not in keep:
            path.unlink()


def _fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text`` (MyST code blocks)."""
    runs = [len(m) for m in re.findall(r"`+", text)]
    return "`" * max(3, max(runs, default=0) + 1)


# ---------------------------------------------------------------------------------------------
# API reference
# ---------------------------------------------------------------------------------------------
def public_names(module_name: str) -> list[str]:
    """The names a module's API page lists: its ``__all__``.

    A module without ``__all__`` (the command line, :mod:`kdtheory.cli`) lists the names it
    defines at its top level (functions, classes and assignments) that do not start with an
    underscore, in source order; imported names are not listed.
    """
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    found: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.append(node.name)
        elif isinstance(node, ast.Assign):
            found += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            found.append(node.target.id)
    return [n for n in dict.fromkeys(found) if not n.startswith("_")]


def _summary_line(module_name: str) -> str:
    doc = importlib.import_module(module_name).__doc__ or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _cli_usage() -> str:
    """``kdtheory --help`` and every sub-command's help, as literal blocks (reST)."""
    import argparse

    from kdtheory import cli
    from kdtheory.io import temporary_environ

    # the same text on every machine: a fixed width, no colour (argparse reads both from the
    # environment when it formats the help)
    with temporary_environ(COLUMNS="100", NO_COLOR="1"):
        parser = cli._parser()
        blocks = [("kdtheory --help", parser.format_help())]
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    blocks.append((f"kdtheory {name} --help", sub.format_help()))
    parts = [_underline("Command-line usage", "-"), ""]
    parts.append(
        "After ``make figures`` or ``make test`` the command is ``.venv/bin/kdtheory`` "
        "(or ``kdtheory`` once ``source .venv/bin/activate`` has put ``.venv/bin`` on the PATH).\n"
    )
    for command, text in blocks:
        body = "\n".join(("   " + line).rstrip() for line in text.rstrip().splitlines())
        parts.append(f"``{command}``:\n\n.. code-block:: text\n\n{body}\n")
    return "\n".join(parts)


def api_page(module_name: str) -> str:
    """The reST source of one module's API page."""
    names = public_names(module_name)
    lines = [
        _underline(f"``{module_name}``"),
        f".. automodule:: {module_name}",
        "   :no-members:",
        "",
        f".. currentmodule:: {module_name}",
        "",
    ]
    if names:
        lines += [
            _underline("Public names", "-"),
            ".. autosummary::",
            f"   :toctree: {STUB_DIR}",
            "",
            *[f"   {name}" for name in names],
            "",
        ]
    if module_name == "kdtheory.cli":
        lines.append(_cli_usage())
    return "\n".join(lines)


def write_api_pages(out_dir: str | Path, modules: Iterable[str] = API_MODULES) -> list[Path]:
    """Write one reST page per module of ``modules`` and ``index.rst`` into ``out_dir``.

    Returns the paths written (the module pages, then the index). Stubs of autosummary
    (``out_dir/generate/``) for names no module lists any more are deleted.
    """
    out = Path(out_dir)
    modules = list(modules)
    pages = [_write_if_changed(out / f"{m}.rst", api_page(m)) for m in modules]
    table = [
        ".. list-table::",
        "   :header-rows: 0",
        "   :widths: 30 70",
        "",
    ]
    for m in modules:
        table += [f"   * - :mod:`{m}`", f"     - {_summary_line(m) or ' '}"]
    index = "\n".join(
        [
            _underline("API reference"),
            "One page per public module; each lists the names in the module's ``__all__`` "
            "(private modules, ``kdtheory/_*.py``, are documented through the public modules "
            "that re-export their names). Docstrings follow numpydoc and cite the claim ids "
            "of :doc:`the claims document <../../claims>`.",
            "",
            *table,
            "",
            ".. toctree::",
            "   :hidden:",
            "",
            *[f"   {m}" for m in modules],
            "",
        ]
    )
    pages.append(_write_if_changed(out / "index.rst", index))
    _remove_stale(out, pages, "*.rst")
    stubs = out / STUB_DIR
    if stubs.is_dir():
        wanted = [stubs / f"{m}.{n}.rst" for m in modules for n in public_names(m)]
        _remove_stale(stubs, wanted, "*.rst")
    return pages


# ---------------------------------------------------------------------------------------------
# simulation pages
# ---------------------------------------------------------------------------------------------
def _docstring(path: Path) -> str:
    if not path.exists():
        return ""
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


#: roles that Sphinx knows and plain docutils does not (the ``py`` domain's and the standard ones)
SPHINX_ROLES = frozenset(
    "func meth class mod data attr exc obj const ref doc term numref download envvar option "
    "program file samp kbd abbr command any eq".split()
)


def rst_is_clean(text: str) -> bool:
    """Whether ``text`` parses as reST without a warning and without section titles.

    Sphinx's roles (:data:`SPHINX_ROLES`, e.g. ``:func:``) are unknown to plain docutils; the
    errors about them are ignored, and only about them. A docstring that passes is included as
    reST; otherwise it is shown as a literal block, so that a docstring cannot break the build
    (warnings are errors).
    """
    from docutils import nodes
    from docutils.core import publish_doctree

    settings = {"report_level": 5, "halt_level": 5, "warning_stream": io.StringIO()}
    try:
        tree = publish_doctree(text, settings_overrides=settings)
    except Exception:  # noqa: BLE001 - anything docutils chokes on is shown literally
        return False
    for message in tree.findall(nodes.system_message):
        if message["level"] < 2:
            continue
        role = re.search(r'Unknown interpreted text role "([\w:]+)"', message.astext())
        if role and role.group(1).removeprefix("py:") in SPHINX_ROLES:
            continue
        return False
    return not any(True for _ in tree.findall(nodes.section))


def _records(records_dir: Path) -> dict[str, list[tuple[str, dict, Path]]]:
    """``name -> [(preset, record, json path), ...]`` from ``records_dir/*.json``."""
    found: dict[str, list[tuple[str, dict, Path]]] = {}
    for path in sorted(records_dir.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        name = record.get("name") or path.stem.rsplit("-", 1)[0]
        preset = record.get("preset") or path.stem.rsplit("-", 1)[-1]
        found.setdefault(name, []).append((preset, record, path))

    def order(item):
        preset = item[0]
        rank = PRESET_ORDER.index(preset) if preset in PRESET_ORDER else len(PRESET_ORDER)
        return (rank, preset)

    return {name: sorted(items, key=order) for name, items in sorted(found.items())}


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def simulation_page(
    name: str,
    entries: list[tuple[str, dict, Path]],
    docstring: str,
    page_dir: Path,
) -> str:
    """The MyST source of one simulation's page."""
    from kdtheory.claims import Claim, checks_by_id, claims_table_markdown, verdict_summary

    lines = docstring.strip().splitlines()
    title = lines[0].strip().rstrip(".") if lines else ""
    if not title and entries:
        title = str(entries[0][1].get("title", "")).rstrip(".")
    body = "\n".join(lines[1:]).strip()
    out = [f"(sim-{name})=", f"# {name}: {title}" if title else f"# {name}", ""]
    out.append(
        f"Module `simulations/{name}.py`. "
        + (
            "Presets with a record in `paper_figures/`: "
            + ", ".join(f"[{p}](#sim-{name}-{p})" for p, _, _ in entries)
            + "."
            if entries
            else f"No record in `paper_figures/` yet: run `kdtheory run {name} --preset quick`."
        )
    )
    out.append("")
    if body:
        if rst_is_clean(body):
            fence = _fence(body)
            out += [f"{fence}{{eval-rst}}", body, fence, ""]
        else:
            fence = _fence(body)
            out += [f"{fence}text", body, fence, ""]
    for preset, record, path in entries:
        claims = [Claim.from_dict(c) for c in record.get("claims", [])]
        verdicts = "; ".join(
            f"{cid} {verdict_summary(checks)}" for cid, checks in checks_by_id(claims).items()
        )
        stem = path.stem
        folder = path.parent
        ids = ", ".join(record.get("claim_ids", []))
        out += [f"(sim-{name}-{preset})=", f"## Preset `{preset}`", ""]
        png = folder / f"{stem}.png"
        if png.exists():
            caption = str(record.get("title", "")).replace("\n", " ").strip()
            out += [
                f"```{{figure}} {_rel(png, page_dir)}",
                f":alt: {name}, preset {preset}",
                "",
                caption if caption.rstrip(".") != title else f"Preset `{preset}`.",
                "```",
                "",
            ]
        files = []
        for suffix in (".pdf", ".json"):
            if (folder / f"{stem}{suffix}").exists():
                target = _rel(folder / f"{stem}{suffix}", page_dir)
                files.append(f"{{download}}`{stem}{suffix} <{target}>`")
        table = record.get("table")
        if table and (folder / table).exists():
            files.append(f"{{download}}`{table} <{_rel(folder / table, page_dir)}>`")
        if files:
            out += ["Files: " + ", ".join(files) + ".", ""]
        out += [
            f"Claims {ids}: {verdicts or 'none checked'}.",
            "",
            claims_table_markdown(claims) if claims else "No claim checked.\n",
        ]
        out += [
            "Regenerate (runs the simulation; finished tasks are cached in `.kdtheory_cache/`):",
            "",
            "```bash",
            str(record.get("command") or f"kdtheory run {name} --preset {preset}"),
            "```",
            "",
            "Redraw the figure, the claims and the index from the saved table, without "
            "recomputing:",
            "",
            "```bash",
            f"kdtheory redraw {name} --preset {preset}",
            "```",
            "",
        ]
        config = record.get("config")
        if config:
            out += ["Configuration (`Config` of the preset):", "", "| parameter | value |"]
            out.append("|---|---|")
            for key, value in config.items():
                shown = json.dumps(value).replace("|", "\\|").replace("`", "'")
                out.append(f"| `{key}` | `{shown}` |")
            out.append("")
    return "\n".join(out)


def write_simulation_pages(
    out_dir: str | Path,
    records_dir: str | Path = ROOT / "paper_figures",
    simulations_dir: str | Path = ROOT / "simulations",
) -> list[Path]:
    """Write one MyST page per simulation and ``index.md`` into ``out_dir``.

    A simulation has a page when ``records_dir`` holds a JSON record of it or
    ``simulations_dir`` a module ``NAME.py`` (not starting with an underscore). Returns the
    paths written: the simulation pages (sorted by name), then the index.
    """
    from kdtheory.claims import Claim, checks_by_id, combined_verdict

    out = Path(out_dir)
    records = _records(Path(records_dir))
    sims = Path(simulations_dir)
    modules = {p.stem for p in sims.glob("*.py") if not p.stem.startswith("_")}
    names = sorted(set(records) | modules)
    pages = []
    rows = ["| simulation | what it shows | presets | checks that hold |", "|---|---|---|---|"]
    for name in names:
        entries = records.get(name, [])
        doc = _docstring(sims / f"{name}.py")
        page = out / f"{name}.md"
        pages.append(_write_if_changed(page, simulation_page(name, entries, doc, out)))
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        if not first and entries:
            first = str(entries[0][1].get("title", ""))
        counts = []
        for preset, record, _ in entries:
            claims = [Claim.from_dict(c) for c in record.get("claims", [])]
            summary = ", ".join(
                f"{cid} {combined_verdict(checks)}" for cid, checks in checks_by_id(claims).items()
            )
            counts.append(f"{preset}: {summary}")
        presets = ", ".join(p for p, _, _ in entries) or "-"
        first = first.replace("|", "\\|")
        rows.append(f"| [{name}](#sim-{name}) | {first} | {presets} | {'; '.join(counts) or '-'} |")
    index = "\n".join(
        [
            "# Simulations",
            "",
            "One page per simulation of `simulations/`: what the experiment is (the module's "
            "docstring), then for each preset recorded in `paper_figures/` the figure, the "
            "verdicts on the claims it checks, and the commands that regenerate and redraw it. "
            "These pages are generated from the JSON records at every build of the site.",
            "",
            *rows,
            "",
            "```{toctree}",
            ":hidden:",
            "",
            *names,
            "```",
            "",
        ]
    )
    pages.append(_write_if_changed(out / "index.md", index))
    _remove_stale(out, pages, "*.md")
    return pages


# ---------------------------------------------------------------------------------------------
# Sphinx hook
# ---------------------------------------------------------------------------------------------
def generate(app, config=None) -> None:
    """Write the API and simulation pages under ``docs/generated/``.

    Hooked on ``config-inited``, the first event of a build: Sphinx lists the source files
    before ``builder-inited``, and autosummary generates its stubs on ``builder-inited`` from
    that list, so the pages must exist by then.
    """
    root = Path(app.srcdir) / GENERATED
    write_api_pages(root / "api")
    write_simulation_pages(root / "simulations")


def _attribute_doc(module_name: str, attr: str, obj) -> list[str] | None:
    """The ``#:`` comment of ``attr`` in the module that assigns it, if any.

    A constant re-exported from a private module (``EXPLODED`` from ``kdtheory._rat_kernel``)
    carries its comment in the private module; the candidates are ``module_name`` and every
    private module of the package that holds the same object.
    """
    import pkgutil
    import sys

    from sphinx.pycode import ModuleAnalyzer

    import kdtheory

    candidates = [module_name] + [
        info.name
        for info in pkgutil.walk_packages(kdtheory.__path__, "kdtheory.")
        if info.name.rsplit(".", 1)[-1].startswith("_") and info.name in sys.modules
    ]
    for candidate in candidates:
        module = sys.modules.get(candidate)
        if module is None or getattr(module, attr, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(candidate).find_attr_docs()
        except Exception:  # noqa: BLE001 - no source: no comment
            continue
        if ("", attr) in docs:
            return list(docs[("", attr)])
    return None


def data_docstring(app, what, name, obj, options, lines) -> None:
    """``autodoc-process-docstring``: a constant's own ``#:`` comment, never its type's docstring.

    autodoc documents a module-level constant without a ``#:`` comment (or one re-exported from
    a private module) with the docstring of its type (``tuple``, ``float``, ``str``...). This
    replaces it by the comment in the module that assigns it, or by nothing.
    """
    if what not in ("data", "attribute") or not lines:
        return
    type_doc = inspect.getdoc(type(obj)) or ""
    if "".join("".join(lines).split()) != "".join(type_doc.split()):
        return
    module_name, _, attr = name.rpartition(".")
    lines[:] = _attribute_doc(module_name, attr, obj) or []


def skip_metadata_requests(app, what, name, obj, skip, options):
    """``autodoc-skip-member``: leave out scikit-learn's generated ``set_*_request`` methods.

    scikit-learn adds them to every estimator for metadata routing; their docstrings refer to
    scikit-learn's own glossary and labels, which this site does not have.
    """
    module = getattr(obj, "__module__", "") or ""
    if re.fullmatch(r"set_\w+_request", name) and module.startswith("sklearn."):
        return True
    return None


def setup(app):
    # before Sphinx lists the source files (and autosummary reads them on builder-inited)
    app.connect("config-inited", generate)
    app.connect("autodoc-skip-member", skip_metadata_requests)
    # before numpydoc's handler (priority 500) rewrites the docstring
    app.connect("autodoc-process-docstring", data_docstring, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
