"""Student-teacher interaction: a teacher blind to part of f* (claim RAT-5, measured, not proved).

Experiment. The student is kernel ridge with the Sobolev-1 kernel ``min(x, x')``; the teacher is
kernel ridge with the finite-rank kernel made of the first ``r`` Mercer terms of the same kernel
(:class:`kdtheory.kernels.FiniteRankSobolev`), so it cannot see the directions ``phi_k``,
``k > r``. ``f*`` is the rate-tight Sobolev function; the part the teacher cannot see has energy
``sum_{k > r} theta_k^2`` (:func:`kdtheory.theory.unseen_energy`). No shift, ``X_target = X``.
Exact target risks over the noise, student ridges by oracle choice, on a grid of ``n``. A
mis-specified Gaussian teacher (length scale ``l``, no exact unseen part) is run beside it.

CLAIMS.md 1.3 predicts, in the sequence model, that RaT's floor (``n -> inf``) is the unseen
energy (RaT removes shrinkage bias, not blindness) and that SM's floor adds the teacher's
shrinkage bias on the seen part, ``sum_{k <= r} (lam_T / (mu_k + lam_T))^2 theta_k^2``.
Measured here: ``E||f_RaT - P_r f*||^2``, the distance of RaT to the part of ``f*`` the teacher
sees (it must vanish as ``n`` grows), and each method's risk against its sequence-model floor.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.exact import distillation_paths
from kdtheory.kernels import FiniteRankSobolev, SobolevMin, gaussian, sobolev_min_eigenfunctions
from kdtheory.montecarlo import run_grid
from kdtheory.plotting import (
    METHOD_STYLE,
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
from kdtheory.shift import two_piece_shift
from kdtheory.theory import sm_floor, unseen_energy
from simulations._targets import SobolevTarget

NAME = "rat_interaction"
CLAIM_IDS = ("RAT-5",)
STUDENT_LAMS = tuple(float(v) for v in np.logspace(-10, 0, 31))


@dataclass(frozen=True)
class Config:
    ns: tuple[int, ...]
    n_designs: int
    ranks: tuple[int, ...] = (1, 2, 3, 5, 8, 13)
    length_scales: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4)
    teacher_lam: float = 0.1
    noise_sd: float = 0.5
    n_eval: int = 2000
    student_lams: tuple[float, ...] = STUDENT_LAMS
    seed: int = 0


PRESETS = {
    "quick": Config(ns=(100, 200, 400), n_designs=3),
    "full": Config(ns=(250, 500, 1000, 2000), n_designs=20),
}

F_STAR = SobolevTarget("rate_tight")


def _task(
    rng: np.random.Generator, *, teacher: str, size: float, n: int, cfg: Config
) -> list[dict]:
    design = two_piece_shift(1.0)
    X = design.source.sample(rng, n)
    quad = design.target_quadrature(cfg.n_eval)
    if teacher == "finite_rank":
        r = int(size)
        tkernel = FiniteRankSobolev(r)
        unseen = float(np.sum(F_STAR.theta[r:] ** 2))
        # the part of f* the teacher can see: its projection on phi_1..phi_r
        seen_eval = sobolev_min_eigenfunctions(quad.points[:, 0], F_STAR.k[:r]) @ F_STAR.theta[:r]
    else:
        tkernel = gaussian(float(size))
        unseen = float("nan")
        seen_eval = None
    lams = np.asarray(cfg.student_lams)
    paths = distillation_paths(
        X,
        X,
        quad.points,
        kernel=SobolevMin(),
        teacher_kernel=tkernel,
        teacher_ridge=n * cfg.teacher_lam,
        student_ridges=n * lams,
        eval_weights=quad.weights,
        methods=("sm", "rat", "krr"),
    )
    f_src, f_eval = F_STAR(X), F_STAR(quad.points)
    rows = []
    for method, path in paths.items():
        res = path.risk(f_src, f_eval, cfg.noise_sd)
        j = int(np.argmin(res["risk"]))
        dist_seen = (
            float("nan")
            if seen_eval is None
            else float(path.risk(f_src, seen_eval, cfg.noise_sd)["risk"][j])
        )
        rows.append(
            {
                "method": method,
                "unseen": unseen,
                "teacher_lam": cfg.teacher_lam,
                "risk": float(res["risk"][j]),
                "bias": float(res["bias"][j]),
                "variance": float(res["variance"][j]),
                "student_lam": float(lams[j]),
                "dist_seen": dist_seen,
            }
        )
    return rows


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: one row per teacher x size x method x design."""
    grid = [{"teacher": "finite_rank", "size": float(r), "n": n} for r in cfg.ranks for n in cfg.ns]
    grid += [
        {"teacher": "gaussian", "size": float(s), "n": n} for s in cfg.length_scales for n in cfg.ns
    ]
    return run_grid(
        partial(_task, cfg=cfg),
        grid,
        n_trials=cfg.n_designs,
        seed=cfg.seed,
        n_jobs=n_jobs,
        backend=backend,
        cache_dir=cache_dir,
        progress=progress,
        desc=f"{NAME}: teachers",
    )


