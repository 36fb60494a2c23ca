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
slope of ``y`` on ``x`` (:func:`kdtheory.rates.fit_slope`); reported: the mean over seeds with a
95% t-interval over seeds (the seed is the independent unit; the images of one seed share its
teacher). Evaluated for every student method after each of its stages, i.e. against the
student's training time ``t`` (the verdicts use ``kd``; ``label``, a control that never saw the
teacher, is reported beside it); the main time is ``t = T``, the stage end nearest the teacher's
epochs, a tie going to the earlier (the student has trained as long as the teacher;
:func:`simulations._deviations_stats.main_epochs`). Verdicts: the slope's interval lies above 1 at
``t = T`` on train and on test; and, from ``t = T`` on, ``|slope - 1|`` strictly decreases and
the last interval lies closer to 1 than the one at ``t = T`` (the linear toy's test,
:func:`simulations.confidence_exaggeration.shrinks_toward_one`).

NAG-7 statistic. ``R`` = test error (1 - top-1 accuracy on the val folder) at the end of the
budget; the gain of distillation ``R_label - R_kd`` paired by seed (mean, 95% t-interval), and the
recovered fraction ``(R_label - R_switch) / (R_label - R_kd)``, the ratio of the mean paired gains
over seeds with a delta-method t-interval (:func:`simulations.late_distillation.ratio_of_means`,
the linear toy's definition), for the full-budget teacher (``kd_full``, ``switch_full``) and for
the early-stopped one (``kd``, ``switch_mid``). Both claims are reported, not asserted
(``REPORTED_ONLY``).

Caveats (what the cpu preset shows, 24 px, 4,000 training images, 3 seeds). The early-stopped
teacher is weak (about 29% test accuracy) and KD from it loses to labels at equal budget, so
the early-stopped NAG-7 rows have no gain to recover; the full-budget teacher's rows are the
test of NAG-7. The label-trained control's slope on the teacher also exceeds 1 from ``t = T``
on (with a wide interval over seeds): a slope above 1 is, on this evidence, not specific to
distillation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.plotting import (
    format_ci,
    summarize,
)
from simulations._deviations_stats import (  # noqa: F401 (re-exported for tests and docs)
    LOGIT_CLIP,
    P_CLIP,
    class_logits,
    evaluate_stage,
    main_epochs,
    recovered_fraction,
    slope_fit,
    top_class_logits,
)
from simulations._neural import imagenette_images, network_and_training, run_trainings
from simulations.confidence_exaggeration import shrinks_toward_one

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
#: "most of the gain" (NAG-7), as in the linear toy
RECOVERED_MIN = 0.5
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
    """NAG-6 slopes per (method, split, stage) over seeds; NAG-7 errors, gain, recovered
    fraction; accuracy trajectories and budgets."""
    ev, sl = df[df.kind == "eval"], df[df.kind == "slope"]
    teacher = ev[ev.method == "teacher"]
    teachers = ev[ev.method.isin(["teacher", "teacher_full"])]
    teacher_epochs = int(teacher.epochs.max())
    slopes = summarize(sl, ["method", "split", "stage", "epochs"], "slope")
    slopes["ratio"] = slopes.epochs / teacher_epochs
    students = ev[~ev.method.isin(["teacher", "teacher_full"])]
    last = students[students.stage == students.stage.max()]
    err = last.assign(err=1.0 - last.test_acc).pivot_table(
        index="seed", columns="method", values="err"
    )
    nag7 = {}
    for which, (kd, switch) in {
        "full": ("kd_full", "switch_full"),
        "early": ("kd", "switch_mid"),
    }.items():
        gain = pd.DataFrame({"gain": err["label"] - err[kd], "all": 0})
        rec, rec_ci = recovered_fraction(err["label"], err[kd], err[switch])
        nag7[which] = {
            "gain": summarize(gain, ["all"], "gain").iloc[0],
            "recovered": {"mean": rec, "lo": rec_ci[0], "hi": rec_ci[1]},
        }
    budget = ev.groupby("method")[["epochs", "images"]].max().reindex(list(METHODS))
    return {
        "slopes": slopes,
        "main_epochs": main_epochs(slopes.epochs.unique(), teacher_epochs),
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
    """NAG-6 (slope > 1 at t = T; |slope - 1| shrinks with t) and NAG-7 (gain; recovered)."""
    a = analyze(df) if analysis is None else analysis
    s = a["slopes"]
    kd = s[s.method == "kd"].sort_values("epochs")
    at_main = kd[kd.epochs == a["main_epochs"]].set_index("split")
    weakest = at_main.loc[at_main.lo.idxmin()]
    t_over_T = a["main_epochs"] / a["teacher_epochs"]
    control = s[(s.method == "label") & (s.epochs == a["main_epochs"])].set_index("split")
    out = [
        Claim(
            "NAG-6",
            f"KD student at t = {_times_T(t_over_T)}: slope of logit p_S[teacher's top class] on "
            "logit p_T[top] has its 95% CI (over seeds) above 1 on train and on test images",
            holds=bool(len(at_main) == 2 and (at_main.lo > 1.0).all()),
            value=float(weakest["mean"]),
            ci=(float(weakest.lo), float(weakest.hi)),
            detail=f"value: the split with the lower CI end ({weakest.name}); "
            + "; ".join(f"{sp} {_slope_text(at_main.loc[sp])}" for sp in at_main.index)
            + "; label-trained control: "
            + "; ".join(f"{sp} {_slope_text(control.loc[sp])}" for sp in control.index),
        )
    ]
    every = {sp: g.sort_values("epochs") for sp, g in kd.groupby("split")}
    later = {sp: g[g.epochs >= a["main_epochs"]] for sp, g in every.items()}  # t >= T
    verdicts = {
        sp: shrinks_toward_one(g["mean"].to_numpy(), g.lo.to_numpy(), g.hi.to_numpy(), 0)
        for sp, g in later.items()
    }
    far = max(abs(float(g["mean"].iloc[-1]) - 1.0) for g in later.values())
    t_end = max(a["slopes"].epochs) / a["teacher_epochs"]
    out.append(
        Claim(
            "NAG-6",
            "KD student: |slope - 1| strictly decreases over the stages from "
            f"t = {_times_T(t_over_T)} to {_times_T(t_end)} and the CI at {_times_T(t_end)} "
            f"lies closer to 1 than the one at {_times_T(t_over_T)} (train and test)",
            holds=bool(len(verdicts) == 2 and all(verdicts.values())),
            value=far,
            detail=f"value = max |slope - 1| at t = {t_end:g} T; every stage: "
            + " | ".join(
                f"{sp}: "
                + ", ".join(
                    f"{_times_T(r.ratio)}: {_slope_text(r._asdict())}" for r in g.itertuples()
                )
                for sp, g in every.items()
            ),
        )
    )
    err = a["error"]
    errs = "; ".join(f"{m} {_slope_text(err.loc[m])}" for m in STUDENTS)
    for which, teacher in (
        ("full", "teacher trained for the students' budget"),
        ("early", "early-stopped teacher"),
    ):
        g, r = a["nag7"][which]["gain"], a["nag7"][which]["recovered"]
        kd, switch = ("kd_full", "switch_full") if which == "full" else ("kd", "switch_mid")
        out.append(
            Claim(
                "NAG-7",
                f"({teacher}) KD from the start beats labels at equal budget: "
                f"test-error gain R_label - R_{kd} (paired by seed) has its 95% CI above 0",
                holds=bool(g.lo > 0),
                value=float(g["mean"]),
                ci=(float(g.lo), float(g.hi)),
                detail=f"test errors: {errs}; {a['n_seeds']} seeds",
            )
        )
        out.append(
            Claim(
                "NAG-7",
                f"({teacher}) labels then the teacher from mid-budget recovers "
                f">= {RECOVERED_MIN:g} of that gain (95% CI of (R_label - R_{switch}) / "
                f"(R_label - R_{kd}) above it)",
                holds=bool(g.lo > 0 and r["lo"] >= RECOVERED_MIN),
                value=float(r["mean"]),
                ci=(float(r["lo"]), float(r["hi"])),
                detail="ratio of mean paired gains over seeds, delta-method interval"
                + (
                    ""
                    if g.lo > 0
                    else "; no significant gain to recover: the fraction is unreliable"
                ),
            )
        )
    return out


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
