"""One design of ``rat_interaction`` (RAT-5): the dense path beside the low-rank one.

Every teacher of the ``full`` preset on one design of ``n`` points (finite-rank Sobolev teachers
of rank 1, 2, 3, 5, 8, 13 and Gaussian teachers of length scale 0.05 to 0.4, teacher ridge
``0.1 n``), the Sobolev student, SM and RaT along the 19 student ridges, kernel ridge on the
labels, exact risks on 2,000 quadrature points and the oracle's ridge for each. ``dense`` is
:func:`kdtheory.exact.distillation_paths` with eigendecompositions (the simulation's path before
the low-rank one: ``O(n^3)``); ``low-rank`` is the simulation's task,
:func:`kdtheory.lowrank.low_rank_paths` with the finite-rank features and the Gaussian's pivoted
Cholesky factor, and the structured path for kernel ridge (``O(n)``). Each case runs in a fresh
Python process (peak memory its own); the last column is the largest relative difference of the
selected risks where both run.

    python benchmarks/bench_lowrank.py                  # n = 250 .. 128,000 (about 3 minutes)
    python benchmarks/bench_lowrank.py --max-n 2000     # quicker
"""

from __future__ import annotations

import argparse
import json
import sys

from _fresh import environment_line, run_fresh

CASE = r"""
import json, resource, sys, time
from dataclasses import replace
import numpy as np
from kdtheory.exact import distillation_paths
from kdtheory.kernels import FiniteRankSobolev, SobolevMin, gaussian
from kdtheory.shift import two_piece_shift
from kdtheory.simulations import rat_interaction as ri

path, n = sys.argv[1], int(sys.argv[2])
cfg = replace(ri.PRESETS["full"], gaussian_max_n=None)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if path == "low-rank":
    rows = ri._task(np.random.default_rng(n), n=n, cfg=cfg)
else:  # the task as it was: one dense distillation_paths per teacher, on the same points
    design = two_piece_shift(1.0)
    X = np.sort(design.source.sample(np.random.default_rng(n), n), axis=0)
    quad = design.target_quadrature(cfg.n_eval)
    lams = np.asarray(cfg.student_lams)
    f_src, f_eval = ri.F_STAR(X), ri.F_STAR(quad.points)
    teachers = [("finite_rank", r, FiniteRankSobolev(r)) for r in cfg.ranks]
    teachers += [("gaussian", s, gaussian(s)) for s in cfg.length_scales]
    rows = []
    for teacher, size, kernel in teachers:
        paths = distillation_paths(
            X, X, quad.points, kernel=SobolevMin(), teacher_kernel=kernel,
            teacher_ridge=n * cfg.teacher_lam, student_ridges=n * lams,
            eval_weights=quad.weights, methods=("sm", "rat", "krr"), solver="dense",
        )
        for method, p in paths.items():
            if method == "krr" and teacher == "finite_rank":
                continue  # the low-rank task runs kernel ridge beside the Gaussian teachers
            risk = p.risk(f_src, f_eval, cfg.noise_sd)["risk"]
            rows.append({"teacher": teacher, "size": float(size), "method": method,
                         "risk": float(risk[ri.oracle_index(risk)])})
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
risks = {f"{r['teacher']}/{r['size']}/{r['method']}": r["risk"] for r in rows}
print(json.dumps({"seconds": seconds, "peak_mib": (peak - base) / 1024, "risks": risks}))
"""


def run_case(path: str, n: int) -> dict:
    return run_fresh(CASE, path, n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=128_000)
    parser.add_argument("--max-dense-n", type=int, default=2000)
    parser.add_argument("--out", default=None, help="also write the table as JSON")
    args = parser.parse_args(argv)
    ns = [250 * 2**k for k in range(10) if 250 * 2**k <= args.max_n]
    print(environment_line())
    print(
        "| n | dense | low-rank | dense / low-rank | dense peak | low-rank peak | "
        "max relative difference of the risks |"
    )
    print("|---|---|---|---|---|---|---|")
    table = []
    for n in ns:
        fast = run_case("low-rank", n)
        dense = run_case("dense", n) if n <= args.max_dense_n else None
        row = {"n": n, "low_rank": fast, "dense": dense}
        if dense is None:
            cells = ["-", f"{fast['seconds']:.2f} s", "-", "-", f"{fast['peak_mib']:,.0f} MiB", "-"]
        else:
            diff = max(abs(fast["risks"][k] - v) / abs(v) for k, v in dense["risks"].items())
            row["max_rel_diff"] = diff
            cells = [
                f"{dense['seconds']:.2f} s",
                f"{fast['seconds']:.2f} s",
                f"{dense['seconds'] / fast['seconds']:.1f}",
                f"{dense['peak_mib']:,.0f} MiB",
                f"{fast['peak_mib']:,.0f} MiB",
                f"{diff:.1e}",
            ]
        print(f"| {n:,} | " + " | ".join(cells) + " |", flush=True)
        table.append(row)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(table, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
