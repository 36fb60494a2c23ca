"""Run a grid of Monte Carlo tasks x trials: seeded, parallel, resumable.

:func:`run_grid` calls ``task(rng, **params)`` once per grid point and trial and collects the rows
it returns into one tidy :class:`pandas.DataFrame`. Three guarantees:

* **Reproducible seeding.** The generator of a (grid point, trial) is
  ``default_rng(SeedSequence(entropy=[seed, *_stable_words(params)], spawn_key=(trial,)))``: it
  depends only on the seed, the point's parameter values and the trial index, not on the other
  points of the grid, on ``n_jobs``, on the backend or on the execution order. The same seed gives
  the same table on any backend (docs/architecture.md, "Explicit randomness").
* **Parallel** over joblib (``loky`` processes by default, or a Dask cluster with
  ``backend="dask"``), with a tqdm progress bar over finished tasks.
* **Resumable.** With ``cache_dir``, each finished task's rows are written to their own file the
  moment they come back (atomically, see :mod:`kdtheory.io`); a rerun with the same arguments loads
  them instead of recomputing, so an interrupted or killed run loses only the tasks in flight.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kdtheory.io import load_pickle, save_pickle_atomic

__all__ = ["run_grid"]

Row = dict[str, Any]
Task = Callable[..., Row | Sequence[Row]]
_CACHE_SUFFIX = ".pkl"


def _plain(value: Any) -> Any:
    """Convert numpy scalars and arrays to Python objects, recursively, for a canonical repr.

    A number equal to an integer is written as that integer (``2.0``, ``np.float32(2)`` and
    ``2`` all become ``2``), so that a grid value's random stream depends on the value, not on
    the type it was typed in; booleans stay booleans, and NaN and infinities stay floats.
    """
    if isinstance(value, np.generic | np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _plain(value[k]) for k in sorted(value)}
    return value


def _canonical(params: Mapping[str, Any]) -> str:
    """Canonical text of a parameter dict: sorted keys, repr of Python-converted values."""
    return repr([(key, _plain(params[key])) for key in sorted(params)])


def _stable_words(params: Mapping[str, Any], n_words: int = 4) -> list[int]:
    """A few uint32 words identifying ``params``, stable across processes and sessions.

    Unlike :func:`hash`, which is salted per process for strings, the words come from SHA-256 of
    :func:`_canonical`, so ``np.int64(3)``, ``3.0`` and ``3`` give the same words, and so do dicts
    that differ only in key order.
    """
    digest = hashlib.sha256(_canonical(params).encode("utf-8")).digest()
    return [int.from_bytes(digest[4 * i : 4 * i + 4], "little") for i in range(n_words)]


def _trial_rng(seed: int, params: Mapping[str, Any], trial: int) -> np.random.Generator:
    """The generator of one (grid point, trial)."""
    sequence = np.random.SeedSequence(entropy=[seed, *_stable_words(params)], spawn_key=(trial,))
    return np.random.default_rng(sequence)


def _grid_points(grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]) -> list[Row]:
    """Expand a grid into its list of parameter dicts (Cartesian product, first key slowest)."""
    if isinstance(grid, Mapping):
        keys = list(grid)
        values = []
        for key in keys:
            axis = grid[key]
            if isinstance(axis, str | bytes | Mapping) or not isinstance(axis, Iterable):
                raise ValueError(
                    f"`grid[{key!r}]` must be a sequence of values, got {type(axis).__name__}"
                )
            values.append(list(axis))
        points = [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, str | bytes):
        points = []
        for point in grid:
            if not isinstance(point, Mapping):
                raise ValueError(
                    f"`grid` points must be dicts of parameters, got {type(point).__name__}"
                )
            points.append(dict(point))
    else:
        raise ValueError("`grid` must be a dict of name -> values or a sequence of dicts")
    for point in points:
        for key in point:
            if not (isinstance(key, str) and key.isidentifier()):
                raise ValueError(f"`grid` parameter names must be identifiers, got {key!r}")
            if key == "trial":
                raise ValueError("`grid` parameter name 'trial' is reserved for the trial index")
    return points


def _normalize_rows(result: Any) -> list[Row]:
    """A task's return value as a list of row dicts."""
    if isinstance(result, Mapping):
        return [dict(result)]
    if isinstance(result, Sequence) and not isinstance(result, str | bytes):
        rows = []
        for row in result:
            if not isinstance(row, Mapping):
                raise TypeError(
                    f"task must return a dict or a list of dicts, got a list of "
                    f"{type(row).__name__}"
                )
            rows.append(dict(row))
        return rows
    raise TypeError(f"task must return a dict or a list of dicts, got {type(result).__name__}")


