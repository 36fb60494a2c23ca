"""File input and output: the only module of kdtheory that touches the file system.

Everything else in the package is pure functions of arrays; saving and loading lives here so that
the rest stays testable without a disk. Writes are atomic: a file is written to a temporary name in
the destination folder and then renamed over the destination with :func:`os.replace`, so a reader
(or a resumed run) sees either the complete old file, the complete new file, or no file, never a
partial one, even when the writing process is killed.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_SUFFIX",
    "load_pickle",
    "save_pickle_atomic",
    "save_text_atomic",
    "save_outputs",
    "write_figures_index",
]

#: Suffix of the temporary files written before the atomic rename; they start with a dot too,
#: so that globbing a folder for finished files (``*.pkl``) never sees them.
TEMP_SUFFIX = ".tmp"


def save_pickle_atomic(path: str | os.PathLike[str], obj: Any) -> Path:
    """Pickle ``obj`` to ``path`` atomically.

    The object is written to a temporary file in the same folder as ``path`` (created if missing),
    flushed and fsynced, then moved over ``path`` with :func:`os.replace`, which is atomic on POSIX
    and Windows when source and destination are on the same file system.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file. Its parent folder is created if it does not exist.
    obj : object
        Any picklable object.

    Returns
    -------
    pathlib.Path
        The destination path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = save_pickle_atomic(folder / "x.pkl", {"a": 1})
    >>> load_pickle(folder / "x.pkl")
    {'a': 1}
    """
    return _write_atomic(path, "wb", lambda handle: pickle.dump(obj, handle, protocol=5))


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """Load a pickled object from ``path``.

    Only load files you wrote yourself (for example kdtheory's Monte Carlo cache): unpickling
    untrusted data can execute arbitrary code.

    Parameters
    ----------
    path : str or os.PathLike
        File written by :func:`save_pickle_atomic` (or any pickle file).

    Returns
    -------
    object
        The unpickled object.
    """
    with open(path, "rb") as handle:
        return pickle.load(handle)


def save_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temporary file, then :func:`os.replace`)."""
    return _write_atomic(path, "w", lambda handle: handle.write(text))


def _write_atomic(path: str | os.PathLike[str], mode: str, write) -> Path:
    """Write through ``write(handle)`` to a temporary file beside ``path``, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Includes KeyboardInterrupt: never leave a stray temporary file behind.
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path


def save_outputs(out_dir, stem: str, table, figure, claims: Sequence, meta: dict) -> list[Path]:
    """Write one simulation's outputs: ``stem.png``, ``stem.pdf``, ``stem.csv``, ``stem.json``.

    ``stem.json`` holds ``meta`` (name, preset, config, command, run time) and the claims, and is
    what :func:`write_figures_index` reads to index the figure.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    figure.savefig(paths[0], dpi=130)
    figure.savefig(paths[1])
    save_text_atomic(out / f"{stem}.csv", table.to_csv(index=False))
    record = {**meta, "claims": [c.to_dict() for c in claims]}
    save_text_atomic(out / f"{stem}.json", json.dumps(record, indent=2, default=str))
    return [*paths, out / f"{stem}.csv", out / f"{stem}.json"]


def write_figures_index(out_dir, header: str = "") -> Path:
    """Regenerate ``README.md`` in ``out_dir`` from every ``*.json`` record written there."""
    from kdtheory.claims import Claim, claims_table_markdown

    out = Path(out_dir)
    parts = [header.rstrip() + "\n"] if header else []
    for record_path in sorted(out.glob("*.json")):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        stem = record_path.stem
        claims = [Claim.from_dict(c) for c in record.get("claims", [])]
        held = sum(c.holds for c in claims)
        parts.append(
            f"## {stem}\n\n{record.get('title', '')}\n\n"
            f"![{stem}]({stem}.png)\n\n"
            f"Files: [`{stem}.png`]({stem}.png), [`{stem}.pdf`]({stem}.pdf), "
            f"[`{stem}.csv`]({stem}.csv). Preset `{record.get('preset')}`, "
            f"run time {record.get('seconds', float('nan')):.0f} s, "
            f"regenerate with `{record.get('command', '')}`.\n\n"
            f"Claims {', '.join(record.get('claim_ids', []))}: {held} of {len(claims)} checks "
            f"hold.\n\n{claims_table_markdown(claims)}\n"
        )
    return save_text_atomic(out / "README.md", "\n".join(parts))
