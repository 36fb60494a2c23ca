"""The generated documents: ``CLAIMS.md`` and the README's quoted numbers (package-private).

:mod:`kdtheory.io` re-exports the writers; like every writer of the package they go through its
atomic :func:`kdtheory.io.save_text_atomic`.
"""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["claim_tests", "write_claims_document", "write_readme"]


def _load_records(records_dir) -> dict[str, dict]:
    """The JSON records of a folder by file stem (``rat_separation-full``)."""
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted(Path(records_dir).glob("*.json"))
    }


def claim_tests(tests_dir="tests") -> dict[str, list[str]]:
    """For each claim id, the test files with a test marked as checking it.

    A test checks a claim when it carries the marker ``@pytest.mark.claim("ID", ...)`` (or its
    module sets ``pytestmark = pytest.mark.claim(...)``); a file that only mentions an id (a
    dummy id in a test of the tables) does not count.

    Parameters
    ----------
    tests_dir : str or os.PathLike, default "tests"
        Folder searched recursively (``*.py``).

    Returns
    -------
    dict of str to list of str
        Paths as ``tests/...``, sorted.
    """
    import re

    from kdtheory.claims import CLAIM_IDS

    marker = re.compile(r"mark\.claim\(([^)]*)\)")
    ident = re.compile(r"[\"']([A-Z]+-\d+)[\"']")
    tests: dict[str, list[str]] = {}
    root = Path(tests_dir)
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        ids = {cid for args in marker.findall(text) for cid in ident.findall(args)}
        unknown = ids - set(CLAIM_IDS)
        if unknown:
            raise ValueError(f"{path}: marks unknown claim ids {sorted(unknown)}")
        for cid in sorted(ids):
            tests.setdefault(cid, []).append(f"tests/{path.relative_to(root).as_posix()}")
    return tests


def _write_if_changed(out, text: str, write: bool) -> tuple[Path, bool]:
    from kdtheory.io import save_text_atomic

    out = Path(out)
    changed = not out.exists() or out.read_text(encoding="utf-8") != text
    if write and changed:
        save_text_atomic(out, text)
    return out, changed


def write_claims_document(
    records_dir="paper_figures", tests_dir="tests", out="CLAIMS.md", *, write: bool = True
) -> tuple[Path, bool]:
    """Regenerate the claims document from the records and the tests that check each claim.

    Parameters
    ----------
    records_dir : str or os.PathLike, default "paper_figures"
        Folder of the JSON records (``*.json``) written by ``kdtheory run``.
    tests_dir : str or os.PathLike, default "tests"
        Folder searched for the tests marked as checking each claim (:func:`claim_tests`).
    out : str or os.PathLike, default "CLAIMS.md"
        The document.
    write : bool, default True
        Write the document; with ``False`` only compare.

    Returns
    -------
    path : pathlib.Path
        ``out``.
    changed : bool
        Whether the document differed from what was on disk.
    """
    from kdtheory.claims import claims_document

    text = claims_document(_load_records(records_dir).values(), claim_tests(tests_dir))
    return _write_if_changed(out, text, write)


def write_readme(
    records_dir="paper_figures",
    template="docs/readme_template.md",
    out="README.md",
    *,
    write: bool = True,
) -> tuple[Path, bool, list[str]]:
    """Render the README from its template with the numbers of the records.

    Every number the README quotes from a record is a placeholder of the template
    (``{{rat_separation-full:RAT-2:(oracle ridge) decays ... (no shift, rate_tight}}``, see
    :mod:`kdtheory._quotes`),
    so the README cannot disagree with the records: a README edited by hand, or records that
    changed, make the rendered text differ from the file.

    Parameters
    ----------
    records_dir : str or os.PathLike, default "paper_figures"
        Folder of the JSON records.
    template : str or os.PathLike, default "docs/readme_template.md"
        The template.
    out : str or os.PathLike, default "README.md"
        The README.
    write : bool, default True
        Write the README; with ``False`` only compare.

    Returns
    -------
    path : pathlib.Path
        ``out``.
    changed : bool
        Whether the README differed from the rendering.
    differences : list of str
        The first lines that differ, as ``"README.md:LINE: has '...', the records give '...'"``.
    """
    import difflib

    from kdtheory._claims_text import SUMMARIES
    from kdtheory._quotes import render

    records = _load_records(records_dir)
    text = render(Path(template).read_text(encoding="utf-8"), records, SUMMARIES)
    out = Path(out)
    old = out.read_text(encoding="utf-8").splitlines() if out.exists() else []
    differences = []
    matcher = difflib.SequenceMatcher(None, old, text.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal" and len(differences) < 5:
            has = " / ".join(old[i1:i2]) or "(nothing)"
            want = " / ".join(text.splitlines()[j1:j2]) or "(nothing)"
            differences.append(f"{out}:{i1 + 1}: has {has!r}, the records give {want!r}")
    path, changed = _write_if_changed(out, text, write)
    return path, changed, differences
