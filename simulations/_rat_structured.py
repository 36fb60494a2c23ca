"""The ``large`` preset's rate task of :mod:`kdtheory.simulations.rat_separation`: structured.

One design per task: every method's exact bias at each student ridge of a window around the
schedule (RaT, SM) or around ``n^{-2/3}`` (kernel ridge on the labels), its variance exact up to
``cfg.exact_max_n`` and Hutchinson's estimate beyond, the ridge chosen by oracle in the window.
"""

from __future__ import annotations

import numpy as np

from kdtheory.shift import two_piece_shift
from kdtheory.structured import StructuredPath, structured_apply
from kdtheory.theory import minimax_exponent, rat_ridge_schedule


def structured_rate_task(rng: np.random.Generator, *, n: int, shift: float, cfg, targets) -> list:
    """One design on the structured path (claims RAT-1, RAT-2): every method's risk at each
    ridge of its window, one factorization per method and ridge: exact variances up to
    ``cfg.exact_max_n``, beyond it a banded solve of both f* and the probes together
    (Hutchinson's variance).

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the design (and the probes).
    n : int
        Source size, and target size under shift.
    shift : float
        ``B`` of :func:`kdtheory.shift.two_piece_shift`; 1 for no shift (target = source).
    cfg : kdtheory.simulations.rat_separation.Config
        The preset.
    targets : dict
        Name -> ``f*``.

    Returns
    -------
    list of dict
        One row per ``f*`` and method (the oracle's ridge), and RaT at the schedule.
    """
    design = two_piece_shift(shift)
    X = design.source.sample(rng, n)
    Xt = X if shift == 1.0 else design.target.sample(rng, n)
    quad = design.target_quadrature(cfg.n_eval)
    F = np.column_stack([f(X) for f in targets.values()])
    F_eval = [f(quad.points) for f in targets.values()]
    exact = n <= cfg.exact_max_n
    Z = None if exact else rng.choice([-1.0, 1.0], size=(n, cfg.probes))
    window = np.logspace(-1, 1, cfg.window)
    schedule = float(rat_ridge_schedule(n, 1.0, cfg.teacher_lam))
    grids = {
        "teacher": [np.nan],
        "krr": n ** minimax_exponent(1.0) * window,
        "sm": schedule * window,
        "rat": schedule * window,
    }
    rows = []
    for method, lams in grids.items():
        ridges = [0.0] if method == "teacher" else n * np.asarray(lams)
        bias, var, se = _window_risks(method, X, Xt, quad, F, F_eval, ridges, Z, cfg)
        best: dict[str, dict] = {}
        for i, lam in enumerate(lams):
            for j, fname in enumerate(targets):
                row = {
                    "fstar": fname,
                    "teacher_lam": cfg.teacher_lam,
                    "risk": bias[j, i] + var[i],
                    "bias": bias[j, i],
                    "variance": var[i],
                    "variance_se": se[i],
                    "student_lam": float(lam),
                }
                if method == "rat" and np.isclose(lam, schedule):
                    rows.append({**row, "method": "rat_schedule"})
                if fname not in best or row["risk"] < best[fname]["risk"]:
                    best[fname] = row
        rows += [{**row, "method": method} for row in best.values()]
    return rows


def _window_risks(method, X, Xt, quad, F, F_eval, ridges, Z, cfg):
    """Bias ``(f*, ridge)``, variance and its standard error ``(ridge,)`` of one method: exact
    (:class:`~kdtheory.structured.StructuredPath`) when ``Z`` is None, else from the probes."""
    a_T, w = len(X) * cfg.teacher_lam, quad.weights
    x, xt, xe = X[:, 0], Xt[:, 0], quad.points[:, 0]
    if Z is None:
        path = StructuredPath(method, x, xt, xe, a_T, ridges, w)
        risks = path.risks(F, np.column_stack(F_eval), cfg.noise_sd)
        return np.array([r["bias"] for r in risks]), risks[0]["variance"], risks[0]["variance_se"]
    bias, var, se = [], [], []
    for a_S in ridges:
        P = structured_apply(method, x, xt, a_T, a_S, np.hstack([F, Z]), xe)
        v = cfg.noise_sd**2 * (w @ P[:, len(F_eval) :] ** 2)
        bias.append([w @ (P[:, j] - f_eval) ** 2 for j, f_eval in enumerate(F_eval)])
        var.append(v.mean())
        se.append(v.std(ddof=1) / np.sqrt(v.size))
    return np.array(bias).T, np.array(var), np.array(se)
