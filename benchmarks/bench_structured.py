"""Time and peak memory of SM and RaT against n: the dense path beside the structured one.

Kernel ridge teacher and student with ``k(x, x') = min(x, x')`` (the headline figure's kernel)
under the two-piece covariate shift, ``n`` source and ``n`` target points, teacher ridge
``a_T = 0.1 n``, student ridge at RaT's schedule. Each case runs in a fresh Python process so that
its peak resident memory (``ru_maxrss``, minus the interpreter's own before the fit) is its own;
the dense path stops where its ``n x n`` matrices stop fitting the budget. Both paths print the
maximum relative difference of their predictions where both run.

    python benchmarks/bench_structured.py                 # n = 10^3 .. 10^6
    python benchmarks/bench_structured.py --max-n 100000  # quicker
"""

from __future__ import annotations

import argparse
import json
import sys

from _fresh import environment_line, run_fresh

CASE = r"""
import json, resource, sys, time
import numpy as np
from sklearn.kernel_ridge import KernelRidge
from kdtheory import ResidualAsTeacher, SoftMatching
from kdtheory.kernels import SobolevMin
from kdtheory.shift import two_piece_shift
from kdtheory.theory import rat_ridge_schedule

method, solver, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
rng = np.random.default_rng(0)
X, Xt = two_piece_shift(4.0).draw(rng, n)
y = np.sin(6 * X[:, 0]) + 0.5 * rng.standard_normal(n)
probe = np.linspace(0, 1, 1001)[:, None]
teacher = KernelRidge(alpha=0.1 * n, kernel=SobolevMin())
student = KernelRidge(alpha=len(Xt) * float(rat_ridge_schedule(n, 1.0, 0.1)), kernel=SobolevMin())
cls = {"sm": SoftMatching, "rat": ResidualAsTeacher}[method]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
est = cls(teacher, student, solver=solver).fit(X, y, X_target=Xt)
t1 = time.perf_counter()
pred = est.predict(Xt)
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"fit_s": t1 - t0, "predict_s": t2 - t1, "peak_mib": (peak - base) / 1024,
                  "probe": est.predict(probe).tolist()}))
"""


def run_case(method: str, solver: str, n: int) -> dict:
    return run_fresh(CASE, method, solver, n)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-n", type=int, default=10**6)
    parser.add_argument("--max-dense-n", type=int, default=4000)
    parser.add_argument("--out", default=None, help="also write the table as JSON")
    args = parser.parse_args(argv)
    ns = [n for n in (1000, 2000, 4000, 10**4, 10**5, 10**6) if n <= args.max_n]
    rows = []
    print(environment_line())
    print(
        f"{'method':<6} {'n':>8} {'solver':<11} {'fit s':>8} {'predict s':>10} "
        f"{'peak MiB':>9} {'dense/structured time':>22} {'max rel diff':>13}"
    )
    for method in ("sm", "rat"):
        for n in ns:
            fast = run_case(method, "structured", n)
            dense = run_case(method, "dense", n) if n <= args.max_dense_n else None
            ratio = diff = ""
            if dense is not None:
                seconds = [r["fit_s"] + r["predict_s"] for r in (dense, fast)]
                ratio = f"{seconds[0] / seconds[1]:.1f}x"
                diff = max(abs(u - v) for u, v in zip(fast["probe"], dense["probe"], strict=True))
                diff = f"{diff / max(abs(v) for v in dense['probe']):.1e}"
            for solver, r in (("dense", dense), ("structured", fast)):
                if r is None:
                    continue
                print(
                    f"{method:<6} {n:>8} {solver:<11} {r['fit_s']:>8.3f} {r['predict_s']:>10.3f} "
                    f"{r['peak_mib']:>9.1f} {ratio if solver == 'structured' else '':>22} "
                    f"{diff if solver == 'structured' else '':>13}"
                )
                rows.append(
                    {
                        "method": method,
                        "n": n,
                        "solver": solver,
                        **{k: v for k, v in r.items() if k != "probe"},
                    }
                )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
