"""Imagenette under covariate shift: RaT vs soft matching with real networks (RAT-6).

Experiment (CLAIMS.md 6; the paper's construction is unknown, this one is ours). The Imagenette
train folder is split by selection on the image alone (:mod:`kdtheory.neural.shift`): each image
goes to the source or the target pool with probability 1/2 and is kept with a logistic
probability decreasing (source) or increasing (target) in a standardized image statistic
(``sharpness`` in the presets: the high-frequency energy a network reads, low for blurred
images), of strength ``c``; the val folder gives a source and a target test set drawn the same
way. ``P(y | x)`` is unchanged. One split per shift strength (``split_seed``).

The teacher comes from the teacher bank (:mod:`kdtheory.neural.bank`): the recipe ``teacher``
(the airbench-shaped network, trained once on the source labels and cached with its logits on
every image); one teacher per shift strength, **shared by the student seeds**, so the intervals
over seeds cover the students' variation only. Students, a narrower network of the same family
(``student_widths``), see the target images without labels: soft matching (``sm``, KD at
temperature ``T``), and RaT (residuals of the student on the source images, refit by the
teacher's network with its head set to zero, the student moved toward ``f + eta r_hat`` on the
target images, ``K`` rounds, from the SM student). Controls: SM continued with RaT's budget
(``sm_long``), SM continued on the source (cross-entropy) and target (soft matching) images for
as many images as RaT's rounds (``sm_ce``), RaT's student stages without the residual step
(``rat_eta0``, ``eta = 0``), a student on the source labels, and the oracle on the target labels.
Every student uses the same network, optimizer, schedule, augmentation and batch; a network's
first training from its initialization runs at ``learning_rate``, and every stage that continues
a trained network (RaT's refits and student stages, ``sm_long``'s and ``sm_ce``'s continuations,
``rat_eta0``'s stages) at ``continue_lr_factor`` times it, with the same warm-up and decay: the
same rule for every method, so that RaT's student stage is a proximal step from the student, not
a restart (at the full rate, the ``eta = 0`` control lost 0.13 of accuracy to the restart alone).
The table states each one's epochs and images processed, and RaT's change per round (the mean
total-variation distance between the student's class probabilities on the target images before
and after the round).

Each (shift, seed, method) is one Monte Carlo task (:func:`kdtheory.montecarlo.run_grid`) and
every training stage is checkpointed, so an interrupted study resumes; the stages a seed's
methods share (the SM student) are trained once.

RAT-6 (reported), per shift strength: RaT beats SM trained with RaT's budget (``sm_long``),
the paired RaT - sm_long target accuracy with its 95% CI above 0 (Holm's adjustment over the
shift strengths). Beside it, not checked: RaT - SM at SM's own budget, RaT - sm_ce, RaT -
rat_eta0. Premises (:class:`kdtheory.claims.Premise`): the teacher is worth distilling (its
target accuracy minus that of the student on the source labels, mean over seeds, 95% t CI above
0); the shift hurts it (its source minus target test accuracy, a difference of two proportions
on disjoint test sets with a normal 95% CI, above 0.03; never at ``c = 0``, the control).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.formatting import format_ci, format_value
from kdtheory.plotting import (
    summarize,
)
from kdtheory.simulations._neural import (
    NEURAL_NEEDS,
    imagenette_images,
    run_trainings,
    student_training,
    teacher_recipe,
)
from kdtheory.verdicts import Estimate, check, holm, mean_estimate, premise

NAME = "imagenette_shift"
CLAIM_IDS = ("RAT-6",)
#: wall time (seconds) of ``kdtheory run imagenette_shift --preset P`` on two CPU cores,
#: nothing cached; cpu: ``--n-jobs 2``, the teachers already in the bank; gpu: made for a
#: GPU, not timed
PRESET_SECONDS = {"smoke": 40, "cpu": 1290, "gpu": None}
#: what it needs beyond the core package (`kdtheory list` shows it)
NEEDS = NEURAL_NEEDS
#: a statistical claim on real data: reported whatever it shows
REPORTED_ONLY = ("RAT-6",)
#: methods in table order (kdtheory.neural.distill.METHODS), plus the whole-folder reference
METHODS = ("teacher", "source", "sm", "sm_long", "sm_ce", "rat", "rat_eta0", "oracle")
REFERENCE = "reference"
#: the premise "the shift hurts the teacher": its source minus target accuracy above this
SHIFT_HURTS = 0.03
#: per-stage progress bars (set by :func:`run`; not part of a task's cache key)
_STAGE_PROGRESS = {"on": False}


@dataclass(frozen=True)
class Config:
    """Preset parameters (see the module docstring; epochs are per stage).

    ``teacher`` names a recipe of :data:`kdtheory.neural.bank.RECIPES` (it fixes the
    resolution); the students train with the same optimizer as the teacher's recipe (Nesterov
    SGD, linear warm-up and decay, per stage) at ``learning_rate``, and every stage that
    continues a trained network (RaT's refits and student stages, the controls' continuations)
    at ``continue_lr_factor`` times it (:class:`kdtheory.neural.distill.Protocol`).
    """

    teacher: str
    student_widths: tuple[int, ...]
    epochs: int
    rounds: int
    refit_epochs: int
    student_epochs: int
    shifts: tuple[float, ...] = (2.0,)
    n_seeds: int = 5
    batch_size: int = 128
    learning_rate: float = 0.2
    weight_decay: float = 5e-4
    eta: float = 1.0
    temperature: float = 4.0
    keep: float = 0.5
    min_per_class: int = 20
    statistic: str = "sharpness"
    split_seed: int = 0
    max_images: int | None = None
    reference: bool = False
    seed: int = 0
    data_root: str | None = None
    teacher_seed: int = 0
    continue_lr_factor: float = 0.1


PRESETS = {
    # tests and CI: a few hundred images, tiny networks, one epoch per stage (brightness: the
    # statistic the tests' generated images vary)
    "smoke": Config(
        teacher="tiny",
        student_widths=(8, 16),
        epochs=1,
        rounds=1,
        refit_epochs=1,
        student_epochs=1,
        shifts=(0.0, 1.5),
        statistic="brightness",
        n_seeds=2,
        batch_size=64,
        max_images=600,
        min_per_class=3,
        reference=True,
    ),
    # real Imagenette on two CPU cores at 64 px: the bank's air64 teacher (trained once on the
    # source split), students of widths 32/64/128, five seeds, a tilt c = 3 on sharpness
    "cpu": Config(
        teacher="air64",
        student_widths=(32, 64, 128),
        epochs=6,
        rounds=3,
        refit_epochs=1,
        student_epochs=2,
        shifts=(3.0,),
    ),
    # one GPU: the same networks, longer, two shift strengths and the c = 0 control
    "gpu": Config(
        teacher="air64",
        student_widths=(32, 64, 128),
        epochs=16,
        rounds=4,
        refit_epochs=2,
        student_epochs=4,
        shifts=(0.0, 2.0, 3.0),
        batch_size=256,
        reference=True,
    ),
}


def recipe(cfg: Config):
    """The teacher's recipe (:data:`kdtheory.neural.bank.RECIPES`)."""
    return teacher_recipe(cfg.teacher)


