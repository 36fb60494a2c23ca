"""Images per second of the Imagenette studies' student trainings: one process, or two workers.

The studies run their trainings through :func:`kdtheory.simulations._neural.run_trainings`; with
``--n-jobs 2`` on a CPU it starts two worker processes, each with single-threaded XLA
(:data:`kdtheory.simulations._neural.SINGLE_THREAD_XLA`). This script measures, in one run,
side by side:

* **one process** (the default ``--n-jobs 1``): ``--tasks`` student trainings one after the
  other in one process with XLA's default threads;
* **two workers**: the same trainings split over two processes started at once, each
  single-threaded.

Each training is the cpu preset's student of ``imagenette_imperfect`` (its AirNet and
:class:`~kdtheory.neural.train.TrainConfig`) on ``--images`` random 64 px images for one epoch,
after one untimed training that compiles the step (as a study's worker does once). It reports
images per second of each layout and their ratio, and checks that the trained parameters are
the same in both layouts (single- and multi-threaded XLA, same seed).

Usage::

    python benchmarks/bench_workers.py                  # 4 trainings of 2,048 images
    python benchmarks/bench_workers.py --tasks 2 --images 512 --out results.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _train(n_tasks: int, n_images: int) -> dict:
    """In this process: one untimed training, then ``n_tasks`` timed ones (seeds 0, 1, ...)."""
    from dataclasses import replace

    import jax
    import numpy as np

    from kdtheory.neural.distill import distillation_loss, method_hparams, training_data
    from kdtheory.neural.train import init_network, train
    from kdtheory.simulations import imagenette_imperfect as study

    proto = study.protocol(study.PRESETS["cpu"])
    cfg = replace(proto.train, epochs=1)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, 64, 64, 3), dtype=np.uint8)
    data = training_data(images, labels=rng.integers(0, 10, n_images), n_classes=10)
    hp = method_hparams("ce")

    def one(seed: int):
        net = init_network(proto.student, jax.random.key(seed), images=images[:512])
        out = train(net, data, cfg, distillation_loss, hp, jax.random.key(seed + 100))
        return float(
            sum(np.abs(np.asarray(x, np.float64)).sum() for x in jax.tree.leaves(out.params))
        )

    one(10_000)  # compiles
    start = time.perf_counter()
    sums = [one(seed) for seed in range(n_tasks)]
    return {"seconds": time.perf_counter() - start, "sums": sums}


def _spawn(n_tasks: int, n_images: int, env: dict) -> subprocess.Popen:
    code = f"import json, bench_workers as b; print(json.dumps(b._train({n_tasks}, {n_images})))"
    env = {
        **os.environ,
        **env,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "benchmarks")]),
    }
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT
    )


def _result(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"a benchmark process failed with status {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4, help="trainings per layout (even)")
    parser.add_argument("--images", type=int, default=2048, help="images per training")
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.tasks < 2 or args.tasks % 2:
        parser.error("--tasks must be an even number >= 2")
    from kdtheory.simulations._neural import SINGLE_THREAD_XLA

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
    one = _result(_spawn(args.tasks, args.images, {}))
    single = {"XLA_FLAGS": SINGLE_THREAD_XLA}
    workers = [_spawn(args.tasks // 2, args.images, single) for _ in range(2)]
    two = [_result(p) for p in workers]
    images = args.tasks * args.images
    rate_one = images / one["seconds"]
    rate_two = images / max(r["seconds"] for r in two)
    same = one["sums"][: args.tasks // 2] == two[0]["sums"] == two[1]["sums"]
    result = {
        "tasks": args.tasks,
        "images_per_task": args.images,
        "one_process_images_per_s": rate_one,
        "two_workers_images_per_s": rate_two,
        "ratio": rate_two / rate_one,
        "same_parameters": same,
    }
    print("| layout | images/s |\n|---|---|")
    print(f"| one process (XLA default threads) | {rate_one:.0f} |")
    print(f"| two workers (one XLA thread each) | {rate_two:.0f} |")
    print(f"\nratio two workers / one process: {result['ratio']:.2f}; same parameters: {same}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    if not same:
        raise SystemExit("the two layouts trained different parameters")
    return result


if __name__ == "__main__":
    main()
