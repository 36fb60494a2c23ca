"""The parts of the figure house style that do not draw axes (package-private).

The palette and the one style per method, numbers with the digits their confidence interval
supports, verdict wording, and readable log-axis ticks. :mod:`kdtheory.plotting` re-exports the
public names; :mod:`kdtheory._plotlayout` draws the claims table and lays a figure out.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402

from kdtheory.formatting import ci_decimals, format_ci, format_value  # noqa: E402, F401

#: The Okabe-Ito palette (Okabe & Ito 2008), distinguishable under the common colour-vision
#: deficiencies. Yellow is kept out of the method styles: it is too light on white.
OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
}
#: Reference lines (y = x, thresholds, theory curves that belong to no method).
REFERENCE_COLOR = "#7F7F7F"

_C = OKABE_ITO
#: Paul Tol's colour-blind safe "muted" colours (and a ColorBrewer brown) for the methods the
#: seven usable Okabe-Ito colours do not cover.
TOL_MUTED: dict[str, str] = {
    "indigo": "#332288",
    "cyan": "#88CCEE",
    "teal": "#44AA99",
    "olive": "#999933",
    "rose": "#CC6677",
    "wine": "#882255",
    "purple": "#AA4499",
    "brown": "#8C510A",
}
_T = TOL_MUTED
#: One colour and marker per kind of method, the same in every figure. A colour names one role
#: and nothing else: methods that share a colour are variants of that role and never meet in
#: one figure (black: a teacher; reddish purple: an oracle; orange: KD with its budget, scale or
#: start changed; brown: residual learning and its ablations), and they differ in marker. No
#: (colour, marker) pair belongs to two families.
FAMILY_STYLE: dict[str, dict] = {
    "teacher": {"color": _C["black"], "marker": "s"},
    "noisy": {"color": _C["black"], "marker": "d"},  # a teacher with noise
    "labels": {"color": _C["bluish_green"], "marker": "^"},
    "kd": {"color": _C["vermillion"], "marker": "v"},
    "rat": {"color": _C["blue"], "marker": "o"},
    "rat_schedule": {"color": _C["sky_blue"], "marker": "D"},
    "rat_eta0": {"color": _T["indigo"], "marker": "X"},
    "oracle": {"color": _C["reddish_purple"], "marker": "X"},
    "bayes": {"color": _C["reddish_purple"], "marker": "o"},  # the oracle teacher p(y|x)
    "kd_long": {"color": _C["orange"], "marker": "d"},
    "kd_p": {"color": _C["orange"], "marker": "<"},
    "switch": {"color": _C["orange"], "marker": "o"},
    "kd_plus_ce": {"color": _T["wine"], "marker": "P"},
    "crossfit": {"color": _T["olive"], "marker": "o"},
    "enhanced": {"color": _T["cyan"], "marker": "P"},
    "ortho": {"color": _T["purple"], "marker": "*"},
    "pd_ts": {"color": _T["teal"], "marker": "h"},
    "pd_st": {"color": _T["rose"], "marker": "p"},
    "res": {"color": _T["brown"], "marker": "h"},
    "res_no_beta": {"color": _T["brown"], "marker": ">"},
    "res_no_mask": {"color": _T["brown"], "marker": "<"},
    "res_no_pretrain": {"color": _T["brown"], "marker": "X"},
    "kd_res": {"color": _T["brown"], "marker": "D"},
    "reference": {"color": REFERENCE_COLOR, "marker": None},
}
#: The families that share a colour, by the role the colour names (a test checks that no other
#: two families share one).
COLOR_ROLES: dict[str, tuple[str, ...]] = {
    "a teacher": ("teacher", "noisy"),
    "an oracle": ("oracle", "bayes"),
    "KD with its budget, scale or start changed": ("kd_long", "kd_p", "switch"),
    "residual learning": ("res", "res_no_beta", "res_no_mask", "res_no_pretrain", "kd_res"),
}


def _method(family: str, label: str, **extra) -> dict:
    return {"label": label, "family": family, **FAMILY_STYLE[family], **extra}


#: label, colour, marker (and family) of every method any simulation plots; simulations take
#: their styles from here (a simulation may reword the label, never the colour or marker).
#: ``kind: "reference"`` marks a reference line (no marker), drawn beside the curve it refers to.
METHOD_STYLE: dict[str, dict] = {
    # rat_separation, rat_interaction, imagenette_shift
    "teacher": _method("teacher", "teacher"),
    "sm": _method("kd", "SM", short="SM"),
    "rat": _method("rat", "RaT"),
    "rat_schedule": _method("rat_schedule", "RaT, $\\lambda_S$ schedule", short="RaT sched."),
    "krr": _method("labels", "KRR on source labels", short="KRR"),
    "oracle": _method("oracle", "oracle (target labels)", short="oracle"),
    "source": _method("labels", "student on source labels"),
    "sm_long": _method("kd_long", "SM with RaT's budget"),
    "sm_ce": _method("kd_plus_ce", "SM + CE on source labels"),
    "rat_eta0": _method("rat_eta0", "RaT with eta = 0 (no residual)"),
    # semiparametric_bias, tabular_kd, crossfit_overfitting
    "kd": _method("kd", "KD"),
    "orthogonal": _method("ortho", "orthogonal correction"),
    "ortho": _method("ortho", "orthogonal $\\gamma = 1/\\hat p$, CF"),
    "kd_p": _method("kd_p", "KD, p scale (ours, extra)"),
    "kd_cf": _method("crossfit", "CF KD (A: p scale)"),
    "enhanced": _method("enhanced", "enhanced: CF + bound-fast"),
    "teacher_cf": _method("teacher", "teacher, cross-fit folds"),
    "scratch": _method("labels", "student on labels (scratch)"),
    "vanilla": _method("kd", "vanilla KD (in-sample teacher)"),
    "crossfit": _method("crossfit", "cross-fit KD (out-of-fold teacher)"),
    # eigen_exaggeration, late_distillation
    "student": _method("kd", "KD student"),
    "label": _method("labels", "labels only (for t_total)"),
    "switch_mid": _method("switch", "labels, then the teacher from t_total / 2"),
    "best_label": _method("labels", "best early-stopped label model", kind="reference"),
    # gradient_denoising
    "one_hot": _method("labels", "one-hot labels"),
    "bayes": _method("bayes", "Bayes teacher p(y|x)"),
    "noisy": _method("noisy", "noisy teacher"),
    "population": _method("reference", "population gradient (limit)", kind="reference"),
    # pd_robustness
    "kl": _method("kd", "KL (Hinton's KD)"),
    "pd_ts": _method("pd_ts", "$D_\\lambda$(teacher $\\|$ student)"),
    "pd_st": _method("pd_st", "$D_\\lambda$(student $\\|$ teacher)"),
    # imagenette_imperfect (also kd, pd_ts, pd_st, teacher)
    "ce": _method("labels", "labels only (CE)"),
    "res": _method("res", "residual learning"),
    "res_no_beta": _method("res_no_beta", "residual, no $\\beta$"),
    "res_no_mask": _method("res_no_mask", "residual, no mask"),
    "res_no_pretrain": _method("res_no_pretrain", "residual, no pre-training"),
    "kd_res": _method("kd_res", "KD + $L_{res}$"),
    **{
        f"pd_{o}({lam})": _method(f"pd_{o}", f"$D_{{{lam}}}$({who})")
        for o, who in (("ts", "teacher $\\|$ student"), ("st", "student $\\|$ teacher"))
        for lam in ("-1/4", "2/3", "1")
    },
    # the KD + CE pipeline the PD paper plugs into (imagenette_imperfect)
    "kd+ce": _method("kd_plus_ce", "KD + CE"),
    **{
        f"pd_{o}(2/3)+ce": _method(f"pd_{o}", f"$D_{{2/3}}$({who}) + CE")
        for o, who in (("ts", "teacher $\\|$ student"), ("st", "student $\\|$ teacher"))
    },
}

#: Which methods each simulation plots (the style table must cover them; a test checks it).
SIMULATION_METHODS: dict[str, tuple[str, ...]] = {
    "rat_separation": ("teacher", "sm", "rat", "rat_schedule", "krr", "oracle"),
    "rat_interaction": ("krr", "rat", "sm"),
    # (and RaT with the schedule ridge, "rat_schedule": its table tells the rules apart)
    "imagenette_kernel": ("teacher", "krr", "oracle", "sm", "rat"),
    "imagenette_shift": (
        "teacher",
        "source",
        "sm",
        "sm_long",
        "sm_ce",
        "rat",
        "rat_eta0",
        "oracle",
    ),  # fmt: skip
    "imagenette_deviations": ("teacher", "label", "kd", "switch_mid"),
    "semiparametric_bias": ("kd", "orthogonal"),
    "crossfit_overfitting": ("vanilla", "crossfit", "scratch"),
    "tabular_kd": ("teacher", "scratch", "kd", "kd_p", "kd_cf", "enhanced", "ortho"),
    "eigen_exaggeration": ("teacher", "student", "label"),
    "late_distillation": ("label", "kd", "switch_mid", "teacher", "best_label"),
    "gradient_denoising": ("one_hot", "bayes", "noisy", "population"),
    "pd_robustness": ("kl", "pd_ts", "pd_st"),
    # one colour per family: the other lams share their order's colour, the ablations the
    # colour of residual learning (with their own markers)
    "imagenette_imperfect": ("teacher", "ce", "kd", "pd_ts(2/3)", "pd_st(2/3)", "kd+ce", "res"),
}

#: Markers for series that are not methods (a parameter's values), in order.
SERIES_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


def ordered_colors(k: int) -> list[str]:
    """``k`` colours for the ordered values of a parameter (t/T, rank, step): viridis, which
    stays ordered in lightness and readable under colour-vision deficiencies (no pale end)."""
    import matplotlib.colors as mcolors
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [mcolors.to_hex(cmap(v)) for v in np.linspace(0.0, 0.78, max(k, 1))][:k]


# --------------------------------------------------------------------------- numbers and words
def verdict(claim) -> str:
    """A check's verdict for a figure's table (:func:`kdtheory.claims.verdict_text`)."""
    from kdtheory.claims import verdict_text

    return verdict_text(claim)


def claim_value_text(claim) -> str:
    """The claim's value with its 95% CI in the digits it supports, a bound, or three digits."""
    return claim.value_text()