def protocol(cfg: Config):
    """The shared training protocol of a preset (:class:`kdtheory.neural.distill.Protocol`):
    the student network and the teacher recipe's optimizer, schedule and augmentation."""
    from dataclasses import replace

    from kdtheory.neural.distill import Protocol

    rec = recipe(cfg)
    student = replace(rec.network, widths=tuple(cfg.student_widths))
    train = student_training(rec, cfg)
    return Protocol(
        student=student,
        train=train,
        teacher_epochs=rec.train.epochs,
        rounds=cfg.rounds,
        refit_epochs=cfg.refit_epochs,
        student_epochs=cfg.student_epochs,
        eta=cfg.eta,
        temperature=cfg.temperature,
        teacher=rec.network,
        continue_lr_factor=cfg.continue_lr_factor,
    )


def _images(cfg: Config):
    return imagenette_images(recipe(cfg).resolution, cfg.data_root, cfg.max_images, cfg.max_images)


def _splits(cfg: Config, shift: float, seed: int | None = None):
    """The source/target split of one shift strength (``split_seed``; ``seed`` is accepted
    for compatibility and ignored: the split is shared by the student seeds)."""
    from kdtheory.neural.shift import covariate_shift_splits

    xtr, ytr, xva, yva, _ = _images(cfg)
    rng = np.random.default_rng([cfg.seed, cfg.split_seed, int(round(shift * 1000))])
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


def _teacher_entry(cfg: Config, shift: float, cache_dir, progress: bool = False):
    from kdtheory.neural.bank import get_teacher

    xtr, ytr, xva, yva, _ = _images(cfg)
    sp = _splits(cfg, shift)
    entry = get_teacher(
        recipe(cfg),
        (xtr, ytr),
        (xva, yva),
        index=sp.source,
        seed=cfg.teacher_seed,
        cache_dir=cache_dir,
        progress=progress,
        name=f"teacher (c = {shift:g})",
    )
    return entry, sp


def teachers(cfg: Config, *, cache_dir=None, progress: bool = False) -> list:
    """The bank entries the preset reads (built when missing): one teacher per shift strength,
    trained on that strength's source split."""
    return [_teacher_entry(cfg, float(s), cache_dir, progress)[0] for s in cfg.shifts]


