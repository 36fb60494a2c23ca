"""Imagenette under covariate shift: RaT vs soft matching with real networks (RAT-6).

Experiment (CLAIMS.md 6; the paper's construction is unknown, this one is ours). The Imagenette
train folder is split by selection on the image alone (:mod:`kdtheory.neural.shift`): each image
goes to the source or the target pool with probability 1/2 and is kept with a logistic
probability decreasing (source) or increasing (target) in its standardized mean brightness, of
strength ``c``; the val folder gives a source and a target test set drawn the same way. ``P(y |
x)`` is unchanged; ``c = 0`` is no shift. A teacher trained on the source labels and stopped early
(biased by design) guides students that see the target images without labels: soft matching (KD
at temperature ``T``), and RaT (residuals of the student on the source images, refit by a
teacher-architecture network, the student moved toward ``f + eta r_hat`` on the target images,
``K`` rounds, from the SM student). Controls: SM continued with RaT's budget (``sm_long``), a
student on the source labels, and the oracle trained on the target labels. Every method uses the
same network, optimizer, schedule, augmentation and batch (:mod:`kdtheory.neural.distill`); the
table states each one's epochs and images processed.

Each (shift, seed, method) is one Monte Carlo task (:func:`kdtheory.montecarlo.run_grid`) and
every training stage is checkpointed, so an interrupted study resumes; the stages a seed's
methods share (the teacher, the SM student) are trained once. Reported: target accuracy of every
method with 95% t-intervals over seeds, the paired differences RaT - SM with RaT's budget and RaT
- SM, the teacher's source and target accuracy, and, when the preset asks for it, a reference
network trained on the whole train folder and tested on the whole val folder.

RAT-6 (reported), per shift strength: RaT beats SM trained with RaT's budget (``sm_long``: the
same epochs and images as RaT), the paired RaT - sm_long target accuracy with its 95% CI above
0 (Holm's adjustment over the shift strengths). RaT - SM at SM's own, smaller budget is shown
beside it (figure, detail), not checked: the claim is about the same budget. Premises, per shift
strength (:class:`kdtheory.claims.Premise`): the teacher is worth distilling, its target accuracy
minus that of the student on the source labels with its paired CI above 0; the shift matters,
the teacher's source minus target test accuracy with its paired CI above 0.03 (never at c = 0,
the control). The intervals are t intervals over the seeds: with the presets' 3 seeds, 2 degrees
of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.formatting import format_ci, format_value
from kdtheory.plotting import (
    METHOD_STYLE,
    REFERENCE_COLOR,
    dress_axis,
    errorbar,
    finish_figure,
    method_kwargs,
    new_figure,
    summarize,
)
from kdtheory.verdicts import check, holm, mean_estimate, premise
from simulations._neural import imagenette_images, network_and_training, run_trainings

NAME = "imagenette_shift"
CLAIM_IDS = ("RAT-6",)
#: a statistical claim on real data, with 3 seeds: reported whatever it shows
REPORTED_ONLY = ("RAT-6",)
#: methods in table order (kdtheory.neural.distill.METHODS), plus the whole-folder reference
METHODS = ("teacher", "source", "sm", "sm_long", "rat", "oracle")
REFERENCE = "reference"
#: the premise "the shift hurts the teacher": its source minus target accuracy above this
SHIFT_HURTS = 0.03
#: per-stage progress bars (set by :func:`run`; not part of a task's cache key)
_STAGE_PROGRESS = {"on": False}


@dataclass(frozen=True)
class Config:
    """Preset parameters (see the module docstring; epochs are per stage)."""

    resolution: int
    width: int
    depth: int
    epochs: int
    teacher_epochs: int
    rounds: int
    refit_epochs: int
    student_epochs: int
    shifts: tuple[float, ...] = (0.0, 1.5)
    n_seeds: int = 3
    n_stages: int = 3
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    eta: float = 2.0
    temperature: float = 4.0
    keep: float = 0.5
    min_per_class: int = 20
    statistic: str = "brightness"
    max_images: int | None = None
    reference: bool = False
    seed: int = 0
    data_root: str | None = None


PRESETS = {
    # tests and CI: a few hundred images, a tiny network, one epoch per stage
    "smoke": Config(
        resolution=16,
        width=4,
        depth=1,
        n_stages=2,
        epochs=1,
        teacher_epochs=1,
        rounds=1,
        refit_epochs=1,
        student_epochs=1,
        n_seeds=2,
        batch_size=64,
        max_images=600,
        min_per_class=3,
        reference=True,
    ),
    # real Imagenette on two CPU cores: 24 px, width 16, a few epochs (about 15 minutes)
    "cpu": Config(
        resolution=24,
        width=16,
        depth=1,
        epochs=6,
        teacher_epochs=2,
        rounds=2,
        refit_epochs=2,
        student_epochs=2,
    ),
    # one GPU: 64 px, a two-block-per-stage ResNet, the budget of the 70% reference network
    "gpu": Config(
        resolution=64,
        width=32,
        depth=2,
        epochs=30,
        teacher_epochs=8,
        rounds=3,
        refit_epochs=5,
        student_epochs=5,
        shifts=(0.0, 0.75, 1.5),
        batch_size=256,
        reference=True,
    ),
}


def protocol(cfg: Config):
    """The shared training protocol of a preset (:class:`kdtheory.neural.distill.Protocol`)."""
    from kdtheory.neural.distill import Protocol

    return Protocol(
        **network_and_training(cfg, cfg.epochs),
        teacher_epochs=cfg.teacher_epochs,
        rounds=cfg.rounds,
        refit_epochs=cfg.refit_epochs,
        student_epochs=cfg.student_epochs,
        eta=cfg.eta,
        temperature=cfg.temperature,
    )


def _splits(cfg: Config, shift: float, seed: int):
    from kdtheory.neural.shift import covariate_shift_splits

    xtr, ytr, xva, yva, _ = imagenette_images(
        cfg.resolution, cfg.data_root, cfg.max_images, cfg.max_images
    )
    rng = np.random.default_rng([cfg.seed, seed, int(round(shift * 1000))])
    return covariate_shift_splits(
        xtr,
        ytr,
        xva,
        yva,
        strength=shift,
        rng=rng,
        statistic=cfg.statistic,
        keep=cfg.keep,
        min_per_class=cfg.min_per_class,
        n_classes=10,
    )


def _task(rng, *, shift: float, seed: int, method: str, cfg: Config, workdir: str) -> dict:
    """Train one method for one (shift, seed) and test it; the rng is not used (keys: seed)."""
    import jax

    from kdtheory.neural.distill import evaluate, run_method

    xtr, ytr, xva, yva, _ = imagenette_images(
        cfg.resolution, cfg.data_root, cfg.max_images, cfg.max_images
    )
    key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    folder = Path(workdir) / f"shift{shift:g}-seed{seed}"
    if method == REFERENCE:  # the whole train folder, tested on the whole val folder
        result, _ = run_method(
            "source",
            protocol(cfg),
            (xtr, ytr),
            (xtr, ytr),
            key,
            folder / "reference",
            progress=_STAGE_PROGRESS["on"],
        )
        acc = evaluate(result.network, {"val": (xva, yva)})["val_acc"]
        return {
            "target_acc": acc,
            "source_acc": acc,
            "epochs": result.epochs,
            "images": result.images,
            "n_source": len(xtr),
            "n_target": len(xtr),
            "n_target_test": len(xva),
            "ratio_bound": 1.0,
        }
    sp = _splits(cfg, shift, seed)
    source, target = (xtr[sp.source], ytr[sp.source]), (xtr[sp.target], ytr[sp.target])
    result, _ = run_method(
        method, protocol(cfg), source, target, key, folder, progress=_STAGE_PROGRESS["on"]
    )
    sets = {
        "target": (xva[sp.target_test], yva[sp.target_test]),
        "source": (xva[sp.source_test], yva[sp.source_test]),
    }
    return {
        **evaluate(result.network, sets),
        "epochs": result.epochs,
        "images": result.images,
        "n_source": len(sp.source),
        "n_target": len(sp.target),
        "n_target_test": len(sp.target_test),
        "ratio_bound": sp.likelihood_ratio_bound,
    }


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: one row per (shift, seed, method) with accuracies and the budget.

    Tasks run one at a time (JAX already uses every core or the GPU); training checkpoints go
    to ``cache_dir/imagenette_shift/`` (a temporary folder without a cache), so a killed study
    resumes mid-training.
    """
    grid = [
        {"shift": float(s), "seed": k, "method": m}
        for s in cfg.shifts
        for k in range(cfg.n_seeds)
        for m in METHODS
    ]
    if cfg.reference:  # one network on the whole train folder, tested on the whole val folder
        grid.append({"shift": 0.0, "seed": 0, "method": REFERENCE})
    return run_trainings(
        NAME,
        _task,
        grid,
        cfg,
        n_jobs=n_jobs,
        backend=backend,
        cache_dir=cache_dir,
        progress=progress,
        stage_progress=_STAGE_PROGRESS,
    )


