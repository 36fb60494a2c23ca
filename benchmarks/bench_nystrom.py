"""Nystrom RaT at scale: accuracy against the exact fixed point, time and memory against n, and
the teacher fit beside scikit-learn's ``Nystroem`` + ``Ridge`` pipeline.

Problem: ``X ~ U[0, 1]^3`` (source), ``X_target`` with independent coordinates of density ``2x``
(covariate shift, ``dQ/dP = 8 x_1 x_2 x_3 <= 8``), ``f*(x) = sin(2 pi x_1) + 2 x_2 x_3``,
``y = f*(X) + 0.5 noise``; Gaussian kernel ``exp(-||x - x'||^2 / (2 0.3^2))`` for teacher and
student; teacher ridge ``a_T = 0.1 n`` (a biased teacher, CLAIMS.md 1.1), student ridge
``a_S = 10^-3 m``; ``m = n``. The target risk is ``mean (f_hat - f*)^2`` over 20,000 fresh target
points. Each case runs in a fresh process; peak memory is its ``ru_maxrss`` growth.

(a) ``--accuracy``: at ``n = 10^4`` the Nystrom RaT fixed point (``ceil(sqrt(n) log n)`` centers)
    against the exact kernel fixed point (dense ``n x n`` matrices), three seeds.
(b) ``--scale``: Nystrom RaT at ``n = 10^3 .. 10^6`` with ``M = min(ceil(sqrt(n) log n),
    --max-centers)`` centers each for teacher and student.
(c) ``--teacher``: the teacher fit alone, ``NystromKernelRidge`` (``solver="direct"``, its
    default up to 4096 centers, and FALKON's preconditioned CG, ``solver="cg"``, up to
    ``--max-cg-n``) beside ``make_pipeline(Nystroem(n_components=M), Ridge(alpha=a_T,
    fit_intercept=False))`` (the same objective on ``M`` random centers, up to
    ``--max-sklearn-n``), all with the same ``M``: time, memory and test error.

    python benchmarks/bench_nystrom.py                      # (a), (b), (c)
    python benchmarks/bench_nystrom.py --scale --max-n 100000
"""

from __future__ import annotations

import argparse
import json
import sys

import sklearn
from _fresh import environment_line, run_fresh

CASE = r"""
import json, resource, sys, time
import numpy as np
from kdtheory import ResidualAsTeacher
from kdtheory.kernels import gaussian
from kdtheory.nystrom import NystromKernelRidge, default_n_centers

what, n, seed, max_centers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(seed)
f = lambda Z: np.sin(2 * np.pi * Z[:, 0]) + 2 * Z[:, 1] * Z[:, 2]
X = rng.uniform(size=(n, 3))
Xt = np.sqrt(rng.uniform(size=(n, 3)))
y = f(X) + 0.5 * rng.standard_normal(n)
test = np.sqrt(rng.uniform(size=(20_000, 3)))
kernel = gaussian(0.3)
a_T, a_S = 0.1 * n, 1e-3 * n
M = min(default_n_centers(n), max_centers)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if what == "exact":
    from sklearn.kernel_ridge import KernelRidge
    est = ResidualAsTeacher(KernelRidge(alpha=a_T, kernel=kernel),
                            KernelRidge(alpha=a_S, kernel=kernel), solver="dense")
    est.fit(X, y, X_target=Xt)
elif what == "nystrom":
    est = ResidualAsTeacher(NystromKernelRidge(kernel, n_centers=M, alpha=a_T, random_state=1),
                            NystromKernelRidge(kernel, n_centers=M, alpha=a_S, random_state=2))
    est.fit(X, y, X_target=Xt)
elif what in ("falkon", "direct"):
    solver = "cg" if what == "falkon" else "direct"
    est = NystromKernelRidge(kernel, n_centers=M, alpha=a_T, random_state=1, solver=solver)
    est.fit(X, y)
elif what == "sklearn":
    from sklearn.kernel_approximation import Nystroem
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    est = make_pipeline(Nystroem(kernel="rbf", gamma=1 / (2 * 0.3**2), n_components=M,
                                 random_state=1), Ridge(alpha=a_T, fit_intercept=False)).fit(X, y)
t1 = time.perf_counter()
pred = est.predict(test)
t2 = time.perf_counter()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"what": what, "n": n, "seed": seed, "centers": M, "fit_s": t1 - t0,
                  "predict_s": t2 - t1, "peak_mib": (peak - base) / 1024,
                  "risk": float(np.mean((pred - f(test)) ** 2))}))
"""