def _task(rng, *, shift: float, seed: int, method: str, cfg: Config, workdir: str, bank: str):
    """Train one method for one (shift, seed) and test it; the rng is not used (keys: seed)."""
    import jax

    from kdtheory.neural.distill import Teacher, evaluate, images_processed, run_method

    xtr, ytr, xva, yva, _ = _images(cfg)
    key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    folder = Path(workdir) / f"shift{shift:g}-seed{seed}"
    if method == REFERENCE:  # the student network on the whole train folder, whole val folder
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
            "n_source_test": len(xva),
            "n_target_test": len(xva),
            "ratio_bound": 1.0,
        }
    entry, sp = _teacher_entry(cfg, shift, bank)
    sizes = {
        "n_source": len(sp.source),
        "n_target": len(sp.target),
        "n_source_test": len(sp.source_test),
        "n_target_test": len(sp.target_test),
        "ratio_bound": sp.likelihood_ratio_bound,
        "statistic": cfg.statistic,
    }
    logits = entry.outputs["train_logits"]
    rec = recipe(cfg)
    teacher_images = images_processed(len(sp.source), rec.train, rec.train.epochs)
    if method == "teacher":
        val = entry.outputs["val_logits"].argmax(1)
        return {
            "target_acc": float(np.mean(val[sp.target_test] == yva[sp.target_test])),
            "source_acc": float(np.mean(val[sp.source_test] == yva[sp.source_test])),
            "epochs": rec.train.epochs,
            "images": teacher_images,
            **sizes,
        }
    teacher = Teacher(
        entry.network() if method == "rat" else None,
        source_logits=logits[sp.source],
        target_logits=logits[sp.target],
        epochs=rec.train.epochs,
        images=teacher_images,
    )
    source, target = (xtr[sp.source], ytr[sp.source]), (xtr[sp.target], ytr[sp.target])
    result, _ = run_method(
        method,
        protocol(cfg),
        source,
        target,
        key,
        folder,
        progress=_STAGE_PROGRESS["on"],
        teacher=teacher,
    )
    sets = {
        "target": (xva[sp.target_test], yva[sp.target_test]),
        "source": (xva[sp.source_test], yva[sp.source_test]),
    }
    changes = {f"change_{t['round']}": t["change"] for t in result.trace}
    return {
        **evaluate(result.network, sets),
        "epochs": result.epochs,
        "images": result.images,
        **sizes,
        **changes,
    }


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: one row per (shift, seed, method) with accuracies and the budget.

    The teachers are read from the bank under ``cache_dir`` (trained first when missing; a
    temporary bank without a cache); tasks run one at a time (JAX already uses every core or
    the GPU); training checkpoints go to ``cache_dir/imagenette_shift/``, so a killed study
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
        teachers=teachers,
        first=_shared,
    )


def _shared(point: dict) -> bool:
    """The SM student, which ``sm_long``, ``sm_ce``, ``rat`` and ``rat_eta0`` continue: trained
    before them when the tasks run in parallel."""
    return point["method"] == "sm"


#: the paired differences per shift: name -> ((method, column), (method, column)), value(a) -
#: value(b) paired by seed; "rat - sm_long" is RAT-6's check, the others are shown beside it,
#: "teacher - source" is a premise (the teacher is shared: its row repeats over the seeds)
COMPARISONS = {
    "rat - sm": (("rat", "target_acc"), ("sm", "target_acc")),
    "rat - sm_long": (("rat", "target_acc"), ("sm_long", "target_acc")),
    "rat - sm_ce": (("rat", "target_acc"), ("sm_ce", "target_acc")),
    "rat - rat_eta0": (("rat", "target_acc"), ("rat_eta0", "target_acc")),
    "teacher - source": (("teacher", "target_acc"), ("source", "target_acc")),
}
#: the differences drawn in the figure
DRAWN = ("rat - sm", "rat - sm_long", "rat - sm_ce", "rat - rat_eta0")


def _paired_by_shift(main: pd.DataFrame) -> dict:
    """``{(comparison, shift): Estimate}``: each difference of :data:`COMPARISONS` per shift,
    paired by seed (one pivot; the differences align on the (shift, seed) index)."""
    wide = main.pivot_table(index=["shift", "seed"], columns="method", values="target_acc")
    out = {}
    for name, ((ma, _), (mb, _)) in COMPARISONS.items():
        if ma not in wide or mb not in wide:
            continue
        diff = wide[ma] - wide[mb]
        for shift, d in diff.groupby(level="shift"):
            out[name, float(shift)] = mean_estimate(d.dropna())
    return out


def teacher_shift_gap(row) -> Estimate:
    """The teacher's source minus target test accuracy: a difference of two proportions on
    disjoint test sets, with its normal standard error (one teacher: the test images are the
    sampling units)."""
    p, q = float(row["source_acc"]), float(row["target_acc"])
    n, m = int(row["n_source_test"]), int(row["n_target_test"])
    return Estimate(p - q, math.sqrt(p * (1 - p) / n + q * (1 - q) / m))


