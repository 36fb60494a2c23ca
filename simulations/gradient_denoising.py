"""Gradient denoising by a teacher: one-hot vs teacher-probability gradients (NAG-8, exploratory).

**Our formalization (exploratory), not the paper's theorem.** The paper's v1 "distillation as a
gradient denoiser" statement was not available to us (CLAIMS.md NAG-8, reference section 2);
this simulation measures one plausible reading of it and its verdicts are reported, not asserted.

Data. ``K = 4`` classes in two pairs of similar classes, (0, 1) and (2, 3): class means ``r m_k``
with Gram matrix ``<m_j, m_k> = C_jk``, ``C = I + c P`` (``P`` swaps the partners, ``c`` the
similarity), embedded in ``R^d``. A point of class ``y`` is ``r m_y + z`` with probability
``1 - rho`` and, *atypical*, ``r m_{y'} + z`` with probability ``rho`` (``y'`` the partner of
``y``; the label stays ``y``), ``z ~ N(0, I_d)``, classes equally likely. Its Bayes posterior
``p(k | x)`` is proportional to ``(1 - rho) phi(x - r m_k) + rho phi(x - r m_k')`` and is
computed exactly (log-sum-exp). Here ``r = 2``, ``rho = 0.2``, ``d = 8`` and ``c`` in
{0, 0.8}: ``c = 0`` (atypical points near an orthogonal class) is the contrast.

Model and gradients. Linear softmax ``softmax(W x~)`` with ``x~ = (x, 1)``, cross-entropy with
target ``q``; the full-batch gradient over a sample of size ``n`` is
``g_q(W) = (1/n) sum_i (softmax(W x~_i) - q_i) x~_i^T``. Targets: one-hot ``q = e_y``, the
Bayes teacher ``q = p(. | x)``, and a noisy teacher ``q = softmax(log p(. | x) + s xi)``,
``xi ~ N(0, I)`` per point and class, ``s = 1``. Because ``E[e_y | x] = p(. | x)``, the one-hot and
Bayes-teacher gradients have the same expectation (the population gradient ``G(W)``) and the
teacher's is its Rao-Blackwellization: same mean, smaller variance. The noisy teacher's
expectation differs from ``G(W)``.

Reference points. ``W*`` is the population cross-entropy minimizer of the linear softmax model
(rows centred: the loss is invariant to adding one vector to every row and every gradient has
centred rows). It is a proxy: L-BFGS on a fixed sample of ``N`` points (``10^5`` in the full
preset, ``2 10^4`` in the quick one) with the Bayes posterior as targets (the same minimizer as
with labels, since cross-entropy is linear in the target, with less Monte Carlo noise); ``G(W)``
is computed on the same sample. Monte Carlo error: ``W*`` fitted on two independent samples
differ by an angle of about 0.015 rad (``N = 2 10^4``) or 0.006 rad (``10^5``) and the limit
``cos(-G(0), W*)`` by less than 1e-3, far below the differences reported here; the same ``W*``
and ``G`` serve every target, so paired differences are affected even less.

Measured, at ``W = 0`` and after 10 and 100 steps of one-hot full-batch gradient descent on the
sample (step ``1 / lam_max`` of the sample second moment of ``x~``): ``cos(-g_q, W* - W)`` and
``cos(g_q, G(W))`` (Frobenius inner products) for each target, over sample sizes ``n``; and
the paired difference teacher minus one-hot per design. ``risk`` is the population
cross-entropy excess ``L(W) - L(W*)`` of the trajectory point (the same for every target).

What the runs show (reported, not asserted). ``cos(g, G)`` is the clean comparison: the Bayes
teacher's gradient is closer in direction to the population gradient than the one-hot gradient
at every ``n``, similarity and path point, by a margin that shrinks with ``n`` at ``W = 0``
and stays large along the path, where the one-hot gradient is the training gradient of the
sample the path has been fitting. ``cos(-g, W* - W)`` is not a pure noise measure: even the
population gradient is not aimed at ``W*`` along the path, and late on the path at large ``n``
the one-hot training gradient can be aimed at ``W*`` better than both. The noisy teacher's
targets are biased; at large ``n`` its gradients are worse than the one-hot ones.

Verdicts (reported). One check per metric and teacher: it holds when the paired difference's
95% interval lies above 0 in every cell (similarity, ``n``, path point), fails when the test of
a positive difference rejects in some cell after Bonferroni's adjustment over the cells and
Holm's over the four checks, and is undecided otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import minimize
from scipy.special import softmax

from kdtheory.claims import Claim
from kdtheory.formatting import format_value
from kdtheory.montecarlo import run_grid
from kdtheory.plotting import (
    ci_series,
    dodge_step,
    dress_axis,
    finish_figure,
    method_kwargs,
    new_figure,
    summarize,
)
from kdtheory.verdicts import ALPHA, holm, mean_estimate, region_outcome

NAME = "gradient_denoising"
CLAIM_IDS = ("NAG-8",)
#: wall time (seconds) of ``kdtheory run gradient_denoising --preset P`` on two CPU cores,
#: nothing cached
PRESET_SECONDS = {"quick": 11, "full": 45}
#: exploratory formalization: verdicts are reported, not asserted by the preset tests
REPORTED_ONLY = ("NAG-8",)
TARGETS = ("one_hot", "bayes", "noisy")
TEACHERS = ("bayes", "noisy")
N_CLASSES = 4
#: cos_opt depends on W*, an L-BFGS optimum that differs between BLAS builds by ~1e-9 (measured:
#: 1.2e-9 absolute, 2.6e-8 relative on cosines down to 0.007): five digits leave a margin of
#: about 100 on that noise (and are far finer than the paired differences, >= 1e-3)
PRECISION = {"cos_opt": 5}


@dataclass(frozen=True)
class Config:
    """Parameters of the experiment (see the module docstring)."""

    ns: tuple[int, ...]
    n_designs: int
    similarities: tuple[float, ...] = (0.0, 0.8)
    steps: tuple[int, ...] = (0, 10, 100)
    dim: int = 8
    scale: float = 2.0
    atypical_rate: float = 0.2
    teacher_noise: float = 1.0
    n_population: int = 100_000
    seed: int = 0


PRESETS = {
    "quick": Config(ns=(25, 100, 400), n_designs=20, n_population=20_000),
    "full": Config(ns=(25, 50, 100, 200, 400, 800, 1600), n_designs=50, n_population=100_000),
}


# --------------------------------------------------------------------------- pure helpers
def partner(k: NDArray | int) -> NDArray | int:
    """The similar class of ``k``: pairs (0, 1), (2, 3), ..."""
    return np.bitwise_xor(k, 1)


def class_means(n_classes: int, similarity: float, dim: int, scale: float) -> NDArray:
    """Means ``scale m_k`` in ``R^dim`` with ``<m_j, m_k> = 1`` (j = k), ``similarity`` (partners).

    ``m`` is the Cholesky factor of ``C = I + similarity P`` (``P`` the partner swap), padded
    with zeros; ``|similarity| < 1`` keeps ``C`` positive definite.
    """
    if n_classes % 2 or n_classes > dim or not -1.0 < similarity < 1.0:
        raise ValueError("need an even n_classes <= dim and -1 < similarity < 1.")
    k = np.arange(n_classes)
    C = np.eye(n_classes)
    C[k, partner(k)] = similarity
    means = np.zeros((n_classes, dim))
    means[:, :n_classes] = np.linalg.cholesky(C)
    return scale * means


def draw_mixture(
    rng: np.random.Generator, n: int, means: NDArray, atypical_rate: float
) -> tuple[NDArray, NDArray, NDArray]:
    """Sample ``(X, y, atypical)``: class ``y`` uniform, atypical points at the partner's mean."""
    n_classes, dim = means.shape
    y = rng.integers(n_classes, size=n)
    atypical = rng.random(n) < atypical_rate
    centre = np.where(atypical, partner(y), y)
    return means[centre] + rng.standard_normal((n, dim)), y, atypical


