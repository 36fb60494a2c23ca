"""File input and output: the only module of kdtheory that touches the file system.

Everything else in the package is pure functions of arrays; saving and loading lives here so that
the rest stays testable without a disk. Writes are atomic: a file is written to a temporary name in
the destination folder and then renamed over the destination with :func:`os.replace`, so a reader
(or a resumed run) sees either the complete old file, the complete new file, or no file, never a
partial one, even when the writing process is killed.
"""

from __future__ import annotations

import gzip
import json
import os
import pickle
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "TEMP_SUFFIX",
    "load_pickle",
    "save_pickle_atomic",
    "save_text_atomic",
    "save_outputs",
    "table_csv_text",
    "Floor",
    "TABLE_DIGITS",
    "write_figures_index",
    "write_claims_document",
    "write_readme",
    "claim_tests",
    "DATA_ENV_VAR",
    "TABULAR_DATASETS",
    "data_root",
    "load_tabular",
    "temporary_environ",
]

#: CSV tables larger than this many characters are written gzip-compressed (``.csv.gz``)
CSV_GZIP_BYTES = 2_000_000

#: Significant digits of every float of a saved record (:func:`save_outputs`): exact for its
#: configuration's constants, and no fewer than :meth:`kdtheory.claims.Claim.to_dict` keeps for
#: the claims' numbers (at most ten), so that it leaves them unchanged.
SIGNIFICANT_DIGITS = 10

#: Significant digits of a float column of a saved table unless its simulation's ``PRECISION``
#: says otherwise. The exact computations behind the tables agree to about 1e-13 (relative)
#: between BLAS builds, thread counts and CPUs (measured: another OpenBLAS kernel and one
#: thread); eight digits leave a margin of five, so that a rerun on another machine rewrites
#: the same text except for a value within 1e-13 of a rounding boundary (about one value in
#: ten million). Columns determined to fewer digits (ill-conditioned solves, iterates at
#: rounding level) declare their own precision.
TABLE_DIGITS = 8

#: Suffix of the temporary files written before the atomic rename; they start with a dot too,
#: so that globbing a folder for finished files (``*.pkl``) never sees them.
TEMP_SUFFIX = ".tmp"


@contextmanager
def temporary_environ(**changes: str):
    """Set environment variables for the duration of a ``with`` block, then restore each one
    (removed again if it was not set)."""
    saved = {key: os.environ.get(key) for key in changes}
    os.environ.update(changes)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


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


@dataclass(frozen=True)
class Floor:
    """A column recorded as a bound below ``value``: a smaller value (a rounding-level error,
    which differs between machines in every digit) is stored as ``value`` itself, read "at most
    ``value``"; larger values with ``digits`` significant digits."""

    value: float
    digits: int = 3


def _round_column(values, spec):
    import numpy as np

    x = np.asarray(values, dtype=float)
    if isinstance(spec, Floor):
        x = np.where(np.isfinite(x) & (np.abs(x) < spec.value), np.sign(x) * spec.value, x)
        x = np.where(x == 0, spec.value, x)  # an exact zero is below the floor too
        digits = spec.digits
    else:
        digits = int(spec)
        # whole numbers (a count, n, a seed stored as float beside a NaN) are exact: kept whole
        whole = np.isfinite(x) & (np.abs(x) < 1e15) & (x == np.round(x))
        rounded = [float(f"{v:.{digits}g}") if np.isfinite(v) else v for v in x]
        return [v if w else r for v, w, r in zip(x, whole, rounded, strict=True)]
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else v for v in x]