def run_case(what: str, n: int, seed: int = 0, max_centers: int = 10**9) -> dict:
    return run_fresh(CASE, what, n, seed, max_centers)


def _line(r: dict, note: str = "") -> str:
    return (
        f"{r['what']:<8} {r['n']:>8} {r['seed']:>4} {r['centers']:>7} {r['fit_s']:>9.2f} "
        f"{r['predict_s']:>9.2f} {r['peak_mib']:>9.0f} {r['risk']:>11.5f}  {note}"
    )


HEADER = (
    f"{'method':<8} {'n':>8} {'seed':>4} {'centers':>7} {'fit s':>9} {'predict s':>9} "
    f"{'peak MiB':>9} {'target risk':>11}"
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true")
    parser.add_argument("--scale", action="store_true")
    parser.add_argument("--teacher", action="store_true")
    parser.add_argument("--max-n", type=int, default=10**6)
    parser.add_argument("--max-centers", type=int, default=1000)
    parser.add_argument("--max-sklearn-n", type=int, default=10**5)
    parser.add_argument("--max-cg-n", type=int, default=10**5)
    parser.add_argument("--out", default=None, help="also write every row as JSON")
    args = parser.parse_args(argv)
    everything = not (args.accuracy or args.scale or args.teacher)
    print(environment_line(f"scikit-learn {sklearn.__version__}"))
    rows = []
    if args.accuracy or everything:
        print("(a) Nystrom RaT against the exact fixed point, n = 10^4\n" + HEADER)
        for seed in (0, 1, 2):
            exact = run_case("exact", 10**4, seed)
            ny = run_case("nystrom", 10**4, seed)
            print(_line(exact))
            print(_line(ny, f"risk / exact = {ny['risk'] / exact['risk']:.3f}"))
            rows += [exact, ny]
    if args.scale or everything:
        print("\n(b) Nystrom RaT against n\n" + HEADER)
        for n in (10**3, 10**4, 10**5, 10**6):
            if n <= args.max_n:
                rows.append(run_case("nystrom", n, 0, args.max_centers))
                print(_line(rows[-1]))
    if args.teacher or everything:
        print("\n(c) the teacher fit beside scikit-learn's Nystroem + Ridge\n" + HEADER)
        for n in (10**4, 10**5, 10**6):
            if n > args.max_n:
                continue
            ours = run_case("direct", n, 0, args.max_centers)
            print(_line(ours))
            rows.append(ours)
            if n <= args.max_cg_n:
                cg = run_case("falkon", n, 0, args.max_centers)
                print(_line(cg, f"time x{cg['fit_s'] / ours['fit_s']:.2f} of the direct solve"))
                rows.append(cg)
            if n <= args.max_sklearn_n:
                theirs = run_case("sklearn", n, 0, args.max_centers)
                note = (
                    f"time x{theirs['fit_s'] / ours['fit_s']:.2f}, "
                    f"memory x{theirs['peak_mib'] / max(ours['peak_mib'], 1):.1f} of the direct "
                    "solve's"
                )
                print(_line(theirs, note))
                rows.append(theirs)
            else:
                print(
                    f"{'sklearn':<8} {n:>8}  not run: its n x M feature matrix alone takes "
                    f"{n * min(args.max_centers, 10**9) * 8 / 2**30:.1f} GiB"
                )
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