def bayes_posterior(X: NDArray, means: NDArray, atypical_rate: float) -> NDArray:
    """Exact ``p(k | x)`` of the mixture (uniform classes, unit-variance Gaussian noise).

    ``log p(x | k) = logaddexp(log(1 - rho) - |x - mu_k|^2 / 2, log rho - |x - mu_k'|^2 / 2)``
    up to a constant; normalized over ``k`` in log space.
    """
    sq = ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=2) / 2.0
    k = np.arange(means.shape[0])
    with np.errstate(divide="ignore"):
        log_lik = np.logaddexp(
            np.log1p(-atypical_rate) - sq, np.log(atypical_rate) - sq[:, partner(k)]
        )
    return softmax(log_lik, axis=1)


def augment(X: NDArray) -> NDArray:
    """``x~ = (x, 1)``: the last column carries the bias."""
    return np.hstack([X, np.ones((X.shape[0], 1))])


def _log_probs(W: NDArray, Xa: NDArray) -> NDArray:
    """``log softmax(Xa W^T)`` row-wise, max-shifted (no overflow, relative error ~ eps)."""
    Z = Xa @ W.T
    Z -= Z.max(axis=1, keepdims=True)
    return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))


def ce_gradient(W: NDArray, Xa: NDArray, targets: NDArray) -> NDArray:
    """Full-batch cross-entropy gradient ``(1/n) (softmax(Xa W^T) - Q)^T Xa`` of shape ``W``."""
    return (np.exp(_log_probs(W, Xa)) - targets).T @ Xa / Xa.shape[0]