def _floors(rank: int, teacher_lam: float) -> dict:
    """Sequence-model floors (n -> inf) for a rank-``rank`` teacher (CLAIMS.md 1.3)."""
    mu = np.where(F_STAR.k <= rank, F_STAR.eigenvalues, 0.0)
    theta2 = F_STAR.theta**2
    return {"rat": unseen_energy(mu, theta2), "sm": sm_floor(mu, theta2, teacher_lam)}


def analyze(df: pd.DataFrame) -> dict:
    """Distance of RaT to the seen part of f* and its fitted decay in n; sequence-model floors."""
    fr = df[df.teacher == "finite_rank"]
    lam_T = float(df.teacher_lam.iloc[0])
    ranks = sorted(fr["size"].unique())
    # E||f_RaT - P_r f*||^2, the distance to the part of f* the teacher sees, must vanish
    seen_fits = {r: fit_rate(g.n, g.dist_seen) for r, g in fr[fr.method == "rat"].groupby("size")}
    n_max = fr.n.max()
    last = fr[fr.n == n_max].groupby(["size", "method"]).risk.mean().unstack()
    return {
        "summary": summarize(fr, ["method", "size", "n"]),
        "floors": {r: _floors(int(r), lam_T) for r in ranks},
        "seen_fits": seen_fits,
        "n_max": int(n_max),
        "largest_n": last,
        "gaussian": summarize(
            df[(df.teacher == "gaussian") & (df.n == df.n.max())], ["method", "size"]
        ),
    }


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    a = analyze(df) if analysis is None else analysis
    fits = a["seen_fits"]
    worst = max(fits, key=lambda r: fits[r].ci[1])
    wf = fits[worst]
    last = a["largest_n"]
    gap = (last["sm"] - last["rat"]).min()
    rel = max(abs(last.loc[r, "rat"] / a["floors"][r]["rat"] - 1.0) for r in last.index)
    return [
        Claim(
            "RAT-5",
            "RaT converges to the seen part of f*: E||f_RaT - P_r f*||^2 decays with n "
            "for every teacher rank r (slope CI below 0), so RaT's floor is the unseen energy",
            holds=bool(all(f.ci[1] < 0 for f in fits.values())),
            value=wf.slope,
            ci=wf.ci,
            detail=f"least negative slope (rank {int(worst)}); at n={a['n_max']} "
            f"max |RaT risk / unseen energy - 1| = {rel:.3g}",
        ),
        Claim(
            "RAT-5",
            f"SM floor is larger: mean SM risk > mean RaT risk at n={a['n_max']} for "
            "every teacher rank",
            holds=bool(gap > 0),
            value=float(gap),
            detail="smallest SM - RaT gap over ranks",
        ),
    ]


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """RaT and SM risk vs n per teacher rank (theory floors dashed); a Gaussian teacher."""
    fig, axes = new_figure(1, 3, width=4.6, height=3.6)
    s = analysis["summary"]
    ranks = sorted(s["size"].unique())
    colors = ordered_colors(len(ranks))
    what = {"rat": "unseen energy", "sm": "unseen energy + shrinkage bias"}
    for ax, method in zip(axes[0, :2], ("rat", "sm"), strict=True):
        sub = s[s.method == method]
        step = dodge_step(sub.n, len(ranks))
        for i, r in enumerate(ranks):
            g = sub[sub["size"] == r].sort_values("n")
            fit = analysis["seen_fits"].get(r) if method == "rat" else None
            label = f"r = {int(r)}" + (f": {format_ci(fit.slope, *fit.ci)}" if fit else "")
            errorbar(
                ax,
                dodge(g.n, i, len(ranks), step=step),
                g["mean"],
                g["lo"],
                g["hi"],
                color=colors[i],
                marker=SERIES_MARKERS[i % len(SERIES_MARKERS)],
                ms=4.5,
                label=label,
            )
            ax.axhline(analysis["floors"][r][method], color=colors[i], ls="--", lw=0.9)
        ax.plot([], [], color=REFERENCE_COLOR, ls="--", lw=0.9, label=f"{what[method]} (theory)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        dress_axis(
            ax,
            "n (ranks dodged sideways)",
            "target risk (oracle student ridge)",
            f"RAT-5: {METHOD_STYLE[method]['label']} risk vs n per teacher rank r\n"
            f"(dashed: {what[method]}, theory)",
            legend_title="rank r: slope to the seen part [95% CI]" if method == "rat" else None,
        )
    ax = axes[0, 2]
    gauss = analysis["gaussian"]
    methods = [m for m in ("krr", "sm", "rat") if m in set(gauss.method)]
    step = dodge_step(gauss["size"], len(methods))
    for i, method in enumerate(methods):
        g = gauss[gauss.method == method].sort_values("size")
        x = dodge(g["size"], i, len(methods), step=step)
        errorbar(ax, x, g["mean"], g["lo"], g["hi"], method=method)
    ax.set_xscale("log")
    ax.set_yscale("log")
    dress_axis(
        ax,
        "Gaussian teacher length scale $\\ell$ (methods dodged sideways)",
        "target risk (oracle student ridge)",
        f"RAT-5 beyond finite rank: a mis-specified\nGaussian teacher, n = {analysis['n_max']}",
    )
    finish_figure(
        fig,
        claim_list,
        "RAT-5: a teacher blind to part of $f^*$ (finite rank r): RaT removes the shrinkage "
        "bias, not the blindness",
    )
    return fig
