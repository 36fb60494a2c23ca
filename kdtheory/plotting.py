"""One figure style: rate plots with fitted slopes in the legend, reference lines, summaries.

Plotting draws what the analysis computed (means, confidence intervals, fitted slopes); it does
no statistics of its own (DESIGN.md).
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from kdtheory.rates import RateFit  # noqa: E402

__all__ = [
    "METHOD_STYLE",
    "summarize",
    "rate_panel",
    "new_figure",
    "claims_footer",
    "finish_figure",
    "dress_axis",
]

#: label, color and marker of each method, shared by every figure.
METHOD_STYLE: dict[str, dict] = {
    "teacher": {"label": "teacher", "color": "0.45", "marker": "s"},
    "sm": {"label": "SM", "color": "tab:red", "marker": "v"},
    "rat": {"label": "RaT", "color": "tab:blue", "marker": "o"},
    "rat_schedule": {"label": "RaT, $\\lambda_S$ schedule", "color": "tab:cyan", "marker": "."},
    "krr": {"label": "KRR on source labels", "color": "tab:green", "marker": "^"},
    "oracle": {"label": "oracle (target labels)", "color": "k", "marker": "x"},
    "source": {"label": "student on source labels", "color": "tab:green", "marker": "^"},
    "sm_long": {"label": "SM with RaT's budget", "color": "tab:orange", "marker": "D"},
}


def summarize(
    df: pd.DataFrame, by: list[str], value: str = "risk", level: float = 0.95
) -> pd.DataFrame:
    """Mean of ``value`` per group with a t-interval over the rows of the group (the designs)."""

    def one(g: pd.Series) -> pd.Series:
        n = g.size
        mean = g.mean()
        half = stats.t.ppf(0.5 + level / 2, n - 1) * g.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0
        return pd.Series({"mean": mean, "lo": mean - half, "hi": mean + half, "count": n})

    return df.groupby(by)[value].apply(one).unstack().reset_index()


def new_figure(n_rows: int, n_cols: int, *, width: float = 4.2, height: float = 3.4):
    """A figure with the package's style and a grid of axes."""
    plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 7})
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False
    )
    return fig, axes


def rate_panel(
    ax,
    summary: pd.DataFrame,
    fits: Mapping[str, RateFit],
    *,
    x: str = "n",
    floor: float | None = None,
    floor_label: str = "SM floor (theory)",
    title: str = "",
    reference_slope: float | None = None,
) -> None:
    """Log-log mean risk vs ``x`` per method, CI bars, fitted slope and 95% CI in the legend."""
    for method, g in summary.groupby("method", sort=False):
        style = METHOD_STYLE.get(method, {"label": method})
        label = style.get("label", method)
        if method in fits:
            label += f": {fits[method].label()}"
        g = g.sort_values(x)
        yerr = np.vstack([g["mean"] - g["lo"], g["hi"] - g["mean"]])
        ax.errorbar(
            g[x],
            g["mean"],
            yerr=np.clip(yerr, 0, None),
            label=label,
            capsize=2,
            lw=1.2,
            ms=4,
            color=style.get("color"),
            marker=style.get("marker", "o"),
        )
    if floor is not None:
        ax.axhline(floor, color="tab:red", ls="--", lw=1, label=f"{floor_label} = {floor:.3g}")
    if reference_slope is not None:
        xs = np.sort(summary[x].unique())
        anchor = summary[summary[x] == xs[0]]["mean"].min()
        ax.plot(
            xs,
            anchor * (xs / xs[0]) ** reference_slope,
            color="0.6",
            ls=":",
            lw=1,
            label=f"slope {reference_slope:.2f} (minimax)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(
        matplotlib.ticker.LogFormatter(labelOnlyBase=False, minor_thresholds=(3, 1))
    )
    ax.set_xlabel(x)
    ax.set_ylabel("target risk $\\|\\hat f - f^*\\|^2_{L^2(Q)}$")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="lower left", fontsize=6, framealpha=0.8)


def dress_axis(ax, xlabel: str, ylabel: str, title: str, **legend) -> None:
    """Axis labels, title, legend (``legend`` passed on; font size 7 unless given), light grid."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(**{"fontsize": 7, **legend})
    ax.grid(True, alpha=0.25)


def claims_footer(fig, claims) -> None:
    """One line per claim under the axes: id, holds, value."""
    lines = [
        f"{c.id} {'holds' if c.holds else 'FAILS'}: {c.statement}"
        + (f" [{c.value:.3g}]" if c.value is not None else "")
        for c in claims
    ]
    fig.text(0.01, 0.005, "\n".join(lines), ha="left", va="bottom", fontsize=7, family="monospace")


def finish_figure(fig, claims, title: str) -> None:
    """Suptitle, claims footer, and room for both: the figure grows by one line per claim."""
    width, height = fig.get_size_inches()
    footer = 0.25 + 0.13 * len(claims or [])  # inches: 7-pt monospace lines
    fig.set_size_inches(width, height + footer)
    if claims:
        claims_footer(fig, claims)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, footer / (height + footer), 1, 1 - 0.3 / (height + footer)))
