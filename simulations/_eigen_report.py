"""Verdicts and figure of :mod:`kdtheory.simulations.eigen_exaggeration` (NAG-1..NAG-5)."""

from __future__ import annotations

from kdtheory.claims import Claim, Premise
from kdtheory.plotting import (
    METHOD_STYLE,
    OKABE_ITO,
    REFERENCE_COLOR,
    SERIES_MARKERS,
    ci_band,
    dodge,
    dodge_step,
    dress_axis,
    errorbar,
    finish_figure,
    format_ci,
    format_value,
    new_figure,
    ordered_colors,
)
from kdtheory.simulations.eigen_exaggeration import (
    BOTTOM_BOUND_MAX,
    CLOSED_FORM_RTOL,
    EIGEN_RESOLUTION,
    MIN_SPAN_DECADES,
    ORDER_ROUNDING,
    ROUNDING_BOUND,
    STUDENT_EXCESS_BOUND,
)
from kdtheory.verdicts import holm


def _bounded(value: float, bound: float) -> tuple[float, str]:
    """A rounding-level number as recorded: ``(bound, "<")`` at or below ``bound`` (a column
    saved with ``Floor(bound)`` reads back as ``bound`` there), else ``(value, "=")``."""
    return (bound, "<") if value <= bound else (value, "=")


def _premises(a: dict) -> dict[str, Premise]:
    """The hypotheses of NAG-2..5 that are numbers on the run, checked on it."""
    fv = format_value
    return {
        "distinct": Premise(
            "distinct eigenvalues: smallest relative gap (lam_k - lam_k+1) / lam_k over designs "
            f"> {fv(EIGEN_RESOLUTION)} (their float64 accuracy)",
            a["eig_gap_min"] > EIGEN_RESOLUTION,
            a["eig_gap_min"],
        ),
        "span": Premise(
            f"the setting: every design's nonzero spectrum spans >= {fv(MIN_SPAN_DECADES)} "
            "decades (smallest span log10(lam_1 / lam_n))",
            a["min_span"] >= MIN_SPAN_DECADES,
            a["min_span"],
        ),
        "invertible": Premise(
            f"X X^T invertible: rank of X = n = {a['n']} in every design (the nonzero singular "
            "values the SVD keeps, those above max(n, p) eps s_1; value: the smallest rank)",
            a["min_rank"] == a["n"],
            a["min_rank"],
        ),
        "bottom": Premise(
            f"the bottom of the spectrum: b < {fv(BOTTOM_BOUND_MAX)} at the largest fitted "
            "eigenvalue (max over runs and both filters; b is smaller below it)",
            a["fit_bound"] < BOTTOM_BOUND_MAX,
            a["fit_bound"],
        ),
    }