#: the paired differences per shift: name -> ((method, column), (method, column)), value(a) -
#: value(b) paired by seed; the first two are drawn, the third is RAT-6's check, the last two
#: are its premises
COMPARISONS = {
    "rat - sm": (("rat", "target_acc"), ("sm", "target_acc")),
    "rat - sm_long": (("rat", "target_acc"), ("sm_long", "target_acc")),
    "teacher - source": (("teacher", "target_acc"), ("source", "target_acc")),
    "teacher: source - target": (("teacher", "source_acc"), ("teacher", "target_acc")),
}


def _paired_by_shift(main: pd.DataFrame) -> dict:
    """``{(comparison, shift): Estimate}``: each difference of :data:`COMPARISONS` per shift,
    paired by seed (one pivot; the differences align on the (shift, seed) index)."""
    wide = main.pivot_table(
        index=["shift", "seed"], columns="method", values=["target_acc", "source_acc"]
    )
    out = {}
    for name, ((ma, ca), (mb, cb)) in COMPARISONS.items():
        diff = wide[ca, ma] - wide[cb, mb]
        for shift, d in diff.groupby(level="shift"):
            out[name, float(shift)] = mean_estimate(d)
    return out


def analyze(df: pd.DataFrame) -> dict:
    """Accuracy summaries (mean, 95% CI over seeds), the paired differences of
    :data:`COMPARISONS` per shift (estimates, read by the claims; RaT - SM and RaT - sm_long
    also as a table, for the figure) and the budgets."""
    main = df[df.method != REFERENCE]
    paired = _paired_by_shift(main)
    diffs = pd.DataFrame(
        [
            {"shift": shift, **est.summary(), "comparison": name}
            for (name, shift), est in paired.items()
            if name in ("rat - sm", "rat - sm_long")
        ]
    )
    out = {
        "target": summarize(main, ["shift", "method"], "target_acc"),
        "source": summarize(main, ["shift", "method"], "source_acc"),
        "paired": paired,
        "diffs": diffs,
        "budget": main.groupby("method")[["epochs", "images"]].max().reindex(list(METHODS)),
        "ratio_bound": main.groupby("shift").ratio_bound.median(),
    }
    ref = df[df.method == REFERENCE]
    out["reference"] = ref[["seed", "target_acc", "epochs", "images"]] if len(ref) else None
    return out


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """RAT-6 per shift strength: paired RaT - SM with RaT's budget, 95% CI above 0, under the
    premises that the teacher beats the source-label student and that the shift hurts it."""
    analysis = analyze(df) if analysis is None else analysis
    main = df[df.method != REFERENCE]
    budget, paired = analysis["budget"], analysis["paired"]
    epochs = {m: int(budget.loc[m, "epochs"]) for m in ("rat", "sm_long", "sm")}
    out = []
    for shift in sorted(float(s) for s in main["shift"].unique()):
        c = format_value(shift)
        n = int(main[main["shift"] == shift].seed.nunique())
        seeds = f"paired by seed ({n} seeds)"
        worth = premise(
            f"(c = {c}) the teacher beats the student on the source labels: target accuracy, "
            f"teacher minus source, {seeds}, 95% CI above 0",
            paired["teacher - source", shift],
            above=0.0,
        )
        hurts = premise(
            f"(c = {c}) the shift hurts the teacher: its source minus target test accuracy, "
            f"{seeds}, 95% CI above {format_value(SHIFT_HURTS)}",
            paired["teacher: source - target", shift],
            above=SHIFT_HURTS,
        )
        r = paired["rat - sm", shift]
        out.append(
            check(
                "RAT-6",
                f"c = {c}{' (no shift: a control)' if shift == 0 else ''}: RaT "
                f"({epochs['rat']} epochs) beats SM at the same budget (sm_long, "
                f"{epochs['sm_long']} epochs): target accuracy RaT - sm_long, {seeds}, "
                "95% CI above 0",
                paired["rat - sm_long", shift],
                above=0.0,
                premise=[worth, hurts],
                detail=f"t interval with {n - 1} df over {n} seeds; not checked, shown beside it: "
                f"RaT - SM at SM's own budget ({epochs['sm']} epochs) "
                f"{format_ci(r.value, *r.ci())}",
                asserted=False,
            )
        )
    return holm(out)


