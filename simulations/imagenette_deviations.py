"""Imagenette self-distillation: confidence exaggeration and late distillation (NAG-6, NAG-7).

Experiment (CLAIMS.md 2.2; the paper's hyper-parameters are unknown, these are ours). One network
family, one optimizer, augmentation and batch for every run (:mod:`kdtheory.neural.distill`).
Per seed, the *teacher* is trained on the Imagenette train labels for ``teacher_epochs`` only
(early-stopped). Students of the teacher's architecture (self-distillation), all from the same
initialization, train for ``n_student_stages`` stages of ``stage_epochs`` epochs each (every stage
restarts the warm-up/cosine schedule and AdamW's moments, and is an Orbax checkpoint):

``label``
    cross-entropy with the labels in every stage;
``kd``
    the ``kd`` term in every stage, ``T^2 KL(softmax(t / T) || softmax(z / T))`` toward the
    teacher's logits ``t`` on the same training image, temperature ``T = 1`` (the student fits
    the teacher's probabilities themselves);
``switch_mid``
    labels for the first half of the stages (these are the ``label`` run's own stages, shared
    through their checkpoints), then the ``kd`` term for the second half;
``kd_full``, ``switch_full``
    the same two plans distilling from ``teacher_full``, the same network and key trained on
    the labels for the students' whole budget (``full_teacher_epochs``): NAG-7 is about a
    teacher worth distilling, which the early-stopped one need not be.

Every student method has the same budget (epochs, images processed; stated in the table).

NAG-6 statistic. For each image, the teacher's top class ``c = argmax t`` and
``x = logit(p_T[c])``, ``y = logit(p_S[c])`` with ``p = softmax(z)`` clipped to
``[1e-7, 1 - 1e-7]`` (computed as ``z_c - logsumexp(z_{-c})``, the clip as a clip of the logit at
``+-logit(1 - 1e-7)``). Per seed, split (train images, test images) and student stage: the OLS
slope of ``y`` on ``x`` (:func:`kdtheory.rates.fit_slope`); the seed is the independent unit (the
images of one seed share its teacher): means over seeds with 95% t-intervals, differences paired
by seed. Evaluated for every student method after each of its stages, i.e. against the
student's training time ``t``; the main time is ``t = T``, the stage end nearest the teacher's
epochs, a tie going to the earlier (:func:`simulations._deviations_stats.main_epochs`). Checks,
on train and on test images: at ``t = T``, the ``kd`` student's slope above 1 (the paper's
statistic), read only where it exceeds the slope of ``label``, a control that never saw the
teacher (premise: the paired difference above 0, itself a check); from ``t = T`` on,
``|slope - 1|`` shrinking: its point estimates decreasing stage after stage and its change from
``t = T`` to the end with its 95% CI below 0
(:func:`simulations.confidence_exaggeration.shrink_claim`). Premise: the teacher is
early-stopped (its training accuracy below 1). The slope *within* classes needs each image's
class in the table, which the cpu record lacks (a rerun).

NAG-7 statistic. ``R`` = test error (1 - top-1 accuracy on the val folder) at the end of the
budget; the recovered fraction ``(R_label - R_switch) / (R_label - R_kd)``, the ratio of the
mean paired gains over seeds with a delta-method t-interval
(:func:`kdtheory.verdicts.ratio_estimate`, the linear toy's definition), above
``RECOVERED_MIN``, for the full-budget teacher (``kd_full``, ``switch_full``) and for the
early-stopped one (``kd``, ``switch_mid``). Premise of each: a gain to recover, ``R_label -
R_kd`` paired by seed with its 95% CI above 0. Both claims are reported, not asserted
(``REPORTED_ONLY``); Holm's adjustment per claim.

Caveats (what the cpu preset shows, 24 px, 4,000 training images, 3 seeds). The teachers are
weak (about 29% and 36% test accuracy) and KD from either loses to labels at equal budget, so
NAG-7 has no gain to recover: its checks are inconclusive. The KD student's slope at ``t = T``
is about 1.18 (train and test), but the label-trained control's is about 1.1 with an interval
over seeds from about 0.3 to 1.9: the difference is undecided, so the slope above 1 is not
shown to come from distillation (NAG-6 inconclusive).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.formatting import format_ci, format_estimate
from kdtheory.plotting import summarize
from kdtheory.verdicts import check, holm, mean_estimate, paired_estimate, premise
from simulations._deviations_stats import (  # noqa: F401 (re-exported for tests and docs)
    LOGIT_CLIP,
    P_CLIP,
    class_logits,
    evaluate_stage,
    main_epochs,
    slope_fit,
    top_class_logits,
)
from simulations._neural import imagenette_images, network_and_training, run_trainings
from simulations.confidence_exaggeration import shrink_claim
from simulations.late_distillation import (  # noqa: F401 (RECOVERED_MIN: re-exported, the plot)
    RECOVERED_MIN,
    gain_premise,
    recovered_fraction,
    recovery_check,
)

NAME = "imagenette_deviations"
CLAIM_IDS = ("NAG-6", "NAG-7")
#: statistical claims on real data with a few seeds: reported whatever they show
REPORTED_ONLY = ("NAG-6", "NAG-7")
#: the runs of a seed, in table order
METHODS = ("teacher", "label", "kd", "switch_mid", "teacher_full", "kd_full", "switch_full")
STUDENTS = ("label", "kd", "switch_mid", "kd_full", "switch_full")
#: the students of a teacher trained for the students' whole budget (NAG-7's premise: a
#: teacher worth distilling), and the early-stopped teacher's
FULL = {"teacher_full": "teacher", "kd_full": "kd", "switch_full": "switch_mid"}
SPLITS = ("train", "test")
_STAGE_PROGRESS = {"on": False}


@dataclass(frozen=True)
class Config:
    """Preset parameters (module docstring).

    Attributes
    ----------
    resolution, width, depth, n_stages : int
        Image side (px) and the ResNet's width, blocks per stage and number of (network) stages.
    teacher_epochs : int
        The early-stopped teacher's budget ``T``.
    stage_epochs, n_student_stages : int
        A student trains ``n_student_stages`` (even) stages of ``stage_epochs`` epochs; the
        switch happens after half of them.
    temperature : float
        Of the ``kd`` term (1: the teacher's own probabilities).
    full_teacher_epochs : int, optional
        Epochs of the teacher of ``kd_full`` and ``switch_full`` (NAG-7); default the
        students' whole budget ``n_student_stages * stage_epochs``.
    max_train, max_test : int, optional
        Fixed random subsets of the train and val folders.
    n_eval_train, n_scatter : int
        Training images on which NAG-6 is evaluated (all if None); points kept for the scatter.
    """

    resolution: int
    width: int
    depth: int
    teacher_epochs: int
    stage_epochs: int
    n_student_stages: int = 4
    n_stages: int = 3
    n_seeds: int = 3
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    temperature: float = 1.0
    full_teacher_epochs: int | None = None
    max_train: int | None = None
    max_test: int | None = None
    n_eval_train: int | None = None
    n_scatter: int = 400
    seed: int = 0
    data_root: str | None = None

    def __post_init__(self):
        if self.n_student_stages < 2 or self.n_student_stages % 2:
            raise ValueError(
                f"`n_student_stages` must be even and >= 2 (switch at the midpoint), "
                f"got {self.n_student_stages}"
            )
        if self.n_seeds < 2:
            raise ValueError(f"`n_seeds` must be >= 2 for an interval, got {self.n_seeds}")

    @property
    def student_epochs(self) -> int:
        return self.n_student_stages * self.stage_epochs

    @property
    def nag7_teacher_epochs(self) -> int:
        """Epochs of NAG-7's teacher (default: the students' whole budget)."""
        return self.student_epochs if self.full_teacher_epochs is None else self.full_teacher_epochs


PRESETS = {
    # tests and CI: a few hundred images, a tiny network, one epoch per stage
    "smoke": Config(
        resolution=16,
        width=4,
        depth=1,
        n_stages=2,
        teacher_epochs=1,
        stage_epochs=1,
        n_student_stages=2,
        n_seeds=2,
        batch_size=64,
        max_train=300,
        max_test=200,
        n_scatter=100,
    ),
    # real Imagenette on two CPU cores (24 px, width 16; minutes)
    "cpu": Config(
        resolution=24,
        width=16,
        depth=1,
        teacher_epochs=2,
        stage_epochs=1,
        n_student_stages=4,
        max_train=4000,
        n_eval_train=2000,
    ),
    # one GPU: 64 px, a two-block-per-stage ResNet, all images
    "gpu": Config(
        resolution=64,
        width=32,
        depth=2,
        teacher_epochs=4,
        stage_epochs=2,
        n_student_stages=4,
        batch_size=256,
    ),
}


# --------------------------------------------------------------------------- training
def _images(resolution: int, data_root, max_train, max_test):
    """Train and val images (fixed random subsets, seed 1, when the preset caps them)."""
    return imagenette_images(resolution, data_root, max_train, max_test, 1)[:4]


def protocol(cfg: Config):
    """The shared protocol (:class:`kdtheory.neural.distill.Protocol`); ``train.epochs`` is a
    stage's length."""
    from kdtheory.neural.distill import Protocol

    return Protocol(
        **network_and_training(cfg, cfg.stage_epochs),
        teacher_epochs=cfg.teacher_epochs,
        temperature=cfg.temperature,
    )


