"""Imagenette distillation from a strong teacher: confidence exaggeration and late distillation
(NAG-6, NAG-7).

Experiment (CLAIMS.md 2.2; the paper's hyper-parameters are unknown, these are ours). The
teacher comes from the teacher bank (:mod:`kdtheory.neural.bank`): the recipe ``teacher`` (the
airbench-shaped network) trained once on the whole train folder, with its logits on every image;
one teacher **shared by the student seeds** (the intervals cover the students' variation only).
Students, a narrower network of the same family (``student_widths``), all from the same
initialization and data order, train for ``epochs`` epochs under **one** learning-rate schedule
(no restart), evaluated at ``t = T, 2 T, 4 T`` with ``T = epochs / 4``:

``label``
    cross-entropy with the labels throughout;
``kd``
    the ``kd`` term throughout, ``T^2 KL(softmax(t / T) || softmax(z / T))`` toward the
    teacher's logits ``t`` on the same training image (stored in the bank), temperature 1 (the
    student fits the teacher's probabilities themselves);
``switch_mid``
    labels for the first half of the epochs, then the ``kd`` term (the loss changes, the
    schedule goes on: its first half is the ``label`` run's trajectory).

Every student has the same budget (epochs, images processed; stated in the table).

NAG-6 statistic. For each image, the teacher's top class ``c = argmax t`` and
``x = logit(p_T[c])``, ``y = logit(p_S[c])`` with ``p = softmax(z)`` clipped to
``[1e-7, 1 - 1e-7]`` (computed as ``z_c - logsumexp(z_{-c})``, the clip as a clip of the logit at
``+-logit(1 - 1e-7)``). Per seed, split (train images, test images) and evaluation time: the OLS
slope of ``y`` on ``x`` pooled over the images (:func:`kdtheory.rates.fit_slope`), and the slope
within classes (``x`` and ``y`` centred within each teacher top class before the fit: the
exaggeration within a class, not the spread between classes); the seed is the independent
unit: means over seeds with 95% t-intervals, differences paired by seed. Checks, on train and
on test images, at ``t = T``: the ``kd`` student's pooled slope minus the label-trained
control's (paired by seed) above 0, and the same within classes: the verdict is on the
difference; the ``kd`` slope above 1 (the paper's statistic), read only where the difference
holds (premise); from ``t = T`` on, ``|slope - 1|`` shrinking: its point estimates decreasing
and its change from ``t = T`` to the end with its 95% CI below 0
(:func:`kdtheory.simulations.confidence_exaggeration.shrink_claim`).

NAG-7 statistic. ``R`` = test error (1 - top-1 accuracy on the val folder) at the end of the
budget; the recovered fraction ``(R_label - R_switch) / (R_label - R_kd)``, the ratio of the
mean paired gains over seeds with a delta-method t-interval
(:func:`kdtheory.verdicts.ratio_estimate`, the linear toy's definition), above
``RECOVERED_MIN``. Premise: a gain to recover, ``R_label - R_kd`` paired by seed with its 95% CI
above 0. Both claims are reported, not asserted (``REPORTED_ONLY``); Holm's adjustment per
claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kdtheory.claims import Claim
from kdtheory.formatting import format_ci, format_estimate
from kdtheory.plotting import summarize
from kdtheory.simulations._deviations_stats import (  # noqa: F401 (re-exported for tests and docs)
    LOGIT_CLIP,
    P_CLIP,
    class_logits,
    evaluate_stage,
    main_epochs,
    slope_fit,
    top_class_logits,
    within_class,
)
from kdtheory.simulations._neural import (
    NEURAL_NEEDS,
    imagenette_images,
    run_trainings,
    student_training,
    teacher_recipe,
)
from kdtheory.simulations.confidence_exaggeration import shrink_claim
from kdtheory.simulations.late_distillation import (  # noqa: F401 (RECOVERED_MIN: re-exported, the plot)
    RECOVERED_MIN,
    gain_premise,
    recovered_fraction,
    recovery_check,
)
from kdtheory.verdicts import check, holm, mean_estimate, paired_estimate, premise

NAME = "imagenette_deviations"
CLAIM_IDS = ("NAG-6", "NAG-7")
#: wall time (seconds) of ``kdtheory run imagenette_deviations --preset P`` on two CPU cores,
#: nothing cached; cpu: one worker, the teacher already in the bank; gpu: made for a GPU, not timed
PRESET_SECONDS = {"smoke": 19, "cpu": 1558, "gpu": None}
#: what it needs beyond the core package (`kdtheory list` shows it)
NEEDS = NEURAL_NEEDS
#: statistical claims on real data with a few seeds: reported whatever they show
REPORTED_ONLY = ("NAG-6", "NAG-7")
#: the runs of a seed, in table order
METHODS = ("teacher", "label", "kd", "switch_mid")
STUDENTS = ("label", "kd", "switch_mid")
SPLITS = ("train", "test")
#: the two NAG-6 slopes: pooled over the images, and within the teacher's top classes
SLOPE_KINDS = {"slope": "pooled", "slope_within": "within classes"}
_STAGE_PROGRESS = {"on": False}


@dataclass(frozen=True)
class Config:
    """Preset parameters (module docstring).

    Attributes
    ----------
    teacher : str
        A recipe of :data:`kdtheory.neural.bank.RECIPES` (it fixes the resolution).
    student_widths : tuple of int
        The students' AirNet widths (narrower than the teacher's).
    epochs : int
        The students' budget under one schedule; evaluated at ``epochs // 4``, ``epochs // 2``
        (at least 1) and ``epochs``; the switch happens after ``epochs // 2``.
    temperature : float
        Of the ``kd`` term (1: the teacher's own probabilities).
    max_train, max_test : int, optional
        Fixed random subsets of the train and val folders.
    n_eval_train, n_scatter : int
        Training images on which NAG-6 is evaluated (all if None); points kept for the scatter.
    """

    teacher: str
    student_widths: tuple[int, ...]
    epochs: int
    n_seeds: int = 5
    batch_size: int = 128
    learning_rate: float = 0.2
    weight_decay: float = 5e-4
    temperature: float = 1.0
    max_train: int | None = None
    max_test: int | None = None
    n_eval_train: int | None = None
    n_scatter: int = 400
    teacher_seed: int = 0
    seed: int = 0
    data_root: str | None = None

    def __post_init__(self):
        if self.epochs < 2:
            raise ValueError(f"`epochs` must be >= 2 (a switch at mid-budget), got {self.epochs}")
        if self.n_seeds < 2:
            raise ValueError(f"`n_seeds` must be >= 2 for an interval, got {self.n_seeds}")

    @property
    def eval_epochs(self) -> tuple[int, ...]:
        """The evaluation times ``T, 2 T, 4 T`` (``T = epochs // 4``, at least 1)."""
        e = self.epochs
        return tuple(sorted({max(1, e // 4), max(1, e // 2), e}))

    @property
    def switch_epoch(self) -> int:
        """``switch_mid`` distils from this epoch on (0-based: after ``epochs // 2``)."""
        return self.epochs // 2


PRESETS = {
    # tests and CI: a few hundred images, tiny networks, two epochs
    "smoke": Config(
        teacher="tiny",
        student_widths=(4, 8),
        epochs=2,
        n_seeds=2,
        batch_size=64,
        max_train=300,
        max_test=200,
        n_scatter=100,
    ),
    # real Imagenette on two CPU cores at 64 px: the bank's air64 teacher on the whole train
    # folder, students of widths 32/64/128 for 4 epochs, five seeds
    "cpu": Config(teacher="air64", student_widths=(32, 64, 128), epochs=4, n_eval_train=2000),
    # one GPU: the same teacher and students, 16 epochs
    "gpu": Config(teacher="air64", student_widths=(32, 64, 128), epochs=16, batch_size=256),
}


# --------------------------------------------------------------------------- training
def recipe(cfg: Config):
    """The teacher's recipe (:data:`kdtheory.neural.bank.RECIPES`)."""
    return teacher_recipe(cfg.teacher)


def _images(cfg: Config):
    """Train and val images (fixed random subsets, seed 1, when the preset caps them)."""
    res = recipe(cfg).resolution
    return imagenette_images(res, cfg.data_root, cfg.max_train, cfg.max_test, 1)[:4]


def protocol(cfg: Config):
    """The shared protocol (:class:`kdtheory.neural.distill.Protocol`): the students' network
    and the teacher recipe's optimizer, schedule and augmentation for ``epochs``."""
    from dataclasses import replace

    from kdtheory.neural.distill import Protocol

    rec = recipe(cfg)
    return Protocol(
        student=replace(rec.network, widths=tuple(cfg.student_widths)),
        train=student_training(rec, cfg),
        teacher=rec.network,
        teacher_epochs=rec.train.epochs,
        temperature=cfg.temperature,
    )


def _teacher_entry(cfg: Config, cache_dir, progress: bool = False):
    from kdtheory.neural.bank import get_teacher

    xtr, ytr, xte, yte = _images(cfg)
    return get_teacher(
        recipe(cfg),
        (xtr, ytr),
        (xte, yte),
        seed=cfg.teacher_seed,
        cache_dir=cache_dir,
        progress=progress,
        name="teacher (train folder)",
    )


def teachers(cfg: Config, *, cache_dir=None, progress: bool = False) -> list:
    """The bank entry the preset reads (built when missing): the teacher of the train folder."""
    return [_teacher_entry(cfg, cache_dir, progress)]


def schedule(method: str, cfg: Config):
    """The hyper-parameters of a student method as a function of the epoch (0-based)."""
    from kdtheory.neural.distill import method_hparams

    ce, kd = method_hparams("ce"), method_hparams("kd", cfg.temperature)
    if method == "label":
        return lambda epoch: ce
    if method == "kd":
        return lambda epoch: kd
    if method == "switch_mid":
        return lambda epoch: ce if epoch < cfg.switch_epoch else kd
    raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def _task(rng, *, seed: int, method: str, cfg: Config, workdir: str, bank: str) -> list[dict]:
    """Train one student of one seed under one schedule, evaluating at ``eval_epochs`` (the
    evaluations are stored beside the checkpoints, so a killed run keeps them); the teacher's
    row from the bank. ``rng`` is unused (keys)."""
    import json
    import zlib

    import jax

    from kdtheory.neural.distill import (
        _Runner,
        distillation_loss,
        images_processed,
        training_data,
    )
    from kdtheory.neural.train import train

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    xtr, ytr, xte, yte = _images(cfg)
    entry = _teacher_entry(cfg, bank)
    rec = recipe(cfg)
    pick = np.random.default_rng([cfg.seed, 7])
    n_ev = len(xtr) if cfg.n_eval_train is None else min(cfg.n_eval_train, len(xtr))
    ev = np.sort(pick.choice(len(xtr), n_ev, replace=False))
    sets = {"train": (xtr[ev], ytr[ev]), "test": (xte, yte)}
    train_logits = entry.outputs["train_logits"]
    teacher_logits = {"train": train_logits[ev], "test": entry.outputs["val_logits"]}
    if method == "teacher":
        acc = {
            f"{sp}_acc": float(np.mean(np.argmax(teacher_logits[sp], 1) == lab))
            for sp, (_, lab) in sets.items()
        }
        images = images_processed(len(xtr), rec.train, rec.train.epochs)
        return [
            {
                "kind": "eval",
                "stage": 0,
                "epochs": rec.train.epochs,
                "images": images,
                "term": "ce",
                **acc,
            }
        ]
    scatter = {
        sp: np.sort(pick.choice(len(im), min(cfg.n_scatter, len(im)), replace=False))
        for sp, (im, _) in sets.items()
    }
    proto = protocol(cfg)
    key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    folder = Path(workdir) / f"seed{seed}"
    runner = _Runner(proto, (xtr, ytr), (xtr, ytr), key, folder, _STAGE_PROGRESS["on"])
    data = training_data(xtr, labels=ytr, teacher_logits=train_logits, n_classes=runner.n_classes)
    per_epoch = images_processed(len(xtr), proto.train, 1)
    evals_file = folder / method / "evals.json"
    done = json.loads(evals_file.read_text()) if evals_file.is_file() else {}
    hp = schedule(method, cfg)
    main, end = cfg.eval_epochs[0], cfg.epochs

    def evaluate(epoch: int, network) -> None:
        if epoch not in cfg.eval_epochs:
            return
        points = method == "kd" and epoch in (main, end)
        acc, lines = evaluate_stage(network, teacher_logits, sets, scatter if points else None)
        at = {
            "stage": cfg.eval_epochs.index(epoch) + 1,
            "epochs": epoch,
            "images": epoch * per_epoch,
        }
        term = "ce" if hp(epoch - 1)["w_ce"] > 0 else "kd"
        done[str(epoch)] = [{**at, "kind": "eval", "term": term, **acc}] + [
            {**at, **line} for line in lines
        ]
        evals_file.parent.mkdir(parents=True, exist_ok=True)
        evals_file.write_text(json.dumps(done))

    order = jax.random.fold_in(runner.keys["order"], zlib.crc32(b"students"))
    train(
        runner.init_student(),
        data,
        proto.train,
        distillation_loss,
        hp,
        order,
        checkpoint_dir=folder / method,
        progress=_STAGE_PROGRESS["on"],
        desc=method,
        on_epoch=evaluate,
    )
    return [row for epoch in cfg.eval_epochs for row in done[str(epoch)]]


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table, rows by ``kind``: ``eval`` (accuracies at each evaluation time, with the
    budget so far), ``slope`` and ``slope_within`` (NAG-6 lines per split and time), ``point``
    (scatter sample of ``kd``).

    One :func:`kdtheory.montecarlo.run_grid` task per (seed, method), run one at a time; the
    teacher is read from the bank under ``cache_dir``; checkpoints under
    ``cache_dir/imagenette_deviations/<config hash>/seed<k>/<method>``, so a killed study
    resumes mid-run (a temporary folder without a cache).
    """
    _images(cfg)  # fail before training
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
        teachers=teachers,
    )


# --------------------------------------------------------------------------- analysis
def analyze(df: pd.DataFrame) -> dict:
    """NAG-6 slopes (pooled and within classes) per (method, split, time) over seeds and per
    seed, the teacher's accuracies; NAG-7 errors, gain, recovered fraction (estimates paired by
    seed); accuracy trajectories and budgets."""
    ev = df[df.kind == "eval"]
    teacher = ev[ev.method == "teacher"]
    students = ev[ev.method != "teacher"]
    unit = int(students.epochs.min())  # T: the first evaluation time
    out = {}
    for kind in SLOPE_KINDS:
        sl = df[df.kind == kind]
        slopes = summarize(sl, ["method", "split", "stage", "epochs"], "slope")
        slopes["ratio"] = slopes.epochs / unit
        out[kind] = slopes
        # per seed (rows) and (method, split, epochs) (columns): pivot raises on a duplicate
        out[f"seed_{kind}"] = sl.pivot(
            index="seed", columns=["method", "split", "epochs"], values="slope"
        )
    last = students[students.stage == students.stage.max()]
    # one row per (seed, method): pivot raises on a duplicate; the columns share the seed index
    err = last.assign(err=1.0 - last.test_acc).pivot(index="seed", columns="method", values="err")
    gain = paired_estimate(err["label"], err["kd"])
    rec = recovered_fraction(err["label"], err["kd"], err["switch_mid"])
    budget = ev.groupby("method")[["epochs", "images"]].max().reindex(list(METHODS))
    first = teacher.sort_values("seed").iloc[0]
    return {
        **out,
        "slopes": out["slope"],
        "seed_slopes": out["seed_slope"],
        "teacher_train_acc": float(first.train_acc),
        "teacher_test_acc": float(first.test_acc),
        "main_epochs": unit,
        "teacher_epochs": unit,
        "unit": unit,
        "error": summarize(last.assign(err=1.0 - last.test_acc), ["method"], "err").set_index(
            "method"
        ),
        "nag7": {
            "gain_estimate": gain,
            "recovered_estimate": rec,
            "gain": gain.summary(),
            "recovered": rec.summary(),
        },
        "trajectory": summarize(ev, ["method", "epochs"], "test_acc"),
        "budget": budget,
        "n_seeds": int(ev.seed.nunique()),
    }


def _times_T(ratio: float) -> str:
    """``T``, ``2 T``, ``0.5 T``: a student time in units of the first evaluation time."""
    return "T" if ratio == 1 else f"{ratio:g} T"


def _slope_text(r) -> str:
    return format_ci(r["mean"], r["lo"], r["hi"])


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """NAG-6 (the KD student's slope beyond the label-trained control's at ``t = T``, pooled and
    within classes; above 1 where the pooled difference holds; ``|slope - 1|`` shrinking from
    ``t = T``) and NAG-7 (the switch recovers most of the gain, if there is a gain); the
    premises and rules are the module docstring's. Holm's adjustment per claim."""
    a = analyze(df) if analysis is None else analysis
    main = a["main_epochs"]
    seeds = (
        f"paired by seed ({a['n_seeds']} seeds; one teacher, so the CI covers the students only)"
    )
    # in the figure's order: the scatter panels' slope above 1 (train, test), then the pooled
    # and within-class differences (train, test each), then |slope - 1| over time
    above_one, differences = [], {kind: [] for kind in SLOPE_KINDS}
    for split in SPLITS:
        where = f"{split} images, t = T"
        checks = {}
        for kind, how in SLOPE_KINDS.items():
            per_seed = a[f"seed_{kind}"]
            kd, label = per_seed["kd", split, main], per_seed["label", split, main]
            ctrl = mean_estimate(label)
            control = f"label-trained control's slope ({how}, {split}, t = T): " + format_estimate(
                ctrl.value, ctrl.ci()
            )
            statement = (
                f"{where}: KD student's slope ({how}) of logit p_S[teacher's top class] on logit "
                f"p_T[top] minus the label-trained control's, {seeds}, 95% t CI above 0"
            )
            checks[kind] = (statement, paired_estimate(kd, label), control, mean_estimate(kd))
            differences[kind].append(
                check("NAG-6", statement, checks[kind][1], above=0.0, detail=control)
            )
        statement, diff, control, kd_mean = checks["slope"]
        beyond = premise(statement, diff, above=0.0)
        above_one.append(  # the paper's statistic, read where the effect is distillation's
            check(
                "NAG-6",
                f"{where}: KD student's slope (pooled) of logit p_S[teacher's top class] on logit "
                "p_T[top] (mean over seeds, 95% t CI) above 1",
                kd_mean,
                above=1.0,
                premise=[beyond],
                detail=control,
            )
        )
    out = [*above_one, *(c for kind in SLOPE_KINDS for c in differences[kind])]
    s, per_seed = a["slopes"], a["seed_slopes"]
    kd = s[s.method == "kd"].sort_values("epochs")
    ends = sorted(e for e in kd.epochs.unique() if e >= main)
    t_end = _times_T(max(s.epochs) / a["unit"])
    for split in SPLITS:
        every = kd[kd.split == split]
        out.append(
            shrink_claim(
                f"{split} images, KD student",
                f"the evaluations from t = T to {t_end}",
                "T",
                t_end,
                [mean_estimate(per_seed["kd", split, e]) for e in ends],
                0,
                premise=[],
                detail="every evaluation: "
                + ", ".join(
                    f"{_times_T(r.ratio)}: {_slope_text(r._asdict())}" for r in every.itertuples()
                ),
            )
        )
    err = a["error"]
    errs = "; ".join(f"{m} {_slope_text(err.loc[m])}" for m in STUDENTS)
    n = a["nag7"]
    gain = gain_premise(
        "KD from the start beats labels at equal budget: test-error gain R_label - R_kd "
        f"({seeds}, 95% t CI) above 0",
        n["gain_estimate"],
    )
    out.append(
        recovery_check(
            f"labels, then the teacher from mid-budget (one schedule), recovers >= "
            f"{RECOVERED_MIN:g} of the gain: (R_label - R_switch_mid) / (R_label - R_kd) "
            "(ratio of mean paired gains, delta-method 95% t CI) above it",
            n["recovered_estimate"],
            gain,
            detail=f"test errors: {errs}; teacher's test accuracy "
            f"{a['teacher_test_acc']:.3f}; {a['n_seeds']} seeds",
        )
    )
    return holm(out)


def result_table(analysis: dict) -> pd.DataFrame:
    """Per method: final test error (95% CI over seeds; the teacher's is one network's) and the
    budget (epochs, images)."""
    rows = []
    for method in METHODS:
        b = analysis["budget"].loc[method]
        if method == "teacher":
            error = f"{1 - analysis['teacher_test_acc']:.3f} (one network)"
        else:
            error = _slope_text(analysis["error"].loc[method])
        rows.append(
            {
                "method": method,
                "test_error": error,
                "epochs": int(b.epochs),
                "images": int(b.images),
            }
        )
    return pd.DataFrame(rows)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """The figure (:mod:`kdtheory.simulations._deviations_plot`): the NAG-6 scatter at
    ``t = T``, the slope against the student's training time, accuracy trajectories, final
    errors and the recovered fraction, with the verdict table."""
    from kdtheory.simulations._deviations_plot import draw

    return draw(df, analysis, claim_list)
