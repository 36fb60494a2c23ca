"""The verdicts of :mod:`kdtheory.simulations.tabular_kd` (SEMI-4 and SEMI-6), from its analysis.

SEMI-6 compares our MAGIC means with the published ones (deterministic comparisons of means,
reported). SEMI-4 compares the methods of Figure B paired over the repeats: the students of a
repeat share its seed, while the teacher, the folds, the split and ``c`` are fixed (the public
code's protocol), so the intervals cover the students' seeds only. Margins are fixed here, before
any run that judges them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.formatting import format_value
from kdtheory.verdicts import check, mean_estimate, paired_estimate, premise

#: SEMI-6 compares with the paper's numbers (one unseeded run of its code, on OpenML's row order),
#: which the quick preset (3000 rows) cannot reproduce: reported whatever it shows, never asserted
REPORTED_ONLY = ("SEMI-6",)
#: SEMI-6: every MAGIC cell within 0.015 AUC of the published mean (the issue's criterion: a few
#: times kamath.md's +-0.003 student noise, plus a different split: our CSV has UCI's row order,
#: not OpenML's, so the same 70/30 call draws other rows)
PUBLISHED_ATOL = 0.015
#: SEMI-6: enhanced above vanilla KD by at least 0.05 with the depth-1 teacher (the issue's
#: criterion; published MAGIC gap 0.913 - 0.823 = 0.090)
ENHANCED_GAIN_D1 = 0.05
#: SEMI-4, "approaches scratch": enhanced >= scratch - 0.01 with the depth-1 teacher. About five
#: standard errors of a difference of two 5-repeat means at kamath.md's +-0.003 per-fit noise,
#: and a ninth of the bias vanilla KD inherits on MAGIC (published scratch 0.915, KD 0.823)
APPROACH_TOL = 0.01
#: SEMI-4, "tuning gamma is essential": the pure orthogonal gamma is no better than the tuned one
#: at any depth, up to the same noise allowance, ...
ORTHO_TOL = 0.01
#: ... and worse by at least 0.02 with the deepest teacher, whose sharp p_hat make 1/p_hat
#: largest (published MAGIC, depth 20: 0.915 - 0.861 = 0.054)
ORTHO_GAP_DEEP = 0.02


def cells_text(cmp: pd.DataFrame) -> str:
    """``k of n cells within the tolerance; max |diff|``, through the formatter."""
    within, worst = int(cmp.within_tol.sum()), format_value(cmp["diff"].abs().max())
    return f"{within} of {len(cmp)} cells within {format_value(PUBLISHED_ATOL)}, max |diff| {worst}"


def semi6(a: dict) -> list[Claim]:
    """MAGIC against the published numbers: deterministic comparisons of means (reported)."""
    o, comparison = a["orderings"]["magic"], a["comparison"]
    cmp = comparison[comparison.dataset == "magic"]
    misses = "; ".join(
        f"{r.figure} {r.method} {format_value(r.x)}: {format_value(r.ours)}/"
        f"{format_value(r.published)}".replace(" nan:", ":")
        for r in cmp[~cmp.within_tol].itertuples()
    )
    adult = comparison[comparison.dataset == "adult"]
    adult = f"; Adult (not judged): {cells_text(adult)}" if len(adult) else ""
    d1, gaps = o["shallowest_depth"], o["cf_minus_kd_small_trees"]
    same_scale = ", ".join(
        f"{k}: {format_value(v)}" for k, v in o["cf_minus_kd_p_small_trees"].items()
    )
    enh, kd = o["enhanced_d1"], o["kd_d1"]
    spec = [
        (
            "MAGIC, every published cell (Figures A, B): |ours - published| <= "
            f"{format_value(PUBLISHED_ATOL)}",
            len(cmp) > 0 and bool(cmp.within_tol.all()),
            cmp["diff"].abs().max(),
            f"max |diff|; {cells_text(cmp)}; misses (ours/published): {misses or 'none'}{adult}",
        ),
        (
            "MAGIC, Figure A: cross-fit KD >= KD with 1-3 student trees",
            len(gaps) > 0 and min(gaps.values()) >= 0.0,
            min(gaps.values(), default=np.nan),
            "min over 1-3 trees of AUC(CF KD, p) - AUC(KD, log-p): "
            + ", ".join(f"{k}: {format_value(v)}" for k, v in gaps.items())
            + f"; vs KD, p scale: {same_scale}",
        ),
        (
            f"MAGIC, Figure B, depth-{format_value(d1)} teacher: enhanced - KD >= "
            f"{format_value(ENHANCED_GAIN_D1)}",
            enh - kd >= ENHANCED_GAIN_D1,
            enh - kd,
            f"enhanced {format_value(enh)}, KD {format_value(kd)} (published 0.913, 0.823)",
        ),
    ]
    return [
        Claim("SEMI-6", st, bool(h), float(v), detail=det, asserted=False)  # REPORTED_ONLY
        for st, h, v, det in spec
    ]


def semi4(a: dict, df: pd.DataFrame) -> list[Claim]:
    """MAGIC, Figure B: paired comparisons over the repeats (students of a repeat share a seed)."""
    p = a["paired"]["magic"]
    wide, scratch, teacher, depths = p["students"], p["scratch"], p["teacher"], p["depths"]
    d1, deep = depths[0], depths[-1]
    n, at = len(scratch), f"MAGIC, depth-{format_value(d1)} teacher"
    underfit = premise(
        f"{at} underfits: teacher AUC - scratch student AUC, 95% CI over the {n} repeats below 0",
        mean_estimate(teacher[d1] - scratch),
        below=0.0,
    )
    enh, kd = wide["enhanced", d1], wide["kd", d1]
    means = ", ".join(f"{m} {format_value(v.mean())}" for m, v in (("enhanced", enh), ("KD", kd)))
    means += f", scratch {format_value(scratch.mean())}, teacher {format_value(teacher[d1])}"
    b = df[(df.dataset == "magic") & (df.figure == "B")]
    sd = b.groupby(["method", "teacher_depth"]).agg(
        target=("target_sd", "mean"), auc=("auc", "std")
    )
    spread = (
        f"the variance the claim names, shown not tested: sd of the regression target at depth "
        f"{format_value(deep)}, ortho {format_value(sd.target['ortho', deep])} vs tuned "
        f"{format_value(sd.target['enhanced', deep])}; sd of the AUC over repeats "
        f"{format_value(sd.auc['ortho', deep])} vs {format_value(sd.auc['enhanced', deep])}"
    )
    # the quick preset's 3 repeats (t with 2 df) leave these undecided (the non-inferiority
    # check; the "no better" check at the shallowest depth): the test suite cannot assert them
    # (reported; counted in the verdict like every other check)
    unasserted = {"asserted": False}
    return [
        check(
            "SEMI-4",
            f"{at}: enhanced (CF + bound-fast, c by CV) approaches or beats scratch "
            f"(non-inferiority): enhanced - scratch, paired over the repeats, 95% CI above "
            f"-{format_value(APPROACH_TOL)}",
            paired_estimate(enh, scratch),
            above=-APPROACH_TOL,
            detail=f"{means}; repeats differ in the students' seed only",
            premise=[underfit],
            **unasserted,
        ),
        check(
            "SEMI-4",
            f"{at}: vanilla KD inherits the teacher's bias, its AUC nearer the teacher's than "
            "scratch's: KD - (teacher + scratch)/2, paired over the repeats, 95% CI below 0",
            paired_estimate(kd, (teacher[d1] + scratch) / 2.0),
            below=0.0,
            detail=means,
            premise=[underfit],
        ),
        check(
            "SEMI-4",
            f"MAGIC, deepest teacher (depth {format_value(deep)}): the pure orthogonal gamma = "
            f"1/p_hat is worse than the tuned gamma by at least {format_value(ORTHO_GAP_DEEP)}: "
            f"enhanced - ortho, paired 95% CI above {format_value(ORTHO_GAP_DEEP)}",
            paired_estimate(wide["enhanced", deep], wide["ortho", deep]),
            above=ORTHO_GAP_DEEP,
            detail=spread,
        ),
        # "at any depth": one check per depth, every one must hold (an intersection-union
        # test); Holm's adjustment over SEMI-4's checks decides "fails"
        *(
            check(
                "SEMI-4",
                f"MAGIC, depth-{format_value(z)} teacher: the pure orthogonal gamma is no better "
                "than the tuned one (the claim: at any depth, one check per depth): ortho - "
                f"enhanced, paired 95% CI below +{format_value(ORTHO_TOL)}",
                paired_estimate(wide["ortho", z], wide["enhanced", z]),
                below=ORTHO_TOL,
                detail=f"ortho {format_value(wide['ortho', z].mean())}, enhanced "
                f"{format_value(wide['enhanced', z].mean())} (means over the {n} repeats)",
                **unasserted,
            )
            for z in depths
        ),
    ]
