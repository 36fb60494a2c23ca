"""Tests of kdtheory.montecarlo.run_grid: seeding, parallelism, caching and resume."""

from __future__ import annotations

import functools
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _mc_tasks import (
    DELAY_ENV,
    KILL_GRID,
    KILL_TRIALS,
    kill_run,
    marking_task,
    multi_task,
    normal_task,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from pandas.testing import assert_frame_equal

from kdtheory.montecarlo import _stable_words, run_grid

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
GRID = {"n": [4, 9], "scale": [1.0, 2.5, 0.5]}


def _markers(folder: Path) -> int:
    return len(list(folder.iterdir()))


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.pkl"))


def test_frame_layout_and_order():
    df = run_grid(normal_task, GRID, n_trials=3, seed=0, progress=False)
    assert list(df.columns) == ["n", "scale", "trial", "mean", "maximum", "k"]
    assert len(df) == 2 * 3 * 3
    assert isinstance(df.index, pd.RangeIndex)
    assert df["trial"].dtype == np.int64
    # Cartesian product in the order given, first key slowest, then trials.
    expected = [(n, s, t) for n in GRID["n"] for s in GRID["scale"] for t in range(3)]
    assert list(df[["n", "scale", "trial"]].itertuples(index=False, name=None)) == expected


def test_documented_seeding_formula():
    df = run_grid(normal_task, GRID, n_trials=2, seed=11, progress=False)
    params = {"n": 9, "scale": 0.5}
    for trial in range(2):
        seq = np.random.SeedSequence(entropy=[11, *_stable_words(params)], spawn_key=(trial,))
        expected = normal_task(np.random.default_rng(seq), **params)
        row = df[(df.n == 9) & (df.scale == 0.5) & (df.trial == trial)].iloc[0]
        assert {key: row[key] for key in expected} == expected


def test_stable_words_canonical():
    assert _stable_words({"n": np.int64(3), "a": 1.5}) == _stable_words({"a": 1.5, "n": 3})
    assert _stable_words({"n": 3}) != _stable_words({"n": 4})
    assert all(0 <= w < 2**32 for w in _stable_words({"n": 3}))


_EXACT_INTEGERS = st.integers(-(2**53), 2**53)


@settings(max_examples=60, deadline=None)
@given(k=_EXACT_INTEGERS, nested=st.booleans())
def test_a_value_equal_to_an_integer_has_one_stream_whatever_its_type(k, nested):
    """``2``, ``2.0``, ``np.float32(2)`` and ``np.int64(2)`` are one grid value: one stream."""
    forms = [k, float(k), np.float64(k), np.int64(k)]
    if abs(k) <= 2**24:  # float32 holds every integer up to 2**24 exactly
        forms.append(np.float32(k))
    if nested:  # inside lists, tuples, arrays and dicts too
        forms = [{"grid": [v, 0.5], "pair": (v,)} for v in forms]
        forms.append({"grid": np.array([k, 0.5]), "pair": (float(k),)})
    words = {tuple(_stable_words({"p": v})) for v in forms}
    assert len(words) == 1


@settings(max_examples=40, deadline=None)
@given(k=st.integers(-1000, 1000), frac=st.floats(1e-9, 1 - 1e-9))
def test_values_that_differ_keep_different_streams(k, frac):
    """A non-integral float, a boolean and a string never share an integer's stream."""
    base = _stable_words({"p": k})
    assert _stable_words({"p": k + frac}) != base
    assert _stable_words({"p": str(k)}) != base
    if k in (0, 1):
        assert _stable_words({"p": bool(k)}) != base


def test_integral_floats_and_integers_in_a_grid_give_the_same_table():
    """``run_grid`` over ``scale=[2]`` and over ``scale=[2.0]``: the same draws, trial by trial."""
    as_int = run_grid(normal_task, {"n": [5], "scale": [2]}, n_trials=3, seed=4, progress=False)
    as_float = run_grid(
        normal_task, {"n": [5.0], "scale": [2.0]}, n_trials=3, seed=4, progress=False
    )
    assert_frame_equal(as_int.drop(columns=["n", "scale"]), as_float.drop(columns=["n", "scale"]))


def test_sequential_equals_parallel():
    sequential = run_grid(normal_task, GRID, n_trials=4, seed=3, n_jobs=1, progress=False)
    parallel = run_grid(
        normal_task, GRID, n_trials=4, seed=3, n_jobs=2, backend="loky", progress=False
    )
    assert_frame_equal(sequential, parallel)


def test_point_independent_of_rest_of_grid():
    full = run_grid(normal_task, GRID, n_trials=3, seed=5, progress=False)
    alone = run_grid(normal_task, [{"n": 9, "scale": 2.5}], n_trials=3, seed=5, progress=False)
    reordered = run_grid(
        normal_task, {"scale": [0.5, 2.5], "n": [9, 4]}, n_trials=3, seed=5, progress=False
    )
    pick = full[(full.n == 9) & (full.scale == 2.5)].reset_index(drop=True)
    assert_frame_equal(pick, alone)
    pick_reordered = reordered[(reordered.n == 9) & (reordered.scale == 2.5)]
    assert_frame_equal(pick, pick_reordered[pick.columns].reset_index(drop=True))


def test_same_seed_reproducible_other_seed_differs():
    first = run_grid(normal_task, GRID, n_trials=2, seed=1, progress=False)
    again = run_grid(normal_task, GRID, n_trials=2, seed=1, progress=False)
    other = run_grid(normal_task, GRID, n_trials=2, seed=2, progress=False)
    assert_frame_equal(first, again)
    assert not np.any(first["mean"].to_numpy() == other["mean"].to_numpy())
    # Trials of one point draw different numbers too.
    assert first.groupby(["n", "scale"])["k"].nunique().eq(2).all()


def test_list_of_rows_per_trial():
    df = run_grid(multi_task, {"n": [5, 7]}, n_trials=2, seed=0, progress=False)
    assert list(df.columns) == ["n", "trial", "method", "estimate"]
    assert len(df) == 2 * 2 * 3
    assert df["method"].tolist() == ["mean", "median", "trimmed"] * 4
    assert df["trial"].tolist() == [0, 0, 0, 1, 1, 1] * 2
    # The rows of one trial share one generator: recompute the trial by hand.
    seq = np.random.SeedSequence(entropy=[0, *_stable_words({"n": 7})], spawn_key=(1,))
    expected = multi_task(np.random.default_rng(seq), n=7)
    got = df[(df.n == 7) & (df.trial == 1)]
    assert got["estimate"].tolist() == [row["estimate"] for row in expected]


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None, True])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        run_grid(normal_task, GRID, n_trials=1, seed=seed, progress=False)