def teacher_accuracy(row, which: str) -> Estimate:
    """The teacher's accuracy on the ``which`` ("source" or "target") test set with its
    binomial (normal) standard error: one network, the test images are the sampling units."""
    p, n = float(row[f"{which}_acc"]), int(row[f"n_{which}_test"])
    return Estimate(p, math.sqrt(p * (1 - p) / n))


def analyze(df: pd.DataFrame) -> dict:
    """Accuracy summaries (mean, 95% CI over seeds), the paired differences of
    :data:`COMPARISONS` per shift, the teacher's shift gap, RaT's change per round and the
    budgets."""
    main = df[df.method != REFERENCE]
    paired = _paired_by_shift(main)
    diffs = pd.DataFrame(
        [
            {"shift": shift, **est.summary(), "comparison": name}
            for (name, shift), est in paired.items()
            if name in DRAWN
        ]
    )
    teacher = main[main.method == "teacher"].groupby("shift").first()
    change_cols = sorted(
        (c for c in df.columns if c.startswith("change_")), key=lambda c: int(c.split("_")[1])
    )
    rounds = []
    for (shift, method), g in main[main.method.isin(["rat", "rat_eta0"])].groupby(
        ["shift", "method"]
    ):
        for col in change_cols:
            est = mean_estimate(g[col].dropna())
            rounds.append(
                {"shift": shift, "method": method, "round": int(col.split("_")[1]), **est.summary()}
            )
    out = {
        "target": summarize(main, ["shift", "method"], "target_acc"),
        "source": summarize(main, ["shift", "method"], "source_acc"),
        "paired": paired,
        "diffs": diffs,
        "teacher_gap": {float(c): teacher_shift_gap(r) for c, r in teacher.iterrows()},
        "teacher_acc": pd.DataFrame(
            [
                {"shift": float(c), "which": w, **teacher_accuracy(r, w).summary()}
                for c, r in teacher.iterrows()
                for w in ("source", "target")
            ]
        ),
        "rounds": pd.DataFrame(rounds),
        "budget": main.groupby("method")[["epochs", "images"]]
        .max()
        .reindex([m for m in METHODS if m in set(main.method)]),
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
    images = {m: int(budget.loc[m, "images"]) for m in budget.index}
    out = []
    for shift in sorted(float(s) for s in main["shift"].unique()):
        c = format_value(shift)
        n = int(main[main["shift"] == shift].seed.nunique())
        seeds = f"paired by seed ({n} seeds; one teacher, so the CI covers the students only)"
        worth = premise(
            f"(c = {c}) the teacher beats the student on the source labels: target accuracy, "
            f"teacher minus source, {seeds}, 95% CI above 0",
            paired["teacher - source", shift],
            above=0.0,
        )
        hurts = premise(
            f"(c = {c}) the shift hurts the teacher: its source minus target test accuracy "
            f"(two proportions, normal CI), 95% CI above {format_value(SHIFT_HURTS)}",
            analysis["teacher_gap"][shift],
            above=SHIFT_HURTS,
        )
        beside = []
        for name in ("rat - sm", "rat - sm_ce", "rat - rat_eta0"):
            if (name, shift) in paired:
                e = paired[name, shift]
                beside.append(f"{name.replace('rat', 'RaT', 1)} {format_ci(e.value, *e.ci())}")
        rounds = analysis["rounds"]
        last = rounds[(rounds["shift"] == shift) & (rounds.method == "rat")] if len(rounds) else []
        moved = ""
        if len(last):
            r = last.sort_values("round").iloc[-1]
            moved = f"; RaT's change in its last round (mean TV) {format_value(r['mean'])}"
        out.append(
            check(
                "RAT-6",
                f"c = {c}{' (no shift: a control)' if shift == 0 else ''}: RaT "
                f"({images.get('rat', 0):,} images) beats SM at the same budget (sm_long, "
                f"{images.get('sm_long', 0):,} images): target accuracy RaT - sm_long, "
                f"{seeds}, 95% CI above 0",
                paired["rat - sm_long", shift],
                above=0.0,
                premise=[worth, hurts],
                detail=f"t interval with {n - 1} df over {n} seeds; not checked, shown beside "
                f"it: {', '.join(beside)}{moved}",
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
                "target_acc": format_ci(r["mean"], r.lo, r.hi),
                "source_acc": format_ci(src["mean"], src.lo, src.hi),
                "epochs": int(budget.epochs),
                "images": int(budget.images),
            }
        )
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Target accuracy per method and shift; RaT's paired differences; the teacher across the
    shift; RaT's change per round (:mod:`kdtheory.simulations._shift_plot`)."""
    from kdtheory.simulations._shift_plot import plot_shift

    return plot_shift(df, analysis, claim_list)
