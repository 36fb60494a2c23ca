"""Distillation exaggerates gradient descent's bias toward the top eigendirections (NAG-1..NAG-5).

Experiment (CLAIMS.md 2.1-2.2, exact spectral computations, no noise needed). Each Monte Carlo
design is ``X = Z diag(d)`` with ``Z`` an ``n x p`` standard Gaussian matrix (``n < p``, so
``X X^T`` is invertible) and column variances ``d_j^2`` decaying geometrically over
``column_decades`` decades, which makes the nonzero spectrum of ``X^T X`` span more than six
decades; labels ``y ~ N(0, I_n)`` (only NAG-1 and NAG-4's identities use ``y``). The teacher is
trained on the labels for ``T = teacher_time / lam_1`` (gradient flow), or ``T`` whole steps of
gradient descent with ``eta = gd_step / lam_1`` and the same ``eta T``; the student is trained on
the teacher's training predictions for ``t`` (several ``t / T``); the label-trained model at
matched progress is trained for ``tau`` with ``F_1(tau) = S_1(t; T)`` (top direction).
``lam_1 max(t, T) <= 20`` keeps every direction at least ``e^-20`` away from convergence, so each
strict inequality is resolvable in float64 (a direction with ``F = 1`` to working precision has
gap exactly 0, NAG reference 1.4).

Measured per design and ``t / T``: the minimum over all eigenvalue pairs of the NAG-2 gap
(:func:`kdtheory.theory.ratio_exaggeration_gap`) and over all lower directions of the NAG-3 gap
(:func:`kdtheory.theory.matched_progress_gap`), ``tau / min(t, T)``, the generation gaps of four
generations (NAG-4), the filter-order ratios against their bound and the log-log slopes of the
KD and label filters over the ``bottom_points`` smallest eigenvalues (NAG-5). Per design:
simulated GD against the closed forms along every ``v_k`` (NAG-1), the two degenerate cases
of NAG-4 on weights, and the hypotheses that are numbers on the run, checked as premises: the
smallest relative gap between consecutive eigenvalues, the spectrum's span, the rank of ``X``
(``X X^T`` invertible: rank ``n``, the number of eigenvalues that
:class:`kdtheory.dynamics.SpectralDecomposition` keeps; ``lam_r / lam_1`` over the kept ones is
reported as the conditioning) and ``b`` at the bottom of the spectrum.

Every check is deterministic. Errors at rounding level differ between BLAS builds in every
digit: they are saved and reported as bounds (``PRECISION``: below 1e-10; the GD student's
error as a fraction of its tolerance, below one half), other columns with the digits they are
determined to.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.dynamics import (
    SpectralDecomposition,
    distill_filter,
    gd_filter,
    gd_weights,
    log_distill_filter,
    log_gd_filter,
    matched_progress_time,
    simulate_gd,
)
from kdtheory.io import Floor
from kdtheory.montecarlo import run_grid
from kdtheory.plotting import summarize
from kdtheory.rates import fit_rate
from kdtheory.theory import (
    bottom_top_log_ratios,
    filter_order_bound,
    filter_order_ratio,
    generation_gaps,
    matched_progress_gap,
    ratio_exaggeration_gap,
)
from kdtheory.verdicts import mean_estimate

NAME = "eigen_exaggeration"
CLAIM_IDS = ("NAG-1", "NAG-2", "NAG-3", "NAG-4", "NAG-5")
#: wall time (seconds) of ``kdtheory run eigen_exaggeration --preset P`` on two CPU cores,
#: nothing cached
PRESET_SECONDS = {"quick": 12, "full": 57}
EPS = float(np.finfo(float).eps)
#: CLAIMS.md NAG-1: closed forms and simulation agree to this relative error in float64. Also
#: the tolerance of NAG-4's identities on weights: the only errors there are rounding errors of
#: size n eps cond(X) <= 40 * 2.2e-16 * 10^4 ~ 1e-10 (cond(X) = (lam_1 / lam_r)^(1/2))
CLOSED_FORM_RTOL = 1e-8
#: the gaps are sums of at most four log-progress terms, each accurate to a few ulps (log1mexp)
#: of its size (at most |log S| of the bottom direction): 4 terms x 2 ulps + 3 additions +
#: the relative error of tau, rounded up to 16 ulps of that size
GAP_ROUNDING_ULPS = 16
#: filter_order_ratio and 1 - filter_order_bound are products of factors 1 - x/2 + O(x^2) that
#: coincide in float64 when x < 1e-8; two roundings per factor and two factors: 4 ulps of 1
ORDER_ROUNDING = 4 * EPS
#: errors at rounding level (simulated GD on the labels, NAG-4's degenerate cases) are recorded
#: as "below ROUNDING_BOUND": measured at most 1.1e-11, their digits differ between BLAS builds
ROUNDING_BOUND = 1e-10
#: the GD student's error is the float64 resolution of the teacher's predictions, which differs
#: between BLAS builds in every digit (up to 8.7e-6 relative along a direction where the teacher
#: has made little progress); it is recorded as a fraction of its tolerance: "below half of it"
#: (measured at most 0.04 of it)
STUDENT_EXCESS_BOUND = 0.5
#: NAG-2/3 premise "distinct eigenvalues": the smallest relative gap between consecutive
#: eigenvalues must exceed their float64 accuracy (relative eps * cond(X) < 1e-12 here)
EIGEN_RESOLUTION = 1e-10
#: NAG-5 premise: "the bottom of the spectrum" means b (filter_order_bound) below this
BOTTOM_BOUND_MAX = 0.01
#: the setting of NAG-2 (module docstring): every design's spectrum spans this many decades
MIN_SPAN_DECADES = 6.0

#: digits each column of the saved table is determined to (kdtheory.io.table_csv_text), from
#: the differences between two BLAS builds (default OpenBLAS vs one thread, Sandybridge kernel)
#: with a margin of ten: rounding-level errors as bounds (Floor), the student's raw error not
#: stored (noise in every digit), columns computed from sums of logs of ~1e-9 differences or
#: from simulated descent with fewer digits; the slopes with ten, so that NAG-5's bands (margins
#: down to 5e-8 at a slope of 1) decide on the stored table as on the computed one
PRECISION = {
    "gd_teacher_err": Floor(ROUNDING_BOUND),
    "T_inf_error": Floor(ROUNDING_BOUND),
    "t_inf_error": Floor(ROUNDING_BOUND),
    "gd_student_err": None,
    "gd_student_excess": Floor(STUDENT_EXCESS_BOUND),
    "gd_student_tol": 7,
    "flow_step_err": Floor(CLOSED_FORM_RTOL, 1),
    "flow_step_ratio": 4,
    "gap3_min": 5,
    "tau_margin": 5,
    **{f"{f}_slope{end}": 10 for f in ("kd", "label") for end in ("", "_lo", "_hi")},
}


@dataclass(frozen=True)
class Config:
    """Parameters of the experiment (times in units of ``1 / lam_1``; ``t_ratios`` holds 1.0)."""

    n_designs: int
    t_ratios: tuple[float, ...]
    n: int = 40
    p: int = 60
    column_decades: float = 8.0
    teacher_time: float = 2.0
    gd_step: float = 0.1
    flow_check_step: float = 0.01
    generations: int = 4
    bottom_points: int = 6
    curve_ratios: tuple[float, ...] = tuple(float(v) for v in np.logspace(-2, 1, 31))
    dynamics: tuple[str, ...] = ("flow", "gd")
    seed: int = 0


PRESETS = {
    "quick": Config(n_designs=4, t_ratios=(0.1, 1.0, 10.0)),
    "full": Config(n_designs=50, t_ratios=(0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)),
}


def _design(rng: np.random.Generator, cfg: Config):
    scale = 10.0 ** (-0.5 * cfg.column_decades * np.arange(cfg.p) / (cfg.p - 1))
    X = rng.standard_normal((cfg.n, cfg.p)) * scale
    return X, rng.standard_normal(cfg.n)


def _clock(cfg: Config, dynamics: str, lam_top: float):
    """Step ``eta`` (None for flow), teacher time ``T`` and a function rounding student times."""
    if dynamics == "flow":
        return None, cfg.teacher_time / lam_top, float
    eta = cfg.gd_step / lam_top
    return eta, float(round(cfg.teacher_time / cfg.gd_step)), lambda s: float(round(s))


def _records(kind: str, **columns) -> list[dict]:
    """One row per entry of the array-valued ``columns`` (scalars are repeated)."""
    return pd.DataFrame(columns).assign(kind=kind).to_dict("records")


def _rel(w: np.ndarray, reference: np.ndarray) -> float:
    return float(np.linalg.norm(w - reference) / np.linalg.norm(reference))


def _bottom_top(log_filter, top: float, bottom: float, *args) -> float:
    """``log(P_bottom / P_top)`` for a log-progress function ``log_filter(lam, *args)``."""
    return float(log_filter(bottom, *args) - log_filter(top, *args))


def _rel_along(dec: SpectralDecomposition, w: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``|<v_k, w> / <v_k, reference> - 1|`` for every ``k``."""
    return np.abs((dec.right @ w) / (dec.right @ reference) - 1.0)


