"""Tabular KD on MAGIC and Adult: the paper's Figures A and B, ours vs published (SEMI-4, SEMI-6).

Experiment (Dao, Kamath, Syrgkanis and Mackey, ICLR 2021, following the public code as summarized
in ``reference/kamath.md``, sections 2 and 4). Each data set (:func:`kdtheory.io.load_tabular`) is
split 70/30 by ``train_test_split(random_state=2357)`` and standardized by a ``StandardScaler``
fitted on the training part; the metric is test AUC (``risk = 1 - auc``).

* **Figure A** (student size): a 500-tree random forest classifier teacher (``max_features =
  'sqrt'``, fully grown) fitted on the whole training set (vanilla KD) and once per fold of a
  10-fold cross-fit (:class:`~kdtheory.semiparametric.CrossFitTeacher`, ``KFold(shuffle=True,
  random_state=2357)``). Students: random forest regressors (``max_features = 1.0``) with 1 to 40
  trees, fitted by :class:`~kdtheory.semiparametric.DistilledRegressor`. Rows as the paper's
  figure: *scratch* (the regressor on the hard labels), *KD* (log-p scale, in-sample teacher),
  *CF KD* (p scale, cross-fit), *enhanced* (p scale, cross-fit, bound-fast ``gamma``). Our extra
  row *KD, p scale* (vanilla KD on the p scale) unconfounds the paper's KD (log-p) vs CF KD (p).
* **Figure B** (teacher depth): 100-tree teachers with ``max_depth`` in {1, 2, 3, 5, 10, 15, 20},
  10-tree students on the log-p scale: *KD* (in-sample teacher), *CF KD*, *enhanced* (cross-fit
  + bound-fast), *orthogonal* (cross-fit, pure ``gamma = 1 / p_hat``) and *scratch*.

Protocol of the public code: teacher and folds fitted once per data set and teacher; the
bound-fast ``c`` chosen once per student size by unshuffled 5-fold cross-validation (held-out AUC
against the hard labels, ``c`` in {1e-5, ..., 1e3}); students refitted ``n_repeats = 5`` times
(ours seeded, one seed per repeat shared by all methods). The first ``k`` trees of a seeded forest
*are* the seeded ``k``-tree forest (scikit-learn draws tree seeds in order), so one 40-tree fit
per method and repeat gives every student size of Figure A (AUC ignores the log-p scale's ``exp``);
the enhanced student of a ``c`` grows the trees of the largest size that chose it, no more.

Verdicts (:mod:`kdtheory.simulations._tabular_claims`): SEMI-6, our MAGIC means against the
published ones (reported); SEMI-4, Figure B's methods paired over the repeats (95% t intervals).

Data: :func:`kdtheory.io.load_tabular` looks in ``Config.data_root``, then ``$KDTHEORY_DATA``, then
the user cache folder; where none has the CSV, :func:`run` raises ``FileNotFoundError`` saying how
to provide it (the data are not redistributed; the tests that need them skip).

Parallelism: one task per (data set, figure), run in this process; ``n_jobs`` goes to joblib's
threading backend inside the task (fold fits, the ``c`` search, the trees of each forest:
scikit-learn's tree building releases the GIL; the students' trees and the teachers' models
predict in parallel, summed in a fixed order, so the table does not depend on ``n_jobs``).
``backend="dask"`` sends whole tasks to a cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import joblib
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from scipy import stats
from sklearn.base import clone
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import KFold, train_test_split
from sklearn.preprocessing import StandardScaler

from kdtheory.claims import Claim, Premise
from kdtheory.io import load_tabular
from kdtheory.montecarlo import run_grid
from kdtheory.plotting import (
    REFERENCE_COLOR,
    ci_series,
    dodge_step,
    dress_axis,
    finish_figure,
    method_key,
    method_kwargs,
    new_figure,
)
from kdtheory.semiparametric import C_GRID, CrossFitTeacher, DistilledRegressor
from kdtheory.simulations import _tabular_claims
from kdtheory.simulations._tabular_claims import PUBLISHED_ATOL, semi4, semi6
from kdtheory.verdicts import holm

NAME = "tabular_kd"
CLAIM_IDS = ("SEMI-4", "SEMI-6")
#: wall time (seconds) of ``kdtheory run tabular_kd --preset P`` on two CPU cores,
#: nothing cached; full: ``--n-jobs 2`` (its four tasks timed one by one, summed)
PRESET_SECONDS = {"quick": 25, "full": 868}
#: what it needs beyond the core package (`kdtheory list` shows it)
NEEDS = ("data: magic04.csv, adult.csv",)
#: claims reported whatever they show (SEMI-6: the published numbers; see _tabular_claims)
REPORTED_ONLY = _tabular_claims.REPORTED_ONLY
FIG_A_METHODS = ("scratch", "kd", "kd_p", "kd_cf", "enhanced")
FIG_B_METHODS = ("kd", "kd_cf", "enhanced", "ortho")
#: Published test AUCs (kamath.md section 4: means of the public code's result files). Figure A
#: columns: student trees; Figure B columns: teacher depth (scratch: a single value).
PUBLISHED_A_TREES = (1, 2, 3, 5, 10, 20, 40)
PUBLISHED_B_DEPTHS = (1, 5, 20)
PUBLISHED = {
    ("magic", "A"): {
        "teacher": (0.937,),
        "scratch": (0.787, 0.849, 0.875, 0.897, 0.914, 0.924, 0.928),
        "kd": (0.894, 0.904, 0.911, 0.916, 0.920, 0.924, 0.924),
        "kd_cf": (0.908, 0.914, 0.918, 0.919, 0.922, 0.923, 0.924),
        "enhanced": (0.907, 0.915, 0.918, 0.919, 0.922, 0.923, 0.924),
    },
    ("adult", "A"): {
        "teacher": (0.910,),
        "scratch": (0.740, 0.807, 0.835, 0.860, 0.882, 0.894, 0.900),
        "kd": (0.888, 0.896, 0.900, 0.904, 0.908, 0.909, 0.910),
        "kd_cf": (0.899, 0.905, 0.908, 0.910, 0.911, 0.912, 0.912),
        "enhanced": (0.900, 0.906, 0.908, 0.910, 0.910, 0.912, 0.912),
    },
    ("magic", "B"): {
        "teacher": (0.825, 0.897, 0.934),
        "kd": (0.823, 0.890, 0.920),
        "kd_cf": (0.814, 0.890, 0.916),
        "enhanced": (0.913, 0.918, 0.915),
        "ortho": (0.911, 0.906, 0.861),
        "scratch": (0.915,),
    },
    ("adult", "B"): {
        "teacher": (0.882, 0.905, 0.916),
        "kd": (0.883, 0.903, 0.912),
        "kd_cf": (0.881, 0.903, 0.913),
        "enhanced": (0.900, 0.907, 0.913),
        "ortho": (0.887, 0.872, 0.833),
        "scratch": (0.882,),
    },
}


@dataclass(frozen=True)
class Config:
    """Parameters of the reproduction; the defaults are the paper's (kamath.md section 4)."""

    datasets: tuple[str, ...] = ("magic", "adult")
    n_rows: int | None = None  # stratified subsample before the split (quick preset only)
    test_size: float = 0.3
    student_trees: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20, 30, 40)
    teacher_trees: int = 500
    depths: tuple[int, ...] = (1, 2, 3, 5, 10, 15, 20)
    depth_teacher_trees: int = 100
    depth_student_trees: int = 10
    n_folds: int = 10
    cv_folds: int = 5
    c_grid: tuple[float, ...] = tuple(float(c) for c in C_GRID)
    n_repeats: int = 5
    data_root: str | None = None  # None: $KDTHEORY_DATA, then the user cache (kdtheory.io)
    seed: int = 2357


