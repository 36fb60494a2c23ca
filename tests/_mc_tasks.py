"""Monte Carlo tasks for tests/test_montecarlo.py.

They live in an importable module (not in the test file) so that loky workers and the
kill-and-resume subprocess can unpickle them by reference.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.montecarlo import run_grid

#: Seconds each call of :func:`marking_task` sleeps, read at call time (so that it does not enter
#: the task's hash, and a resumed run in the test process can skip the sleep).
DELAY_ENV = "KDTHEORY_TEST_TASK_DELAY"

KILL_GRID = {"n": [3, 5, 8, 13, 21]}
KILL_TRIALS = 4
KILL_SEED = 7


def normal_task(rng: np.random.Generator, n: int, scale: float = 1.0) -> dict:
    """One row: statistics of ``n`` normal draws and an integer draw."""
    x = scale * rng.standard_normal(int(n))
    return {"mean": float(x.mean()), "maximum": float(x.max()), "k": int(rng.integers(1 << 30))}


def multi_task(rng: np.random.Generator, n: int) -> list[dict]:
    """Several rows per trial, one per method, in a fixed order."""
    x = rng.standard_normal(int(n))
    return [
        {"method": "mean", "estimate": float(x.mean())},
        {"method": "median", "estimate": float(np.median(x))},
        {"method": "trimmed", "estimate": float(np.sort(x)[1:-1].mean())},
    ]


def marking_task(rng: np.random.Generator, n: int, *, marker_dir: str) -> dict:
    """Like :func:`normal_task`, and writes one marker file per call into ``marker_dir``."""
    delay = float(os.environ.get(DELAY_ENV, "0"))
    if delay > 0:
        time.sleep(delay)
    (Path(marker_dir) / f"{n}-{uuid.uuid4().hex}").touch()
    return normal_task(rng, n)


def kill_run(marker_dir: str, cache_dir: str | None) -> pd.DataFrame:
    """The run that test_montecarlo kills in a subprocess and then resumes."""
    task = functools.partial(marking_task, marker_dir=str(marker_dir))
    return run_grid(
        task, KILL_GRID, n_trials=KILL_TRIALS, seed=KILL_SEED, cache_dir=cache_dir, progress=False
    )


def pid_task(rng: np.random.Generator, n: int, *, marker_dir: str) -> dict:
    """Writes its worker's pid into ``marker_dir``, then sleeps: a run to kill mid-task."""
    (Path(marker_dir) / f"{os.getpid()}").touch()
    time.sleep(30)
    return {"n": float(n)}


def orphan_run(marker_dir: str) -> pd.DataFrame:
    """The parallel run that test_montecarlo kills to see its workers end too."""
    task = functools.partial(pid_task, marker_dir=str(marker_dir))
    return run_grid(task, {"n": list(range(8))}, n_trials=1, seed=0, n_jobs=2, progress=False)