def _nag1_rows(X, y, dec, eta, T, cfg: Config) -> tuple[dict, list[dict]]:
    """NAG-1 on one design: simulated GD against the closed forms along every ``v_k``."""
    lam = dec.eigenvalues
    if eta is None:  # small-step GD against the gradient-flow closed form, teacher time
        step = cfg.flow_check_step / lam[0]
        m = int(round(T / step))
        err = _rel_along(dec, simulate_gd(X, y, m, step), gd_weights(X, y, m * step))
        # relative error of F_k is at most eta lam_k: with x = eta lam_k,
        # e^{-m x} - (1 - x)^m <= e^{-m x} m x^2 (x <= 1/2), over 1 - e^{-m x} gives <= x;
        # plus the closed-form fidelity CLOSED_FORM_RTOL of float64
        bound = step * lam + CLOSED_FORM_RTOL
        summary = {"flow_step_ratio": float((err / bound).max()), "check_step": step * lam[0]}
        return summary, _records("nag1", lam=lam, flow_step_err=err, flow_step_bound=bound)
    steps = int(T)
    w_T = simulate_gd(X, y, steps, eta)
    err_T = _rel_along(dec, w_T, gd_weights(X, y, steps, eta))
    y_T = X @ w_T  # the teacher's float64 training predictions
    w_S = simulate_gd(X, y_T, steps, eta)  # student, t = T
    err_S = _rel_along(dec, w_S, dec.weights(y, distill_filter(lam, steps, T, eta)))
    # the student follows y_T, whose rounding (Higham: |delta_i| <= gamma_p (|X||w_T|)_i) is a
    # relative error gamma_p || |X| || ||w_T|| / (F_k(T) |<u_k, y>|) along u_k; once for y_T,
    # twice for the student's residuals X w - y_T, once for the teacher's own iterate
    gamma = cfg.p * EPS / (1.0 - cfg.p * EPS)
    scale = 4.0 * gamma * np.linalg.norm(np.abs(X), 2) * np.linalg.norm(w_T)
    tol_S = CLOSED_FORM_RTOL + scale / (gd_filter(lam, T, eta) * np.abs(dec.left.T @ y))
    summary = {
        "gd_teacher_err": float(err_T.max()),
        "gd_student_err": float(err_S.max()),
        "gd_student_excess": float((err_S / tol_S).max()),
    }
    rows = _records(
        "nag1", lam=lam, gd_teacher_err=err_T, gd_student_err=err_S, gd_student_tol=tol_S
    )
    return summary, rows