PRESETS = {
    "quick": Config(  # minutes on two cores: 3000 rows, smaller forests, fewer folds and repeats
        datasets=("magic",),
        n_rows=3000,
        student_trees=(1, 2, 3, 5, 10),
        teacher_trees=100,
        depths=(1, 5, 20),
        depth_teacher_trees=50,
        n_folds=5,
        cv_folds=3,
        n_repeats=3,
    ),
    "full": Config(),
}


def split_data(dataset: str, cfg: Config):
    """The paper's split: 70/30 with ``random_state=seed``, then a StandardScaler fitted on train.

    Returns ``X_train, X_test, y_train, y_test``.
    """
    X, y, _ = load_tabular(dataset, cfg.data_root)
    if cfg.n_rows is not None and cfg.n_rows < len(y):
        X, _, y, _ = train_test_split(
            X, y, train_size=cfg.n_rows, stratify=y, random_state=cfg.seed
        )
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=cfg.test_size, random_state=cfg.seed)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def _student(n_trees: int, seed: int, *, scale="p", correction="none", c=1.0):
    # max_features=1.0 is the regressor default 'auto' of the paper's scikit-learn 0.23
    forest = RandomForestRegressor(n_estimators=n_trees, max_features=1.0, random_state=seed)
    return DistilledRegressor(forest, scale=scale, correction=correction, c=c)


