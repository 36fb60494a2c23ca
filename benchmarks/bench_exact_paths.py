"""Exact risk paths of the headline figure: the dense path beside the structured one, per design.

One design of ``rat_separation``'s rate experiment at the ``full`` preset's settings (the
two-piece shift with ``B = 4`` or no shift, ``m = n``, teacher ridge ``0.1 n``, 31 student
ridges plus RaT's schedule): the teacher, kernel ridge on the labels, SM, RaT and the target
oracle, their exact bias and variance for both regression functions, and the oracle choice of
each student ridge. ``dense`` is :func:`kdtheory.exact.distillation_paths` with
eigendecompositions; ``structured`` takes the bordered-determinant path of
:mod:`kdtheory._minrisk` (exact variances in ``O(n)`` per ridge). Each case runs in a fresh
Python process so that its peak resident memory is its own; the table reports the ratio of the
times and the largest relative difference of the risks where both run.

    python benchmarks/bench_exact_paths.py                   # n = 100 .. 10^5
    python benchmarks/bench_exact_paths.py --max-n 6400      # quicker
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
from kdtheory.simulations.rat_separation import PRESETS, _rate_task

solver, n, shift = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
cfg = replace(PRESETS["full"], solver=solver, probes=None)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
rows = _rate_task(np.random.default_rng(n), n=n, shift=shift, cfg=cfg)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
risks = {f"{r['fstar']}/{r['method']}": r["risk"] for r in rows}
print(json.dumps({"seconds": seconds, "peak_mib": (peak - base) / 1024, "risks": risks}))
"""


def run_case(solver: str, n: int, shift: float) -> dict:
    return run_fresh(CASE, solver, n, shift)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=100_000)
    parser.add_argument("--max-dense-n", type=int, default=6400)
    parser.add_argument("--out", default=None, help="also write the table as JSON")
    args = parser.parse_args(argv)
    ns = [n for n in (100, 400, 1600, 6400, 25_600, 100_000) if n <= args.max_n]
    print(environment_line())
    print(
        "| shift | n | dense | structured | dense / structured | dense peak | "
        "structured peak | max relative difference of the risks |"
    )
    print("|---|---|---|---|---|---|---|---|")
    table = []
    for shift in (1.0, 4.0):
        for n in ns:
            fast = run_case("structured", n, shift)
            dense = run_case("dense", n, shift) if n <= args.max_dense_n else None
            row = {"shift": shift, "n": n, "structured": fast, "dense": dense}
            table.append(row)
            if dense is None:
                cells = ["-", f"{fast['seconds']:.2f} s", "-", "-", f"{fast['peak_mib']:.0f} MiB"]
                diff = "-"
            else:
                rel = max(abs(fast["risks"][k] - v) / abs(v) for k, v in dense["risks"].items())
                cells = [
                    f"{dense['seconds']:.2f} s",
                    f"{fast['seconds']:.2f} s",
                    f"{dense['seconds'] / fast['seconds']:.1f}",
                    f"{dense['peak_mib']:.0f} MiB",
                    f"{fast['peak_mib']:.0f} MiB",
                ]
                diff = f"{rel:.1e}"
            print(f"| {shift:g} | {n} | " + " | ".join(cells) + f" | {diff} |", flush=True)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(table, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