def _slope_row(lam, values, times, eta, mask, prefix: str) -> dict:
    """NAG-5: fitted log-log slope of a filter over the bottom of the spectrum, and its bounds.

    The local slope ``d log F / d log lam`` of ``prod_i F(lam; t_i)`` is
    ``sum_i (eta lam / (q ell)) x_i / (e^{x_i} - 1)`` with ``x_i = ell t_i`` (flow: the factor
    is 1), hence in ``[m - sum_i x_i / 2, m / (1 - eta lam)]`` and above ``m (1 - b)`` with ``b``
    = :func:`kdtheory.theory.filter_order_bound`. An OLS slope is a weighted mean of local
    slopes, so it obeys the same bounds at the top of the fitted range.
    """
    fit = fit_rate(lam[mask], values[mask])
    lam_hi = float(lam[mask].max())
    m = len(times)
    b = float(filter_order_bound(lam_hi, times, eta))
    return {
        f"{prefix}_slope": fit.slope,
        f"{prefix}_slope_lo": m * (1.0 - b),
        f"{prefix}_slope_hi": m / (1.0 - (0.0 if eta is None else eta * lam_hi)),
        f"{prefix}_fit_bound": b,
    }


def _task(rng: np.random.Generator, *, dynamics: str, cfg: Config) -> list[dict]:
    X, y = _design(rng, cfg)
    dec = SpectralDecomposition.of(X)
    lam = dec.eigenvalues
    eta, T, whole = _clock(cfg, dynamics, float(lam[0]))
    top, bottom = lam[0], lam[-1]
    k, j = np.triu_indices(lam.size, 1)  # every pair lam_k > lam_j
    bottom_mask = np.arange(lam.size) >= lam.size - cfg.bottom_points  # NAG-5's fitted range
    rows: list[dict] = []
    for ratio in cfg.t_ratios:
        t = whole(ratio * T)
        tau = float(matched_progress_time(top, t, T, eta))
        gap2 = ratio_exaggeration_gap(lam[k], lam[j], t, T, eta)
        gap3 = matched_progress_gap(top, lam[1:], t, T, eta)
        rounding = GAP_ROUNDING_ULPS * EPS * max(1.0, -float(log_distill_filter(bottom, t, T, eta)))
        log_ratios = bottom_top_log_ratios(top, bottom, [T] + [t] * cfg.generations, eta)
        kd_times, label_times = [t, T], [tau]
        order = {
            name: (filter_order_ratio(lam, times, eta), filter_order_bound(lam, times, eta))
            for name, times in (("kd", kd_times), ("label", label_times))
        }
        student, label = distill_filter(lam, t, T, eta), gd_filter(lam, tau, eta)
        row = {
            "kind": "summary",
            "t_ratio": ratio,
            "t": t,
            "T": T,
            "tau": tau,
            "tau_ratio": tau / min(t, T),
            "tau_margin": (min(t, T) - tau) / min(t, T),  # 2.4e-9 at t = 10 T: not 1 - ratio
            "gap2_min": float(gap2.min()),
            "gap2_pairs": int(gap2.size),
            "gap3_min": float(gap3.min()),
            "gap_rounding": rounding,  # float64 error bound of both gaps
            "generation_gap_min": float(
                generation_gaps(top, bottom, [T] + [t] * cfg.generations, eta).min()
            ),
            **_slope_row(lam, student, kd_times, eta, bottom_mask, "kd"),
            **_slope_row(lam, label, label_times, eta, bottom_mask, "label"),
        }
        for name, (r, b) in order.items():
            # 1 - b <= ratio <= 1: positive values violate
            row[f"{name}_order_violation"] = float(np.max(np.maximum(r - 1.0, (1.0 - b) - r)))
            row[f"{name}_bottom_deviation"] = float(1.0 - r[-1])
            row[f"{name}_bottom_bound"] = float(b[-1])
        rows.append(row)
        rows += _records(
            "generation", t_ratio=ratio, generation=np.arange(log_ratios.size), log_ratio=log_ratios
        )
    for ratio in cfg.curve_ratios:  # real times also for descent: q^t with q > 0
        t = ratio * T
        tau = matched_progress_time(top, t, T, eta)
        rows.append(
            {
                "kind": "curve",
                "t_ratio": ratio,
                "teacher_log_ratio": _bottom_top(log_gd_filter, top, bottom, T, eta),
                "student_log_ratio": _bottom_top(log_distill_filter, top, bottom, t, T, eta),
                "label_log_ratio": _bottom_top(log_gd_filter, top, bottom, tau, eta),
                "gap2_extreme": float(ratio_exaggeration_gap(top, bottom, t, T, eta)),
            }
        )
    nag1, nag1_rows = _nag1_rows(X, y, dec, eta, T, cfg)
    t_one = whole(T)
    w_label = gd_weights(X, y, t_one, eta)
    from_interpolant = gd_weights(X, X @ gd_weights(X, y, np.inf, eta), t_one, eta)
    w_T = gd_weights(X, y, T, eta)
    rows.append(
        {
            "kind": "design",
            "n": X.shape[0],
            "rank": lam.size,  # nonzero singular values kept: n when X X^T is invertible
            "span_decades": float(np.log10(top / bottom)),
            "eig_gap_min": float(np.min((lam[:-1] - lam[1:]) / lam[:-1])),
            "bottom_decades": float(np.log10(lam[bottom_mask][0] / bottom)),
            "T": T,
            "T_inf_error": _rel(from_interpolant, w_label),
            "t_inf_error": _rel(gd_weights(X, X @ w_T, np.inf, eta), w_T),
            **nag1,
        }
    )
    return rows + nag1_rows


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: per dynamics and design, summary rows per ``t / T`` plus spectra and curves."""
    return run_grid(
        partial(_task, cfg=cfg),
        {"dynamics": cfg.dynamics},
        n_trials=cfg.n_designs,
        seed=cfg.seed,
        n_jobs=n_jobs,
        backend=backend,
        cache_dir=cache_dir,
        progress=progress,
        desc=f"{NAME}: designs",
    )


#: the OLS slope of log F on log lam is computed from values accurate to a few ulps of
#: |log F| <= 40 over a log-lam range of about 2.3 with a design-matrix condition number below
#: 100: its rounding error is below 1e-12; 1e-10 leaves a wide margin for the solver
SLOPE_ROUNDING = 1e-10
LN10 = float(np.log(10.0))


def _spectra(lam: np.ndarray, T: float, t_ratios) -> pd.DataFrame:
    """Progress spectra of one design under gradient flow, for the figure (NAG-2, 3, 5)."""
    frames = []
    for ratio in t_ratios:
        t = ratio * T
        tau = float(matched_progress_time(lam[0], t, T))
        frame = pd.DataFrame({"lam": lam, "t_ratio": ratio, "tau_over_T": tau / T})
        frame["teacher"], frame["student"] = gd_filter(lam, T), distill_filter(lam, t, T)
        frame["label"] = gd_filter(lam, tau)
        frame["student_scaled"], frame["label_scaled"] = frame.student / (t * T), frame.label / tau
        for name, times in (("kd", [t, T]), ("label", [tau])):
            frame[f"{name}_ratio"] = filter_order_ratio(lam, times)
            frame[f"{name}_floor"] = 1.0 - filter_order_bound(lam, times)
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True)
    out["ref_quadratic"], out["ref_linear"] = out.lam**2, out.lam
    return out


def analyze(df: pd.DataFrame) -> dict:
    """All statistics of the claims and the figure (log ratios converted to base 10)."""
    s, d = df[df.kind == "summary"], df[df.kind == "design"]
    curve, gens = df[df.kind == "curve"].copy(), df[df.kind == "generation"].copy()
    models = ["teacher", "student", "label"]
    for name in models:
        curve[name] = curve[f"{name}_log_ratio"] / LN10
    gens["log10_ratio"] = gens.log_ratio / LN10
    filters = ("kd", "label")
    slope_ok = {
        f: bool(
            s[f"{f}_slope"]
            .between(s[f"{f}_slope_lo"] - SLOPE_ROUNDING, s[f"{f}_slope_hi"] + SLOPE_ROUNDING)
            .all()
        )
        for f in filters
    }
    at_one = s[(s.dynamics == "flow") & (s.t_ratio == 1.0)]
    slopes = {f: mean_estimate(at_one[f"{f}_slope"]).summary() for f in filters}
    by_design = curve.groupby(["dynamics", "trial"]).gap2_extreme
    first = (df.trial == 0) & (df.dynamics == "flow")
    nag1 = df[df.kind == "nag1"]
    lam0 = df[first & (df.kind == "nag1")].lam.to_numpy()
    T0 = float(d[(d.trial == 0) & (d.dynamics == "flow")]["T"].iloc[0])
    ratios = sorted(set(s.t_ratio))
    spec0 = _spectra(lam0, T0, sorted({ratios[0], 1.0, ratios[-1]}))  # three curves drawn
    curve_long = curve.melt(["dynamics", "trial", "t_ratio"], models, var_name="model")
    return {
        "min_span": float(d.span_decades.min()),
        "max_span": float(d.span_decades.max()),
        "n": int(d.n.max()),
        "min_rank": int(d["rank"].min()),
        "eig_gap_min": float(d.eig_gap_min.min()),
        "bottom_decades": (float(d.bottom_decades.min()), float(d.bottom_decades.max())),
        "pairs": int(s.gap2_pairs.iloc[0]),
        **{c: float(s[c].min()) for c in ("gap2_min", "gap3_min", "generation_gap_min")},
        **{
            f"{c}_rounding": float((s[f"{c}_min"] / s.gap_rounding).min()) for c in ("gap2", "gap3")
        },
        "tau_margin": float(s.tau_margin.min()),
        "gap2_decreasing": bool(by_design.apply(lambda g: bool(np.all(np.diff(g) < 0))).all()),
        "gap2_shrink_max": float(by_design.apply(lambda g: g.iloc[-1] / g.iloc[0]).max()),
        "curve_range": (float(curve.t_ratio.min()), float(curve.t_ratio.max())),
        **{c: float(d[c].max()) for c in ("gd_teacher_err", "check_step")},
        "student_tol": (float(nag1.gd_student_tol.min()), float(nag1.gd_student_tol.max())),
        **{c: float(d[c].max()) for c in ("gd_student_excess", "flow_step_ratio")},
        **{c: float(d[c].max()) for c in ("T_inf_error", "t_inf_error")},
        "n_generations": int(gens.generation.max()),
        "order_violation": {f: float(s[f"{f}_order_violation"].max()) for f in filters},
        "bottom_deviation": {f: float(s[f"{f}_bottom_deviation"].max()) for f in filters},
        "bottom_bound": {f: float(s[f"{f}_bottom_bound"].max()) for f in filters},
        "fit_bound": max(float(s[f"{f}_fit_bound"].max()) for f in filters),
        "slope_ok": slope_ok,
        "slopes": slopes,
        "slope_deviation": {
            f: (float((s[f"{f}_slope"] - m).abs().min()), float((s[f"{f}_slope"] - m).abs().max()))
            for f, m in (("kd", 2.0), ("label", 1.0))
        },
        "spec0": spec0,
        "curve": summarize(curve_long, ["dynamics", "model", "t_ratio"], "value"),
        "generations": summarize(gens, ["dynamics", "t_ratio", "generation"], "log10_ratio"),
        "nag1": df[(df.kind == "nag1") & (df.trial == 0)],
    }


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """Verdicts on NAG-1..NAG-5 over every design, ``t / T``, gradient flow and descent.

    All checks are deterministic (exact arithmetic in float64): identities and strict
    inequalities hold or fail; an error at rounding level is recorded as a bound
    (``relation="<"``), not with digits that differ between machines. The hypotheses that are
    numbers on the run (distinct eigenvalues, the spectrum's span of at least
    ``MIN_SPAN_DECADES`` decades, ``X X^T`` invertible: ``X`` of rank ``n``, ``b`` small at the
    bottom of the spectrum) are checked as premises (:mod:`kdtheory.simulations._eigen_report`).
    """
    from kdtheory.simulations._eigen_report import claims_of

    return claims_of(analyze(df) if analysis is None else analysis)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Six panels: progress spectra, bottom/top ratio vs t, generations, filter order, NAG-1
    (:mod:`kdtheory.simulations._eigen_report`)."""
    from kdtheory.simulations._eigen_report import draw

    return draw(analysis, claim_list)