def subforest_aucs(model: DistilledRegressor, X, y, sizes) -> dict[int, float]:
    """Test AUC of the forest made of the first ``k`` trees of a fitted student, per ``k``.

    The mean of the first ``k`` trees equals the prediction of the same seeded forest grown with
    ``k`` trees (tree seeds are drawn in order); the log-p scale's ``exp`` leaves AUC unchanged.
    """
    trees = model.student_.estimators_[: max(sizes)]
    X32 = np.asarray(X, dtype=np.float32)  # what each tree's predict converts X to, done once
    # one tree per job (joblib, ``parallel_config``), summed in tree order: n_jobs-independent
    predictions = joblib.Parallel()(
        joblib.delayed(tree.predict)(X32, check_input=False) for tree in trees
    )
    running = np.cumsum(predictions, axis=0)
    return {k: float(roc_auc_score(y, running[k - 1] / k)) for k in sizes}


def _cv_fold(X, y, p_hat, train, valid, c, *, n_trees, seed, scale, sizes):
    model = _student(n_trees, seed, scale=scale, correction="bound_fast", c=c)
    model.fit(X[train], y[train], teacher_proba=p_hat[train])
    return [subforest_aucs(model, X[valid], y[valid], sizes)[k] for k in sizes]


def choose_c(X, y, p_hat, *, scale, sizes, c_grid, cv_folds, seed) -> dict[int, float]:
    """Bound-fast ``c`` per student size, as the public code's ``GridSearchCV`` picks it (SEMI-4).

    Unshuffled ``KFold(cv_folds)`` (``GridSearchCV``'s default for a regressor; the data are
    already shuffled by the split); score: AUC of the held-out predictions against the hard
    labels; the first best ``c`` on ties. One forest of ``max(sizes)`` trees per (``c``, fold)
    serves every size. The (``c``, fold) fits run through joblib (``parallel_config``).
    """
    folds = list(KFold(cv_folds).split(X))
    one = partial(_cv_fold, n_trees=max(sizes), seed=seed, scale=scale, sizes=sizes)
    scores = joblib.Parallel()(
        joblib.delayed(one)(X, y, p_hat, tr, va, c) for c in c_grid for tr, va in folds
    )
    mean = np.asarray(scores).reshape(len(c_grid), len(folds), len(sizes)).mean(axis=1)
    return {k: float(c_grid[int(np.argmax(mean[:, j]))]) for j, k in enumerate(sizes)}


