"""Teacher error and student bias: KD is first order in eps, the orthogonal correction second order.

Claims SEMI-1, SEMI-2 and SEMI-5 of CLAIMS.md section 3, on the log-probability scale, where the
orthogonal (Neyman) correction is not trivial (on the p scale it is training on the labels).

Pointwise (SEMI-1, deterministic). With ``p_hat = p0 + eps`` the KD target ``log p_hat`` has bias
``log(1 + u)``, ``u = eps / p0``, and the orthogonal target ``log p_hat + (y - p_hat) / p_hat``
has conditional bias ``b(u) = log(1 + u) - u / (1 + u) = u^2/2 - 2u^3/3 + ...``, so
``bias / eps^2 -> 1 / (2 p0^2)``. Both are computed by
:func:`kdtheory.semiparametric.target_bias` over a grid of ``p0`` and log-spaced ``eps``.

Estimator level (SEMI-2, SEMI-5, Monte Carlo over designs). ``x ~ U[-1, 1]^2``, features
``phi(x) = (1, x1, x2)``, ``log p0(x) = phi(x)' beta`` (well specified; ``p0`` in ``[0.51, 0.79]``),
labels ``y ~ Bern(p0(x))``. Synthetic teacher independent of the sample:
``p_hat = p0 (1 + eps r(x))`` with ``r(x) = sin(pi x1 / 2)`` (i.e. ``p0 + eps h(x)``, ``h = p0 r``,
no clipping active). The student is least squares on ``phi`` of the KD or the orthogonal target
(:class:`kdtheory.semiparametric.DistilledRegressor`, ``scale="logp"``); ``f0 = phi' beta``.
Both estimators are linear in ``y``, so for every design the conditional bias
``||E[f_hat | X] - f0||`` and variance ``E[||f_hat - E f_hat||^2 | X]`` (norms in ``L2(P_X)``) are
exact; one sampled fit per design checks them. ``e = ||p_hat - p0||`` is the teacher error and
``delta_n^2 = d / n`` (``d = 3``) the squared critical radius of the student class, up to constants.

Why the bias is fitted, not the sampled error. The orthogonal target's label noise (variance
``p0 (1 - p0) / p_hat^2``, about 0.6) gives the student a noise sd of about ``1.3 / sqrt(n)``, as
large at ``n = 10^6`` as its bias at ``eps = 0.1``; the ``eps^2`` law of the sampled error down to
``eps = 0.0125`` would need ``n ~ 10^10``. SEMI-2 therefore tests the log-log slope of the
conditional bias against ``eps`` (95% CI clustered by design) for equivalence with 1 and 2 within
the expansion's second-order term (``SLOPE_K``), and the ``n^{-1/2}`` part separately (the
variance's slope in ``n`` within ``1 / (2 log n_max)`` of -1). SEMI-5 ("lies under
``C (delta_n^2 + e^k)``") is made falsifiable as a shape test: the means of
``E[||f_hat - f0||^2 | X]`` are fitted by ``A delta_n^2 + B e^k`` (NNLS on relative residuals) for
``k = 2`` and ``4``; the predicted ``k`` (2 for KD, 4 corrected) must fit better than the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from scipy.optimize import nnls
from sklearn.linear_model import LinearRegression

from kdtheory.claims import Claim, Premise
from kdtheory.formatting import format_value
from kdtheory.montecarlo import run_grid
from kdtheory.plotting import (
    METHOD_STYLE,
    REFERENCE_COLOR,
    SERIES_MARKERS,
    ci_series,
    dodge_step,
    dress_axis,
    finish_figure,
    format_ci,
    method_kwargs,
    new_figure,
    summarize,
)
from kdtheory.rates import fit_rate, fit_slope
from kdtheory.semiparametric import (
    DistilledRegressor,
    correction_gamma,
    distillation_target,
    target_bias,
)
from kdtheory.verdicts import check, estimate_from_fit, holm, mean_estimate

NAME = "semiparametric_bias"
CLAIM_IDS = ("SEMI-1", "SEMI-2", "SEMI-5")
#: wall time (seconds) of ``kdtheory run semiparametric_bias --preset P`` on two CPU cores,
#: nothing cached
PRESET_SECONDS = {"quick": 15, "full": 52}
METHODS = {"kd": "none", "orthogonal": "orthogonal"}
LABELS = {"kd": "KD", "orthogonal": "orthogonal correction"}
ORDER = {"kd": 1, "orthogonal": 2}
#: population second moments E[phi phi'] of phi = (1, x1, x2) under U[-1, 1]^2: the L2(P_X) norm
#: of a linear function phi' v is sqrt(v' SIGMA v)
SIGMA = np.diag([1.0, 1.0 / 3.0, 1.0 / 3.0])
N_FEATURES = 3

# Moments of r = sin(pi x1 / 2), x1 ~ U[-1, 1]: a2 = E r^2, a4 = E r^4, c1 = E x1 r, c3 = E x1 r^3.
_A2, _A4 = 0.5, 0.375
_C1, _C3 = 4.0 / np.pi**2, 28.0 / (9.0 * np.pi**2)
#: SEMI-2 slope bands. r is odd in x1, so the even powers of u = eps r project onto the constant
#: feature and the odd powers onto x1, orthogonal in L2(P_X). Expanding the L2 norm of the
#: projected bias then gives local log-log slopes k + K eps^2 + O(eps^4) with
#: KD (log(1+u) = u - u^2/2 + u^3/3 ...):        K = 2 c3 / (3 c1) + a2^2 / (12 c1^2) = 0.645,
#: orthogonal (b(u) = u^2/2 - 2u^3/3 + 3u^4/4 ...): K = 3 a4 / a2 + 16 c3^2 / (3 a2^2) = 4.37.
#: The local slope increases with eps and the OLS slope is a positive average of local slopes
#: (weights sum_{x_i > t} (x_i - mean x) / S_xx >= 0), so in the population the fitted slope lies
#: in [k, k + K eps_max^2] up to O(eps^4). The rule checked, fixed before any run and the one the
#: records were judged with, is two-sided: the 95% CI must lie within k +- K eps_max^2. Its upper
#: side is the expansion's. Its lower side is not derived from the expansion: it is the same
#: width taken on the other side, an allowance for two terms the expansion leaves out, each of
#: either sign. (1) The O(eps^4) terms: at eps = 0.2 the corrected local slope is k + 0.170,
#: below k + K eps^2 = k + 0.175. (2) The design's term: the exact bias is projected by a design's
#: sample least squares, in which the even and odd parts of the bias are not orthogonal (they are
#: in L2(P_X) only); their O(n^{-1/2}) overlap adds a term of order eps n^{-1/2} to the local
#: slope (at eps = 0.2 and n = 20,000 its sd over designs is about 4e-4 for KD, against
#: K eps_max^2 = 0.026, and 1.6e-3 corrected, against 0.17). The bias has no label noise, so its
#: CI is narrow and excludes k itself (the second-order term): SEMI-2 claims the local-slope
#: band, not the exponent.
SLOPE_K = {
    "kd": 2 * _C3 / (3 * _C1) + _A2**2 / (12 * _C1**2),
    "orthogonal": 3 * _A4 / _A2 + 16 * _C3**2 / (3 * _A2**2),
}
#: SEMI-1 bands. For u = eps / p0 > 0 the local slopes satisfy 1 - u/2 <= s_KD(u) <= 1 and
#: 2 - 4u/3 <= s_orth(u) <= 2 (alternating series; checked in the tests), and the OLS slope on a
#: grid is a convex combination of secant slopes, so 0 <= k - slope <= POINTWISE_C[k] eps_max / p0.
#: For the limit ratio, u^2/2 - 2u^3/3 <= b(u) <= u^2/2 for u < 3/4, so at eps_min
#: |2 p0^2 bias / eps^2 - 1| <= 4 eps_min / (3 p0).
POINTWISE_C = {"kd": 0.5, "orthogonal": 4.0 / 3.0}
RATIO_C = 4.0 / 3.0
#: bound shapes of SEMI-5: e^2 for KD, e^4 for the corrected estimator
SHAPES = {"kd": 2, "orthogonal": 4}


@dataclass(frozen=True)
class Config:
    """Parameters: sample sizes, designs per size, teacher errors and the pointwise grid."""

    ns: tuple[int, ...]
    n_designs: int
    eps: tuple[float, ...] = (0.2, 0.1, 0.05, 0.025, 0.0125)
    beta: tuple[float, float, float] = (-0.45, 0.12, 0.10)
    pointwise_p0: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    pointwise_eps: tuple[float, ...] = tuple(float(v) for v in np.logspace(-4, -2, 9))
    seed: int = 0


PRESETS = {
    "quick": Config(ns=(20_000, 200_000), n_designs=4),
    "full": Config(ns=(30_000, 100_000, 300_000, 1_000_000), n_designs=20),
}


def teacher_direction(X: np.ndarray) -> np.ndarray:
    """The relative teacher error ``r(x) = sin(pi x1 / 2)`` (odd in ``x1``, ``|r| <= 1``)."""
    return np.sin(np.pi * X[:, 0] / 2.0)


def _targets(method: str, p_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets at ``y = 1`` and ``y = 0`` (KD's and the orthogonal step do not depend on ``y``)."""
    out = []
    for label in (1.0, 0.0):
        y = np.full_like(p_hat, label)
        gamma = correction_gamma(y, p_hat, scale="logp", correction=METHODS[method])
        out.append(distillation_target(y, p_hat, scale="logp", gamma=gamma))
    return out[0], out[1]