def stage_plan(method: str, n_stages: int) -> list[tuple[str, str]]:
    """``(loss term, checkpoint name)`` of each stage of a student method.

    ``switch_mid`` runs the ``label`` run's first half under the same names (the same keys and
    checkpoints), then distils under its own.
    """
    half = n_stages // 2
    if method in ("kd_full", "switch_full"):  # the same plan, own checkpoint names
        return [
            (term, name if term == "ce" else name.replace(FULL[method], method, 1))
            for term, name in stage_plan(FULL[method], n_stages)
        ]
    if method == "label":
        return [("ce", f"label-{k}") for k in range(1, n_stages + 1)]
    if method == "kd":
        return [("kd", f"kd-{k}") for k in range(1, n_stages + 1)]
    if method == "switch_mid":
        return stage_plan("label", n_stages)[:half] + [
            ("kd", f"switch_mid-kd-{k}") for k in range(half + 1, n_stages + 1)
        ]
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _task(rng, *, seed: int, method: str, cfg: Config, workdir: str) -> list[dict]:
    """Train one run of one seed, stage by stage, evaluating after each; rng unused (keys)."""
    import jax

    from kdtheory.neural.distill import MethodResult, _chain, _Runner, method_hparams, training_data
    from kdtheory.neural.train import init_network, predict_logits

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    xtr, ytr, xte, yte = _images(cfg.resolution, cfg.data_root, cfg.max_train, cfg.max_test)
    proto = protocol(cfg)
    key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    runner = _Runner(
        proto, (xtr, ytr), (xtr, ytr), key, Path(workdir) / f"seed{seed}", _STAGE_PROGRESS["on"]
    )
    if method in FULL:  # NAG-7's teacher: the same network and key, the students' budget
        teacher = runner.teacher("teacher_full", cfg.nag7_teacher_epochs)
    else:
        teacher = runner.teacher()
    pick = np.random.default_rng([cfg.seed, 7])
    n_ev = len(xtr) if cfg.n_eval_train is None else min(cfg.n_eval_train, len(xtr))
    ev = np.sort(pick.choice(len(xtr), n_ev, replace=False))
    sets = {"train": (xtr[ev], ytr[ev]), "test": (xte, yte)}
    train_logits = predict_logits(teacher.network, xtr)  # one pass: KD targets and NAG-6's x
    teacher_logits = {"train": train_logits[ev], "test": predict_logits(teacher.network, xte)}
    if method in ("teacher", "teacher_full"):
        acc = {
            f"{sp}_acc": float(np.mean(np.argmax(teacher_logits[sp], 1) == lab))
            for sp, (_, lab) in sets.items()
        }
        return [
            {
                "kind": "eval",
                "stage": 0,
                "epochs": teacher.epochs,
                "images": teacher.images,
                "term": "ce",
                **acc,
            }
        ]
    scatter = {
        sp: np.sort(pick.choice(len(im), min(cfg.n_scatter, len(im)), replace=False))
        for sp, (im, _) in sets.items()
    }
    data = {
        "ce": training_data(xtr, labels=ytr, n_classes=runner.n_classes),
        "kd": training_data(xtr, n_classes=runner.n_classes, teacher_logits=train_logits),
    }
    result = MethodResult(init_network(proto.student, runner.keys["student"]))
    ends = [k * cfg.stage_epochs for k in range(1, cfg.n_student_stages + 1)]
    main_stage = ends.index(main_epochs(ends, cfg.teacher_epochs)) + 1  # as in analyze
    rows = []
    for stage, (term, name) in enumerate(stage_plan(method, cfg.n_student_stages), 1):
        hp = method_hparams(term, cfg.temperature)
        step = runner.stage(name, result.network, data[term], cfg.stage_epochs, hp)
        result = _chain(result, step)
        points = method == "kd" and stage in (main_stage, cfg.n_student_stages)
        acc, lines = evaluate_stage(
            result.network, teacher_logits, sets, scatter if points else None
        )
        at = {"stage": stage, "epochs": result.epochs, "images": result.images}
        rows.append({**at, "kind": "eval", "term": term, **acc})
        rows += [{**at, **line} for line in lines]
    return rows


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table, rows by ``kind``: ``eval`` (accuracies after each stage, with the budget so
    far), ``slope`` (NAG-6 line per split and stage), ``point`` (scatter sample of ``kd``).

    One :func:`kdtheory.montecarlo.run_grid` task per (seed, method), run one at a time; stage
    checkpoints under ``cache_dir/imagenette_deviations/<config hash>/seed<k>/<stage>``, so a
    killed study resumes mid-run (a temporary folder without a cache).
    """
    _images(cfg.resolution, cfg.data_root, cfg.max_train, cfg.max_test)  # fail before training
    grid = [{"seed": k, "method": m} for k in range(cfg.n_seeds) for m in METHODS]
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


# --------------------------------------------------------------------------- analysis
def analyze(df: pd.DataFrame) -> dict:
    """NAG-6 slopes per (method, split, stage) over seeds and per seed, the teacher's training
    accuracy; NAG-7 errors, gain, recovered fraction (estimates paired by seed); accuracy
    trajectories and budgets."""
    ev, sl = df[df.kind == "eval"], df[df.kind == "slope"]
    teacher = ev[ev.method == "teacher"]
    teachers = ev[ev.method.isin(["teacher", "teacher_full"])]
    teacher_epochs = int(teacher.epochs.max())
    slopes = summarize(sl, ["method", "split", "stage", "epochs"], "slope")
    slopes["ratio"] = slopes.epochs / teacher_epochs
    main = main_epochs(slopes.epochs.unique(), teacher_epochs)
    students = ev[~ev.method.isin(["teacher", "teacher_full"])]
    last = students[students.stage == students.stage.max()]
    # one row per (seed, method): pivot raises on a duplicate; the columns share the seed index
    err = last.assign(err=1.0 - last.test_acc).pivot(index="seed", columns="method", values="err")
    nag7 = {}
    for which, (kd, switch) in {
        "full": ("kd_full", "switch_full"),
        "early": ("kd", "switch_mid"),
    }.items():  # Series indexed by seed: paired by their index
        gain = paired_estimate(err["label"], err[kd])
        rec = recovered_fraction(err["label"], err[kd], err[switch])
        nag7[which] = {
            "gain_estimate": gain,
            "recovered_estimate": rec,
            "gain": gain.summary(),
            "recovered": rec.summary(),
        }
    budget = ev.groupby("method")[["epochs", "images"]].max().reindex(list(METHODS))
    return {
        "slopes": slopes,
        # per seed (rows) and (method, split, epochs) (columns): pivot raises on a duplicate
        "seed_slopes": sl.pivot(
            index="seed", columns=["method", "split", "epochs"], values="slope"
        ),
        "teacher_train_acc": teacher.sort_values("seed").train_acc.to_numpy(),
        "main_epochs": main,
        "teacher_epochs": teacher_epochs,
        "error": summarize(last.assign(err=1.0 - last.test_acc), ["method"], "err").set_index(
            "method"
        ),
        "teacher_error": summarize(teachers.assign(err=1.0 - teachers.test_acc), ["method"], "err"),
        "nag7": nag7,
        "trajectory": summarize(ev, ["method", "epochs"], "test_acc"),
        "budget": budget,
        "n_seeds": int(ev.seed.nunique()),
    }


def _times_T(ratio: float) -> str:
    """``T``, ``2 T``, ``0.5 T``: a student time in units of the teacher's epochs."""
    return "T" if ratio == 1 else f"{ratio:g} T"


