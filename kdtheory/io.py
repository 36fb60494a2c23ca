"""File input and output: the only module of kdtheory that touches the file system.

Everything else in the package is pure functions of arrays; saving and loading lives here so that
the rest stays testable without a disk. Writes are atomic: a file is written to a temporary name in
the destination folder and then renamed over the destination with :func:`os.replace`, so a reader
(or a resumed run) sees either the complete old file, the complete new file, or no file, never a
partial one, even when the writing process is killed.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["TEMP_SUFFIX", "load_pickle", "save_pickle_atomic"]

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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(obj, handle, protocol=pickle.HIGHEST_PROTOCOL)
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