def table_csv_text(table, precision: Mapping[str, Any] | None = None) -> str:
    """The CSV text a table is saved as: each float at the precision it is determined to.

    Parameters
    ----------
    table : pandas.DataFrame
        The tidy table of a run.
    precision : Mapping, optional
        Per column: significant digits (int), a :class:`Floor` (a bound for rounding-level
        values), or None (the column is not stored: run-to-run noise such as an optimizer's
        iteration count). Other float columns get :data:`TABLE_DIGITS` digits.

    Returns
    -------
    str
        CSV without the index. Rounding twice gives the same text, so a table read back from
        its CSV is saved again unchanged.
    """
    precision = dict(precision or {})
    out = table.drop(columns=[c for c, spec in precision.items() if spec is None and c in table])
    out = out.copy()
    for column in out.columns:
        spec = precision.get(column, TABLE_DIGITS)
        if out[column].dtype.kind == "f":
            out[column] = _round_column(out[column], spec)
    # print every value with the digits it was rounded to (whole numbers up to 15)
    widest = max([TABLE_DIGITS, 10] + [int(v) for v in precision.values() if isinstance(v, int)])
    return out.to_csv(index=False, float_format=f"%.{max(widest, 15)}g")


def _rounded(obj):
    """``obj`` with every float rounded to :data:`SIGNIFICANT_DIGITS` significant digits."""
    if isinstance(obj, float):
        return float(f"{obj:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_rounded(v) for v in obj]
    return obj


def save_outputs(
    out_dir, stem: str, table, figure, claims: Sequence, meta: dict, precision=None
) -> list[Path]:
    """Write one simulation's outputs: ``stem.png``, ``stem.pdf``, ``stem.csv``, ``stem.json``.

    ``stem.json`` holds ``meta`` (name, preset, config, command) and the claims, and is what
    :func:`write_figures_index` reads to index the figure. A table whose CSV text exceeds
    :data:`CSV_GZIP_BYTES` is written gzip-compressed as ``stem.csv.gz`` instead (reproducible
    bytes: no timestamp in the header); ``pandas.read_csv`` reads either. Every file is a
    function of the table, the claims and ``meta`` only (no time stamp, no host; the table's
    floats at their ``precision``, :func:`table_csv_text`; the claims' numbers at the precision
    their intervals support, :meth:`kdtheory.claims.Claim.to_dict`), so the outputs can be
    tracked and a rerun on another machine leaves them unchanged.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    figure.savefig(paths[0], dpi=130)
    figure.savefig(paths[1], metadata={"CreationDate": None})  # same figure, same bytes
    text = table_csv_text(table, precision)
    csv_path, stale = out / f"{stem}.csv", out / f"{stem}.csv.gz"
    if len(text) > CSV_GZIP_BYTES:
        csv_path, stale = stale, csv_path
        _write_atomic(csv_path, "wb", lambda h: h.write(gzip.compress(text.encode(), mtime=0)))
    else:
        save_text_atomic(csv_path, text)
    stale.unlink(missing_ok=True)
    record = {**meta, "claims": [c.to_dict() for c in claims], "table": csv_path.name}
    text = json.dumps(_rounded(record), indent=2, default=str) + "\n"
    save_text_atomic(out / f"{stem}.json", text)
    return [*paths, csv_path, out / f"{stem}.json"]


def write_figures_index(out_dir, header: str = "") -> Path:
    """Regenerate ``README.md`` in ``out_dir`` from every ``*.json`` record written there."""
    from kdtheory.claims import Claim, checks_by_id, claims_table_markdown, verdict_summary

    out = Path(out_dir)
    parts = [header.rstrip() + "\n"] if header else []
    for record_path in sorted(out.glob("*.json")):
        record = json.loads(record_path.read_text(encoding="utf-8"))
        stem = record_path.stem
        table = record.get("table", f"{stem}.csv")
        claims = [Claim.from_dict(c) for c in record.get("claims", [])]
        verdicts = "; ".join(
            f"{cid} {verdict_summary(checks)}" for cid, checks in checks_by_id(claims).items()
        )
        parts.append(
            f"## {stem}\n\n{record.get('title', '')}\n\n"
            f"![{stem}]({stem}.png)\n\n"
            f"Files: [`{stem}.png`]({stem}.png), [`{stem}.pdf`]({stem}.pdf), "
            f"[`{table}`]({table}). Preset `{record.get('preset')}`; "
            f"regenerate with `{record.get('command', '')}`, redraw from the table with "
            f"`kdtheory redraw {record.get('name', stem)} --preset {record.get('preset')}`.\n\n"
            f"Verdicts: {verdicts or 'none'}.\n\n{claims_table_markdown(claims)}\n"
        )
    return save_text_atomic(out / "README.md", "\n".join(parts))


# ----------------------------------------------------------------------------------------------
# Data sets (docs/architecture.md, "Data"): tabular data of the semiparametric-distillation
# reproduction.
# ----------------------------------------------------------------------------------------------

#: Environment variable naming the data folder (docs/architecture.md, "Data").
DATA_ENV_VAR = "KDTHEORY_DATA"

#: The tabular data sets :func:`load_tabular` reads: file name, target column, positive class
#: (``y = 1``), and how to provide the file when it is missing.
TABULAR_DATASETS: dict[str, dict[str, str]] = {
    "magic": {
        "file": "magic04.csv",
        "target": "class",
        "positive": "h",
        "how": "the UCI MAGIC Gamma Telescope data (magic04.data, 19,020 rows) as CSV with the "
        "header Length,Width,Size,Conc,Conc1,Asym,M3Long,M3Trans,Alpha,Dist,class and `class` "
        "in {g, h}",
    },
    "adult": {
        "file": "adult.csv",
        "target": "income",
        "positive": ">50K",
        "how": "the UCI Adult (census income) data as CSV with a header row, the 14 feature "
        "columns and the target column `income` in {<=50K, >50K}",
    },
}


def _user_cache_dir() -> Path:
    """The user cache folder of kdtheory: ``$XDG_CACHE_HOME/kdtheory`` or ``~/.cache/kdtheory``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kdtheory"


def data_root(path: str | os.PathLike[str] | None = None, *, require: str | None = None) -> Path:
    """The folder that holds kdtheory's data sets (docs/architecture.md, "Data").

    Looked up in this order: the explicit ``path`` (when given, it is the only place looked:
    a folder the user names is never silently replaced by another), then the folder named by the
    environment variable ``KDTHEORY_DATA``, then the user cache folder
    (``$XDG_CACHE_HOME/kdtheory``, by default ``~/.cache/kdtheory``).

    Parameters
    ----------
    path : str or os.PathLike, optional
        An explicit data folder (the command line's ``--data-root``).
    require : str, optional
        A file (or sub-folder) the folder must contain, relative to it, e.g. ``"magic04.csv"``.
        Without it, the first candidate folder that exists is returned.

    Returns
    -------
    pathlib.Path
        The first candidate folder that exists (and contains ``require``).

    Raises
    ------
    FileNotFoundError
        If no candidate has it. The message names the missing file, every place looked (and why
        each was rejected), and the three ways to provide the data.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "magic04.csv").write_text("class\\ng\\n")
    >>> data_root(folder, require="magic04.csv") == folder
    True
    """
    candidates: list[tuple[str, Path]] = []
    if path is not None:
        candidates.append(("the explicit path argument (--data-root)", Path(path).expanduser()))
    else:
        env = os.environ.get(DATA_ENV_VAR)
        if env:
            candidates.append((f"the environment variable {DATA_ENV_VAR}", Path(env).expanduser()))
        candidates.append(("the user cache folder", _user_cache_dir()))
    looked = []
    for origin, folder in candidates:
        target = folder / require if require else folder
        if folder.is_dir() and target.exists():
            return folder
        why = "no such folder" if not folder.is_dir() else f"no {require} in it"
        looked.append(f"  - {origin}: {folder} ({why})")
    if path is None and not os.environ.get(DATA_ENV_VAR):
        looked.insert(0, f"  - the environment variable {DATA_ENV_VAR}: not set")
    what = f"data file {require!r}" if require else "data folder"
    raise FileNotFoundError(
        f"kdtheory: {what} not found. Looked in:\n"
        + "\n".join(looked)
        + "\nProvide it in one of three ways: pass the folder that holds it explicitly "
        "(data_root=FOLDER, or --data-root FOLDER on the command line); "
        f"set {DATA_ENV_VAR}=FOLDER; or copy it into {_user_cache_dir()}."
    )


#: :func:`data_root` under a name that :func:`load_tabular`'s ``data_root`` argument does not shadow
_find_data_root = data_root


def load_tabular(name: str, data_root: str | os.PathLike[str] | None = None):
    """Load a tabular data set of the semiparametric-distillation reproduction (SEMI-6).

    ``"magic"``: ``magic04.csv`` (UCI MAGIC Gamma Telescope), 10 numeric features, ``y = 1`` for
    class ``'h'`` (hadron, the background), the lexicographically larger class, which is the class
    scikit-learn's ``LabelBinarizer`` maps to 1 in the paper's code.

    ``"adult"``: ``adult.csv`` (UCI Adult), 14 features, ``y = 1`` for ``income == '>50K'`` (a
    trailing ``'.'``, as in UCI's test file, is ignored). Categorical columns are **ordinal**-coded
    (categories sorted lexicographically, codes 0, 1, ...), not one-hot: the paper's code read
    OpenML's Adult with ``fetch_openml(as_frame=False)``, which returns ordinal codes, and fed them
    to random forests; one-hot columns would also change the forests themselves (``max_features``
    = sqrt of the number of columns draws from about 100 columns instead of 14). OpenML orders the
    categories as declared in its ARFF header, not lexicographically, so tree splits on these
    columns can differ from the paper's; numbers on Adult are comparable in ordering, not digit
    for digit (``data/README.md``).

    Parameters
    ----------
    name : {"magic", "adult"}
        Data set name (case-insensitive).
    data_root : str or os.PathLike, optional
        Folder holding the CSV files; see :func:`data_root` for where it is looked up otherwise.

    Returns
    -------
    X : numpy.ndarray of float64, shape (n, d)
        Features, unscaled, in file order.
    y : numpy.ndarray of int64, shape (n,)
        Labels in {0, 1}.
    feature_names : list of str
        Names of the ``d`` feature columns.

    Raises
    ------
    FileNotFoundError
        If the CSV is found nowhere (see :func:`data_root`); the message says how to provide it.
    ValueError
        For an unknown ``name``, or a file without the target column or with unexpected labels.
    """
    import numpy as np
    import pandas as pd

    key = str(name).lower()
    if key not in TABULAR_DATASETS:
        raise ValueError(
            f"unknown tabular data set {name!r}; choose from {sorted(TABULAR_DATASETS)}"
        )
    spec = TABULAR_DATASETS[key]
    try:
        folder = _find_data_root(data_root, require=spec["file"])
    except FileNotFoundError as err:
        raise FileNotFoundError(f"{err}\nThe file {spec['file']} is {spec['how']}.") from None
    frame = pd.read_csv(folder / spec["file"], skipinitialspace=True)
    frame.columns = [str(c).strip() for c in frame.columns]
    target = spec["target"]
    if target not in frame.columns:
        raise ValueError(
            f"{folder / spec['file']} has no target column {target!r}; "
            f"columns: {list(frame.columns)}"
        )
    labels = frame.pop(target).astype(str).str.strip().str.rstrip(".")
    if key == "magic":
        allowed = {"g", "h"}
    else:
        allowed = {"<=50K", ">50K"}
    unexpected = sorted(set(labels) - allowed)
    if unexpected:
        raise ValueError(
            f"{folder / spec['file']}: column {target!r} must take values in {sorted(allowed)}, "
            f"found {unexpected[:5]}"
        )
    y = (labels == spec["positive"]).to_numpy(dtype=np.int64)
    columns = []
    for col in frame.columns:
        values = frame[col]
        if not pd.api.types.is_numeric_dtype(values.dtype):
            values = values.astype(str).str.strip()
            categories = np.sort(values.unique())
            values = pd.Series(np.searchsorted(categories, values.to_numpy()), index=frame.index)
        columns.append(values.to_numpy(dtype=np.float64))
    X = np.column_stack(columns) if columns else np.empty((len(frame), 0))
    return X, y, [str(c) for c in frame.columns]


# The generated documents (CLAIMS.md, the README's quoted numbers) live in kdtheory._documents;
# their writers are part of this module's interface.
from kdtheory._documents import claim_tests, write_claims_document, write_readme  # noqa: E402
