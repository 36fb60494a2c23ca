"""One figure style for every simulation (docs/architecture.md, "Figures").

- **Colours and markers**: one per method, from :data:`METHOD_STYLE` (the Okabe-Ito palette,
  colour-blind safe); ordered parameter values (t/T, rank, step) take :func:`ordered_colors`.
- **Every curve visible**: a method's points are dodged sideways on log axes (:func:`dodge`), the
  teacher is drawn beneath as a wide line, reference lines are thin and grey.
- **Legends off the data**: below their panel (:func:`legend_below`) or one legend for the
  figure (``finish_figure(..., legend=True)``), font 8 pt.
- **Readable ticks**: log axes label few ticks (1-2-5, decades, or every k-th decade, whichever
  fits; :class:`ReadableLogLocator`).
- **Verdicts as a table** under the axes (:func:`claims_footer`): claim, verdict (``holds``,
  ``fails`` or ``inconclusive``, with ``, reported`` for checks that are not asserted), value with
  its 95% CI in the digits the CI supports (:func:`format_ci`), the check shortened to fit; each
  claim's premises as rows ("premise met", "premise not met"), and a last line that says what
  "inconclusive" and "reported" mean.

Plotting draws what the analysis computed (means, confidence intervals, fitted slopes); it does
no statistics of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from cycler import cycler  # noqa: E402
from matplotlib.container import Container  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402
from scipy import stats  # noqa: E402

from kdtheory._plotlayout import (  # noqa: E402
    LEGEND_FONTSIZE,
    below_legend_height,
    claim_rows,
    collect_handles,
    draw_claims_table,
    fit_legend_columns,
    place_legends_below,
    shared_legend,
    table_height,
    table_layout,
    wrap_title,
)
from kdtheory._plotstyle import (  # noqa: E402
    COLOR_ROLES,
    FAMILY_STYLE,
    METHOD_STYLE,
    OKABE_ITO,
    REFERENCE_COLOR,
    SERIES_MARKERS,
    SIMULATION_METHODS,
    ReadableLogFormatter,
    ReadableLogLocator,
    ci_decimals,
    claim_value_text,
    format_ci,
    format_value,
    ordered_colors,
    readable_log_ticks,
    verdict,
)
from kdtheory.rates import RateFit  # noqa: E402

__all__ = [
    "ci_band",
    "METHOD_STYLE",
    "COLOR_ROLES",
    "FAMILY_STYLE",
    "OKABE_ITO",
    "REFERENCE_COLOR",
    "SERIES_MARKERS",
    "SIMULATION_METHODS",
    "LEGEND_FONTSIZE",
    "summarize",
    "rate_panel",
    "new_figure",
    "claims_footer",
    "finish_figure",
    "dress_axis",
    "method_kwargs",
    "method_key",
    "errorbar",
    "ci_series",
    "dodge",
    "dodge_step",
    "legend_below",
    "add_key",
    "ordered_colors",
    "format_ci",
    "format_value",
    "ci_decimals",
    "claim_value_text",
    "claim_rows",
    "verdict",
    "readable_log_ticks",
    "ReadableLogLocator",
    "ReadableLogFormatter",
]

_TITLE_FONTSIZE = 11.0
_RC = {
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": LEGEND_FONTSIZE,
    "figure.titlesize": _TITLE_FONTSIZE,
    "lines.linewidth": 1.4,
    "lines.markersize": 5,
    "errorbar.capsize": 2,
    "axes.prop_cycle": cycler(
        color=[OKABE_ITO[c] for c in ("blue", "vermillion", "bluish_green", "orange")]
        + [OKABE_ITO[c] for c in ("reddish_purple", "sky_blue", "black")]
    ),
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
    """A figure in the house style with a grid of axes, ``width x height`` inches per panel.

    :func:`finish_figure` later adds the room for the title, the legends below the panels and
    the claims table, so ``height`` is the panel's own (axes, ticks and axis labels).
    """
    plt.rcParams.update(_RC)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width * n_cols, height * n_rows), squeeze=False
    )
    for ax in axes.flat:
        ax.grid(True, which="major", alpha=0.3, lw=0.6)
    return fig, axes


# --------------------------------------------------------------------------- drawing
def method_kwargs(method: str, **overrides) -> dict:
    """Keyword arguments (``color, marker, label, zorder, ...``) that draw ``method`` in its
    house style; ``overrides`` win (``label=`` to reword the label, ``ls=`` for a line style)."""
    style = METHOD_STYLE.get(method, {"label": method, "color": REFERENCE_COLOR, "marker": "o"})
    out = {"color": style["color"], "label": style["label"]}
    if style.get("marker"):
        out["marker"] = style["marker"]
    if method == "teacher":  # beneath the others, wide: a curve on top of it stays visible
        out.update(zorder=2.05, lw=2.6, ms=6.5)
    else:
        out["zorder"] = 2.5
    out.update(overrides)
    return out


def method_key(method: str, label: str | None = None, **overrides) -> tuple:
    """``(handle, label)`` of a legend entry for ``method`` (its colour and marker, no line)."""
    kw = {"ls": "none", **method_kwargs(method, **overrides)}
    text = kw.pop("label")
    return Line2D([], [], **kw), label or text


def dodge(x, i: int, k: int, *, step: float, log: bool = True):
    """Positions of series ``i`` of ``k`` moved sideways so that coinciding points stay visible:
    by ``step`` decades (log axes) or ``step`` units (linear axes) per series, centred."""
    shift = step * (i - (k - 1) / 2)
    x = np.asarray(x, dtype=float)
    return x * 10.0**shift if log else x + shift


def dodge_step(xs, k: int, *, log: bool = True, share: float = 0.35) -> float:
    """The dodge step that makes ``k`` series take ``share`` of the smallest gap between the
    distinct ``xs`` (in decades on log axes, at most 0.03)."""
    xs = np.unique(np.asarray(xs, dtype=float))
    if k < 2 or xs.size < 2:
        return 0.0
    gaps = np.diff(np.log10(xs) if log else xs)
    step = float(share * gaps.min() / (k - 1))
    return min(step, 0.03) if log else step  # on log axes at most 0.03 decades per series


def ci_band(ax, x, lo, hi, *, color: str, alpha: float = 0.12) -> None:
    """A confidence band that stays readable where bands overlap: a light fill, and its two
    edges as thin lines of the band's colour, so each band's extent shows through the others."""
    ax.fill_between(x, lo, hi, color=color, alpha=alpha, lw=0)
    for edge in (lo, hi):
        ax.plot(x, edge, color=color, lw=0.6, alpha=0.7, ls=(0, (3, 2)))


def errorbar(ax, x, mean, lo, hi, *, method: str | None = None, **kwargs):
    """Mean with its confidence interval as an error bar, in ``method``'s house style."""
    mean = np.asarray(mean, dtype=float)
    yerr = np.clip(np.vstack([mean - np.asarray(lo, float), np.asarray(hi, float) - mean]), 0, None)
    style = method_kwargs(method) if method else {}
    style = {"capsize": 2, "elinewidth": 0.9, "ms": 5, "lw": 1.4, **style, **kwargs}
    if style.get("mfc") is None and "marker" in style:
        style.setdefault("mec", style.get("color"))
    return ax.errorbar(x, mean, yerr=yerr, **style)