def _slope_text(r) -> str:
    return format_ci(r["mean"], r["lo"], r["hi"])


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """NAG-6 (slope > 1 at ``t = T`` beyond the label-trained control's; ``|slope - 1|``
    shrinks with ``t``) and NAG-7 (the switch recovers most of the gain, if there is a gain);
    the premises and rules are the module docstring's. Holm's adjustment per claim."""
    a = analyze(df) if analysis is None else analysis
    s, per_seed, main = a["slopes"], a["seed_slopes"], a["main_epochs"]
    t_main = _times_T(main / a["teacher_epochs"])
    early = premise(
        "teacher early-stopped: its training accuracy (mean over seeds, 95% t CI) below 1",
        mean_estimate(a["teacher_train_acc"]),
        below=1.0,
    )
    out = []
    for split in SPLITS:
        kd, label = per_seed["kd", split, main], per_seed["label", split, main]
        diff = paired_estimate(kd, label)  # Series indexed by seed: paired by their index
        ctrl = mean_estimate(label)
        control = f"label-trained control's slope ({split}, t = {t_main}): " + format_estimate(
            ctrl.value, ctrl.ci()
        )
        where = f"{split} images, t = {t_main}: KD student's slope"
        beyond = premise(
            f"{where} minus the label-trained control's (paired by seed, 95% t CI) above 0",
            diff,
            above=0.0,
        )
        out.append(  # the paper's statistic, read where the effect is distillation's
            check(
                "NAG-6",
                f"{where} of logit p_S[teacher's top class] on logit p_T[top] (mean over seeds, "
                "95% t CI) above 1",
                mean_estimate(kd),
                above=1.0,
                premise=[early, beyond],
                detail=control,
            )
        )
        out.append(  # the premise above, itself a check
            check("NAG-6", beyond.statement, diff, above=0.0, premise=[early], detail=control)
        )
    kd = s[s.method == "kd"].sort_values("epochs")
    ends = sorted(e for e in kd.epochs.unique() if e >= main)  # the stages from t = T on
    t_end = _times_T(max(s.epochs) / a["teacher_epochs"])
    for split in SPLITS:
        every = kd[kd.split == split]
        out.append(
            shrink_claim(
                f"{split} images, KD student",
                f"the stages from t = {t_main} to {t_end}",
                t_main,
                t_end,
                [mean_estimate(per_seed["kd", split, e]) for e in ends],
                0,
                premise=[early],
                detail="every stage: "
                + ", ".join(
                    f"{_times_T(r.ratio)}: {_slope_text(r._asdict())}" for r in every.itertuples()
                ),
            )
        )
    err = a["error"]
    errs = "; ".join(f"{m} {_slope_text(err.loc[m])}" for m in STUDENTS)
    for which, teacher in (
        ("full", "teacher trained for the students' budget"),
        ("early", "early-stopped teacher"),
    ):
        kd, switch = ("kd_full", "switch_full") if which == "full" else ("kd", "switch_mid")
        n = a["nag7"][which]
        gain = gain_premise(
            f"({teacher}) KD from the start beats labels at equal budget: test-error gain "
            f"R_label - R_{kd} (paired by seed, 95% t CI) above 0",
            n["gain_estimate"],
        )
        out.append(
            recovery_check(
                f"({teacher}) labels, then the teacher from mid-budget, recovers >= "
                f"{RECOVERED_MIN:g} of the gain: (R_label - R_{switch}) / (R_label - R_{kd}) "
                "(ratio of mean paired gains, delta-method 95% t CI) above it",
                n["recovered_estimate"],
                gain,
                detail=f"test errors: {errs}; {a['n_seeds']} seeds",
            )
        )
    return holm(out)


def result_table(analysis: dict) -> pd.DataFrame:
    """Per method: final test error (95% CI over seeds) and the budget (epochs, images)."""
    rows = []
    err = pd.concat([analysis["teacher_error"].set_index("method"), analysis["error"]])
    for method in METHODS:
        e, b = err.loc[method], analysis["budget"].loc[method]
        rows.append(
            {
                "method": method,
                "test_error": _slope_text(e),
                "epochs": int(b.epochs),
                "images": int(b.images),
            }
        )
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """The figure (:mod:`simulations._deviations_plot`): the NAG-6 scatter at ``t = T``, the
    slope against the student's training time, accuracy trajectories, final errors and the
    recovered fraction, with the verdict table."""
    from simulations._deviations_plot import draw

    return draw(df, analysis, claim_list)
