"""Cost of a path of student ridges for SM and RaT: factor once vs refitting per value.

Every method starts from ``(X, y, X_target)`` and ends with the students' predictions on
``X_target`` for every student ridge, for SM and for RaT (equal teacher and student kernels
``SobolevMin``, teacher ridge ``a_T = 0.1 n``, student ridges ``a_S = m logspace(-8, 0, L)``).

- ours: one Cholesky of ``K(X, X) + a_T I`` (the teacher operator ``G``), one eigendecomposition of
  ``K(Xt, Xt)`` (SM) and one of the symmetric ``C = G K_st`` (RaT) serve every ridge.
- (a): per ridge, SM refits a scikit-learn ``KernelRidge`` teacher and student from scratch; RaT
  solves ``(a_S I + C) alpha = G y`` with ``scipy.linalg.solve`` (kernel matrices, ``G``, ``C``
  and ``G y`` computed once; ``C + a_S I`` and its factorization formed per ridge).
- (b): per ridge, SM as in (a) plus RaT as the algorithm reads (``picard_refit``: refit teacher
  and student every iteration until the change is below ``tol``). Run on the largest ridges
  only (they converge fastest) and extrapolated linearly to the whole path: a lower bound.
- (c) floor: ``scipy.linalg.eigh`` (driver ``evd``) of ``K(X, X)`` and ``K(Xt, Xt)``, kernel
  matrices given.

Usage: ``python benchmarks/bench_rat_path.py [--n 2000] [--out results.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np
import scipy
import scipy.linalg
import sklearn
from sklearn.kernel_ridge import KernelRidge
from threadpoolctl import threadpool_info, threadpool_limits

from kdtheory.kernels import SobolevMin
from kdtheory.shift import two_piece_shift
from kdtheory.student_teacher import (
    picard_refit,
    rat_picard_kernel,
    sm_rat_path,
    teacher_operator,
)

TOL_EXACT = 1e-6  # ours vs (a): the same linear systems in float64


def ours_path(X, y, Xt, kernel, a_T, ridges):
    """SM and RaT target predictions for every ridge, shape ``(m, L)`` each, factoring once."""
    K_tx, K_tt = kernel(Xt, X), kernel(Xt, Xt)
    # one Cholesky of K(X, X) + a_T I, one eigendecomposition each of K(Xt, Xt) and G K_st
    alpha = sm_rat_path(
        y,
        teacher_gram=kernel(X, X),
        teacher_cross=K_tx,
        student_gram=K_tt,
        student_cross=K_tx.T,
        teacher_ridge=a_T,
        student_ridges=ridges,
    )
    return K_tt @ alpha["sm"], K_tt @ alpha["rat"]


def sm_fresh(X, y, Xt, a_T, a_S):
    """SM as a scikit-learn user writes it: fit the teacher, then the student, from scratch."""
    teacher = KernelRidge(alpha=a_T, kernel=SobolevMin()).fit(X, y)
    student = KernelRidge(alpha=a_S, kernel=SobolevMin()).fit(Xt, teacher.predict(Xt))
    return student.predict(Xt)


def baseline_a(X, y, Xt, kernel, a_T, ridges):
    t0 = time.perf_counter()
    sm = np.column_stack([sm_fresh(X, y, Xt, a_T, a) for a in ridges])
    t1 = time.perf_counter()
    K_tx, K_tt = kernel(Xt, X), kernel(Xt, Xt)
    G = teacher_operator(kernel(X, X), K_tx, a_T)
    C, Gy, eye = G @ K_tx.T, G @ y, np.eye(len(Xt))
    rat = np.column_stack([K_tt @ scipy.linalg.solve(C + a * eye, Gy) for a in ridges])
    t2 = time.perf_counter()
    return (sm, rat), {"sm_s": t1 - t0, "rat_s": t2 - t1}


def baseline_b(X, y, Xt, a_T, ridges, tol, max_iter):
    sm, rat, per_value = [], [], []
    for a in ridges:
        t0 = time.perf_counter()
        sm.append(sm_fresh(X, y, Xt, a_T, a))
        t1 = time.perf_counter()
        student, _, history, converged = picard_refit(
            KernelRidge(alpha=a_T, kernel=SobolevMin()),
            KernelRidge(alpha=a, kernel=SobolevMin()),
            X,
            y,
            Xt,
            tol=tol,
            n_iter=max_iter,
        )
        rat.append(student.predict(Xt))
        t2 = time.perf_counter()
        # Linear convergence: the error left when stopping is about change * rho / (1 - rho).
        rho = history[-1] / history[-2] if len(history) > 1 and history[-2] > 0 else 0.0
        left = history[-1] * rho / (1.0 - rho) if rho < 1 else float("inf")
        per_value.append(
            {
                "ridge": float(a),
                "sm_s": t1 - t0,
                "rat_s": t2 - t1,
                "seconds": t2 - t0,
                "iterations": len(history),
                "converged": bool(converged),
                "rate": rho,
                "rms_error_left": left,
            }
        )
    return (np.column_stack(sm), np.column_stack(rat)), per_value


def floor_c(K, K_tt):
    for A in (K, K_tt):
        scipy.linalg.eigh(A, driver="evd", check_finite=False)


def best_of(repeats, fn, *args):
    """Best wall time over ``repeats`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times), out


def rel_diff(P, Q):
    """``max_l ||P[:, l] - Q[:, l]||_inf / ||Q[:, l]||_inf``."""
    return float(np.max(np.max(np.abs(P - Q), axis=0) / np.max(np.abs(Q), axis=0)))


def environment():
    blas = [
        {
            k: info.get(k)
            for k in (
                "user_api",
                "internal_api",
                "version",
                "num_threads",
                "threading_layer",
                "architecture",
                "filepath",
            )
        }
        for info in threadpool_info()
    ]
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "cpu_count": os.cpu_count(),
        "load_avg_1_5_15": list(os.getloadavg()),
        "threadpools": blas,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000, help="source size n = target size m")
    p.add_argument("--n-ridges", type=int, default=30, help="student ridges on the path")
    p.add_argument("--repeats", type=int, default=1, help="best of this many runs (not (b))")
    p.add_argument(
        "--baseline-b-values",
        type=int,
        default=2,
        help="ridges (the largest) run for (b); the rest is extrapolated",
    )
    p.add_argument("--picard-tol", type=float, default=1e-8)
    p.add_argument("--picard-max-iter", type=int, default=1_000_000)
    p.add_argument(
        "--count-max-iter",
        type=int,
        default=100,
        help="iterations counted per ridge for the (b) estimate (censored: a lower bound)",
    )
    p.add_argument("--threads", type=int, help="limit BLAS/OpenMP threads (default: as found)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the results as JSON to this path")
    args = p.parse_args(argv)
    if not 1 <= args.baseline_b_values <= args.n_ridges:
        p.error("--baseline-b-values must lie in [1, --n-ridges]")
    if args.threads is not None:
        threadpool_limits(args.threads)

    env = environment()
    print(
        f"python {env['python']}  numpy {env['numpy']}  scipy {env['scipy']}  "
        f"scikit-learn {env['sklearn']}  cpus {env['cpu_count']}  "
        f"load avg {' '.join(f'{x:.2f}' for x in env['load_avg_1_5_15'])}"
    )
    for pool in env["threadpools"]:
        print("  " + "  ".join(f"{k}={v}" for k, v in pool.items()))

    rng = np.random.default_rng(args.seed)
    n, L = args.n, args.n_ridges
    X, Xt = two_piece_shift(4.0).draw(rng, n)
    y = np.sqrt(2.0) * np.sin(1.5 * np.pi * X[:, 0]) + 0.5 * rng.standard_normal(n)
    kernel = SobolevMin()
    a_T, ridges = 0.1 * n, n * np.logspace(-8, 0, L)
    kb = args.baseline_b_values
    b_ridges = ridges[L - kb :]
    print(
        f"\nn = m = {n}, {L} student ridges a_S in [{ridges[0]:.3g}, {ridges[-1]:.3g}], "
        f"a_T = {a_T:g}, SobolevMin kernels, two_piece_shift(4.0), repeats {args.repeats}"
    )

    ours_path(X[:50], y[:50], Xt[:50], kernel, a_T, ridges)  # warm-up: thread pools, imports
    t_ours, (sm0, rat0) = best_of(args.repeats, ours_path, X, y, Xt, kernel, a_T, ridges)
    t_a, ((sm_a, rat_a), parts_a) = best_of(args.repeats, baseline_a, X, y, Xt, kernel, a_T, ridges)
    K, K_tt = kernel(X, X), kernel(Xt, Xt)
    t_c, _ = best_of(args.repeats, floor_c, K, K_tt)
    (sm_b, rat_b), per_b = baseline_b(
        X, y, Xt, a_T, b_ridges, args.picard_tol, args.picard_max_iter
    )
    t_b_measured = sum(v["seconds"] for v in per_b)
    t_b = t_b_measured / kb * L
    # (b) on the whole path: picard_refit's iterates are those of the factor-once iteration
    # (the same arithmetic), so the exact iteration count of every ridge comes from
    # rat_picard_kernel; cost = SM fits + iterations x measured seconds per refit iteration.
    iterations = [
        len(
            rat_picard_kernel(
                y,
                teacher_gram=K_b,
                teacher_cross=K_tx_b,
                student_cross=K_tx_b.T,
                student_gram=K_tt_b,
                teacher_ridge=a_T,
                student_ridge=a,
                tol=args.picard_tol,
                n_iter=args.count_max_iter,
            )[1]
        )
        for K_b, K_tx_b, K_tt_b in [(kernel(X, X), kernel(Xt, X), kernel(Xt, Xt))]
        for a in ridges
    ]
    per_iteration = sum(v["rat_s"] for v in per_b) / sum(v["iterations"] for v in per_b)
    sm_fit = sum(v["sm_s"] for v in per_b) / kb
    t_b_estimated = L * sm_fit + per_iteration * sum(iterations)

    checks = {"sm_ours_vs_a": rel_diff(sm0, sm_a), "rat_ours_vs_a": rel_diff(rat0, rat_a)}
    for j, v in enumerate(per_b):  # sup-norm error <= sqrt(m) * RMS error left by Picard
        ref = rat0[:, L - kb + j]
        v["rel_diff_rat"] = rel_diff(ref[:, None], rat_b[:, j : j + 1])
        v["allowed"] = max(TOL_EXACT, np.sqrt(n) * v["rms_error_left"] / np.max(np.abs(ref)))
    checks["sm_ours_vs_b"] = rel_diff(sm0[:, L - kb :], sm_b)
    checks["rat_ours_vs_b"] = max(v["rel_diff_rat"] for v in per_b)

    print(f"\n(b) measured on the {kb} largest ridges (tol {args.picard_tol:g}):")
    for v in per_b:
        print(
            f"  a_S = {v['ridge']:<10.4g} {v['seconds']:8.2f} s  (SM {v['sm_s']:.2f} s, "
            f"RaT {v['rat_s']:.2f} s, {v['iterations']} Picard iterations, "
            f"{'converged' if v['converged'] else 'NOT converged'}; RaT vs ours "
            f"{v['rel_diff_rat']:.2e}, allowed {v['allowed']:.2e})"
        )

    rows = [
        ("ours: factor once (SM + RaT)", t_ours, "1 Cholesky + eigh K(Xt,Xt) + eigh G K_st"),
        (
            "(a) fresh KernelRidge SM + solve RaT",
            t_a,
            f"SM {parts_a['sm_s']:.2f} s, RaT {parts_a['rat_s']:.2f} s",
        ),
        (
            f"(b) picard_refit, EXTRAPOLATED {kb}->{L}",
            t_b,
            f"measured {t_b_measured:.2f} s on {kb} value(s); lower bound",
        )
        if kb < L
        else ("(b) picard_refit (all values measured)", t_b, ""),
        (
            "(b) picard_refit, ESTIMATED whole path",
            t_b_estimated,
            f"{sum(iterations)} iterations (each ridge counted up to {args.count_max_iter}: "
            f"lower bound) x {per_iteration:.3g} s + SM fits",
        ),
        ("(c) floor: eigh K(X,X) + eigh K(Xt,Xt)", t_c, "kernel matrices given"),
    ]
    print(f"\n{'method':<42} {'seconds':>10} {'x ours':>9}  notes")
    print("-" * 100)
    for name, sec, note in rows:
        print(f"{name:<42} {sec:>10.3f} {sec / t_ours:>9.2f}  {note}")
    print(f"\nours / floor = {t_ours / t_c:.2f}")
    print("\ncorrectness, max relative difference of target predictions (sup norm, per ridge):")
    for key, val in checks.items():
        print(f"  {key:<14} {val:.3e}")

    if args.out:
        result = {
            "config": {
                **vars(args),
                "a_T": a_T,
                "ridges": ridges.tolist(),
                "baseline_b_ridges": b_ridges.tolist(),
            },
            "environment": env,
            "seconds": {
                "ours": t_ours,
                "a": t_a,
                "a_parts": parts_a,
                "b_extrapolated": t_b,
                "b_measured": t_b_measured,
                "b_estimated": t_b_estimated,
                "b_iterations_per_ridge": iterations,
                "b_seconds_per_iteration": per_iteration,
                "c_floor": t_c,
            },
            "baseline_b_per_value": per_b,
            "ratio_to_ours": {
                "a": t_a / t_ours,
                "b_extrapolated": t_b / t_ours,
                "b_estimated": t_b_estimated / t_ours,
                "c_floor": t_c / t_ours,
            },
            "checks": checks,
        }
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)
        print(f"\nwrote {args.out}")

    # (b)'s RaT stops on a small change, not at the fixed point: checked per value.
    failed = [
        k
        for k in ("sm_ours_vs_a", "rat_ours_vs_a", "sm_ours_vs_b")
        if checks.get(k, 0.0) >= TOL_EXACT
    ]
    failed += [
        f"rat_ours_vs_b at a_S={v['ridge']:.4g}"
        for v in per_b
        if not v["rel_diff_rat"] <= v["allowed"]
    ]
    if failed:
        raise SystemExit(f"correctness check failed (tolerance {TOL_EXACT:g}): {failed}")
    print("\ncorrectness checks passed")


if __name__ == "__main__":
    main()