@pytest.mark.parametrize("n_trials", [0, -2, 2.0, None])
def test_bad_n_trials(n_trials):
    with pytest.raises(ValueError, match="n_trials"):
        run_grid(normal_task, GRID, n_trials=n_trials, seed=0, progress=False)


def test_bad_grid_and_rows():
    with pytest.raises(ValueError, match="trial"):
        run_grid(normal_task, {"n": [3], "trial": [0]}, n_trials=1, seed=0, progress=False)
    with pytest.raises(ValueError, match="collide"):
        run_grid(lambda rng, n: {"n": 1}, {"n": [3]}, n_trials=1, seed=0, progress=False)
    with pytest.raises(TypeError, match="dict"):
        run_grid(lambda rng, n: 1.0, {"n": [3]}, n_trials=1, seed=0, progress=False)
    with pytest.raises(ValueError, match="grid"):
        run_grid(normal_task, {"n": 3}, n_trials=1, seed=0, progress=False)


def test_progress_bar_label(capsys):
    run_grid(normal_task, {"n": [3]}, n_trials=2, seed=0, progress=True, desc="toy-grid")
    assert "toy-grid" in capsys.readouterr().err
    run_grid(normal_task, {"n": [3]}, n_trials=2, seed=0, progress=False, desc="silent-grid")
    assert "silent-grid" not in capsys.readouterr().err


def test_cache_loads_instead_of_recomputing(tmp_path):
    markers, cache = tmp_path / "markers", tmp_path / "cache"
    markers.mkdir()
    task = functools.partial(marking_task, marker_dir=str(markers))
    grid = {"n": [3, 6, 9]}
    first = run_grid(task, grid, n_trials=3, seed=4, cache_dir=cache, progress=False)
    assert _markers(markers) == 9
    assert len(_cache_files(cache)) == 9
    assert not [p for p in cache.iterdir() if p.suffix != ".pkl"]  # no temporary files left

    second = run_grid(task, grid, n_trials=3, seed=4, cache_dir=cache, progress=False)
    assert _markers(markers) == 9  # nothing recomputed
    assert_frame_equal(first, second)
    uncached = run_grid(task, grid, n_trials=3, seed=4, progress=False)
    assert_frame_equal(first, uncached)

    # Only missing entries are recomputed, in parallel too; a damaged entry is recomputed.
    files = _cache_files(cache)
    files[0].unlink()
    files[1].write_bytes(b"not a pickle")
    third = run_grid(task, grid, n_trials=3, seed=4, n_jobs=2, cache_dir=cache, progress=False)
    assert _markers(markers) == 9 + 9 + 2
    assert_frame_equal(first, third)

    # Another seed or a larger grid is new work; the old entries stay usable.
    run_grid(task, grid, n_trials=3, seed=5, cache_dir=cache, progress=False)
    assert _markers(markers) == 9 + 9 + 2 + 9
    run_grid(task, {"n": [3, 6, 9, 12]}, n_trials=3, seed=4, cache_dir=cache, progress=False)
    assert _markers(markers) == 9 + 9 + 2 + 9 + 3


