"""The figure of the Imagenette shift study (RAT-6): :func:`plot_shift`."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.plotting import (
    METHOD_STYLE,
    REFERENCE_COLOR,
    dodge,
    dress_axis,
    errorbar,
    finish_figure,
    method_kwargs,
    new_figure,
)
from kdtheory.simulations.imagenette_shift import DRAWN, METHODS


def _ci_points(ax, summary: pd.DataFrame, x, **style) -> None:
    errorbar(ax, x, summary["mean"], summary.lo, summary.hi, **{**style, "ls": "none"})


def plot_shift(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Target accuracy per method and shift; RaT's paired differences; the teacher across the
    shift; RaT's change per round."""
    fig, axes = new_figure(2, 2, width=5.0, height=3.5)
    shifts = sorted(analysis["target"]["shift"].unique())
    position = {s: i for i, s in enumerate(shifts)}
    ticks = ([*range(len(shifts))], [f"c = {s:g}" for s in shifts])
    xlabel = f"shift strength c (selection on {_statistic(df)})"
    ax = axes[0, 0]
    methods = [m for m in METHODS if m in set(analysis["target"].method)]
    offsets = np.linspace(-0.36, 0.36, len(methods))
    for off, method in zip(offsets, methods, strict=True):
        g = analysis["target"][analysis["target"].method == method].sort_values("shift")
        x = np.array([position[v] for v in g["shift"]]) + off
        _ci_points(ax, g, x, **method_kwargs(method, capsize=2, ms=5))
    if analysis["reference"] is not None:
        r = analysis["reference"].iloc[0]
        text = f"student net, whole train folder -> val: {r['target_acc']:.3f}"
        ax.axhline(r["target_acc"], color=REFERENCE_COLOR, ls=":", lw=1.2, label=text)
    ax.set_xticks(*ticks)
    ax.set_xlim(-0.5, len(shifts) - 0.5)
    title = "target test accuracy per method\n(mean, 95% CI over student seeds)"
    dress_axis(ax, xlabel, "target test accuracy", title, ncol=3)
    ax = axes[0, 1]
    base = {
        "rat - sm": "sm",
        "rat - sm_long": "sm_long",
        "rat - sm_ce": "sm_ce",
        "rat - rat_eta0": "rat_eta0",
    }
    drawn = [d for d in DRAWN if len(analysis["diffs"]) and d in set(analysis["diffs"].comparison)]
    for i, comp in enumerate(drawn):
        g = analysis["diffs"][analysis["diffs"].comparison == comp].sort_values("shift")
        label = "RaT - " + METHOD_STYLE[base[comp]]["label"]
        kw = method_kwargs(base[comp], label=label, capsize=3, ms=6)
        x = np.array([position[v] for v in g["shift"]]) + (i - (len(drawn) - 1) / 2) * 0.14
        _ci_points(ax, g, x, **kw)
    ax.axhline(0, color=REFERENCE_COLOR, lw=0.9)
    ax.set_xticks(*ticks)
    ax.set_xlim(-0.5, len(shifts) - 0.5)
    title = "RaT minus each control in target accuracy,\npaired by seed (95% CI; "
    title += "the check: SM with RaT's budget)"
    dress_axis(ax, xlabel, "paired difference in target accuracy", title, ncol=2)
    ax = axes[1, 0]
    for j, which in enumerate(("source", "target")):
        acc = analysis["teacher_acc"]
        g = acc[acc.which == which].sort_values("shift")
        x = np.array([position[v] for v in g["shift"]]) + (j - 0.5) * 0.15
        kw = method_kwargs(
            "teacher",
            label=f"teacher on the {which} test set",
            capsize=3,
            ms=6,
            lw=1.4,
            **({"mfc": "white"} if j else {}),
        )
        errorbar(ax, x, g["mean"], g.lo, g.hi, **{**kw, "ls": "none"})
    ax.set_xticks(*ticks)
    ax.set_xlim(-0.5, len(shifts) - 0.5)
    title = "premise: the teacher (one network per c)\non the source and target test sets "
    title += "(95% binomial CI)"
    dress_axis(ax, xlabel, "accuracy", title, ncol=1)
    ax = axes[1, 1]
    rounds = analysis["rounds"]
    series = list(rounds.groupby(["shift", "method"])) if len(rounds) else []
    for i, ((shift, method), g) in enumerate(series):
        g = g.sort_values("round")
        label = f"{METHOD_STYLE[method]['label']}, c = {shift:g}"
        kw = method_kwargs(
            method, label=label, capsize=3, ms=5, **({"mfc": "white"} if shift == 0 else {})
        )
        x = dodge(g["round"], i, len(series), step=0.08, log=False)  # the intervals side by side
        errorbar(ax, x, g["mean"], g.lo, g.hi, **kw)
    ax.set_xticks(sorted(rounds["round"].unique()) if len(rounds) else [])
    title = "does the student stop moving? change per round\n(mean TV distance of its "
    title += "probabilities on target images, 95% CI)"
    dress_axis(ax, "round k", "mean TV distance, round k", title, ncol=1)
    ax.set_ylim(bottom=0)
    finish_figure(
        fig, claim_list, "Imagenette under covariate shift: RaT vs soft matching (RAT-6, reported)"
    )
    return fig


def _statistic(df: pd.DataFrame) -> str:
    values = df["statistic"].dropna().unique() if "statistic" in df else []
    return str(values[0]) if len(values) == 1 else "an image statistic"