def ce_loss(W: NDArray, Xa: NDArray, targets: NDArray) -> float:
    """Mean cross-entropy ``-(1/n) sum_i sum_k Q_ik log softmax(Xa W^T)_ik``."""
    return float(-np.sum(targets * _log_probs(W, Xa)) / Xa.shape[0])


def ce_loss_and_gradient(W: NDArray, Xa: NDArray, targets: NDArray) -> tuple[float, NDArray]:
    """:func:`ce_loss` and :func:`ce_gradient` from one pass over the data."""
    log_p = _log_probs(W, Xa)
    n = Xa.shape[0]
    return float(-np.sum(targets * log_p) / n), (np.exp(log_p) - targets).T @ Xa / n


def cosine(A: NDArray, B: NDArray) -> float:
    """Cosine of the Frobenius angle between two matrices."""
    return float(np.sum(A * B) / (np.linalg.norm(A) * np.linalg.norm(B)))


@dataclass(frozen=True)
class Population:
    """The large fixed sample standing in for the population, and ``W*`` fitted on it."""

    Xa: NDArray
    posterior: NDArray
    optimum: NDArray
    optimum_loss: float

    def risk_and_gradient(self, W: NDArray) -> tuple[float, NDArray]:
        """Excess risk ``L(W) - L(W*)`` (nats) and ``G(W)``, Bayes-posterior targets."""
        loss, grad = ce_loss_and_gradient(W, self.Xa, self.posterior)
        return loss - self.optimum_loss, grad


def fit_population(X: NDArray, posterior: NDArray) -> Population:
    """``W*`` by L-BFGS from zero on the posterior-target cross-entropy; rows centred.

    ``gtol = 1e-10`` and ``ftol = 0`` on a loss of order 1: L-BFGS runs until the gradient is
    at rounding level (norm ~1e-9 in practice), so ``W*`` is the sample minimizer to ~1e-8,
    far inside its Monte Carlo error.
    """
    Xa = augment(X)
    shape = (posterior.shape[1], Xa.shape[1])

    def fun(w):
        loss, grad = ce_loss_and_gradient(w.reshape(shape), Xa, posterior)
        return loss, grad.ravel()

    res = minimize(
        fun, np.zeros(np.prod(shape)), jac=True, method="L-BFGS-B",
        options={"gtol": 1e-10, "ftol": 0.0, "maxiter": 2000},
    )  # fmt: skip
    W = res.x.reshape(shape)
    W = W - W.mean(axis=0, keepdims=True)
    return Population(Xa, posterior, W, ce_loss(W, Xa, posterior))


