"""Exact risk paths on the circulant design: the dense eigendecomposition beside the FFT.

``rat_separation``'s circulant experiment: the equispaced grid ``x_i = i / n``, teacher and
student kernel ``PeriodicSobolev(1)``, ``X_target = X_eval = X``, teacher ridge ``a_T = 0.1 n``,
31 student ridges ``a_S = n logspace(-10, 0, 31)``, SM and RaT, their exact bias, variance and
risk along the path for the experiment's ``f*`` (``PeriodicTarget``).
``dense`` is :func:`kdtheory.exact.distillation_paths` with ``solver="dense"`` (eigendecomposition
of the ``n x n`` Gram matrix); ``circulant`` its ``solver="circulant"`` (one real FFT of the Gram
matrix's first row, :mod:`kdtheory.circulant`). Each case runs in a fresh Python process so that
its peak resident memory is its own; where both run, the script checks that the risks agree
(largest difference of bias, variance and risk over both methods and every ridge, relative to
that ridge's risk, at most ``TOL``) and fails otherwise. Relative to the risk, not to each part:
RaT's bias at the smallest ridge (about 2e-8 at ``n = 1024``) is the difference of nearly equal
numbers on both paths and agrees only to ``1e-13`` of the risk.

    python benchmarks/bench_circulant.py                       # dense to 4096, FFT to 2^20
    python benchmarks/bench_circulant.py --max-dense-n 2048 --max-n 65536   # quicker
"""

from __future__ import annotations

import argparse
import json
import sys

from _fresh import environment_line, run_fresh

#: largest difference of the two paths' risks allowed, relative to the risk (measured: 1e-13)
TOL = 1e-9

CASE = r"""
import json, resource, sys, time
import numpy as np
from kdtheory.exact import distillation_paths
from kdtheory.kernels import PeriodicSobolev
from kdtheory.simulations._targets import PeriodicTarget

solver, n, n_ridges = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X = (np.arange(n) / n).reshape(-1, 1)
target = PeriodicTarget()  # in blocks: its basis would otherwise set the peak memory
fx = np.concatenate([target(X[i : i + 4096]) for i in range(0, n, 4096)])
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
paths = distillation_paths(X, X, X, kernel=PeriodicSobolev(1), teacher_ridge=0.1 * n,
                           student_ridges=n * np.logspace(-10, 0, n_ridges),
                           methods=("sm", "rat"), solver=solver)
risks = {m: {k: v.tolist() for k, v in p.risk(fx, fx, 0.5).items()} for m, p in paths.items()}
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": (peak - base) / 1024, "risks": risks}))
"""


def run_case(solver: str, n: int, n_ridges: int) -> dict:
    return run_fresh(CASE, solver, n, n_ridges)


def max_rel_diff(a: dict, b: dict) -> float:
    """Largest ``|a - b| / risk_b`` over methods, ridges and bias, variance, risk."""
    return max(
        abs(x - y) / abs(r)
        for m in b
        for key in b[m]
        for x, y, r in zip(a[m][key], b[m][key], b[m]["risk"], strict=True)
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=2**20)
    parser.add_argument("--max-dense-n", type=int, default=4096)
    parser.add_argument("--n-ridges", type=int, default=31)
    parser.add_argument("--out", default=None, help="also write the table as JSON")
    args = parser.parse_args(argv)
    ns = [n for n in (1024, 2048, 4096, 2**16, 2**20) if n <= args.max_n]
    print(environment_line())
    print(f"circulant design, PeriodicSobolev(1), SM and RaT, {args.n_ridges} student ridges")
    print(
        "| n | dense | circulant | dense / circulant | dense peak | circulant peak | "
        "max difference / risk |"
    )
    print("|---|---|---|---|---|---|---|")
    table, failed = [], False
    for n in ns:
        fast = run_case("circulant", n, args.n_ridges)
        dense = run_case("dense", n, args.n_ridges) if n <= args.max_dense_n else None
        runs = {"circulant": fast, "dense": dense}
        times = {s: r and {k: v for k, v in r.items() if k != "risks"} for s, r in runs.items()}
        table.append({"n": n, **times})
        if dense is None:
            cells = ["-", f"{fast['seconds']:.4f} s", "-", "-", f"{fast['peak_mib']:.0f} MiB", "-"]
        else:
            diff = max_rel_diff(fast["risks"], dense["risks"])
            table[-1]["max_rel_diff"] = diff
            failed |= not diff <= TOL
            cells = [
                f"{dense['seconds']:.2f} s",
                f"{fast['seconds']:.4f} s",
                f"{dense['seconds'] / fast['seconds']:,.0f}x",
                f"{dense['peak_mib']:.0f} MiB",
                f"{fast['peak_mib']:.0f} MiB",
                f"{diff:.1e}",
            ]
        print(f"| {n:,} | " + " | ".join(cells) + " |", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(table, handle, indent=1)
    if failed:
        print(f"FAILED: the two paths' risks differ by more than {TOL:g} (relative)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
