"""Imagenette with an imperfect teacher: power-divergence KD and residual learning (PD-2, RES-1).

Experiment (CLAIMS.md 4 and 5; both papers' full texts were not available to us, the protocol is
ours). The teacher comes from the teacher bank (:mod:`kdtheory.neural.bank`): the recipe
``teacher`` (the airbench-shaped network, ``d_T`` = 256 features) trained once on one half of
the train folder (``split_seed``), **shared by the student seeds** (the intervals cover the
students' variation only). The students, a narrower network of the same family (``d_S`` = 128
at the cpu preset), learn from the other half, where the teacher's outputs are held-out
predictions that err on part of the images; they all use the same optimizer, schedule,
augmentation, batch and budget through one compiled step (:mod:`kdtheory.neural.imperfect`)
and differ only in the loss. Two settings: the teacher's outputs as they are (``clean``), and
corrupted on a seeded ``corrupt_fraction`` (30%) of the students' images, where its logits are
replaced by ``10 e_c`` on a class ``c`` drawn uniformly among the wrong ones (``corrupt``).

Students, each ``epochs`` epochs on the same images from the same initialization and data order:
``ce`` (labels only; one network for both settings), ``kd`` (``T^2 KL`` at ``T = 4``, no
labels), ``pd_ts(lam)`` / ``pd_st(lam)`` (``T^2 D_lam`` teacher first / student first, ``T = 4``,
no labels) for ``lam`` in ``lams`` (the paper's 2/3 among them), the KD + CE pipeline the PD
paper plugs into (``kd+ce``: ``0.5 CE + 0.5 KD``) and PD at ``lam = 2/3`` in it
(``pd_ts(2/3)+ce``, ``pd_st(2/3)+ce``), residual learning ``res`` (``0.5 L_res + 0.5 L_CE``,
``d_A`` = 64 on real images; a student narrower than the teacher reads the code through its
own adapter), its ablations ``res_no_beta``, ``res_no_mask``, ``res_no_pretrain``, and
``kd_res`` (``0.5 L_res + 0.5 L_KD``).

Each (setting, seed, method) is one :func:`kdtheory.montecarlo.run_grid` task; stages are
checkpointed. Reported: test accuracy (the val folder) with 95% t-intervals over seeds, paired
differences against KD per setting, and the PD-2 statistic ``gain(m) = drop(KD) - drop(m)``,
``drop(m) = acc(m, clean) - acc(m, corrupt)`` paired by seed.

The corruption changes the logits only: KD and PD read them everywhere, the residual methods
only through the teacher-error mask, and ``ce`` and ``res_no_mask`` not at all (each is one
network per seed, trained once and reported in both settings), so the residual methods'
robustness "gains" over KD mostly measure how little of the corrupted signal they read.

Claims (reported, not asserted; the intervals are t intervals over the student seeds: with the
presets' 5 seeds, 4 degrees of freedom). Every check is "the 95% CI lies above 0" (holds), "below 0"
(fails, after Holm's adjustment within the claim), else undecided.

PD-2 (images): the gain of a power divergence over KD (over ``kd+ce`` for the ``+ce``
pipelines) has its CI above 0, for the losses fixed in advance: the paper's ``lam = 2/3`` in
each argument order, alone and in the KD + CE pipeline (we do not know the paper's order;
student first ``nu = -lam < 1`` down-weights, teacher first ``nu = 5/3`` up-weights,
:func:`kdtheory.losses.power_divergence_kd_loss`) and the smallest ``lam`` teacher first when
it is negative (down-weights). Premises: KD beats label training with the clean teacher (paired
``kd - ce`` CI above 0: a teacher worth distilling) and the corruption hurts KD (``drop(KD)`` CI
above 0).

RES-1: residual learning (``res``) beats label training (``ce``), KD, and each of its ablations
(``res_no_beta``, ``res_no_mask``, ``res_no_pretrain``), paired ``res - m`` per setting.
Premises: a good teacher that errs, i.e. it beats ``ce`` (paired CI above 0) and its top-1 error
mask covers 10% to 50% of the training images (mean ``mask_fraction`` over seeds, CI inside);
and a real compression ``d_A < d_S < d_T`` (feature widths, recorded in the table; deterministic).
At the cpu and gpu presets ``d_A = 64 < d_S = 128 < d_T = 256``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from kdtheory.claims import Claim, Premise
from kdtheory.formatting import format_value
from kdtheory.plotting import (
    REFERENCE_COLOR,
    dress_axis,
    finish_figure,
    method_kwargs,
    new_figure,
    summarize,
)
from kdtheory.simulations._neural import (
    NEURAL_NEEDS,
    imagenette_images,
    run_trainings,
    student_training,
    teacher_recipe,
)
from kdtheory.verdicts import check, holm, mean_estimate, paired_estimate, premise

NAME = "imagenette_imperfect"
CLAIM_IDS = ("PD-2", "RES-1")
#: wall time (seconds) of ``kdtheory run imagenette_imperfect --preset P`` on two CPU cores,
#: nothing cached; cpu: ``--n-jobs 2``, the teachers already in the bank; gpu: made for a
#: GPU, not timed
PRESET_SECONDS = {"smoke": 38, "cpu": 1562, "gpu": None}
#: what it needs beyond the core package (`kdtheory list` shows it)
NEEDS = NEURAL_NEEDS
#: statistical claims on real data with a few seeds: reported whatever they show
REPORTED_ONLY = ("PD-2", "RES-1")
SETTINGS = ("clean", "corrupt")
RESIDUAL = ("res", "res_no_beta", "res_no_mask", "res_no_pretrain", "kd_res")
#: what residual learning must beat (RES-1), with their names in the statements
RES_RIVALS = {
    "ce": "label training",
    "kd": "distillation (KD)",
    "res_no_beta": "its ablation without the adaptive beta",
    "res_no_mask": "its ablation without the error mask",
    "res_no_pretrain": "its ablation without projector pre-training",
}
#: the premise "the teacher errs": its top-1 error mask covers this share of the training images
MASK_RANGE = (0.1, 0.5)
_STAGE_PROGRESS = {"on": False}


@dataclass(frozen=True)
class Config:
    """Preset parameters (see the module docstring).

    ``teacher`` names a recipe of :data:`kdtheory.neural.bank.RECIPES` (it fixes the
    resolution); the teacher learns from one half of the train folder (``split_seed``), the
    students from the other half, with the teacher recipe's optimizer at ``learning_rate``.
    ``methods`` keeps a subset of the methods; ``corrupt_methods`` those also run with the
    corrupted teacher (default: every one).
    """

    teacher: str
    student_widths: tuple[int, ...]
    epochs: int
    d_a: int = 64
    lams: tuple[float, ...] = (-0.25, 2 / 3, 1.0)
    n_seeds: int = 5
    batch_size: int = 128
    learning_rate: float = 0.2
    weight_decay: float = 5e-4
    temperature: float = 4.0
    res_lambda: float = 0.5
    pretrain_steps: int = 300
    corrupt_fraction: float = 0.3
    max_train: int | None = None
    max_test: int | None = None
    methods: tuple[str, ...] | None = None
    corrupt_methods: tuple[str, ...] | None = None
    split_seed: int = 0
    teacher_seed: int = 0
    seed: int = 0
    data_root: str | None = None


#: the cpu preset's methods with the corrupted teacher: the teacher, CE and PD-2's losses
_PD2_CPU = (
    "teacher", "ce", "kd", "pd_ts(2/3)", "pd_st(2/3)", "kd+ce", "pd_ts(2/3)+ce", "pd_st(2/3)+ce",
)  # fmt: skip

PRESETS = {
    # tests and CI: a few hundred images, tiny networks (feature widths 16 and 8, d_A = 4)
    "smoke": Config(
        teacher="tiny",
        student_widths=(4, 8),
        epochs=1,
        d_a=4,
        lams=(2 / 3,),
        n_seeds=2,
        batch_size=64,
        pretrain_steps=50,
        max_train=300,
        max_test=200,
    ),
    # real Imagenette on two CPU cores at 64 px: the bank's air64 teacher on one half of the
    # train folder (d_T = 256), students of widths 32/64/128 (d_S = 128) on the other half,
    # d_A = 64, the paper's lam = 2/3 only, five seeds, two epochs per student; the corrupted
    # teacher for PD-2's methods only (RES-1 on the clean teacher, which errs already); 26
    # minutes with --n-jobs 2 (42 with one worker) and the teacher in the bank (7 minutes, once)
    "cpu": Config(
        teacher="air64",
        student_widths=(32, 64, 128),
        epochs=2,
        lams=(2 / 3,),
        methods=(*_PD2_CPU, "res", "res_no_beta", "res_no_mask", "res_no_pretrain"),
        corrupt_methods=_PD2_CPU,
    ),
    # one GPU: the same networks, longer, three lams
    "gpu": Config(
        teacher="air64",
        student_widths=(32, 64, 128),
        epochs=12,
        batch_size=256,
    ),
}


def methods(cfg: Config) -> tuple[str, ...]:
    """The methods of a preset, in table order (``cfg.methods``, if given, keeps a subset):
    the teacher, label training, KD, PD in both orders for every ``lam``, the KD + CE pipeline
    and PD at the paper's ``lam = 2/3`` plugged into it, and the residual family."""
    from kdtheory.neural.imperfect import parse_method, pd_method

    pd = [pd_method(o, lam) for o in ("ts", "st") for lam in cfg.lams]
    pipeline = ["kd+ce", *(pd_method(o, 2 / 3) + "+ce" for o in ("ts", "st"))]
    every = ("teacher", "ce", "kd", *pd, *pipeline, *RESIDUAL)
    if cfg.methods is None:
        return every
    for m in cfg.methods:
        parse_method(m)  # unknown names: the error lists the known ones
    return tuple(m for m in every if m in cfg.methods)


