"""What the Imagenette studies share: the images, decoded once per process, and the loop that
runs their trainings as Monte Carlo tasks with per-stage checkpoints (docs/architecture.md, "The
neural module": each (setting, seed, method) is one :func:`kdtheory.montecarlo.run_grid` task, so a
study is cached and resumable like every other simulation)."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict
from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.io import temporary_environ
from kdtheory.montecarlo import run_grid


@lru_cache(maxsize=2)
def imagenette_images(
    resolution: int,
    data_root: str | None,
    max_train: int | None = None,
    max_val: int | None = None,
    subset_seed: int = 0,
):
    """``(train_images, train_labels, val_images, val_labels, class_names)`` at ``resolution``
    (decoded once per process, then cached on disk by the loader); with ``max_train`` or
    ``max_val``, a fixed random subset of that split (seed ``subset_seed``).

    Raises
    ------
    ValueError
        When a split has no images.
    """
    from kdtheory.neural.data import load_imagenette

    parts = []
    for split, cap in (("train", max_train), ("val", max_val)):
        images, labels, names = load_imagenette(data_root, split=split, size=resolution)
        if cap is not None and len(images) > cap:
            keep = np.random.default_rng(subset_seed).choice(len(images), cap, replace=False)
            images, labels = images[np.sort(keep)], labels[np.sort(keep)]
        if len(images) == 0:
            raise ValueError(f"the Imagenette {split!r} split has no images")
        parts += [images, labels]
    return (*parts, names)


def config_tag(cfg) -> str:
    """A short hash of a preset's dataclass: the folder of its checkpoints."""
    import joblib

    return joblib.hash(asdict(cfg))[:12]


#: what every Imagenette study needs beyond the core package (``kdtheory list`` shows it)
NEURAL_NEEDS = ("extra: neural", "data: Imagenette (imagenette2-64 or larger)")

#: XLA flags of a worker process on a CPU: one thread each, so that ``n_jobs`` workers share the
#: cores instead of each spreading one small network's ops over all of them
SINGLE_THREAD_XLA = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


@contextmanager
def worker_environment(n_jobs: int, backend: str):
    """Environment the worker processes of a parallel study start with (restored afterwards):
    JAX's persistent compilation cache (each worker loads the compiled steps instead of
    compiling them again) and, on a CPU with several local workers, single-threaded XLA."""
    import jax

    from kdtheory.neural.train import enable_compilation_cache

    folder = enable_compilation_cache()
    env = {
        "JAX_COMPILATION_CACHE_DIR": str(folder),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "1.0",
    }
    if n_jobs != 1 and backend != "dask" and jax.default_backend() == "cpu":
        env["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {SINGLE_THREAD_XLA}".strip()
    with temporary_environ(**env):
        yield


def run_trainings(
    name: str,
    task,
    grid: list[dict],
    cfg,
    *,
    n_jobs: int = 1,
    backend: str = "loky",
    cache_dir=None,
    progress: bool = True,
    stage_progress: dict | None = None,
    teachers=None,
    first=None,
) -> pd.DataFrame:
    """Run ``task(rng, **point, cfg=cfg, workdir=...)`` for every point of ``grid`` and return
    the tidy table (rows in the grid's order).

    Checkpoints go to ``cache_dir/<name>/<config_tag(cfg)>/`` (a temporary folder, removed
    afterwards, without a cache), so a killed study resumes mid-training; ``stage_progress``
    (a module's ``{"on": bool}``) receives ``progress`` for the per-stage bars. With
    ``teachers`` (a study's ``teachers(cfg, cache_dir=, progress=)``), the teacher bank is built
    first under ``cache_dir`` (inside the temporary folder without a cache) and every task
    receives its folder as ``bank=``.

    With ``n_jobs != 1`` the tasks run in that many worker processes (joblib), each with
    single-threaded XLA on a CPU (:func:`worker_environment`: the small networks of the studies
    leave cores idle between their ops, so on two cores two one-thread workers train 1.57 times
    the images per second of one process, ``benchmarks/bench_workers.py``); on an accelerator
    they run one at a time. Tasks that reuse another task's stages (RaT continues the SM
    student) must not train them at the same time: ``first`` (a predicate on grid points) names
    the points whose stages others read, and those run, in parallel, before the rest. XLA's
    thread count could change a result through floating-point summation order; measured, it
    does not (the benchmark's parameters, and ``imagenette_imperfect``'s table, came out
    bit-identical with one and two workers).
    """
    import jax

    if n_jobs != 1 and backend != "dask" and jax.default_backend() != "cpu":
        warnings.warn(
            f"{name} trains one task at a time on {jax.default_backend()}; n_jobs={n_jobs} ignored",
            stacklevel=3,
        )
        n_jobs = 1
    if stage_progress is not None:
        stage_progress["on"] = progress and n_jobs == 1
    temporary = cache_dir is None
    workdir = Path(tempfile.mkdtemp() if temporary else Path(cache_dir) / name / config_tag(cfg))
    kwargs = {"cfg": cfg, "workdir": str(workdir)}
    try:
        with worker_environment(n_jobs, backend):
            if teachers is not None:
                bank = workdir if temporary else Path(cache_dir)
                teachers(cfg, cache_dir=bank, progress=progress)
                kwargs["bank"] = str(bank)
            # the task cache: the study's, or one inside the temporary folder (so that the
            # points of the first phase are not trained twice)
            tasks_cache = workdir / "_tasks" if temporary else cache_dir
            phases = [grid]
            if first is not None and n_jobs != 1:
                phases = [[p for p in grid if first(p)], grid]
            for points in phases:
                table = run_grid(
                    partial(task, **kwargs),
                    points,
                    n_trials=1,
                    seed=cfg.seed,
                    n_jobs=n_jobs,
                    backend=backend,
                    cache_dir=tasks_cache,
                    progress=progress,
                    desc=f"{name}: trainings",
                )
            return table
    finally:
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)


def teacher_recipe(name: str):
    """The bank recipe ``name`` (:data:`kdtheory.neural.bank.RECIPES`); an unknown name is a
    ``ValueError`` listing the known ones."""
    from kdtheory.neural.bank import RECIPES

    if name not in RECIPES:
        raise ValueError(f"unknown teacher recipe {name!r}; choose from {list(RECIPES)}")
    return RECIPES[name]


def student_training(recipe, cfg):
    """The students' :class:`~kdtheory.neural.train.TrainConfig`: the teacher recipe's
    optimizer, schedule and augmentation with the preset's ``epochs``, ``batch_size``,
    ``learning_rate`` and ``weight_decay``."""
    from dataclasses import replace

    return replace(
        recipe.train,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        learning_rate=cfg.learning_rate,
        weight_decay=cfg.weight_decay,
    )


def network_and_training(cfg, epochs: int) -> dict:
    """``student`` and ``train`` of a preset's protocol (:class:`kdtheory.neural.distill.
    Protocol`): the network every method trains and the optimizer, schedule, augmentation and
    batch they share (padding of the random crop: an eighth of the image side)."""
    from kdtheory.neural.models import NetworkConfig
    from kdtheory.neural.train import TrainConfig

    return {
        "student": NetworkConfig(width=cfg.width, depth=cfg.depth, n_stages=cfg.n_stages),
        "train": TrainConfig(
            epochs=epochs,
            batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate,
            weight_decay=cfg.weight_decay,
            pad=max(cfg.resolution // 8, 1),
        ),
    }