# --------------------------------------------------------------------------- log-axis ticks
_PLAIN = (1e-3, 1e5)


def _plain(values) -> bool:
    return all(_PLAIN[0] * (1 - 1e-9) <= abs(v) < _PLAIN[1] for v in values)


def _tick_text(x: float, plain: bool) -> str:
    if x <= 0:
        return ""
    if plain:
        return f"{x:.6g}"
    e = math.floor(math.log10(x) + 1e-9)
    m = x / 10.0**e
    if abs(m - round(m)) < 1e-6 and round(m) == 1:
        return f"$10^{{{e}}}$"
    return f"${m:.3g}\\times10^{{{e}}}$"


def _visible_chars(text: str) -> float:
    """Rough width of a tick label in characters (mathtext exponents count for less)."""
    if not text.startswith("$"):
        return float(len(text))
    body = text.strip("$").replace("\\times", "x").replace("{", "").replace("}", "")
    base, _, exp = body.partition("^")
    return len(base) + 0.7 * len(exp)


class ReadableLogFormatter(mticker.Formatter):
    """Tick labels of a log axis: plain numbers (``200``, ``0.05``) when every labelled tick lies
    in [0.001, 1e5), powers of ten (``10^-4``) otherwise; one style per axis."""

    _ticks: tuple = ()

    def set_locs(self, locs):
        self._ticks = tuple(locs)

    def __call__(self, x, pos=None):
        locs = [v for v in self._ticks if v > 0] or [x]
        return _tick_text(x, _plain(locs))


