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
simulated GD against the closed forms along every ``v_k`` (NAG-1) and the two degenerate cases
of NAG-4 on weights.
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
from kdtheory.montecarlo import run_grid
from kdtheory.plotting import (
    METHOD_STYLE,
    OKABE_ITO,
    REFERENCE_COLOR,
    SERIES_MARKERS,
    dodge,
    dodge_step,
    dress_axis,
    errorbar,
    finish_figure,
    format_ci,
    new_figure,
    ordered_colors,
    summarize,
)
from kdtheory.rates import fit_rate
from kdtheory.theory import (
    bottom_top_log_ratios,
    filter_order_bound,
    filter_order_ratio,
    generation_gaps,
    matched_progress_gap,
    ratio_exaggeration_gap,
)

NAME = "eigen_exaggeration"
CLAIM_IDS = ("NAG-1", "NAG-2", "NAG-3", "NAG-4", "NAG-5")
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
    return {
        f"{prefix}_slope": fit.slope,
        f"{prefix}_slope_lo": m * (1.0 - float(filter_order_bound(lam_hi, times, eta))),
        f"{prefix}_slope_hi": m / (1.0 - (0.0 if eta is None else eta * lam_hi)),
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
            "gap2_min": float(gap2.min()),
            "gap2_pairs": int(gap2.size),
            "gap3_min": float(gap3.min()),
            "gap2_rounding": float(gap2.min()) / rounding,
            "gap3_rounding": float(gap3.min()) / rounding,
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
            "span_decades": float(np.log10(top / bottom)),
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
    slopes = {f: summarize(at_one, ["dynamics"], f"{f}_slope").iloc[0] for f in filters}
    by_design = curve.groupby(["dynamics", "trial"]).gap2_extreme
    first = (df.trial == 0) & (df.dynamics == "flow")
    lam0 = df[first & (df.kind == "nag1")].lam.to_numpy()
    T0 = float(d[(d.trial == 0) & (d.dynamics == "flow")]["T"].iloc[0])
    ratios = sorted(set(s.t_ratio))
    spec0 = _spectra(lam0, T0, sorted({ratios[0], 1.0, ratios[-1]}))  # three curves drawn
    curve_long = curve.melt(["dynamics", "trial", "t_ratio"], models, var_name="model")
    return {
        "min_span": float(d.span_decades.min()),
        "bottom_decades": (float(d.bottom_decades.min()), float(d.bottom_decades.max())),
        "pairs": int(s.gap2_pairs.iloc[0]),
        **{c: float(s[c].min()) for c in ("gap2_min", "gap3_min", "generation_gap_min")},
        **{c: float(s[c].min()) for c in ("gap2_rounding", "gap3_rounding")},
        "tau_margin": float(1.0 - s.tau_ratio.max()),
        "gap2_decreasing": bool(by_design.apply(lambda g: bool(np.all(np.diff(g) < 0))).all()),
        "gap2_shrink_max": float(by_design.apply(lambda g: g.iloc[-1] / g.iloc[0]).max()),
        "curve_range": (float(curve.t_ratio.min()), float(curve.t_ratio.max())),
        **{c: float(d[c].max()) for c in ("gd_teacher_err", "gd_student_err", "check_step")},
        **{c: float(d[c].max()) for c in ("gd_student_excess", "flow_step_ratio")},
        **{c: float(d[c].max()) for c in ("T_inf_error", "t_inf_error")},
        "n_generations": int(gens.generation.max()),
        "order_violation": {f: float(s[f"{f}_order_violation"].max()) for f in filters},
        "bottom_deviation": {f: float(s[f"{f}_bottom_deviation"].max()) for f in filters},
        "bottom_bound": {f: float(s[f"{f}_bottom_bound"].max()) for f in filters},
        "slope_ok": slope_ok,
        "slopes": slopes,
        "slope_range": {f: (s[f"{f}_slope"].min(), s[f"{f}_slope"].max()) for f in filters},
        "spec0": spec0,
        "curve": summarize(curve_long, ["dynamics", "model", "t_ratio"], "value"),
        "generations": summarize(gens, ["dynamics", "t_ratio", "generation"], "log10_ratio"),
        "nag1": df[(df.kind == "nag1") & (df.trial == 0)],
    }


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """Verdicts on NAG-1..NAG-5 over every design, ``t / T``, gradient flow and descent."""
    a = analyze(df) if analysis is None else analysis
    rtol, order, bound = CLOSED_FORM_RTOL, a["order_violation"], a["bottom_bound"]
    lo, hi = a["curve_range"]
    slope_claims = [
        Claim(
            "NAG-5",
            f"bottom-of-spectrum log-log slope of the {name} filter in {interval}",
            a["slope_ok"][f],
            float(a["slopes"][f]["mean"]),
            (float(a["slopes"][f]["lo"]), float(a["slopes"][f]["hi"])),
            "mean over designs (flow, t/T = 1); fitted on the smallest eigenvalues, spanning "
            "{:.2g}-{:.2g} decades; ".format(*a["bottom_decades"])
            + "range over all runs [{:.7f}, {:.7f}]".format(*a["slope_range"][f]),
        )
        for f, name, interval in (
            ("kd", "KD", "[2(1 - b), 2 / (1 - eta lam)]"),
            ("label", "label", "[1 - b, 1 / (1 - eta lam)]"),
        )
    ]
    return [
        Claim(
            "NAG-1",
            f"simulated GD on the labels = closed form along every v_k (relative error < {rtol:g})",
            a["gd_teacher_err"] < rtol,
            a["gd_teacher_err"],
            detail="max over designs and directions",
        ),
        Claim(
            "NAG-1",
            "GD student simulated on the teacher's float64 predictions = F_k(t) F_k(T) w*_k along "
            f"every v_k, within {rtol:g} + the float64 resolution of those predictions",
            a["gd_student_excess"] <= 1.0,
            a["gd_student_excess"],
            detail=f"max error / tolerance; raw max relative error {a['gd_student_err']:.2g}",
        ),
        Claim(
            "NAG-1",
            f"small-step GD (eta lam_1 = {a['check_step']:g}) = gradient-flow closed form along "
            f"every v_k within eta lam_k + {rtol:g}",
            a["flow_step_ratio"] <= 1.0,
            a["flow_step_ratio"],
            detail="max error / bound",
        ),
        Claim(
            "NAG-2",
            f"S_j/S_k < F_j(T)/F_k(T) for all {a['pairs']} pairs lam_k > lam_j, every design "
            "and t/T (flow and GD)",
            a["gap2_min"] > 0,
            a["gap2_min"],
            detail=f"min log gap; min gap / rounding bound {a['gap2_rounding']:.3g}",
        ),
        Claim(
            "NAG-2",
            "the top/bottom gap decreases strictly in t (equality only as t -> inf)",
            a["gap2_decreasing"],
            a["gap2_shrink_max"],
            detail=f"max over designs of gap(t = {hi:g} T) / gap(t = {lo:g} T)",
        ),
        Claim(
            "NAG-3",
            "at matched top progress F_1(tau) = S_1: F_j(tau) > S_j for every lower direction j",
            a["gap3_min"] > 0,
            a["gap3_min"],
            detail=f"min log gap; min gap / rounding bound {a['gap3_rounding']:.3g}",
        ),
        Claim(
            "NAG-3",
            "tau < min(t, T)",
            a["tau_margin"] > 0,
            a["tau_margin"],
            detail="min of 1 - tau / min(t, T)",
        ),
        Claim(
            "NAG-4",
            f"each of generations 1-{a['n_generations']} strictly lowers the bottom/top ratio",
            a["generation_gap_min"] > 0,
            a["generation_gap_min"],
            detail="min drop of log(P_bottom / P_top) per generation",
        ),
        Claim(
            "NAG-4",
            f"interpolating teacher (T = inf): student = label training (rel. error < {rtol:g})",
            a["T_inf_error"] < rtol,
            a["T_inf_error"],
            detail="max ||w_S - w_label|| / ||w_label||",
        ),
        Claim(
            "NAG-4",
            f"t = inf: student = teacher (relative error < {rtol:g})",
            a["t_inf_error"] < rtol,
            a["t_inf_error"],
            detail="max ||w_S - w_T|| / ||w_T||",
        ),
        Claim(
            "NAG-5",
            "KD filter quadratic: 1 - b <= S / (lam^2 t T) <= 1 at every eigenvalue, b = O(lam)",
            order["kd"] <= ORDER_ROUNDING,
            a["bottom_deviation"]["kd"],
            detail=f"value: max 1 - ratio at lam_min (b there {bound['kd']:.2g})",
        ),
        Claim(
            "NAG-5",
            "label filter linear: 1 - b <= F(tau) / (lam tau) <= 1 at every eigenvalue",
            order["label"] <= ORDER_ROUNDING,
            a["bottom_deviation"]["label"],
            detail=f"value: max 1 - ratio at lam_min (b there {bound['label']:.2g})",
        ),
        *slope_claims,
    ]


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Six panels: progress spectra, bottom/top ratio vs t, generations, filter order, NAG-1."""
    fig, axes = new_figure(2, 3, width=4.8, height=3.5)
    spec0, lam = analysis["spec0"], "eigenvalue $\\lambda_k$ of $X^TX$ (design 0, gradient flow"
    TEA, KD, LAB = ({"color": METHOD_STYLE[m]["color"]} for m in ("teacher", "student", "label"))
    REF, FLOW = {"color": REFERENCE_COLOR, "lw": 1.1}, {"color": OKABE_ITO["blue"]}
    ax = axes[0, 0]
    first = spec0[spec0.t_ratio == spec0.t_ratio.min()]
    ax.loglog(first.lam, first.teacher, **TEA, lw=2.6, label="teacher $F(T)$")
    for mk, (ratio, g) in zip(SERIES_MARKERS, spec0.groupby("t_ratio"), strict=False):
        tau = f"labels, matched $\\tau$ = {g.tau_over_T.iloc[0]:.2g} T"
        ax.loglog(g.lam, g.student, **KD, marker=mk, ms=3.5, label=f"KD student, t/T = {ratio:g}")
        ax.loglog(g.lam, g.label, "--", **LAB, marker=mk, mfc="w", markevery=2, label=tau)
    title = "NAG-2/3: the student matches the labels'\ntop progress, makes less below"
    dress_axis(ax, lam + ")", "progress fraction along $v_k$", title, ncol=2)

    ax = axes[0, 1]
    styles = {
        "teacher": (TEA, ":", "teacher $F_n(T)/F_1(T)$"),
        "student": (KD, "-", "KD student $S_n/S_1$"),
        "label": (LAB, "--", "labels at matched $\\tau$"),
    }
    for (dyn, model), g in analysis["curve"].groupby(["dynamics", "model"]):
        style, ls, text = styles[model]
        if dyn == "flow" or model == "student":
            ls, lw = (ls, 1.8) if dyn == "flow" else ("-.", 1.0)
            ax.plot(g.t_ratio, g["mean"], ls=ls, lw=lw, **style, label=f"{text} ({dyn})")
            ax.fill_between(g.t_ratio, g.lo, g.hi, **style, alpha=0.18, lw=0)
    ax.set_xscale("log")
    title = "NAG-2/3: bottom/top progress ratio\n(mean and 95% CI band over designs)"
    dress_axis(ax, "student time t / T", "$\\log_{10}$ bottom/top progress ratio", title, ncol=2)

    ax, gens = axes[0, 2], analysis["generations"]
    flow = gens[gens.dynamics == "flow"]
    k = flow.t_ratio.nunique()
    colors, step = ordered_colors(k), dodge_step(flow.generation, k, log=False)
    for i, (ratio, g) in enumerate(flow.groupby("t_ratio")):
        x = dodge(g.generation, i, k, step=step, log=False)
        errorbar(
            ax,
            x,
            g["mean"],
            g.lo,
            g.hi,
            color=colors[i],
            marker=SERIES_MARKERS[i],
            ms=4,
            label=f"t/T = {ratio:g}",
        )
    dress_axis(
        ax,
        "generation (0 = teacher trained for T; each next for t)",
        "$\\log_{10}(P_{bottom} / P_{top})$, flow",
        "NAG-4: each generation lowers the ratio\n(mean, 95% CI over designs)",
        legend_title="student time per generation",
    )

    g = spec0[spec0.t_ratio == 1.0]
    kd, lab = (analysis["slopes"][f] for f in ("kd", "label"))
    ax = axes[1, 0]
    for col, fmt, style, text in (
        ("student_scaled", "v", KD, f"KD $S/(tT)$: slope {format_ci(*kd[['mean', 'lo', 'hi']])}"),
        (
            "label_scaled",
            "^",
            LAB,
            f"labels $F(\\tau)/\\tau$: slope {format_ci(*lab[['mean', 'lo', 'hi']])}",
        ),
        ("ref_quadratic", ":", REF, "$\\lambda^2$ (slope 2)"),
        ("ref_linear", "--", REF, "$\\lambda$ (slope 1)"),
    ):
        ax.loglog(g.lam, g[col], fmt, **style, ms=3.5, label=text)
    title = "NAG-5: the KD filter is quadratic, the\nlabels' linear (bottom-of-spectrum slopes)"
    dress_axis(ax, lam + ", t/T = 1)", "filter / time scale", title, ncol=2)

    ax = axes[1, 1]
    for col, fmt, style, text in (
        ("kd_ratio", "v", KD, "KD $S / (\\lambda^2 t T)$"),
        ("kd_floor", "--", KD, "KD: $1 - b$ (bound)"),
        ("label_ratio", "^", LAB, "labels $F(\\tau) / (\\lambda \\tau)$"),
        ("label_floor", "--", LAB, "labels: $1 - b$ (bound)"),
    ):
        ax.semilogx(g.lam, g[col], fmt, **style, ms=3.5, lw=1, label=text)
    ax.axhline(1.0, **REF)
    ax.set_ylim(-0.05, 1.05)
    title = "NAG-5: both ratios lie in $[1 - b, 1]$,\n$b = O(\\lambda) \\to 0$ at the bottom"
    dress_axis(ax, lam + ", t/T = 1)", "normalized filter", title, ncol=2)

    ax, n1 = axes[1, 2], analysis["nag1"]
    gd, fl = n1[n1.dynamics == "gd"], n1[n1.dynamics == "flow"]
    for rows, col, fmt, style, text in (
        (gd, "gd_teacher_err", "^", LAB, "GD on labels vs closed form"),
        (gd, "gd_student_err", "v", KD, "GD student vs $F(t)F(T)$"),
        (gd, "gd_student_tol", "-", KD, "student tolerance (float64)"),
        (fl, "flow_step_err", "o", FLOW, "small-step GD vs flow"),
        (fl, "flow_step_bound", "-", FLOW, "bound $\\eta\\lambda_k$ + 1e-8"),
    ):
        ax.loglog(rows.lam, rows[col], fmt, **style, ms=4, lw=1, label=text)
    ax.axhline(CLOSED_FORM_RTOL, ls="--", **REF, label="1e-8")
    title = "NAG-1: the closed forms equal\nsimulated gradient descent"
    dress_axis(
        ax, "eigenvalue $\\lambda_k$ (design 0)", "relative error along $v_k$", title, ncol=2
    )
    finish_figure(
        fig,
        claim_list,
        "NAG-1..NAG-5: distillation exaggerates gradient descent's bias toward the top "
        f"eigendirections (spectrum spans >= {analysis['min_span']:.1f} decades)",
    )
    return fig