@lru_cache(maxsize=8)
def population(
    similarity: float, dim: int, scale: float, atypical_rate: float, size: int, seed: int
) -> Population:
    """The population reference of one design, cached per process (deterministic in its args)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 8, round(similarity * 1e6)]))
    means = class_means(N_CLASSES, similarity, dim, scale)
    X, _, _ = draw_mixture(rng, size, means, atypical_rate)
    return fit_population(X, bayes_posterior(X, means, atypical_rate))


def one_hot_trajectory(Xa: NDArray, y: NDArray, steps: tuple[int, ...]) -> dict[int, NDArray]:
    """Iterates of full-batch one-hot gradient descent from ``W = 0`` at the given step counts.

    Step ``1 / lam_max(Xa^T Xa / n)``: the softmax cross-entropy Hessian is at most
    ``(1/2) lam_max`` in operator norm (``diag(p) - p p^T <= I / 2``), so this is half the
    classical ``1 / L`` bound's step ``2 / lam_max``, monotone descent.
    """
    n_classes = max(int(y.max()) + 1, N_CLASSES)
    onehot = np.eye(n_classes)[y]
    eta = 1.0 / np.linalg.eigvalsh(Xa.T @ Xa / Xa.shape[0])[-1]
    W, out = np.zeros((n_classes, Xa.shape[1])), {}
    for t in range(max(steps) + 1):
        if t in steps:
            out[t] = W.copy()
        W = W - eta * ce_gradient(W, Xa, onehot)
    return out


# --------------------------------------------------------------------------- Monte Carlo
def _task(rng: np.random.Generator, *, similarity: float, n: int, cfg: Config) -> list[dict]:
    """One sample of size ``n``: cosines of each target's gradient along the trajectory."""
    pop = population(similarity, cfg.dim, cfg.scale, cfg.atypical_rate, cfg.n_population, cfg.seed)
    means = class_means(N_CLASSES, similarity, cfg.dim, cfg.scale)
    X, y, atypical = draw_mixture(rng, n, means, cfg.atypical_rate)
    post = bayes_posterior(X, means, cfg.atypical_rate)
    noise = cfg.teacher_noise * rng.standard_normal(post.shape)
    with np.errstate(divide="ignore"):
        noisy = softmax(np.log(post) + noise, axis=1)
    targets = {"one_hot": np.eye(N_CLASSES)[y], "bayes": post, "noisy": noisy}
    Xa = augment(X)
    rows = []
    for step, W in one_hot_trajectory(Xa, y, cfg.steps).items():
        risk, G = pop.risk_and_gradient(W)
        to_opt = pop.optimum - W
        common = {"step": step, "risk": risk, "atypical_share": atypical.mean()}
        rows.append(
            {**common, "target": "population", "cos_opt": cosine(-G, to_opt), "cos_pop": 1.0}
        )
        for name, q in targets.items():
            g = ce_gradient(W, Xa, q)
            rows.append(
                {**common, "target": name, "cos_opt": cosine(-g, to_opt), "cos_pop": cosine(g, G)}
            )
    return rows


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: per similarity, ``n``, design (``trial``), trajectory step and target."""
    return run_grid(
        partial(_task, cfg=cfg),
        {"similarity": cfg.similarities, "n": cfg.ns},
        n_trials=cfg.n_designs,
        seed=cfg.seed,
        n_jobs=n_jobs,
        backend=backend,
        cache_dir=cache_dir,
        progress=progress,
        desc=f"{NAME}: samples",
    )


# --------------------------------------------------------------------------- analysis
def analyze(df: pd.DataFrame) -> dict:
    """Mean cosines per target with t-intervals, and paired teacher minus one-hot differences."""
    keys = ["similarity", "n", "step", "trial"]
    wide = df.pivot(index=keys, columns="target", values=["cos_opt", "cos_pop"])  # unique keys
    diffs = []
    for metric in ("cos_opt", "cos_pop"):
        for teacher in TEACHERS:
            d = (wide[metric, teacher] - wide[metric, "one_hot"]).rename("diff").reset_index()
            diffs.append(d.assign(metric=metric, teacher=teacher))
    diff = pd.concat(diffs, ignore_index=True)
    cells = []
    for key, g in diff.groupby(["metric", "teacher", "similarity", "n", "step"]):
        est = mean_estimate(g["diff"])  # the paired difference over designs (same trials)
        _, p_fail, (lo, hi) = region_outcome(est, above=0.0)  # claims() decides from these
        cells.append((*key, est.value, lo, hi, p_fail, len(g)))
    columns = ["metric", "teacher", "similarity", "n", "step", "mean", "lo", "hi", "p_fail"]
    diff_summary = pd.DataFrame(cells, columns=[*columns, "count"])
    return {
        "cosines": {
            metric: summarize(df, ["similarity", "step", "target", "n"], metric)
            for metric in ("cos_opt", "cos_pop")
        },
        "diff": diff_summary,
        "risk": summarize(df[df.target == "population"], ["similarity", "step", "n"], "risk"),
        "n_designs": int(df.trial.nunique()),
    }


_METRIC_TEXT = {
    "cos_opt": "cos(-g, W* - W)",
    "cos_pop": "cos(g, G) with G the population gradient",
}
_METRIC_SHORT = {"cos_opt": "cos(-g, W* - W)", "cos_pop": "cos(g, G)"}
_TARGET_STYLE = {
    "one_hot": ("one-hot labels", "tab:red", "o"),
    "bayes": ("Bayes teacher p(y|x)", "tab:blue", "s"),
    "noisy": ("noisy teacher", "tab:cyan", "^"),
    "population": ("population gradient (limit)", "k", None),
}


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """NAG-8, reported: teacher targets beat one-hot in both cosines, at every cell.

    One check per metric and teacher over its cells (similarity, ``n``, trajectory point), each
    cell the paired mean difference teacher minus one-hot over designs with its t interval. The
    check holds when every cell's 95% CI lies above 0 (an intersection-union test, no
    adjustment); it fails when the test of "the difference is positive" rejects in some cell
    after a Bonferroni adjustment over the cells (``p_fail``: the smallest cell p-value times
    the number of cells) and then Holm's over the four checks; otherwise it is undecided.
    Exploratory (our formalization): reported, not asserted (``REPORTED_ONLY``: the command line
    records the checks as reported).
    """
    a = analyze(df) if analysis is None else analysis
    out = []
    for (metric, teacher), cells in a["diff"].groupby(["metric", "teacher"], sort=False):
        m = len(cells)
        p_fail = min(1.0, m * float(cells.p_fail.min()))
        n_above, n_below = int((cells.lo > 0).sum()), int((cells.hi < 0).sum())
        # every cell's 95% CI above 0 (region_outcome's "inside"); else its Bonferroni p-value
        outcome = True if n_above == m else (False if p_fail <= ALPHA else None)
        # the decisive cell: the lowest CI end where every cell holds, else the strongest
        # evidence against (smallest t statistic: every cell has the same degrees of freedom)
        worst = cells.loc[cells.lo.idxmin() if outcome else cells.p_fail.idxmin()]
        which = "lowest CI end" if outcome else "smallest t statistic"
        start = cells[cells.step == 0]
        out.append(
            Claim(
                "NAG-8",
                f"(our formalization, exploratory) {_TARGET_STYLE[teacher][0]} targets give a "
                f"higher {_METRIC_TEXT[metric]} than one-hot: paired mean difference over "
                "designs, 95% CI above 0 at every similarity, n and trajectory point (fails: "
                "a cell below 0 after Bonferroni over the cells, then Holm)",
                outcome,
                float(worst["mean"]),
                (float(worst.lo), float(worst.hi)),
                detail=f"value, CI: the decisive cell ({which}: similarity "
                f"{format_value(worst.similarity)}, n = {format_value(worst.n)}, step "
                f"{format_value(worst.step)}); {n_above} of {m} cells have CI above 0, "
                f"{n_below} below 0; at W = 0 the mean difference is "
                f"{format_value(start['mean'].min())} to {format_value(start['mean'].max())}; "
                f"{a['n_designs']} designs per cell; fails: Bonferroni over the {m} cells, then "
                "Holm over the four checks",
                p_fail=p_fail,
            )
        )
    return holm(out)


_STEP_LS = ("-", "--", ":", "-.")  # line style = point of the one-hot path


def _log_n_axis(ax, ns) -> None:
    ax.set_xscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.minorticks_off()
    ax.grid(True, alpha=0.25)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Cosines at ``W = 0`` vs ``n``; paired teacher minus one-hot differences along the path."""
    risk = analysis["risk"]
    sims, ns, steps = (sorted(risk[c].unique()) for c in ("similarity", "n", "step"))
    fig, axes = new_figure(len(sims), 5, width=3.8, height=3.4)
    step_of = {s: {"ls": _STEP_LS[k % 4], "lw": 1.4} for k, s in enumerate(steps)}
    at = {s: "W = 0 (start)" if s == 0 else f"W after {s} one-hot steps" for s in steps}
    no_legend, xlabel = {"own_legend": False}, "sample size n (points dodged)"
    for i, sim in enumerate(sims):
        for j, metric in enumerate(("cos_opt", "cos_pop")):
            c = analysis["cosines"][metric]
            c = c[(c.similarity == sim) & (c.step == 0)]
            targets = [t for t in _TARGET_STYLE if not (metric == "cos_pop" and t == "population")]
            dx = dodge_step(c.n, len(targets))
            for k, target in enumerate(targets):
                kw = method_kwargs(target, label=_TARGET_STYLE[target][0])
                if target == "population":
                    kw.update(ls="--", lw=1.2, capsize=0, zorder=2.0)
                ci_series(
                    axes[i, j], c[c.target == target], "n", dodged=(k, len(targets), dx), **kw
                )
            _log_n_axis(axes[i, j], ns)
            title = f"NAG-8, c = {format_value(sim)}: {_METRIC_SHORT[metric]} per target\nat W = 0"
            ylabel = f"{_METRIC_TEXT[metric]}\n(mean, 95% CI)"
            dress_axis(axes[i, j], xlabel, ylabel, title, **no_legend)
        for j, metric in enumerate(("cos_opt", "cos_pop"), start=2):
            ax, d = axes[i, j], analysis["diff"]
            d = d[(d.similarity == sim) & (d.metric == metric)]
            series = [(t, s) for t in TEACHERS for s in steps]
            dx = dodge_step(d.n, len(series))
            for k, (teacher, step) in enumerate(series):
                g = d[(d.teacher == teacher) & (d.step == step)]
                kw = {**method_kwargs(teacher, label=None), **step_of[step], "ms": 4}
                ci_series(ax, g, "n", dodged=(k, len(series), dx), **kw)
            ax.axhline(0.0, color="k", lw=0.8)
            _log_n_axis(ax, ns)
            title = (
                f"NAG-8, c = {format_value(sim)}: teacher - one-hot,\n"
                f"{_METRIC_SHORT[metric]} (paired)"
            )
            ylabel = f"difference in {_METRIC_SHORT[metric]} (mean, 95% CI)"
            dress_axis(ax, xlabel, ylabel, title, **no_legend)
        ax = axes[i, 4]
        r = risk[risk.similarity == sim]
        for k, step in enumerate(steps):
            kw = {"color": "0.3", "marker": "o", "ms": 3.5, **step_of[step], "label": at[step]}
            ci_series(ax, r[r.step == step], "n", dodged=(k, len(steps), dodge_step(r.n, 3)), **kw)
        _log_n_axis(ax, ns)
        title = f"NAG-8, c = {format_value(sim)}: where the points\nof the one-hot path are"
        ylabel = "population excess cross-entropy of W (nats)"
        dress_axis(ax, xlabel, ylabel, title, **no_legend)
    finish_figure(
        fig,
        claim_list,
        "NAG-8, our formalization (exploratory), not the paper's theorem: linear softmax on a "
        "4-class mixture with similar class pairs and atypical points; teacher vs one-hot "
        "gradients (colour: target; line style: point W of the one-hot path)",
        legend=True,
        ncol=4,
    )
    return fig
