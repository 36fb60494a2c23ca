"""The figure of :mod:`kdtheory.simulations.imagenette_deviations` (NAG-6, NAG-7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.plotting import (
    REFERENCE_COLOR,
    ci_band,
    ci_series,
    dress_axis,
    errorbar,
    finish_figure,
    format_ci,
    method_kwargs,
    new_figure,
)
from kdtheory.simulations.imagenette_deviations import (
    RECOVERED_MIN,
    SLOPE_KINDS,
    SPLITS,
    STUDENTS,
    _slope_text,
    _times_T,
)

# --------------------------------------------------------------------------- figure
_SPLIT_STYLE = {"train": {"ls": "-"}, "test": {"ls": "--", "mfc": "white"}}
_LABELS = {
    "label": "labels only",
    "kd": "KD from the start (temperature 1)",
    "switch_mid": "labels, then KD from mid-budget (one schedule)",
    "teacher": "teacher (bank, one network)",
}


def _scatter_panel(ax, df: pd.DataFrame, a: dict, split: str, epochs: int) -> None:
    pts = df[(df.kind == "point") & (df.split == split) & (df.epochs == epochs)]
    line = df[
        (df.kind == "slope") & (df.method == "kd") & (df.split == split) & (df.epochs == epochs)
    ]
    kd = method_kwargs("kd")
    ax.scatter(
        pts.teacher_logit,
        pts.student_logit,
        s=5,
        alpha=0.35,
        color=kd["color"],
        label="one image (all seeds)",
        rasterized=True,
    )
    lo, hi = float(pts.teacher_logit.min()), float(pts.teacher_logit.max())
    ax.plot([lo, hi], [lo, hi], "--", color=REFERENCE_COLOR, lw=1.2, label="y = x (slope 1)")
    s = a["slopes"]
    r = s[(s.method == "kd") & (s.split == split) & (s.epochs == epochs)].iloc[0]
    xs = np.array([lo, hi])
    ax.plot(
        xs,
        line.intercept.mean() + r["mean"] * xs,
        color="k",
        lw=1.6,
        label=f"OLS line, slope {_slope_text(r)}",
    )
    ratio = epochs / a["unit"]
    title = f"NAG-6, {split} images: KD student vs teacher\nconfidence at t = {_times_T(ratio)}"
    dress_axis(
        ax,
        "teacher logit p_T[top class]",
        "student logit p_S[teacher's top class]",
        title,
        ncol=1,
        markerscale=3,
    )


def _slope_panel(ax, a: dict, kind: str) -> None:
    s = a[kind]
    series = [(m, sp) for m in ("kd", "label") for sp in SPLITS]
    for i, (method, split) in enumerate(series):
        g = s[(s.method == method) & (s.split == split)].sort_values("ratio").copy()
        g["ratio"] = g.ratio * (1 + 0.03 * (i - 1.5))
        name = "KD student" if method == "kd" else "label student (control)"
        kw = method_kwargs(method, label=f"{name}, {split}", capsize=3, **_SPLIT_STYLE[split])
        ci_series(ax, g, "ratio", log=False, **kw)
    ax.axhline(1.0, color=REFERENCE_COLOR, lw=1, ls=":", label="slope 1: no exaggeration")
    ratios = sorted(s.ratio.unique())
    ax.set_xticks(ratios, [_times_T(r) for r in ratios])
    dress_axis(
        ax,
        "student training time t (one schedule; T = a quarter of the budget)",
        "slope (mean, 95% CI over seeds)",
        f"NAG-6: slope {SLOPE_KINDS[kind]}, KD student\nagainst the label-trained control's",
        ncol=2,
    )


def draw(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Scatter at t = T (train, test); pooled and within-class slopes against training time;
    accuracy trajectories; the recovered fraction."""
    a = analysis
    fig, axes = new_figure(2, 3, width=4.6, height=3.6)
    _scatter_panel(axes[0, 0], df, a, "train", a["main_epochs"])
    _scatter_panel(axes[0, 1], df, a, "test", a["main_epochs"])
    _slope_panel(axes[0, 2], a, "slope")
    _slope_panel(axes[1, 0], a, "slope_within")
    ax = axes[1, 1]
    tr = a["trajectory"]
    for method in STUDENTS:
        g = tr[tr.method == method].sort_values("epochs")
        kw = method_kwargs(method, label=_LABELS[method], ms=5)
        ax.plot(g.epochs, g["mean"], **kw)
        ci_band(ax, g.epochs, g.lo, g.hi, color=kw["color"])
    ax.axhline(
        a["teacher_test_acc"],
        color=method_kwargs("teacher")["color"],
        ls="--",
        lw=1.2,
        label=f"{_LABELS['teacher']}: {a['teacher_test_acc']:.3f}",
    )
    ax.axvline(
        analysis["budget"].loc["kd", "epochs"] / 2,
        color=REFERENCE_COLOR,
        lw=0.8,
        ls="-.",
        label="switch point",
    )
    b = a["budget"].loc["kd"]
    dress_axis(
        ax,
        f"training epochs (students: {int(b.epochs)} epochs, {int(b.images):,} images each)",
        "test accuracy (mean, 95% CI band)",
        "NAG-7: test accuracy during training",
        ncol=2,
    )
    ax = axes[1, 2]
    r, g = a["nag7"]["recovered"], a["nag7"]["gain"]
    errorbar(
        ax,
        [0],
        [r["mean"]],
        [r["lo"]],
        [r["hi"]],
        method="switch_mid",
        capsize=5,
        ms=8,
        ls="none",
        label=_LABELS["switch_mid"],
    )
    if not g["lo"] > 0:  # a fraction of a gain that is not there
        ax.annotate(
            "no gain to\nrecover",
            (0, r["mean"]),
            xytext=(8, -22),
            textcoords="offset points",
            fontsize=8,
            color=REFERENCE_COLOR,
        )
    ax.axhline(RECOVERED_MIN, color=REFERENCE_COLOR, ls="--", lw=1, label="half of the gain")
    ax.axhline(1.0, color=REFERENCE_COLOR, ls=":", lw=1, label="all of the gain")
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks([0], ["switch at mid-budget"])
    ax.set_xlim(-0.7, 0.7)
    dress_axis(
        ax,
        "",
        "(R_label - R_switch) / (R_label - R_kd), 95% CI",
        "NAG-7: fraction of the KD gain recovered\ngain R_label - R_kd: "
        + format_ci(g["mean"], g["lo"], g["hi"]),
        ncol=1,
    )
    finish_figure(
        fig,
        claim_list,
        "Imagenette distillation from a strong teacher: confidence exaggeration (NAG-6) and "
        f"late distillation (NAG-7), {a['n_seeds']} seeds, reported",
    )
    return fig