def _teachers(teacher, X, y, X_te, y_te, cfg):
    """In-sample and out-of-fold teacher probabilities; rows of the test AUCs (teacher: full fit,
    teacher_cf: each fold model, as the public code scores them)."""
    # Predictions with one thread: a forest summed by several threads in a varying order differs
    # in the last bits, which changes tie-breaks in the students' splits (shallow teachers give
    # few distinct p_hat) and makes the table depend on n_jobs. The folds fit in parallel.
    full = clone(teacher).fit(X, y).set_params(n_jobs=1)
    cf = CrossFitTeacher(teacher.set_params(n_jobs=1), n_folds=cfg.n_folds, random_state=cfg.seed)
    cf.fit(X, y)
    # each model's own prediction is one-threaded; the models predict in parallel
    jobs = [(full, X), (full, X_te), *((model, X_te) for model in cf.estimators_)]
    p_in, p_full_te, *p_folds_te = joblib.Parallel()(
        joblib.delayed(model.predict_proba)(Z) for model, Z in jobs
    )
    rows = [_row("teacher", roc_auc_score(y_te, p_full_te[:, 1]), repeat=0)]
    for b, p_te in enumerate(p_folds_te):
        rows.append(_row("teacher_cf", roc_auc_score(y_te, p_te[:, 1]), repeat=b))
    return p_in[:, 1], cf.oof_proba_[:, 1], rows


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(2**31 - 1))


def _row(method, auc, **extra) -> dict:
    return {"method": method, "auc": float(auc), **extra}


def _figure_a(rng, X, X_te, y, y_te, cfg: Config) -> list[dict]:
    teacher = RandomForestClassifier(
        cfg.teacher_trees, max_features="sqrt", random_state=_seed(rng)
    )
    p_in, p_cf, rows = _teachers(teacher, X, y, X_te, y_te, cfg)
    sizes = tuple(sorted(cfg.student_trees))
    cv = {"sizes": sizes, "c_grid": cfg.c_grid, "cv_folds": cfg.cv_folds}
    c_of = choose_c(X, y, p_cf, scale="p", seed=_seed(rng), **cv)
    for r in range(cfg.n_repeats):
        seed = _seed(rng)  # one seed for all methods of a repeat
        student = partial(_student, sizes[-1], seed)
        fits = {
            ("scratch", np.nan): student().fit(X, y),
            ("kd", np.nan): student(scale="logp").fit(X, y, teacher_proba=p_in),
            ("kd_p", np.nan): student().fit(X, y, teacher_proba=p_in),
            ("kd_cf", np.nan): student().fit(X, y, teacher_proba=p_cf),
        }
        for c in sorted(set(c_of.values())):
            # as many trees as the largest size that chose c needs (its first k: the same trees)
            n_trees = max(k for k in sizes if c_of[k] == c)
            model = _student(n_trees, seed, correction="bound_fast", c=c)
            fits["enhanced", c] = model.fit(X, y, teacher_proba=p_cf)
        for (method, c), model in fits.items():
            ks = [k for k in sizes if method != "enhanced" or c_of[k] == c]
            for k, auc in subforest_aucs(model, X_te, y_te, ks).items():
                rows.append(_row(method, auc, n_trees=k, repeat=r, c=c))
    return rows


def _figure_b(rng, X, X_te, y, y_te, cfg: Config) -> list[dict]:
    n = cfg.depth_student_trees
    seeds = [_seed(rng) for _ in range(cfg.n_repeats)]
    rows = []
    for r, seed in enumerate(seeds):
        auc = subforest_aucs(_student(n, seed).fit(X, y), X_te, y_te, (n,))[n]
        rows.append(_row("scratch", auc, n_trees=n, repeat=r, target_sd=float(np.std(y))))
    for depth in cfg.depths:
        teacher = RandomForestClassifier(
            cfg.depth_teacher_trees, max_depth=depth, max_features="sqrt", random_state=_seed(rng)
        )
        p_in, p_cf, teacher_rows = _teachers(teacher, X, y, X_te, y_te, cfg)
        rows += [{**row, "teacher_depth": depth} for row in teacher_rows]
        cv = {"sizes": (n,), "c_grid": cfg.c_grid, "cv_folds": cfg.cv_folds}
        c = choose_c(X, y, p_cf, scale="logp", seed=_seed(rng), **cv)[n]
        specs = {
            "kd": (p_in, "none"),
            "kd_cf": (p_cf, "none"),
            "enhanced": (p_cf, "bound_fast"),
            "ortho": (p_cf, "orthogonal"),
        }
        for r, seed in enumerate(seeds):
            for method, (p_hat, correction) in specs.items():
                model = _student(n, seed, scale="logp", correction=correction, c=c)
                model.fit(X, y, teacher_proba=p_hat)
                auc = subforest_aucs(model, X_te, y_te, (n,))[n]  # tree order: deterministic
                extra = {"c": c if method == "enhanced" else np.nan, "repeat": r, "n_trees": n}
                rows.append(
                    _row(method, auc, teacher_depth=depth, target_sd=np.std(model.target_), **extra)
                )
    return rows