def _pointwise_rows(cfg: Config) -> pd.DataFrame:
    """SEMI-1: exact conditional bias ``E[target | p0] - log p0`` of each target at ``p0 + eps``."""
    eps = np.asarray(cfg.pointwise_eps)
    frames = [
        pd.DataFrame(
            {
                "kind": "pointwise",
                "trial": 0,
                "method": method,
                "p0": p0,
                "eps": eps,
                "bias": target_bias(p0, p0 + eps, scale="logp", correction=correction),
            }
        )
        for p0 in cfg.pointwise_p0
        for method, correction in METHODS.items()
    ]
    out = pd.concat(frames, ignore_index=True)
    return out.assign(risk=out.bias**2)


def _l2(v: np.ndarray) -> float:
    return float(np.sqrt(v @ SIGMA @ v))


def student_moments(
    hat: np.ndarray, p0: np.ndarray, p_hat: np.ndarray, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of the least-squares coefficients given the design (SEMI-2).

    The target ``t(y)`` is affine in ``y ~ Bern(p0)``, so the coefficients ``hat @ t`` have
    conditional mean ``hat @ (p0 t(1) + (1 - p0) t(0))`` and covariance
    ``hat diag(p0 (1 - p0) (t(1) - t(0))^2) hat'``.

    Parameters
    ----------
    hat : ndarray of shape (p, n)
        ``(Phi' Phi)^{-1} Phi'``: least-squares coefficients are ``hat @ target``.
    p0, p_hat : ndarray of shape (n,)
        True and teacher probabilities at the design points.
    method : {"kd", "orthogonal"}

    Returns
    -------
    mean : ndarray of shape (p,)
    cov : ndarray of shape (p, p)
    """
    t1, t0 = _targets(method, p_hat)
    mean = hat @ (p0 * t1 + (1 - p0) * t0)
    cov = (hat * (p0 * (1 - p0) * (t1 - t0) ** 2)) @ hat.T
    return mean, cov


def _task(rng: np.random.Generator, *, n: int, cfg: Config) -> list[dict]:
    """One design: exact conditional bias/variance and one sampled fit per method and eps."""
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    Phi = np.column_stack([np.ones(n), X])
    beta = np.asarray(cfg.beta)
    p0 = np.exp(Phi @ beta)
    y = (rng.random(n) < p0).astype(float)
    hat = np.linalg.solve(Phi.T @ Phi, Phi.T)  # factored once: OLS coefficients = hat @ target
    rows = []
    for eps in cfg.eps:
        p_hat = p0 * (1.0 + eps * teacher_direction(X))
        e = float(np.sqrt(np.mean((p_hat - p0) ** 2)))
        for method, correction in METHODS.items():
            mean_coef, cov = student_moments(hat, p0, p_hat, method)
            variance = float(np.trace(SIGMA @ cov))
            bias = _l2(mean_coef - beta)
            student = DistilledRegressor(LinearRegression(), scale="logp", correction=correction)
            student.fit(X, y, teacher_proba=p_hat)
            coef = np.r_[student.student_.intercept_, student.student_.coef_]
            rows.append(
                {
                    "kind": "estimator",
                    "method": method,
                    "eps": eps,
                    "teacher_error": e,
                    "delta2": N_FEATURES / n,
                    "bias": bias,
                    "variance": variance,
                    "risk": bias**2 + variance,
                    "sampled_risk": _l2(coef - beta) ** 2,
                }
            )
    return rows


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: pointwise biases (``kind="pointwise"``) and one row per design, method, eps."""
    est = run_grid(
        partial(_task, cfg=cfg),
        {"n": cfg.ns},
        n_trials=cfg.n_designs,
        seed=cfg.seed,
        n_jobs=n_jobs,
        backend=backend,
        cache_dir=cache_dir,
        progress=progress,
        desc=f"{NAME}: designs",
    )
    return pd.concat([_pointwise_rows(cfg), est], ignore_index=True)


def _shape_fit(points: pd.DataFrame, k: int) -> dict:
    """Fit ``risk ~ A delta_n^2 + B e^k`` (A, B >= 0) by NNLS on the relative residuals."""
    risk = points["mean"].to_numpy()
    design = np.column_stack([points.delta2, points.teacher_error**k]) / risk[:, None]
    (a, b), _ = nnls(design, np.ones(len(risk)))
    fitted = a * points.delta2.to_numpy() + b * points.teacher_error.to_numpy() ** k
    # smallest C with every Monte Carlo mean under C (delta_n^2 + e^k)
    c_sup = float(np.max(risk / (points.delta2 + points.teacher_error**k)))
    rel_rms = float(np.sqrt(np.mean((fitted / risk - 1.0) ** 2)))
    return {"A": float(a), "B": float(b), "rel_rms": rel_rms, "C_sup": c_sup}


def analyze(df: pd.DataFrame) -> dict:
    """Slopes (SEMI-1: exact, no interval; SEMI-2: 95% CIs clustered by design), limit ratios,
    bound-shape fits (SEMI-5)."""
    pw = df[df.kind == "pointwise"].copy()
    pw["abs_bias"] = pw.bias.abs()
    pw["limit"] = np.where(pw.method == "orthogonal", pw.eps**2 / (2 * pw.p0**2), pw.eps / pw.p0)
    eps_max, eps_min = pw.eps.max(), pw.eps.min()
    pointwise = []
    for (method, p0), g in pw.groupby(["method", "p0"]):
        # exact biases: the OLS slope is a number, its regression interval would only measure
        # the curvature of the exact curve, so none is kept
        fit = fit_rate(g.eps, g.abs_bias)
        smallest = g[g.eps == eps_min].iloc[0]
        pointwise.append(
            {
                "method": method,
                "p0": p0,
                "slope": fit.slope,
                "band": POINTWISE_C[method] * eps_max / p0,
                "ratio_error": smallest.abs_bias / (eps_min**2 / (2 * p0**2)) - 1.0,
                "ratio_band": RATIO_C * eps_min / p0,
            }
        )
    pointwise = pd.DataFrame(pointwise)
    pointwise["deficit"] = pointwise.method.map(ORDER) - pointwise.slope

    est = df[df.kind == "estimator"].copy()
    est["n"] = est.n.astype(int)
    est["sampled_error"] = np.sqrt(est.sampled_risk)
    est["noise_sd"] = np.sqrt(est.variance)
    est["ratio"] = est.sampled_risk / est.risk
    e_max = est.eps.max()
    # one cluster per design: its five eps share the design's randomness (the pooled slope is the
    # mean within-design slope, every design having the same eps grid)
    design = est.n.astype(str) + "/" + est.trial.astype(str)
    slopes = {
        m: fit_slope(np.log(g.eps), np.log(g.bias), groups=design[g.index], summary=False)
        for m, g in est.groupby("method")
    }
    bands = {m: SLOPE_K[m] * e_max**2 for m in METHODS}
    orth = est[est.method == "orthogonal"]
    smallest = orth[orth.eps == orth.eps.min()]
    var_fit = fit_rate(smallest.n, smallest.variance)
    # the sampled squared error over the exact E[. | X]: one mean per design (the eps of a design
    # share its labels), t interval over designs
    ratio = mean_estimate(orth.groupby(["n", "trial"]).ratio.mean())

    means = est.groupby(["method", "n", "eps"], as_index=False).agg(
        mean=("risk", "mean"), teacher_error=("teacher_error", "mean"), delta2=("delta2", "first")
    )
    shapes, curves = {}, []
    e_grid = np.geomspace(means.teacher_error.min(), means.teacher_error.max(), 50)
    for method, g in means.groupby("method"):
        for k in (2, 4):
            fit = _shape_fit(g, k)
            shapes[(method, k)] = fit
            for n, d2 in g.groupby("n").delta2.first().items():
                curves.append(
                    pd.DataFrame(
                        {
                            "method": method,
                            "k": k,
                            "n": n,
                            "teacher_error": e_grid,
                            "curve": fit["A"] * d2 + fit["B"] * e_grid**k,
                        }
                    )
                )
    return {
        "pointwise": pointwise,
        "pointwise_rows": pw,
        "slopes": slopes,
        "bands": bands,
        "variance_fit": var_fit,
        # half the distance from -1 to n^-1 log n's local slope -1 + 1/log n at the largest n
        "variance_margin": 1.0 / (2.0 * np.log(est.n.max())),
        "sampled_ratio": ratio,
        "summary_bias": summarize(est, ["method", "n", "eps"], value="bias"),
        "summary_sampled": summarize(est, ["method", "n", "eps"], value="sampled_error"),
        "summary_noise": summarize(est, ["method", "n", "eps"], value="noise_sd"),
        "summary_risk": means,
        "shapes": shapes,
        "curves": pd.concat(curves, ignore_index=True),
    }


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """Decide SEMI-1 (exact, deterministic), SEMI-2 (equivalence tests) and SEMI-5 (shapes)."""
    a = analyze(df) if analysis is None else analysis
    out = []
    pw = a["pointwise"]
    u_max = float(a["pointwise_rows"].eps.max() / pw.p0.min())
    series = Premise(
        "u = eps / p0 below 3/4 on the grid (the bands' alternating series): eps_max / min p0",
        u_max < 0.75,
        u_max,
    )
    for method in METHODS:
        g, k = pw[pw.method == method], ORDER[method]
        worst = g.loc[(g.deficit / g.band).idxmax()]
        out.append(
            Claim(
                "SEMI-1",
                f"pointwise {LABELS[method]} bias is order {k} in eps: the exact bias's OLS "
                f"log-log slope s has {k} - s in [0, {format_value(POINTWISE_C[method])} "
                "eps_max/p0] at every p0 (exact numbers; the p0 nearest its band shown)",
                holds=bool(((g.deficit >= 0) & (g.deficit <= g.band)).all()),
                value=float(worst.deficit),
                detail=f"band {format_value(worst.band)} at p0 = {format_value(worst.p0)}; "
                f"{k} - s: "
                + ", ".join(
                    f"{format_value(r.deficit)} (p0={format_value(r.p0)})" for r in g.itertuples()
                ),
                premise=[series],
            )
        )
    g = pw[pw.method == "orthogonal"]
    out.append(
        Claim(
            "SEMI-1",
            "orthogonal bias / eps^2 -> 1/(2 p0^2): at eps_min, |ratio (2 p0^2) - 1| <= "
            "4 eps_min / (3 p0) at every p0 (exact numbers)",
            holds=bool((g.ratio_error.abs() <= g.ratio_band).all()),
            value=float(g.ratio_error.abs().max()),
            detail="max relative deviation from the limit; bands "
            + ", ".join(format_value(v) for v in g.ratio_band),
            premise=[series],
        )
    )
    for method in METHODS:
        fit, band, k = a["slopes"][method], a["bands"][method], ORDER[method]
        out.append(
            check(
                "SEMI-2",
                f"estimator level, {LABELS[method]}: log-log slope of ||E[f_hat|X] - f0|| on eps, "
                f"95% CI (clustered by design) within {k} +- K eps_max^2 = "
                f"{format_value(band)} (K = {format_value(SLOPE_K[method])}: the second-order term "
                "of the expansion, a margin fixed by the Taylor expansion)",
                estimate_from_fit(fit),
                above=k - band,
                below=k + band,
                detail=f"CI contains {k}: {'yes' if fit.ci_contains(k) else 'no'} (the exponent "
                f"{k} itself is excluded where the CI is narrower than the second-order term)",
            )
        )
    vf, margin = a["variance_fit"], a["variance_margin"]
    out.append(
        check(
            "SEMI-2",
            "the orthogonal estimator's variance is the n^{-1/2} part: log-log slope of "
            "E||f_hat - E f_hat||^2 on n, 95% CI within -1 +- 1/(2 log n_max) = "
            f"{format_value(margin)} (half the distance to n^-1 log n's local slope "
            "-1 + 1/log n)",
            estimate_from_fit(vf),
            above=-1.0 - margin,
            below=-1.0 + margin,
            detail="at the smallest eps, one point per design; KD has no label noise (its target "
            "is y-free)",
        )
    )
    out.append(
        check(
            "SEMI-2",
            "sampled fits agree with the exact decomposition (orthogonal): mean over designs of "
            "||f_hat - f0||^2 / (bias^2 + variance), 95% t CI within a factor 2 of its exact "
            "value 1, (1/2, 2) (a convention, hence reported)",
            a["sampled_ratio"],
            above=0.5,
            below=2.0,
            detail="one mean per design (its eps share the labels); the tests check the exact "
            "moments against Monte Carlo draws",
            asserted=False,
        )
    )
    for method, k in SHAPES.items():
        good, other = a["shapes"][(method, k)], a["shapes"][(method, 6 - k)]
        out.append(
            Claim(
                "SEMI-5",
                f"{LABELS[method]}: risk ~ A delta_n^2 + B e^{k} fits better than with e^{6 - k} "
                "(relative RMS residual of the NNLS fit on the Monte Carlo means)",
                holds=bool(good["rel_rms"] < other["rel_rms"]),
                value=good["rel_rms"],
                detail=f"A = {format_value(good['A'])}, B = {format_value(good['B'])}; e^{6 - k} "
                f"shape: {format_value(other['rel_rms'])}; smallest C with every mean under "
                f"C (delta_n^2 + e^{k}): {format_value(good['C_sup'])}",
            )
        )
    return holm(out)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Pointwise biases (SEMI-1), estimator-level biases (SEMI-2), bound curves (SEMI-5)."""
    fig, axes = new_figure(1, 3, width=4.8, height=3.9)
    color = {m: METHOD_STYLE[m]["color"] for m in METHODS}
    short = {"kd": "KD", "orthogonal": "orthogonal"}
    ax = axes[0, 0]
    pw, fits = analysis["pointwise_rows"], analysis["pointwise"].set_index(["method", "p0"])
    for method, ls in (("kd", "-"), ("orthogonal", "--")):
        for mk, (p0, g) in zip(SERIES_MARKERS, pw[pw.method == method].groupby("p0"), strict=False):
            f = fits.loc[(method, p0)]
            text = f"$p_0$ = {format_value(p0)}: {ORDER[method]} - {format_value(f.deficit)}"
            ax.loglog(g.eps, g.abs_bias, ls, color=color[method], marker=mk, ms=3.5, label=text)
            if method == "orthogonal":  # wide and beneath: the exact curve lies on it
                ax.loglog(g.eps, g.limit, "-", color=REFERENCE_COLOR, lw=5, alpha=0.35, zorder=1.5)
    title = "SEMI-1: pointwise bias, KD order 1, orthogonal\n"
    title += "order 2 (wide grey beneath: $\\epsilon^2/(2p_0^2)$)"
    xlabel, ylabel = (
        "teacher error $\\epsilon$ ($\\hat p = p_0 + \\epsilon$)",
        "|bias of the target|",
    )
    legend_title = "log-log slope (exact biases): KD (solid), orthogonal (dashed)"
    dress_axis(ax, xlabel, ylabel, title, ncol=2, legend_title=legend_title)

    ax = axes[0, 1]
    bias = analysis["summary_bias"]
    ns = sorted(bias.n.unique())
    step = dodge_step(bias.eps, len(ns))
    for method in METHODS:  # every n, dodged; the largest n filled and joined by a line
        fit = analysis["slopes"][method]
        for j, n in enumerate(ns):
            last = j == len(ns) - 1
            text = f"{LABELS[method]} (every n): slope {format_ci(fit.slope, *fit.ci)}"
            kw = method_kwargs(method, label=text if last else None, ms=5, lw=1)
            kw.update({} if last else {"ls": "none", "mfc": "white"})
            g = bias[(bias.method == method) & (bias.n == n)]
            ci_series(ax, g, "eps", dodged=(j, len(ns), step), **kw)
    big = analysis["summary_sampled"]
    big = big[(big.n == big.n.max()) & (big.method == "orthogonal")]
    text = f"orthogonal, sampled fit, n = {big.n.max():,}"
    ax.plot(big.eps, big["mean"], "x:", color=color["orthogonal"], ms=6, mew=1.5, label=text)
    noise = analysis["summary_noise"]
    noise = noise[(noise.n == noise.n.max()) & (noise.method == "orthogonal")]
    ax.plot(noise.eps, noise["mean"], "-", color=REFERENCE_COLOR, lw=1, label="noise sd (exact)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    title = "SEMI-2: estimator-level bias ||E[f_hat | X] - f0||\n(every n, dodged; 95% CI)"
    xlabel = "teacher error $\\epsilon$ ($\\hat p = p_0 (1 + \\epsilon r(x))$)"
    dress_axis(ax, xlabel, "||E[f_hat | X] - f0||, L2(P)", title, ncol=1)

    ax = axes[0, 2]
    means, curves = analysis["summary_risk"], analysis["curves"]
    for method, k in (("kd", 2), ("orthogonal", 4)):
        fit, c = analysis["shapes"][(method, k)], curves[curves.method == method]
        groups = list(means[means.method == method].groupby("n"))
        for j, (n, g) in enumerate(groups):  # the largest n filled, the others hollow
            last = j == len(groups) - 1
            rest = " to ".join(dict.fromkeys(f"{groups[k][0]:,}" for k in (0, -2)))
            text = f"{short[method]}, n = " + (f"{n:,}" if last else rest)
            kw = method_kwargs(method, label=text if last or j == 0 else None, ms=5.5)
            ring = {} if last else {"mfc": "none", "ms": 8, "zorder": 3}  # rings stay visible
            ax.loglog(g.teacher_error, g["mean"], ls="none", **{**kw, **ring})
            cn = c[c.n == n]
            ax.loglog(cn[cn.k == k].teacher_error, cn[cn.k == k].curve, "-", color=color[method])
            ax.loglog(cn[cn.k != k].teacher_error, cn[cn.k != k].curve, ":", color=color[method])
        a_, b_, rms = (format_value(fit[key]) for key in ("A", "B", "rel_rms"))
        shape = f"{a_} d/n + {b_} e^{k} (rel. RMS {rms})"
        ax.plot([], [], "-", color=color[method], label=f"{short[method]} fit: {shape}")
    ax.plot([], [], ":", color="0.3", label="the other shape (e^2 <-> e^4), fitted")
    title = "SEMI-5: bound shapes fitted by NNLS:\nKD ~ d/n + e^2, corrected ~ d/n + e^4"
    xlabel, ylabel = "teacher error e = ||p_hat - p0||, L2(P)", "E[||f_hat - f0||^2 | X], mean"
    dress_axis(ax, xlabel, ylabel, title, ncol=2)
    finish_figure(fig, claim_list, (__doc__ or "").strip().splitlines()[0])
    return fig