def ci_series(
    ax,
    frame: pd.DataFrame,
    x: str,
    y: str = "mean",
    *,
    dodged: tuple[int, int, float] | None = None,
    log: bool = True,
    method: str | None = None,
    **style,
):
    """Error bars of one series from a summary table (columns ``x``, ``y``, ``lo``, ``hi``),
    sorted by ``x``; ``dodged=(i, k, step)`` moves it sideways as series ``i`` of ``k``
    (:func:`dodge`)."""
    g = frame.sort_values(x)
    xs = g[x] if dodged is None else dodge(g[x], dodged[0], dodged[1], step=dodged[2], log=log)
    return errorbar(ax, xs, g[y], g["lo"], g["hi"], method=method, **style)


def legend_below(ax, ncol: int | None = None, *, title: str | None = None, **kwargs):
    """The panel's legend under its x-axis label (never over the data). :func:`finish_figure`
    gives it the most columns (at most ``ncol``, default 3) that fit the panel's width."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    # the plotted series (error bars) first, reference lines after them
    order = sorted(range(len(handles)), key=lambda i: not isinstance(handles[i], Container))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    kwargs = {
        "loc": "upper center",
        "frameon": False,
        "fontsize": max(float(kwargs.pop("fontsize", LEGEND_FONTSIZE)), LEGEND_FONTSIZE),
        "borderaxespad": 0.0,
        "columnspacing": 1.2,
        "handletextpad": 0.5,
        "handlelength": 2.0,
        "title": title,
        "title_fontsize": LEGEND_FONTSIZE,
        **kwargs,
    }
    for key in ("bbox_to_anchor", "bbox_transform"):
        kwargs.pop(key, None)
    leg = ax.legend(
        handles,
        labels,
        ncols=ncol or 1,
        bbox_to_anchor=(0.5, 0.0),
        bbox_transform=offset_copy(ax.transAxes, fig=ax.figure, y=-0.5, units="inches"),
        **kwargs,
    )
    leg._house = {"handles": handles, "labels": labels, "kwargs": kwargs, "ncol": ncol}
    return leg


def dress_axis(
    ax,
    xlabel: str,
    ylabel: str,
    title: str,
    *,
    ncol: int | None = None,
    legend_title: str | None = None,
    own_legend: bool = True,
    **legend,
) -> None:
    """Axis labels, title, light grid, and the legend below the panel (:func:`legend_below`;
    ``legend`` passed on, placement arguments ignored). ``own_legend=False``: no legend here,
    the panel's labelled artists go to the figure's shared legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    for key in ("loc", "bbox_to_anchor"):
        legend.pop(key, None)
    if own_legend:
        legend_below(ax, ncol, title=legend_title, **legend)
    ax.grid(True, alpha=0.3, lw=0.6)