_COLUMNS = ("method", "n_trees", "teacher_depth", "repeat", "auc", "risk", "c", "target_sd")


def _task(rng: np.random.Generator, *, dataset: str, figure: str, cfg: Config) -> list[dict]:
    """All rows of one data set and figure: teachers fitted once, students per repeat."""
    X, X_te, y, y_te = split_data(dataset, cfg)
    rows = (_figure_a if figure == "A" else _figure_b)(rng, X, X_te, y, y_te, cfg)
    base = dict.fromkeys(_COLUMNS, np.nan)
    return [base | row | {"risk": 1.0 - row["auc"]} for row in rows]


def run(cfg: Config, *, n_jobs=1, backend="loky", cache_dir=None, progress=True) -> pd.DataFrame:
    """Tidy table: data set x figure x method x student trees / teacher depth x repeat.

    Columns: the grid's ``dataset, figure, trial``; ``method, n_trees`` (student trees),
    ``teacher_depth`` (NaN: fully grown), ``repeat`` (the fold for ``teacher_cf``), ``auc``,
    ``risk = 1 - auc``, ``c`` (bound-fast constant of ``enhanced``), ``target_sd`` (spread of the
    student's regression target, Figure B) and ``published`` (the paper's mean). No wall time: the
    table is tracked, and each task's compute time is kept with the cached rows instead.
    """
    grid = [{"dataset": d, "figure": f} for d in cfg.datasets for f in ("A", "B")]
    kwargs = dict(n_trials=1, seed=cfg.seed, cache_dir=cache_dir, progress=progress)
    task = partial(_task, cfg=cfg)
    desc = f"{NAME}: data set x figure"
    if backend == "dask":
        df = run_grid(task, grid, backend="dask", desc=desc, **kwargs)
    else:
        with joblib.parallel_config(backend="threading", n_jobs=n_jobs):
            df = run_grid(task, grid, n_jobs=1, desc=desc, **kwargs)
    # the published mean of each row's cell (NaN where the paper has none), for the CSV
    x = np.where(df.figure == "A", df.n_trees, df.teacher_depth)
    published = published_table().set_index(_KEYS)["published"]
    keys = zip(df.dataset, df.figure, df.method, x, strict=True)
    return df.assign(published=[published.get(key, np.nan) for key in keys])


def published_table() -> pd.DataFrame:
    """The published AUCs as a tidy table: dataset, figure, method, x, published.

    ``x`` is the student's tree count (Figure A) or the teacher depth (Figure B); NaN where the
    published number has no column (Figure A's teacher, Figure B's scratch).
    """
    rows = []
    for (dataset, figure), methods in PUBLISHED.items():
        cols = PUBLISHED_A_TREES if figure == "A" else PUBLISHED_B_DEPTHS
        for method, values in methods.items():
            xs = (np.nan,) if len(values) == 1 else cols
            rows += [
                {"dataset": dataset, "figure": figure, "method": method, "x": x, "published": v}
                for x, v in zip(xs, values, strict=True)
            ]
    return pd.DataFrame(rows)


_KEYS = ["dataset", "figure", "method", "x"]
_AGG = {"mean": ("auc", "mean"), "sd": ("auc", "std"), "count": ("auc", "size")}
_AGG |= {"c": ("c", "median"), "target_sd": ("target_sd", "mean")}