#: seconds between a worker's checks that the process that started the run is alive
PARENT_CHECK_SECONDS = 0.5
_WATCHED: set[int] = set()


def _exit_with_parent(parent: int) -> None:
    """In a local worker process: a daemon thread ends the worker (``os._exit``) once the
    process that started the run is gone (killed, even by SIGKILL, which runs no clean-up), so
    that no worker keeps computing for nobody. Started once per worker."""
    if os.getpid() == parent or parent in _WATCHED:
        return
    _WATCHED.add(parent)
    import threading

    def watch():
        while True:
            try:
                os.kill(parent, 0)  # signal 0: only asks whether the process exists
            except ProcessLookupError:
                os._exit(1)
            except PermissionError:  # it exists, owned by someone else
                pass
            time.sleep(PARENT_CHECK_SECONDS)

    threading.Thread(target=watch, name="kdtheory-parent-watch", daemon=True).start()


def _run_one(
    task: Task, params: Row, trial: int, seed: int, index: int, parent: int | None = None
) -> tuple[int, int, list[Row], float]:
    """Worker: run one (grid point, trial) and return its rows, tagged with its position, and
    the seconds it took. ``parent``: the pid of the process that started the run, watched from a
    local worker process (:func:`_exit_with_parent`)."""
    if parent is not None:
        _exit_with_parent(parent)
    start = time.perf_counter()
    rows = _normalize_rows(task(_trial_rng(seed, params, trial), **params))
    return index, trial, rows, time.perf_counter() - start


#: open :func:`recorded_compute_seconds` blocks; run_grid adds its tasks' seconds to each
_RECORDERS: list[list[float]] = []


@contextmanager
def recorded_compute_seconds() -> Iterator[list[float]]:
    """Collect the compute seconds of every :func:`run_grid` task finished inside the block.

    Tasks loaded from the cache count with the seconds they took when they were computed (NaN
    for cache entries written before the time was recorded), so the total describes the
    computation, not a redraw from the cache.

    Yields
    ------
    list of float
        One entry per task, appended as :func:`run_grid` returns.
    """
    box: list[float] = []
    _RECORDERS.append(box)
    try:
        yield box
    finally:
        _RECORDERS.remove(box)


def _cache_key(task_id: str, params: Row, trial: int, seed: int) -> str:
    """The hash naming a task's cache file, also stored inside it (:func:`_load_cached`)."""
    return joblib.hash((task_id, _canonical(params), int(trial), int(seed)))


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / f"{key}{_CACHE_SUFFIX}"


def _load_cached(path: Path, key: str | None = None) -> tuple[list[Row], float] | None:
    """Rows of a cache file and their compute seconds (NaN if not recorded), or None when it is
    missing, unreadable, malformed (rows that are not a list of dicts, seconds that are not a
    number) or written for another task (its stored ``key``, the hash its name comes from, is
    not ``key``: a file copied or renamed into place): then the task is recomputed."""
    if not path.is_file():
        return None
    try:
        payload = load_pickle(path)
    except Exception:  # noqa: BLE001 - a damaged cache entry is recomputed, not fatal
        return None
    if not isinstance(payload, dict) or (key is not None and payload.get("key") != key):
        return None
    rows, seconds = payload.get("rows"), payload.get("seconds", float("nan"))
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | np.floating):
        return None
    return rows, float(seconds)