def claims_of(a: dict) -> list[Claim]:
    """Verdicts on NAG-1..NAG-5 over every design, ``t / T``, gradient flow and descent.

    All checks are deterministic (exact arithmetic in float64): identities and strict
    inequalities hold or fail; an error at rounding level is recorded as a bound
    (``relation="<"``), not with digits that differ between machines.
    """
    fv, rtol = format_value, CLOSED_FORM_RTOL
    order, bound = a["order_violation"], a["bottom_bound"]
    lo, hi = a["curve_range"]
    pre = _premises(a)
    teacher_err, teacher_rel = _bounded(a["gd_teacher_err"], ROUNDING_BOUND)
    excess, excess_rel = _bounded(a["gd_student_excess"], STUDENT_EXCESS_BOUND)
    T_inf, T_inf_rel = _bounded(a["T_inf_error"], ROUNDING_BOUND)
    t_inf, t_inf_rel = _bounded(a["t_inf_error"], ROUNDING_BOUND)
    decades = "-".join(fv(x) for x in a["bottom_decades"])
    conditioning = 10.0 ** -a["max_span"]  # the largest span log10(lam_1 / lam_r)
    slope_claims = []
    for f, m, name, interval in (
        ("kd", 2, "KD", "[2(1 - b), 2 / (1 - eta lam)]"),
        ("label", 1, "label", "[1 - b, 1 / (1 - eta lam)]"),
    ):
        sl = a["slopes"][f]
        dev_lo, dev_hi = a["slope_deviation"][f]
        slope_claims.append(
            Claim(
                "NAG-5",
                f"bottom-of-spectrum log-log slope s of the {name} filter in {interval} in every "
                f"run (value: {m} - s, mean over designs at t/T = 1, flow, 95% CI)",
                a["slope_ok"][f],
                m - float(sl["mean"]),
                (m - float(sl["hi"]), m - float(sl["lo"])),
                f"fitted on the smallest eigenvalues, spanning {decades} decades; |s - {m}| over "
                f"all runs from {fv(dev_lo)} to {fv(dev_hi)}",
                premise=[pre["bottom"]],
            )
        )
    out = [
        Claim(
            "NAG-1",
            "GD on the labels simulated step by step = closed form F_k(t) w*_k along every "
            f"v_k: max relative error over designs and directions < {fv(rtol)}",
            a["gd_teacher_err"] < rtol,
            teacher_err,
            detail="max over designs and directions; at rounding level, recorded as a bound",
            relation=teacher_rel,
        ),
        Claim(
            "NAG-1",
            "GD student simulated on the teacher's float64 predictions = F_k(t) F_k(T) w*_k "
            f"along every v_k: max error / tolerance <= 1, tolerance {fv(rtol)} + the float64 "
            "resolution of those predictions",
            a["gd_student_excess"] <= 1.0,
            excess,
            detail="max over designs and directions of error / tolerance (the error is that "
            "resolution's rounding, recorded only as this bound); tolerance from "
            f"{fv(a['student_tol'][0])} to {fv(a['student_tol'][1])} by direction",
            relation=excess_rel,
        ),
        Claim(
            "NAG-1",
            f"small-step GD (eta lam_1 = {fv(a['check_step'])}) = gradient-flow closed form "
            f"along every v_k: max error / (eta lam_k + {fv(rtol)}) <= 1",
            a["flow_step_ratio"] <= 1.0,
            a["flow_step_ratio"],
            detail="max over designs and directions of error / bound",
        ),
        Claim(
            "NAG-2",
            f"S_j/S_k < F_j(T)/F_k(T) for all {a['pairs']} pairs lam_k > lam_j, every design "
            "and t/T (flow and GD): min log gap > its float64 rounding bound",
            a["gap2_min"] > 0 and a["gap2_rounding"] > 1.0,
            a["gap2_min"],
            detail=f"min log gap; min gap / rounding bound {fv(a['gap2_rounding'])}",
            premise=[pre["distinct"], pre["span"]],
        ),
        Claim(
            "NAG-2",
            "the top/bottom gap decreases strictly in t (equality only as t -> inf) in every "
            "design",
            a["gap2_decreasing"],
            a["gap2_shrink_max"],
            detail=f"max over designs of gap(t = {fv(hi)} T) / gap(t = {fv(lo)} T)",
            premise=[pre["distinct"], pre["span"]],
        ),
        Claim(
            "NAG-3",
            "at matched top progress F_1(tau) = S_1: F_j(tau) > S_j for every lower direction "
            "j, design and t/T: min log gap > its float64 rounding bound",
            a["gap3_min"] > 0 and a["gap3_rounding"] > 1.0,
            a["gap3_min"],
            detail=f"min log gap; min gap / rounding bound {fv(a['gap3_rounding'])}",
            premise=[pre["distinct"]],
        ),
        Claim(
            "NAG-3",
            "tau < min(t, T) at every design and t/T: min of 1 - tau / min(t, T) > 0",
            a["tau_margin"] > 0,
            a["tau_margin"],
        ),
        Claim(
            "NAG-4",
            f"each of generations 1-{a['n_generations']} strictly lowers the bottom/top ratio "
            "in every design and t/T",
            a["generation_gap_min"] > 0,
            a["generation_gap_min"],
            detail="min drop of log(P_bottom / P_top) per generation",
            premise=[pre["distinct"]],
        ),
        Claim(
            "NAG-4",
            "interpolating teacher (T = inf): student = label training, max ||w_S - w_label|| "
            f"/ ||w_label|| < {fv(rtol)}",
            a["T_inf_error"] < rtol,
            T_inf,
            detail="max over designs; at rounding level, recorded as a bound; conditioning: "
            f"smallest lam_r / lam_1 over designs {fv(conditioning)} (nonzero spectrum)",
            relation=T_inf_rel,
            premise=[pre["invertible"]],
        ),
        Claim(
            "NAG-4",
            f"t = inf: student = teacher, max ||w_S - w_T|| / ||w_T|| < {fv(rtol)}",
            a["t_inf_error"] < rtol,
            t_inf,
            detail="max over designs; at rounding level, recorded as a bound",
            relation=t_inf_rel,
        ),
        Claim(
            "NAG-5",
            "KD filter quadratic: 1 - b <= S / (lam^2 t T) <= 1 at every eigenvalue, design "
            "and t/T, b = O(lam)",
            order["kd"] <= ORDER_ROUNDING,
            a["bottom_deviation"]["kd"],
            detail=f"value: max 1 - ratio at lam_min (b there {fv(bound['kd'])})",
            premise=[pre["bottom"]],
        ),
        Claim(
            "NAG-5",
            "label filter linear: 1 - b <= F(tau) / (lam tau) <= 1 at every eigenvalue, design "
            "and t/T",
            order["label"] <= ORDER_ROUNDING,
            a["bottom_deviation"]["label"],
            detail=f"value: max 1 - ratio at lam_min (b there {fv(bound['label'])})",
            premise=[pre["bottom"]],
        ),
        *slope_claims,
    ]
    # in the figure's order: NAG-2/3, NAG-4 and NAG-5's panels, then NAG-1's (the last panel)
    panels = ("NAG-2", "NAG-3", "NAG-4", "NAG-5", "NAG-1")
    return holm(sorted(out, key=lambda c: panels.index(c.id)))