def analyze(df: pd.DataFrame) -> dict:
    """Means per cell (95% t-intervals over repeats), ours vs published, the SEMI-4/6 orderings."""
    d = df.assign(x=np.where(df.figure == "A", df.n_trees, df.teacher_depth))
    summary = d.groupby(_KEYS, dropna=False).agg(**_AGG).reset_index()
    dof = np.maximum(summary["count"] - 1, 1)
    half = stats.t.ppf(0.975, dof) * summary["sd"].fillna(0.0) / np.sqrt(summary["count"])
    summary["lo"], summary["hi"] = summary["mean"] - half, summary["mean"] + half
    comparison = published_table().merge(summary[[*_KEYS, "mean", "sd"]], on=_KEYS)
    comparison = comparison.rename(columns={"mean": "ours"})
    comparison["diff"] = comparison["ours"] - comparison["published"]
    comparison["within_tol"] = comparison["diff"].abs() <= PUBLISHED_ATOL
    means = summary.set_index(_KEYS)["mean"]

    def cell(dataset, figure, method, x=np.nan) -> float:
        return float(means.get((dataset, figure, method, x), np.nan))

    orderings, paired = {}, {}
    for ds in df.dataset.unique():
        depths = np.sort(
            summary.x[(summary.dataset == ds) & (summary.figure == "B")].dropna().unique()
        )
        d1 = depths[0] if len(depths) else np.nan
        small = [k for k in (1, 2, 3) if not np.isnan(cell(ds, "A", "kd", k))]
        cf = {k: cell(ds, "A", "kd_cf", k) for k in small}
        orderings[ds] = {
            "cf_minus_kd_small_trees": {k: v - cell(ds, "A", "kd", k) for k, v in cf.items()},
            "cf_minus_kd_p_small_trees": {k: v - cell(ds, "A", "kd_p", k) for k, v in cf.items()},
            "shallowest_depth": d1,
            **{f"{m}_d1": cell(ds, "B", m, d1) for m in ("enhanced", "kd")},
        }
        # Figure B per repeat, for SEMI-4's paired comparisons: the students of a repeat share
        # its seed (teacher, folds, split and c are fixed, as in the public code)
        b = d[(d.dataset == ds) & (d.figure == "B")]
        wide = b[b.method.isin(FIG_B_METHODS)].pivot_table("auc", "repeat", ["method", "x"])
        scratch = b[b.method == "scratch"].groupby("repeat").auc.mean().reindex(wide.index)
        paired[ds] = {
            "students": wide,
            "scratch": scratch,
            "teacher": b[b.method == "teacher"].groupby("x").auc.mean(),
            "depths": depths,
        }
    return dict(summary=summary, comparison=comparison, orderings=orderings, paired=paired)


def claims(df: pd.DataFrame, analysis: dict | None = None) -> list[Claim]:
    """SEMI-6 (MAGIC vs the published numbers and orderings) and SEMI-4 (MAGIC, Figure B)."""
    a = analyze(df) if analysis is None else analysis
    if "magic" not in a["orderings"]:  # both claims are judged on MAGIC: nothing to judge
        absent = Premise(
            "MAGIC data available: the run includes MAGIC, on which both claims are judged", False
        )
        kw = {"detail": "MAGIC not run", "asserted": False, "premise": [absent]}
        return holm([Claim(i, "MAGIC reproduction", None, **kw) for i in CLAIM_IDS])
    return holm(semi6(a) + semi4(a, df))


def _panel(ax, ours, pub, methods, flat: str, xlabel: str) -> None:
    """Ours (solid, filled, 95% CI) and published (hollow markers) per method, dodged sideways;
    ``flat``: a method without x (horizontal lines: ours solid, published dashed)."""
    step = dodge_step(ours.x.dropna(), len(methods))
    for i, m in enumerate(methods):
        o, p = ours[ours.method == m], pub[pub.method == m].sort_values("x")
        kw = method_kwargs(m, label=None, ms=4.5)
        if m == flat:
            for value, ls in ((o["mean"], "-"), (p["published"], "--")):
                if len(value):
                    ax.axhline(value.iloc[0], color=kw["color"], ls=ls, lw=1.3, zorder=1.9)
            continue
        ci_series(ax, o, "x", dodged=(i, len(methods), step), **kw)
        ax.plot(p.x, p.published, ls="none", **{**kw, "mfc": "white", "ms": 6, "zorder": 3})
    ticks = sorted(set(ours.x.dropna()) | set(pub.x.dropna()))
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks], minor=False)
    ax.minorticks_off()
    ax.set(xlabel=xlabel, ylabel="test AUC")
    ax.grid(True, alpha=0.25)