def add_key(ax, handle, label: str) -> None:
    """Offer ``(handle, label)`` to the figure's shared legend (``finish_figure(legend=True)``),
    e.g. the full name of a method whose panel legend shows a short name with a number."""
    keys = ax.__dict__.setdefault("_house_keys", [])
    keys.append((handle, label))


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
    reference_label: str = "minimax rate",
    xlabel: str | None = None,
    legend: bool = True,
) -> None:
    """Log-log mean risk vs ``x`` per method with 95% CI bars.

    Methods are dodged sideways around each ``x`` (the teacher first, beneath the others), so
    curves that coincide stay visible. The legend below the panel gives each method's short
    name with its fitted slope and 95% CI, and the floor's value; the methods' full names and the
    reference slope go to the figure's shared legend (``finish_figure(..., legend=True)``).
    """
    methods = list(dict.fromkeys(summary["method"]))
    methods.sort(key=lambda m: m != "teacher")  # the teacher first: drawn beneath
    step = dodge_step(summary[x], len(methods))
    for i, method in enumerate(methods):
        g = summary[summary["method"] == method].sort_values(x)
        style = METHOD_STYLE.get(method, {})
        label = style.get("short", style.get("label", method))
        if method in fits:
            fit = fits[method]
            label += f"  {format_ci(fit.slope, *fit.ci)}"
        artist = errorbar(
            ax,
            dodge(g[x], i, len(methods), step=step),
            g["mean"],
            g["lo"],
            g["hi"],
            method=method,
            label=label,
            **({} if method == "teacher" else {"zorder": 2.5 + 0.01 * i}),
        )
        add_key(ax, artist, style.get("label", method))
    if floor is not None:
        (line,) = ax.plot(
            [],
            [],
            color=METHOD_STYLE["sm"]["color"],
            ls=(0, (4, 2)),
            lw=1.0,
            label=f"{floor_label.split(' (')[0]}: {format_value(floor)}",
        )
        ax.axhline(floor, color=line.get_color(), ls=(0, (4, 2)), lw=1.0, zorder=2.9)
        add_key(ax, line, floor_label)
    if reference_slope is not None:
        xs = np.sort(summary[x].unique())
        anchor = summary[summary[x] == xs[0]]["mean"].min()
        (line,) = ax.plot(
            xs,
            anchor * (xs / xs[0]) ** reference_slope,
            color=REFERENCE_COLOR,
            ls=":",
            lw=1.2,
            zorder=2.0,
        )
        add_key(ax, line, f"slope {reference_slope:.2f} ({reference_label})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel or f"{x} (methods dodged sideways)")
    ax.set_ylabel("target risk $\\|\\hat f - f^*\\|^2_{L^2(Q)}$")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3, lw=0.6)
    ax.grid(True, which="minor", alpha=0.12, lw=0.5)
    if legend:
        legend_below(ax, title="fitted log-log slope [95% CI]" if fits else None)