@pytest.mark.parametrize(
    "tamper",
    ["another_task", "rows_not_a_list", "rows_not_dicts", "seconds_not_a_number", "no_key"],
)
def test_a_cache_file_is_checked_against_its_own_key(tmp_path, tamper):
    """A loadable payload is used only when it is the task's own: a cache file of another task
    copied in place, or a malformed one, is recomputed (never a wrong table or a TypeError)."""
    from kdtheory.io import load_pickle, save_pickle_atomic

    markers, cache = tmp_path / "markers", tmp_path / "cache"
    markers.mkdir()
    task = functools.partial(marking_task, marker_dir=str(markers))
    grid = {"n": [3, 6]}
    first = run_grid(task, grid, n_trials=1, seed=4, cache_dir=cache, progress=False)
    a, b = _cache_files(cache)
    payload = load_pickle(a)
    if tamper == "another_task":
        b.write_bytes(a.read_bytes())  # a valid file, of the other grid point
    else:
        changed = {
            "rows_not_a_list": {"rows": "oops"},
            "rows_not_dicts": {"rows": [1, 2]},
            "seconds_not_a_number": {"seconds": "fast"},
            "no_key": {"key": None},
        }[tamper]
        save_pickle_atomic(b, {**payload, **changed})
    again = run_grid(task, grid, n_trials=1, seed=4, cache_dir=cache, progress=False)
    assert _markers(markers) == 3  # the tampered entry was recomputed, the other loaded
    assert_frame_equal(first, again)


def test_kill_and_resume(tmp_path):
    markers, cache = tmp_path / "markers", tmp_path / "cache"
    markers.mkdir()
    n_tasks = len(KILL_GRID["n"]) * KILL_TRIALS
    env = dict(os.environ)
    env[DELAY_ENV] = "0.2"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), str(TESTS_DIR), *filter(None, [env.get("PYTHONPATH")])]
    )
    code = "import sys, _mc_tasks; _mc_tasks.kill_run(sys.argv[1], sys.argv[2])"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(markers), str(cache)], env=env, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        while len(_cache_files(cache)) < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no cache files appeared"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    n_cached = len(_cache_files(cache))
    calls_before = _markers(markers)
    assert 3 <= n_cached < n_tasks
    assert n_cached <= calls_before <= n_cached + 1  # at most the one task in flight is lost

    resumed = kill_run(str(markers), str(cache))  # same task and arguments, no delay here
    assert _markers(markers) - calls_before == n_tasks - n_cached  # cached tasks not recomputed
    assert len(_cache_files(cache)) == n_tasks

    reference_markers = tmp_path / "reference"
    reference_markers.mkdir()
    reference = kill_run(str(reference_markers), None)
    assert_frame_equal(resumed, reference)


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an exited child nobody reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_workers_end_when_the_run_is_killed(tmp_path):
    """SIGKILL runs no clean-up in the parent: each local worker watches the process that
    started the run and ends within a second of it."""
    markers = tmp_path / "pids"
    markers.mkdir()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO_ROOT), str(TESTS_DIR), *filter(None, [env.get("PYTHONPATH")])]
    )
    code = "import sys, _mc_tasks; _mc_tasks.orphan_run(sys.argv[1])"
    proc = subprocess.Popen([sys.executable, "-c", code, str(markers)], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while len(list(markers.iterdir())) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "no workers started"
            time.sleep(0.05)
        workers = [int(p.name) for p in markers.iterdir()]
        assert all(_running(pid) for pid in workers)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    deadline = time.monotonic() + 10
    while any(_running(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_running(pid) for pid in workers)


def test_dask_backend_missing(monkeypatch):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        return None if name == "distributed" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"pip install kdtheory\[dask\]"):
        run_grid(normal_task, GRID, n_trials=1, seed=0, backend="dask", progress=False)


def test_dask_backend_matches_sequential():
    distributed = pytest.importorskip("distributed")
    expected = run_grid(normal_task, GRID, n_trials=2, seed=9, progress=False)
    with distributed.Client(processes=False, n_workers=2, threads_per_worker=1):
        got = run_grid(normal_task, GRID, n_trials=2, seed=9, backend="dask", progress=False)
    assert_frame_equal(expected, got)


def _sleepy_task(rng, n):
    time.sleep(0.01 * n)
    return {"x": float(rng.standard_normal())}


def test_compute_seconds_are_recorded_and_survive_the_cache(tmp_path):
    from kdtheory.montecarlo import recorded_compute_seconds

    task = _sleepy_task
    grid = {"n": [1, 2]}
    with recorded_compute_seconds() as first:
        run_grid(task, grid, n_trials=2, seed=0, cache_dir=tmp_path, progress=False)
    assert len(first) == 4 and min(first) >= 0.0 and max(first) >= 0.02  # the sleeps
    with recorded_compute_seconds() as again:  # every task from the cache
        run_grid(task, grid, n_trials=2, seed=0, cache_dir=tmp_path, progress=False)
    assert sorted(again) == sorted(first)
    with recorded_compute_seconds() as outer, recorded_compute_seconds() as inner:
        run_grid(task, {"n": [0]}, n_trials=1, seed=1, progress=False)
    assert len(outer) == len(inner) == 1