_NAMES = {"magic": "MAGIC", "adult": "Adult"}
_ORDER = ("teacher", "scratch", "kd", "kd_p", "kd_cf", "enhanced", "ortho")
#: per figure: methods drawn, the method without an x (a horizontal line), x label, title
_PANELS = {
    "A": (("teacher", *FIG_A_METHODS), "teacher", "student trees", "Figure A: fully grown"),
    "B": (
        ("teacher", *FIG_B_METHODS, "scratch"),
        "scratch",
        "teacher max_depth",
        "Figure B: depth",
    ),
}
_TITLES = {"A": "teacher,\nstudents of 1 to 40 trees", "B": "varies,\n10-tree students (log-p)"}


def plot(df: pd.DataFrame, analysis: dict, claim_list: list[Claim] | None = None):
    """Per data set: Figures A and B (ours filled, published hollow) and ours vs published."""
    datasets = list(dict.fromkeys(df.dataset))
    fig, axes = new_figure(len(datasets), 3, width=4.8, height=3.6)
    summary, comparison, pub = analysis["summary"], analysis["comparison"], published_table()
    source = "published (Dao et al. 2021, public code)"
    for i, ds in enumerate(datasets):
        name = _NAMES.get(ds, ds)
        for j, figure in enumerate("AB"):
            ours = summary[(summary.dataset == ds) & (summary.figure == figure)]
            published = pub[(pub.dataset == ds) & (pub.figure == figure)]
            methods, flat, xlabel, title = _PANELS[figure]
            _panel(axes[i, j], ours, published, methods, flat, xlabel)
            claim = "SEMI-6" if figure == "A" else "SEMI-4, SEMI-6"
            axes[i, j].set_title(f"{claim}: {name}, {title} {_TITLES[figure]}")
        ax, cmp = axes[i, 2], comparison[comparison.dataset == ds]
        values = cmp[["published", "ours"]].to_numpy()
        lims = np.array([values.min(), values.max()])
        band = f"|ours - published| <= {PUBLISHED_ATOL:g}"
        ax.fill_between(lims, lims - PUBLISHED_ATOL, lims + PUBLISHED_ATOL, color="0.9", label=band)
        ax.plot(lims, lims, color=REFERENCE_COLOR, lw=0.8, label="ours = published")
        for (figure, m), g in cmp.groupby(["figure", "method"]):
            kw = method_kwargs(m, label=None, ms=5, mfc=None if figure == "A" else "white")
            ax.plot(g.published, g.ours, ls="none", **kw)
        ax.plot([], [], "o", color="0.3", label="Figure A cell (filled)")
        ax.plot([], [], "o", color="0.3", mfc="white", label="Figure B cell (hollow)")
        title = f"SEMI-6: {name}, every published cell,\nour mean vs the published AUC"
        dress_axis(ax, "published AUC (Dao et al. 2021)", "our mean AUC", title, ncol=2)
    key = [method_key(m, "KD (A: log-p scale)" if m == "kd" else None) for m in _ORDER]
    key += [
        (Line2D([], [], color="0.3", marker="o", ms=4.5), "ours: mean, 95% CI over repeats"),
        (Line2D([], [], color="0.3", marker="o", ms=6, mfc="white", ls="none"), source),
        (Line2D([], [], color="0.3", ls="--"), "published, a row without x (teacher A, scratch B)"),
    ]
    names = ", ".join(_NAMES.get(ds, ds) for ds in datasets)
    title = f"SEMI-4, SEMI-6: cross-fitting and loss correction on tabular data ({names})"
    finish_figure(fig, claim_list, title, legend=key, ncol=5)
    return fig