def _check_backend(backend: str) -> None:
    if backend == "dask" and (
        importlib.util.find_spec("distributed") is None or importlib.util.find_spec("dask") is None
    ):
        raise ImportError(
            "backend='dask' needs dask.distributed; install it with `pip install kdtheory[dask]`"
        )


def _execute(
    task: Task,
    pending: list[tuple[int, int, Row]],
    seed: int,
    n_jobs: int,
    backend: str,
) -> Iterator[tuple[int, int, list[Row], float]]:
    """Yield ``(index, trial, rows, seconds)`` for each pending task as it finishes."""
    if not pending:
        return
    if n_jobs == 1 and backend != "dask":
        for index, trial, params in pending:
            yield _run_one(task, params, trial, seed, index)
        return
    # parallel_config (unlike Parallel's backend argument) registers joblib's dask backend lazily;
    # the dask backend then runs on the active distributed.Client and ignores n_jobs.
    parent = None if backend == "dask" else os.getpid()  # dask workers live elsewhere
    with joblib.parallel_config(backend=backend):
        parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        yield from parallel(
            joblib.delayed(_run_one)(task, params, trial, seed, index, parent)
            for index, trial, params in pending
        )


def run_grid(
    task: Task,
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]],
    *,
    n_trials: int,
    seed: int,
    n_jobs: int = 1,
    backend: str = "loky",
    cache_dir: str | Path | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> pd.DataFrame:
    """Run ``task`` at every grid point for ``n_trials`` trials and collect a tidy table.

    Parameters
    ----------
    task : callable
        ``task(rng, **params)`` returning one row (a dict) or several rows (a list of dicts, e.g.
        one per method). ``rng`` is a :class:`numpy.random.Generator`; the task must draw all its
        randomness from it. For ``n_jobs != 1`` it must be picklable: a module-level function or a
        :func:`functools.partial` of one (with e.g. a frozen dataclass ``Config`` bound).
    grid : dict of str to sequence, or sequence of dicts
        A dict ``name -> values`` is expanded to the Cartesian product of its values, in the
        order given, first key slowest; a sequence of dicts lists the points explicitly.
    n_trials : int
        Trials per grid point, ``>= 1``.
    seed : int
        Base seed, ``>= 0``. The generator of grid point ``params`` and trial ``t`` is
        ``default_rng(SeedSequence(entropy=[seed, *words(params)], spawn_key=(t,)))``, where
        ``words`` hashes the parameter values (SHA-256 of their canonical repr). A point's
        results therefore do not depend on the rest of the grid, ``n_jobs``, the backend or the
        execution order.
    n_jobs : int, default 1
        Number of joblib workers; ``1`` runs sequentially in this process, ``-1`` uses all cores.
        Ignored by the dask backend, which uses every worker of the cluster.
    backend : str, default "loky"
        joblib backend. ``"dask"`` sends the tasks to the Dask cluster of the active
        ``distributed.Client`` (create one first, e.g. ``Client("tcp://HOST:PORT")``); it needs
        ``pip install kdtheory[dask]``.
    cache_dir : str or pathlib.Path, optional
        Folder of the resumable cache. Each finished task's rows are written there, atomically,
        as soon as they come back, under a name hashing (``joblib.hash(task)``, params, trial,
        seed); tasks already there are loaded, not recomputed. The task is identified by its
        qualified name and bound arguments, not by its code: clear the folder after editing a
        task's code.
    progress : bool, default True
        Show a tqdm progress bar over finished tasks (cached ones count as done).
    desc : str, optional
        Label of the progress bar.

    Returns
    -------
    pandas.DataFrame
        One row per returned row: the grid parameters, ``trial``, then the task's keys (in the
        order first seen). Rows are ordered by grid point, trial, then the order the task returned
        them; the index is a fresh ``RangeIndex``. The table is identical whether tasks were
        computed or loaded from the cache, sequentially or in parallel.

    Raises
    ------
    ValueError
        If ``seed`` is not an integer ``>= 0``, ``n_trials`` not an integer ``>= 1``, the grid is
        malformed, or a task's keys collide with a parameter name or ``trial``.
    ImportError
        If ``backend="dask"`` and dask.distributed is not installed.
    TypeError
        If the task returns something other than a dict or a list of dicts.

    Examples
    --------
    >>> def task(rng, n, scale):
    ...     x = scale * rng.standard_normal(n)
    ...     return {"mean": x.mean(), "var": x.var()}
    >>> df = run_grid(task, {"n": [10, 100], "scale": [1.0, 2.0]}, n_trials=3, seed=0,
    ...               progress=False)
    >>> df.shape
    (12, 5)
    >>> list(df.columns)
    ['n', 'scale', 'trial', 'mean', 'var']
    >>> df.equals(run_grid(task, {"n": [10, 100], "scale": [1.0, 2.0]}, n_trials=3, seed=0,
    ...                    n_jobs=2, progress=False))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0, got {seed!r}")
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ValueError(f"`n_trials` must be an int >= 1, got {n_trials!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int | np.integer) or n_jobs == 0:
        raise ValueError(f"`n_jobs` must be a non-zero int, got {n_jobs!r}")
    seed, n_trials, n_jobs = int(seed), int(n_trials), int(n_jobs)
    _check_backend(backend)
    points = _grid_points(grid)

    jobs = [(index, trial) for index in range(len(points)) for trial in range(n_trials)]
    results: dict[tuple[int, int], list[Row]] = {}
    seconds: dict[tuple[int, int], float] = {}
    paths: dict[tuple[int, int], Path] = {}
    keys: dict[tuple[int, int], str] = {}
    if cache_dir is not None:
        cache_path = Path(cache_dir)
        cache_path.mkdir(parents=True, exist_ok=True)
        task_id = joblib.hash(task)
        for index, trial in jobs:
            keys[index, trial] = _cache_key(task_id, points[index], trial, seed)
            path = _cache_path(cache_path, keys[index, trial])
            paths[index, trial] = path
            cached = _load_cached(path, keys[index, trial])
            if cached is not None:
                results[index, trial], seconds[index, trial] = cached
    pending = [
        (index, trial, points[index]) for index, trial in jobs if (index, trial) not in results
    ]

    with tqdm(
        total=len(jobs), initial=len(jobs) - len(pending), desc=desc, disable=not progress
    ) as bar:
        for index, trial, rows, took in _execute(task, pending, seed, n_jobs, backend):
            if cache_dir is not None:
                payload = {
                    "key": keys[index, trial],
                    "params": points[index],
                    "trial": trial,
                    "seed": seed,
                    "rows": rows,
                    "seconds": took,
                }
                save_pickle_atomic(paths[index, trial], payload)
            results[index, trial], seconds[index, trial] = rows, took
            bar.update(1)

    for box in _RECORDERS:
        box.extend(seconds.values())
    return _assemble(points, n_trials, results)


def _assemble(
    points: list[Row], n_trials: int, results: Mapping[tuple[int, int], list[Row]]
) -> pd.DataFrame:
    """Tidy frame: params, trial, task keys; rows by (grid point, trial, task order)."""
    param_cols: list[str] = []
    for point in points:
        param_cols.extend(key for key in point if key not in param_cols)
    reserved = set(param_cols) | {"trial"}
    value_cols: list[str] = []
    records: list[Row] = []
    for index, point in enumerate(points):
        for trial in range(n_trials):
            for row in results[index, trial]:
                clash = reserved.intersection(row)
                if clash:
                    raise ValueError(
                        f"task keys {sorted(clash)} collide with grid parameters or 'trial'"
                    )
                value_cols.extend(key for key in row if key not in value_cols)
                records.append({**point, "trial": trial, **row})
    columns = [*param_cols, "trial", *value_cols]
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame["trial"] = frame["trial"].astype(np.int64)
    return frame.reset_index(drop=True)