# --------------------------------------------------------------------------- layout
def claims_footer(fig, claims, *, max_rows: int = 8, top_in: float | None = None) -> float:
    """Draw the claims table (one row per check, or per claim id when there are more than
    ``max_rows`` checks) at the bottom of ``fig``; returns its height in inches."""
    rows = claim_rows(claims or [], max_rows)
    layout = table_layout(fig, rows) if rows else None
    height = table_height(layout.n_lines if rows else 0, fig.get_size_inches()[0])
    if rows:
        top = height if top_in is None else top_in
        draw_claims_table(fig, rows, top_in=top, layout=layout)
    return height


def finish_figure(
    fig,
    claims,
    title: str,
    *,
    legend: bool | Sequence = False,
    legend_loc: str = "top",
    ncol: int | None = None,
    max_rows: int = 8,
) -> None:
    """Suptitle, shared legend, claims table, readable log ticks, and the layout.

    The figure grows by what it adds (title, legends below the panels, the shared legend, the
    table), so the panels keep the size :func:`new_figure` gave them.

    Parameters
    ----------
    fig : Figure
    claims : list of Claim or None
        Drawn as the table under the axes (:func:`claims_footer`).
    title : str
        The figure's title (wrapped to the figure's width).
    legend : bool or sequence of (handle, label), default False
        ``True``: one legend for the figure from the labelled artists of the panels that have
        no legend of their own (labels deduplicated); a sequence: these entries.
    legend_loc : {"top", "bottom", "right"}
        Where the shared legend goes: under the title, above the table, or right of the panels.
    ncol : int, optional
        Columns of the shared legend (default: as many as fit the width).
    max_rows : int, default 8
        More checks than this are summarized per claim id in the table.
    """
    for ax in fig.axes:
        readable_log_ticks(ax)
    renderer = fig.canvas.get_renderer()
    width, height = fig.get_size_inches()
    fit_legend_columns(fig, renderer)
    height += below_legend_height(fig, renderer)
    title = wrap_title(title, fig, _TITLE_FONTSIZE, width - 0.4)
    title_in = 0.16 + 1.3 * _TITLE_FONTSIZE / 72 * (title.count("\n") + 1)
    shared = None
    if legend is not False:
        handles, labels = (
            collect_handles(fig) if legend is True else [list(t) for t in zip(*legend, strict=True)]
        )
        if handles:
            shared = shared_legend(fig, handles, labels, legend_loc, ncol, width, renderer)
    shared_h = shared_w = 0.0
    if shared is not None:
        box = shared.get_window_extent(renderer)
        if legend_loc == "right":
            shared_w = box.width / fig.dpi + 0.2
        else:
            shared_h = box.height / fig.dpi + 0.1
    rows = claim_rows(claims or [], max_rows)
    width += shared_w
    layout = table_layout(fig, rows, width) if rows else None
    table_in = table_height(layout.n_lines if rows else 0, width)
    total = height + title_in + shared_h + table_in
    fig.set_size_inches(width, total)
    if rows:
        draw_claims_table(fig, rows, top_in=table_in, layout=layout)
    fig.suptitle(title, y=1 - 0.08 / total, va="top", fontsize=_TITLE_FONTSIZE)
    fig._suptitle.set_in_layout(False)  # its room is reserved above
    if shared is not None:
        if legend_loc == "top":
            shared.set_bbox_to_anchor((0.5, 1 - title_in / total), transform=fig.transFigure)
        elif legend_loc == "bottom":
            shared.set_bbox_to_anchor((0.5, table_in / total), transform=fig.transFigure)
        else:
            shared.set_bbox_to_anchor((1 - 0.1 / width, 0.5), transform=fig.transFigure)
    bottom = (table_in + (shared_h if legend_loc == "bottom" else 0.0)) / total
    top = 1 - (title_in + (shared_h if legend_loc == "top" else 0.0)) / total
    rect = (0.0, bottom, 1 - shared_w / width, top)
    for _ in range(2):
        place_legends_below(fig, renderer)
        fig.tight_layout(rect=rect, h_pad=0.6, w_pad=0.8)
    place_legends_below(fig, renderer)