def result_table(analysis: dict) -> pd.DataFrame:
    """The table of the closing note: accuracy (95% CI) per method and shift, and the budget."""
    t, s = analysis["target"], analysis["source"].set_index(["shift", "method"])
    rows = []
    for _, r in t.iterrows():
        src = s.loc[(r["shift"], r.method)]
        budget = analysis["budget"].loc[r.method]
        rows.append(
            {
                "shift": r["shift"],
                "method": r.method,
                "target_acc": f"{r['mean']:.3f} [{r.lo:.3f}, {r.hi:.3f}]",
                "source_acc": f"{src['mean']:.3f} [{src.lo:.3f}, {src.hi:.3f}]",
                "epochs": int(budget.epochs),
                "images": int(budget.images),
            }
        )
    return pd.DataFrame(rows)


def _ci_points(ax, summary: pd.DataFrame, offset: float, **style) -> None:
    """Means with their 95% CIs, one point per shift (at its index, shifted by ``offset``)."""
    x = np.arange(len(summary)) + offset
    errorbar(ax, x, summary["mean"], summary.lo, summary.hi, **{**style, "ls": "none"})


def _shift_axis(ax, shifts) -> None:
    ax.set_xticks(range(len(shifts)), [f"c = {s:g}" for s in shifts])


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Target accuracy per method and shift; RaT - SM paired differences; the teacher."""
    fig, axes = new_figure(1, 3, width=4.6, height=3.6)
    shifts = sorted(analysis["target"]["shift"].unique())
    xlabel = "shift strength c (brightness tilt)"
    ax = axes[0, 0]
    offsets = np.linspace(-0.3, 0.3, len(METHODS))
    for off, method in zip(offsets, METHODS, strict=True):
        g = analysis["target"][analysis["target"].method == method].sort_values("shift")
        _ci_points(ax, g, off, **method_kwargs(method, capsize=2, ms=5.5))
    if analysis["reference"] is not None:
        r = analysis["reference"].iloc[0]
        text = f"student net, whole train folder -> val: {r['target_acc']:.3f}"
        ax.axhline(r["target_acc"], color=REFERENCE_COLOR, ls=":", lw=1.2, label=text)
    _shift_axis(ax, shifts)
    title = "RAT-6: target test accuracy per method\n(mean, 95% CI over seeds)"
    dress_axis(ax, xlabel, "target test accuracy", title, ncol=2)
    ax = axes[0, 1]
    base = {"rat - sm": "sm", "rat - sm_long": "sm_long"}
    for i, (comp, g) in enumerate(analysis["diffs"].groupby("comparison", sort=False)):
        label = "RaT - " + METHOD_STYLE[base.get(comp, "sm")]["label"]
        kw = method_kwargs(base.get(comp, "sm"), label=label, capsize=3, ms=6)
        _ci_points(ax, g, (i - 0.5) * 0.15, **kw)
    ax.axhline(0, color=REFERENCE_COLOR, lw=0.9)
    _shift_axis(ax, shifts)
    title = "RAT-6: RaT - SM in target accuracy, paired by seed\n"
    title += "(95% CI; the check: SM with RaT's budget)"
    dress_axis(ax, xlabel, "paired difference in target accuracy", title, ncol=1)
    ax = axes[0, 2]
    for j, which in enumerate(("source", "target")):
        g = analysis[which][analysis[which].method == "teacher"].sort_values("shift")
        label = f"teacher on the {which} test set"
        kw = method_kwargs("teacher", label=label, capsize=3, ms=6, lw=1.4, zorder=2.5)
        _ci_points(ax, g, (j - 0.5) * 0.15, **kw, **({"mfc": "white"} if j else {}))
    _shift_axis(ax, shifts)
    title = "RAT-6 setting: the early-stopped teacher\n"
    title += "on the source and the target test sets (95% CI)"
    dress_axis(ax, xlabel, "accuracy", title, ncol=1)
    finish_figure(
        fig, claim_list, "Imagenette under covariate shift: RaT vs soft matching (RAT-6, reported)"
    )
    return fig
