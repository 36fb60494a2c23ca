"""The studies' training runner, ``kdtheory.simulations._neural.run_trainings``: workers, phases."""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("jax")

from kdtheory.simulations._neural import SINGLE_THREAD_XLA, run_trainings  # noqa: E402


@dataclass(frozen=True)
class _Cfg:
    seed: int = 0
    size: int = 3


def _task(rng, *, seed, method, cfg, workdir):
    """Writes when it started and ended; ``later`` reads the file ``first`` left."""
    log = Path(workdir) / "log"
    log.mkdir(parents=True, exist_ok=True)
    start = time.time()
    if method == "first":
        time.sleep(0.3)
        (Path(workdir) / f"shared-{seed}").write_text(str(seed * 10))
        shared = seed * 10
    else:
        shared = int((Path(workdir) / f"shared-{seed}").read_text())
    entry = {"method": method, "seed": seed, "start": start, "end": time.time()}
    entry["xla_flags"] = os.environ.get("XLA_FLAGS", "")
    entry["cache"] = os.environ.get("JAX_COMPILATION_CACHE_DIR", "")
    (log / f"{method}-{seed}.json").write_text(json.dumps(entry))
    return {
        "value": shared + cfg.size + float(rng.random()),
        "pid": os.getpid(),
        "single_thread": SINGLE_THREAD_XLA in entry["xla_flags"],
    }


def _grid():
    return [{"seed": k, "method": m} for k in range(3) for m in ("first", "later")]


def _logs(workdir):
    return [json.loads(p.read_text()) for p in sorted((Path(workdir) / "log").glob("*.json"))]


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_same_table_whatever_the_number_of_workers(tmp_path, n_jobs):
    first = lambda point: point["method"] == "first"  # noqa: E731
    base = run_trainings(
        "toy", _task, _grid(), _Cfg(), cache_dir=tmp_path / "a", progress=False, first=first
    )
    table = run_trainings(
        "toy",
        _task,
        _grid(),
        _Cfg(),
        n_jobs=n_jobs,
        cache_dir=tmp_path / "b",
        progress=False,
        first=first,
    )
    cols = ["seed", "method", "trial", "value"]
    assert table[cols].equals(base[cols])
    assert list(table["method"]) == ["first", "later"] * 3  # the grid's order
    workers = set(table["pid"])
    assert workers == {os.getpid()} if n_jobs == 1 else os.getpid() not in workers
    assert table["single_thread"].all() == (n_jobs == 2)


def test_parallel_workers_are_single_threaded_and_the_first_phase_ends_before_the_rest(
    tmp_path,
):
    before = dict(os.environ)
    run_trainings(
        "toy",
        _task,
        _grid(),
        _Cfg(),
        n_jobs=2,
        cache_dir=tmp_path,
        progress=False,
        first=lambda point: point["method"] == "first",
    )
    logs = _logs(next((tmp_path / "toy").iterdir()))
    assert len(logs) == 6
    firsts = [e for e in logs if e["method"] == "first"]
    laters = [e for e in logs if e["method"] == "later"]
    assert max(e["end"] for e in firsts) <= min(e["start"] for e in laters)
    assert all(SINGLE_THREAD_XLA in e["xla_flags"] for e in logs)
    assert all(e["cache"] for e in logs)  # the workers load compiled steps from the cache
    assert dict(os.environ) == before  # the parent's environment is restored


def test_one_worker_keeps_the_parents_threads_and_a_temporary_folder_is_removed(
    tmp_path, monkeypatch
):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    table = run_trainings(
        "toy", _task, _grid(), _Cfg(), progress=False, first=lambda p: p["method"] == "first"
    )
    assert len(table) == 6 and set(table["pid"]) == {os.getpid()}
    assert not table["single_thread"].any()
    assert not any(tmp_path.iterdir())