def _style(method: str) -> str:
    """The style key of a method (``pd_ts(2/3)`` -> ``pd_ts``)."""
    return method.split("(")[0]


def recipe(cfg: Config):
    """The teacher's recipe (:data:`kdtheory.neural.bank.RECIPES`)."""
    return teacher_recipe(cfg.teacher)


def _images(cfg: Config):
    """Train and val images at the recipe's resolution, subsampled (seed 0) to the preset's
    sizes."""
    res = recipe(cfg).resolution
    return imagenette_images(res, cfg.data_root, cfg.max_train, cfg.max_test, 0)[:4]


def halves(cfg: Config, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(teacher_half, student_half)``: a seeded random halving of the ``n`` train images."""
    perm = np.random.default_rng([cfg.seed, cfg.split_seed]).permutation(n)
    return np.sort(perm[: n // 2]), np.sort(perm[n // 2 :])


def protocol(cfg: Config):
    """The shared protocol (:class:`kdtheory.neural.imperfect.ImperfectProtocol`): students of
    ``student_widths`` with an adapter from ``d_A`` when narrower than the teacher, the teacher
    recipe's optimizer, schedule and augmentation."""
    from dataclasses import replace

    from kdtheory.neural.imperfect import ImperfectProtocol

    rec = recipe(cfg)
    widths = tuple(cfg.student_widths)
    adapter = cfg.d_a if widths[-1] != rec.network.feature_dim else 0
    return ImperfectProtocol(
        student=replace(rec.network, widths=widths, adapter_dim=adapter),
        train=student_training(rec, cfg),
        teacher=rec.network,
        teacher_epochs=rec.train.epochs,
        temperature=cfg.temperature,
        d_a=cfg.d_a,
        res_lambda=cfg.res_lambda,
        pretrain_steps=cfg.pretrain_steps,
        corrupt_fraction=cfg.corrupt_fraction,
    )


def _teacher_entry(cfg: Config, cache_dir, progress: bool = False):
    from kdtheory.neural.bank import get_teacher

    xtr, ytr, xte, yte = _images(cfg)
    teacher_half, _ = halves(cfg, len(xtr))
    return get_teacher(
        recipe(cfg),
        (xtr, ytr),
        (xte, yte),
        index=teacher_half,
        seed=cfg.teacher_seed,
        cache_dir=cache_dir,
        progress=progress,
        name="teacher (half A)",
    )


def teachers(cfg: Config, *, cache_dir=None, progress: bool = False) -> list:
    """The bank entry the preset reads (built when missing): the teacher of half A."""
    return [_teacher_entry(cfg, cache_dir, progress)]


def _task(rng, *, setting: str, seed: int, method: str, cfg: Config, workdir: str, bank: str):
    """Train one method in one (setting, seed) on the students' half and test it on the val
    folder; the teacher (shared by the seeds) comes from the bank."""
    import jax

    from kdtheory.neural.distill import Teacher, images_processed
    from kdtheory.neural.imperfect import evaluate, run_imperfect

    xtr, ytr, xte, yte = _images(cfg)
    _, half = halves(cfg, len(xtr))
    entry = _teacher_entry(cfg, bank)
    rec = recipe(cfg)
    n_a = len(xtr) - len(half)
    teacher = Teacher(
        entry.network(),
        source_logits=entry.outputs["train_logits"][half],
        source_features=entry.outputs["train_features"][half],
        epochs=rec.train.epochs,
        images=images_processed(n_a, rec.train, rec.train.epochs),
    )
    key = jax.random.fold_in(jax.random.key(cfg.seed), seed)
    proto = protocol(cfg)
    result, trained, info = run_imperfect(
        method,
        proto,
        (xtr[half], ytr[half]),
        key,
        Path(workdir) / f"seed{seed}",
        setting=setting,
        progress=_STAGE_PROGRESS["on"],
        teacher=teacher,
    )
    if method == "teacher":
        test = {"test_acc": float(np.mean(entry.outputs["val_logits"].argmax(1) == yte))}
    else:
        test = evaluate(result.network, {"test": (xte, yte)})
    return {
        **test,
        "epochs": result.epochs,
        "images": result.images,
        "n_train": len(half),
        "n_test": len(xte),
        "d_a": proto.d_a,
        "d_s": proto.student.feature_dim,
        "d_t": proto.teacher_network.feature_dim,
        **info,
    }


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: one row per (setting, seed, method): test accuracy and the budget."""
    grid = [
        {"setting": s, "seed": k, "method": m}
        for k in range(cfg.n_seeds)
        for s in SETTINGS
        for m in methods(cfg)
        if s == "clean" or cfg.corrupt_methods is None or m in cfg.corrupt_methods
    ]
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
    """A student that does not read the teacher's logits is one stage for both settings
    (:func:`kdtheory.neural.imperfect.teacher_outputs_read`): its clean point trains it, before
    the rest when the tasks run in parallel."""
    from kdtheory.neural.imperfect import teacher_outputs_read

    method = point["method"]
    if method == "teacher":  # read from the bank, not trained
        return False
    return point["setting"] == "clean" and "logits" not in teacher_outputs_read(method)


def _ran(wide: pd.DataFrame, method: str) -> bool:
    """``method`` has a value for every seed of this (setting's) wide table."""
    return method in wide and bool(wide[method].notna().all())


def _kd_of(method: str) -> str:
    """The KD a method's robustness gain is measured against: ``kd+ce`` for a ``+ce``
    pipeline, ``kd`` otherwise."""
    return "kd+ce" if method.endswith("+ce") else "kd"


def analyze(df: pd.DataFrame) -> dict:
    """Accuracy (mean, 95% CI over seeds), paired differences vs KD and CE, the PD-2 gains
    ``drop(KD) - drop(m)`` (one :class:`~kdtheory.verdicts.Estimate` per method, read by the
    claims and the figure), RES-1's paired differences ``res - m``, and what the premises read
    (mask fractions, widths). Every pair is formed by seed (the wide table's index)."""
    order = list(dict.fromkeys(df.method))
    wide = df.pivot_table(index=["setting", "seed"], columns="method", values="test_acc")
    clean, corrupt = wide.loc["clean"], wide.loc["corrupt"]
    diffs = [
        {"setting": setting, "method": m, "vs": base, **paired_estimate(w[m], w[base]).summary()}
        for base in ("kd", "ce")
        for setting, w in (("clean", clean), ("corrupt", corrupt))
        if _ran(w, base)
        for m in order
        if m not in (base, "teacher") and _ran(w, m)
    ]
    res_diffs = [
        {"setting": setting, "method": m, **paired_estimate(w["res"], w[m]).summary()}
        for setting, w in (("clean", clean), ("corrupt", corrupt))
        if _ran(w, "res")
        for m in RES_RIVALS
        if _ran(w, m)
    ]
    # drop(m) = acc(m, clean) - acc(m, corrupt), paired by seed; gain(m) = drop(KD) - drop(m)
    drop = clean - corrupt.reindex(clean.index)
    gains = {
        m: mean_estimate(drop[_kd_of(m)] - drop[m])
        for m in order
        if _ran(drop, _kd_of(m)) and _ran(drop, m) and m not in ("kd", "kd+ce", "teacher", "ce")
    }
    info = df[df.setting == "corrupt"]
    widths = [c for c in ("d_a", "d_s", "d_t") if c in df]
    return {
        "accuracy": summarize(df, ["setting", "method"], "test_acc"),
        "wide": wide,
        "diffs": pd.DataFrame(diffs),
        "res_diffs": pd.DataFrame(res_diffs),
        "gain_estimates": gains,
        "gains": pd.DataFrame(
            [{"method": m, **e.summary()} for m, e in gains.items()],
            columns=["method", "mean", "lo", "hi"],
        ),
        "budget": df.groupby("method")[["epochs", "images"]].max().reindex(order),
        "order": order,
        "mask_seeds": df.dropna(subset=["mask_fraction"])
        .groupby(["setting", "seed"])
        .mask_fraction.first(),
        "widths": {c: int(df[c].max()) for c in widths} if len(widths) == 3 else None,
        "corrupted": float(info.corrupted_fraction.mean()),
        "n_train": int(df.n_train.max()),
        "n_test": int(df.n_test.max()),
        "n_seeds": int(df.seed.nunique()),
    }


def _compression(widths: dict | None) -> Premise:
    """The deterministic premise ``d_A < d_S < d_T`` from the table's recorded widths."""
    if widths is None:  # tables written before the widths were recorded
        return Premise(
            "a real compression d_A < d_S < d_T: widths not recorded in this table; this "
            "study's protocol gives the teacher the student's network, so d_S = d_T",
            False,
        )
    a, s, t = widths["d_a"], widths["d_s"], widths["d_t"]
    return Premise(
        f"a real compression d_A < d_S < d_T (feature widths): d_A = {a}, d_S = {s}, d_T = {t}",
        a < s < t,
    )


def _pd_checks(a: dict, premises: list[Premise], seeds: str, df_text: str) -> list[Claim]:
    """PD-2 on images: the gain over KD of the losses fixed in advance."""
    order = a["order"]
    pd_methods = [m for m in order if m.startswith("pd_")]
    paper = ("pd_ts(2/3)", "pd_st(2/3)", "pd_ts(2/3)+ce", "pd_st(2/3)+ce")
    fixed = [(m, "the paper's lam") for m in paper if m in pd_methods]
    ts = [m for m in pd_methods if m.startswith("pd_ts") and not m.endswith("+ce")]
    if ts and _lam(min(ts, key=_lam)) < 0:
        fixed.append((min(ts, key=_lam), "teacher first, lam < 0"))
    share = format_value(100 * a["corrupted"])
    return [
        check(
            "PD-2",
            f"{m} ({why}) loses less test accuracy than {_kd_of(m)}: gain = "
            f"drop({_kd_of(m)}) - drop({m}), "
            f"{seeds}, 95% CI above 0 (drop: accuracy with the clean minus with the {share}% "
            "corrupted teacher)",
            a["gain_estimates"][m],
            above=0.0,
            premise=premises,
            detail=f"fixed in advance; {df_text}",
            asserted=False,
        )
        for m, why in fixed
    ]


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """PD-2 for the losses fixed in advance; RES-1 per setting against label training, KD and
    each ablation; each under its premises (module docstring)."""
    a = analyze(df) if analysis is None else analysis
    wide, n = a["wide"], a["n_seeds"]
    seeds = f"paired by seed ({n} seeds)"
    df_text = f"t interval over {n} seeds ({n - 1} df)"
    clean, corrupt = wide.loc["clean"], wide.loc["corrupt"]
    pd_premises = [
        premise(
            f"KD beats label training with the clean teacher: test accuracy kd - ce, {seeds}, "
            "95% CI above 0",
            paired_estimate(clean["kd"], clean["ce"]),
            above=0.0,
        ),
        premise(
            f"the corruption hurts KD: its test accuracy with the clean minus the corrupted "
            f"teacher, {seeds}, 95% CI above 0",
            paired_estimate(clean["kd"], corrupt["kd"]),
            above=0.0,
        ),
    ]
    out = _pd_checks(a, pd_premises, seeds, df_text)
    if "res" not in a["order"]:  # no residual student: RES-1 has nothing to check
        return holm(out)
    good = premise(
        f"the teacher beats label training: test accuracy teacher - ce, {seeds}, 95% CI above 0",
        paired_estimate(clean["teacher"], clean["ce"]),
        above=0.0,
    )
    compression = _compression(a["widths"])
    lo, hi = MASK_RANGE
    for setting in SETTINGS:
        w = wide.loc[setting]
        if not _ran(w, "res"):  # this setting ran no residual student
            continue
        errs = premise(
            f"({setting}) the teacher errs on {format_value(100 * lo)}% to "
            f"{format_value(100 * hi)}% of the training images: mean error-mask fraction over "
            f"{n} seeds, 95% CI inside ({format_value(lo)}, {format_value(hi)})",
            mean_estimate(a["mask_seeds"].loc[setting].to_numpy()),
            above=lo,
            below=hi,
        )
        for m, what in RES_RIVALS.items():
            if not _ran(w, m):
                continue
            out.append(
                check(
                    "RES-1",
                    f"({setting} teacher) residual learning beats {what}: test accuracy "
                    f"res - {m}, {seeds}, 95% CI above 0",
                    paired_estimate(w["res"], w[m]),
                    above=0.0,
                    premise=[good, errs, compression],
                    detail=df_text,
                    asserted=False,
                )
            )
    return holm(out)


def _lam(method: str) -> float:
    from kdtheory.neural.imperfect import parse_method

    return parse_method(method)[1]


def result_table(analysis: dict) -> pd.DataFrame:
    """Test accuracy (95% CI) per method and setting, the paired difference vs KD, budget."""
    acc = analysis["accuracy"].set_index(["setting", "method"])
    d = analysis["diffs"].set_index(["setting", "method", "vs"])
    rows = []
    for m in analysis["order"]:
        row = {"method": m}
        for s in SETTINGS:
            if (s, m) not in acc.index:
                row[f"{s}_acc"] = row[f"{s}_vs_kd"] = ""
                continue
            r = acc.loc[(s, m)]
            row[f"{s}_acc"] = f"{r['mean']:.3f} [{r.lo:.3f}, {r.hi:.3f}]"
            if (s, m, "kd") in d.index:
                r = d.loc[(s, m, "kd")]
                row[f"{s}_vs_kd"] = f"{r['mean']:+.3f} [{r.lo:+.3f}, {r.hi:+.3f}]"
            else:
                row[f"{s}_vs_kd"] = ""
        b = analysis["budget"].loc[m]
        row.update(epochs=int(b.epochs), images=int(b.images))
        rows.append(row)
    return pd.DataFrame(rows)


def _label(method: str) -> str:
    if method.endswith("+ce") and method.startswith("pd_"):
        return _label(method[:-3]) + " + CE"
    if method.startswith("pd_"):
        order = "teacher || student" if method.startswith("pd_ts") else "student || teacher"
        lam = method[method.index("(") + 1 : -1]
        return f"$D_{{{lam}}}$({order})"
    return method_kwargs(method)["label"]


def _hbar(ax, r, y: float, style: str, *, open_marker: bool = False) -> None:
    """One mean with its 95% CI as a horizontal error bar at height ``y``."""
    kw = {k: v for k, v in method_kwargs(style, label=None).items() if k != "lw"}
    kw.update({"mfc": "white"} if open_marker else {})
    xerr = [[r["mean"] - r.lo], [r.hi - r["mean"]]]
    ax.errorbar(r["mean"], y, xerr=xerr, ls="none", capsize=2, **kw)


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Test accuracy per method and setting; PD-2 gains over KD; RES-1's differences, residual
    learning minus each rival (label training, KD, the ablations), per setting."""
    fig, axes = new_figure(1, 3, width=4.8, height=5.2)
    order = analysis["order"]
    acc = analysis["accuracy"]
    ax = axes[0, 0]
    y = np.arange(len(order))[::-1]
    for j, s in enumerate(SETTINGS):
        g = acc[acc.setting == s].set_index("method")
        for yy, m in zip(y, order, strict=True):
            if m not in g.index:
                continue
            _hbar(ax, g.loc[m], yy + (0.17 if j == 0 else -0.17), _style(m), open_marker=j)
    ax.set_yticks(y, [_label(m) for m in order], fontsize=7.5)
    for j, s in enumerate(SETTINGS):
        ax.plot([], [], "o", color="0.3", mfc="white" if j else "0.3", label=f"{s} teacher")
    title = "test accuracy per method (mean, 95% CI)\n"
    title += f"filled: clean teacher; open: {analysis['corrupted']:.0%} corrupted"
    dress_axis(ax, "test accuracy", "", title, ncol=2)
    ax = axes[0, 1]
    g = analysis["gains"].set_index("method")
    pds = [m for m in order if m in g.index]
    yg = np.arange(len(pds))[::-1]
    for yy, m in zip(yg, pds, strict=True):
        r = g.loc[m]
        _hbar(ax, r, yy, _style(m))
    ax.axvline(0, color=REFERENCE_COLOR, lw=0.9)
    ax.set_yticks(yg, [_label(m) for m in pds], fontsize=7.5)
    title = "PD-2: robustness gain over KD (+ CE pipelines: over KD + CE)\n"
    title += "drop(KD) - drop(method), paired by seed (95% CI)"
    dress_axis(ax, "gain in test accuracy (> 0: loses less than KD)", "", title)
    ax = axes[0, 2]
    d = analysis["res_diffs"]
    rivals = [m for m in RES_RIVALS if m in set(d.method)] if len(d) else []
    yr = np.arange(len(rivals))[::-1]
    for j, s in enumerate(SETTINGS):
        g = d[d.setting == s].set_index("method") if len(d) else d
        for yy, m in zip(yr, rivals, strict=True):
            if m not in g.index:
                continue
            _hbar(ax, g.loc[m], yy + (0.15 if j == 0 else -0.15), _style(m), open_marker=j)
    ax.axvline(0, color=REFERENCE_COLOR, lw=0.9)
    ax.set_yticks(yr, [_label(m) for m in rivals], fontsize=7.5)
    title = "RES-1 checks: res - method, paired by seed\nfilled: clean; open: corrupted (95% CI)"
    dress_axis(ax, "difference in test accuracy (> 0: res better)", "", title)
    for ax in axes.flat:  # few, readable ticks on the accuracy scales
        ax.xaxis.set_major_locator(MaxNLocator(5))
    b = analysis["budget"].loc["kd"]
    finish_figure(
        fig,
        claim_list,
        f"Imagenette, imperfect teacher: power-divergence KD (PD-2) and residual learning "
        f"(RES-1), reported; every student {int(b.epochs)} epoch(s), {int(b.images)} images "
        f"processed, {analysis['n_train']} train / {analysis['n_test']} test images",
    )
    return fig