class ReadableLogLocator(mticker.Locator):
    """Major ticks of a log axis that leave room for their labels.

    At each draw, from the axis length in inches and the label font size: decades, or every
    k-th decade when decades would touch; below about two decades, the 2s and 5s (then the 3s,
    and below one decade the other integer multiples) where their labels fit between the ones
    already chosen. At least two ticks are labelled (a narrow range without two such ticks falls
    back to evenly spaced numbers).
    """

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def _geometry(self) -> tuple[float, float, bool]:
        """Axis length (inches), label font size (points), and whether it is the x axis."""
        axis = self.axis
        if axis is None:
            return 4.0, 8.0, True
        from matplotlib.font_manager import FontProperties

        ax = axis.axes
        is_x = axis.axis_name == "x"
        length = (ax.bbox.width if is_x else ax.bbox.height) / ax.figure.dpi
        size = FontProperties(size=matplotlib.rcParams[f"{axis.axis_name}tick.labelsize"])
        return max(length, 0.5), size.get_size_in_points(), is_x

    @staticmethod
    def _ticks(subs, stride, lo, hi) -> list[float]:
        out = []
        for e in range(math.floor(lo) - 1, math.ceil(hi) + 2):
            if stride > 1 and e % stride:
                continue
            for m in subs:
                v = m * 10.0**e
                if lo - 1e-9 <= math.log10(v) <= hi + 1e-9:
                    out.append(v)
        return out

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if not (vmin > 0 and math.isfinite(vmax)) or vmax <= vmin:
            return mticker.LogLocator().tick_values(max(vmin, 1e-300), max(vmax, 1e-299))
        lo, hi = math.log10(vmin), math.log10(vmax)
        length, size, is_x = self._geometry()
        per_decade = length / (hi - lo)

        def room(a: float, b: float, plain: bool) -> bool:
            """Whether ticks ``a`` and ``b`` leave room for both labels."""
            gap = abs(math.log10(b) - math.log10(a)) * per_decade
            if not is_x:
                return gap >= 1.9 * size / 72
            wa, wb = (_visible_chars(_tick_text(v, plain)) * 0.62 * size / 72 for v in (a, b))
            return gap >= (wa + wb) / 2 + 0.12

        for stride in (1, 2, 3, 5, 10, 20, 50):
            chosen = self._ticks((1,), stride, lo, hi)
            plain = _plain(chosen)
            if all(room(a, b, plain) for a, b in zip(chosen, chosen[1:], strict=False)):
                break
        if stride == 1 and hi - lo <= 2.2 and _plain([vmin, vmax]):
            # fill in 2s and 5s, 3s, and below one decade the other multiples
            groups = [(2, 5), (3,)] + ([(4, 6, 7, 8, 9)] if hi - lo < 1.0 else [])
            for group in groups:
                for v in self._ticks(group, 1, lo, hi):
                    trial = sorted([*chosen, v])
                    plain = _plain(trial)
                    pairs = zip(trial, trial[1:], strict=False)
                    if plain and all(room(a, b, plain) for a, b in pairs):
                        chosen = trial
        if len(chosen) >= 2:
            return np.asarray(chosen)
        return mticker.MaxNLocator(nbins=3, steps=[1, 2, 2.5, 5, 10]).tick_values(vmin, vmax)


def readable_log_ticks(ax) -> None:
    """Give every log axis of ``ax`` the house ticks (few, non-overlapping labels; unlabelled
    minor ticks). Axes whose ticks were set explicitly (fixed labels) are left alone."""
    for axis, scale in ((ax.xaxis, ax.get_xscale()), (ax.yaxis, ax.get_yscale())):
        explicit = isinstance(axis.get_major_locator(), mticker.FixedLocator)
        if scale != "log" or explicit:
            continue
        axis.set_major_locator(ReadableLogLocator())
        axis.set_major_formatter(ReadableLogFormatter())
        axis.set_minor_locator(mticker.LogLocator(subs="auto", numticks=12))
        axis.set_minor_formatter(mticker.NullFormatter())