def draw(analysis: dict, claim_list: list[Claim] | None = None):
    """Six panels: progress spectra, bottom/top ratio vs t, generations, filter order, NAG-1."""
    fig, axes = new_figure(2, 3, width=4.8, height=3.5)
    spec0, lam = analysis["spec0"], "eigenvalue $\\lambda_k$ of $X^TX$ (design 0, gradient flow"
    TEA, KD, LAB = ({"color": METHOD_STYLE[m]["color"]} for m in ("teacher", "student", "label"))
    REF, FLOW = {"color": REFERENCE_COLOR, "lw": 1.1}, {"color": OKABE_ITO["blue"]}
    ax = axes[0, 0]
    first = spec0[spec0.t_ratio == spec0.t_ratio.min()]
    ax.loglog(first.lam, first.teacher, **TEA, lw=2.6, label="teacher $F(T)$")
    for mk, (ratio, g) in zip(SERIES_MARKERS, spec0.groupby("t_ratio"), strict=False):
        tau = f"labels, matched $\\tau$ = {format_value(g.tau_over_T.iloc[0])} T"
        kd_label = f"KD student, t/T = {format_value(ratio)}"
        ax.loglog(g.lam, g.student, **KD, marker=mk, ms=3.5, label=kd_label)
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
        if dyn == "flow":
            ax.plot(g.t_ratio, g["mean"], ls=ls, lw=1.8, **style, label=f"{text} ({dyn})")
            ci_band(ax, g.t_ratio, g.lo, g.hi, color=style["color"])
        elif model == "student":  # open markers on the flow line: it lies within its band
            every = max(1, len(g) // 12)
            kw = {"ls": "none", "marker": "o", "ms": 4.5, "mfc": "white", "mew": 1.1}
            label = f"{text} (gd: markers)"
            ax.plot(g.t_ratio, g["mean"], markevery=every, zorder=3, **kw, **style, label=label)
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
            label=f"t/T = {format_value(ratio)}",
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
        (
            "student_scaled",
            "v",
            KD,
            f"KD $S/(tT)$: slope {format_ci(kd['mean'], kd['lo'], kd['hi'])}",
        ),
        (
            "label_scaled",
            "^",
            LAB,
            f"labels $F(\\tau)/\\tau$: slope {format_ci(lab['mean'], lab['lo'], lab['hi'])}",
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
    fv, excess = format_value, analysis["gd_student_excess"]
    teacher = f"GD on labels vs closed form: < {fv(ROUNDING_BOUND)} (bound)"
    student = (
        f"GD student vs $F(t)F(T)$: tolerance; error / tolerance "
        f"{'<' if excess <= STUDENT_EXCESS_BOUND else '='} {fv(excess)}"
    )
    floor = f"small-step GD vs flow (< {fv(CLOSED_FORM_RTOL)} shown at it)"
    for rows, col, fmt, style, text in (
        (gd, "gd_teacher_err", "^", LAB, teacher),
        (gd, "gd_student_tol", "-", KD, student),
        (fl, "flow_step_err", "o", FLOW, floor),
        (fl, "flow_step_bound", "-", FLOW, f"its bound $\\eta\\lambda_k$ + {fv(CLOSED_FORM_RTOL)}"),
    ):
        ax.loglog(rows.lam, rows[col], fmt, **style, ms=4, lw=1, label=text)
    ax.axhline(CLOSED_FORM_RTOL, ls="--", **REF, label=f"{fv(CLOSED_FORM_RTOL)} (NAG-1)")
    title = "NAG-1: the closed forms equal\nsimulated gradient descent"
    dress_axis(
        ax, "eigenvalue $\\lambda_k$ (design 0)", "relative error along $v_k$", title, ncol=2
    )
    finish_figure(
        fig,
        claim_list,
        "NAG-1..NAG-5: distillation exaggerates gradient descent's bias toward the top "
        f"eigendirections (spectra span {format_value(analysis['min_span'])} to "
        f"{format_value(analysis['max_span'])} decades)",
    )
    return fig
