"""The tabular reproduction of the semiparametric-distillation paper (claims SEMI-4, SEMI-6).

Without the data: the shortcuts the simulation takes are exact (sub-forests, the search for ``c``),
the analysis and claims on the published numbers themselves, and a tiny end-to-end run on
synthetic data. With the data (``KDTHEORY_DATA``; skipped otherwise): the quick preset.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold

from kdtheory.claims import Claim
from kdtheory.io import DATA_ENV_VAR, load_tabular
from kdtheory.simulations import _tabular_claims as tc
from kdtheory.simulations import tabular_kd as tk

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"


@pytest.fixture(scope="module")
def problem():
    X, y = make_classification(400, n_features=6, n_informative=4, random_state=0)
    p_hat = np.clip(0.5 + 0.4 * np.tanh(X[:, 0]), 0.01, 0.99)
    return X[:300], X[300:], y[:300], y[300:], p_hat[:300]


@pytest.mark.parametrize("scale, correction", [("p", "none"), ("logp", "bound_fast")])
def test_subforest_is_the_smaller_forest(problem, scale, correction):
    """The first k trees of a seeded forest are the seeded k-tree forest (same test AUC)."""
    X, X_te, y, y_te, p_hat = problem
    big = tk._student(8, 7, scale=scale, correction=correction, c=0.1)
    aucs = tk.subforest_aucs(big.fit(X, y, teacher_proba=p_hat), X_te, y_te, (1, 3, 8))
    for k, auc in aucs.items():
        small = tk._student(k, 7, scale=scale, correction=correction, c=0.1)
        direct = roc_auc_score(y_te, small.fit(X, y, teacher_proba=p_hat).predict(X_te))
        assert auc == pytest.approx(direct, abs=1e-12)


def test_choose_c_is_the_public_codes_grid_search(problem):
    """Same choice as GridSearchCV(KFold(5), AUC of predictions vs hard labels, refit=False)."""
    X, _, y, _, p_hat = problem
    grid = (1e-3, 1e-1, 1.0, 10.0)
    chosen = tk.choose_c(X, y, p_hat, scale="logp", sizes=(2, 5), c_grid=grid, cv_folds=5, seed=3)
    for k in (2, 5):
        search = GridSearchCV(
            tk._student(k, 3, scale="logp", correction="bound_fast"),
            {"c": list(grid)},
            scoring=make_scorer(roc_auc_score, response_method="predict"),
            cv=KFold(5),
            refit=False,
        ).fit(X, y, teacher_proba=p_hat)
        assert chosen[k] == search.best_params_["c"]


def _published_as_runs(shift=None) -> pd.DataFrame:
    """A run table whose every cell equals the published mean (two identical repeats)."""
    rows = []
    for r in tk.published_table().itertuples():
        fig_a = r.figure == "A"
        base = {
            "dataset": r.dataset,
            "figure": r.figure,
            "trial": 0,
            "method": r.method,
            "n_trees": r.x if fig_a else (np.nan if r.method == "teacher" else 10),
            "teacher_depth": np.nan if fig_a else r.x,
            "c": np.nan,
            "target_sd": np.nan,
        }
        auc = r.published + (shift.get((r.dataset, r.figure, r.method, r.x), 0.0) if shift else 0)
        rows += [{**base, "repeat": k, "auc": auc, "risk": 1 - auc} for k in range(2)]
    return pd.DataFrame(rows)


def test_published_table_cells():
    pub = tk.published_table()
    # Figure A: 4 methods x 7 columns + the teacher; Figure B: 5 methods x 3 depths + scratch
    assert pub.groupby(["dataset", "figure"]).size().to_dict() == {
        ("adult", "A"): 29,
        ("adult", "B"): 16,
        ("magic", "A"): 29,
        ("magic", "B"): 16,
    }


@pytest.mark.claim("SEMI-4", "SEMI-6")
def test_the_published_numbers_satisfy_our_claims():
    """Our thresholds are consistent with the paper: its own numbers pass every check (two
    identical repeats: every interval is a point)."""
    df = _published_as_runs()
    analysis = tk.analyze(df)
    assert len(analysis["comparison"]) == 90
    assert np.allclose(analysis["comparison"]["diff"], 0.0)
    claims = tk.claims(df, analysis)
    assert {c.id for c in claims} == set(tk.CLAIM_IDS)
    assert all(isinstance(c, Claim) and c.holds for c in claims), claims
    unasserted = {"approaches or beats scratch", "no better than the tuned one"}
    for c in claims:
        reported = c.id in tc.REPORTED_ONLY or any(u in c.statement for u in unasserted)
        assert c.asserted == (not reported)
    o = analysis["orderings"]["magic"]
    assert o["enhanced_d1"] - o["kd_d1"] == pytest.approx(0.913 - 0.823)
    deep = _semi4(claims, "deepest teacher")
    assert deep.value == pytest.approx(0.915 - 0.861) and deep.ci[0] == deep.ci[1]
    semi6 = _semi6(claims, "every published cell")
    assert (
        "45 of 45 cells within 0.015" in semi6.detail
        and "Adult (not judged): 45 of 45" in semi6.detail
    )
    fig = tk.plot(df, analysis, claims)
    try:
        assert len(fig.axes) == 6 and all(ax.get_xlabel() for ax in fig.axes)
    finally:
        plt.close(fig)


def _semi4(claims, words):
    (found,) = [c for c in claims if c.id == "SEMI-4" and words in c.statement]
    return found


def _semi6(claims, words):
    (found,) = [c for c in claims if c.id == "SEMI-6" and words in c.statement]
    return found


@pytest.mark.claim("SEMI-4", "SEMI-6")
def test_a_miss_is_reported_with_its_cell():
    shift = {("magic", "A", "kd", 2.0): -0.02, ("magic", "B", "enhanced", 1.0): -0.2}
    claims = tk.claims(_published_as_runs(shift))
    within = _semi6(claims, "every published cell")
    assert not within.holds and within.value == pytest.approx(0.2)
    assert "A kd 2: 0.884/0.904" in within.detail and "B enhanced 1: 0.713/0.913" in within.detail
    assert "43 of 45 cells within 0.015" in within.detail
    assert not _semi6(claims, "enhanced - KD").holds  # 0.713 - 0.823 < 0.05
    assert _semi4(claims, "approaches").verdict == "fails"


def _noisy_runs(shift=None, sd=0.002, repeats=5, seed=0, jitter=None) -> pd.DataFrame:
    """The published cells with ``repeats`` repeats of independent noise of sd ``sd``, plus
    ``jitter``: per cell, a fixed offset per repeat."""
    rng = np.random.default_rng(seed)
    rows = []
    base = _published_as_runs(shift)
    for k in range(repeats):
        one = base[base.repeat == 0].assign(repeat=k)
        one["auc"] = one.auc + rng.normal(0.0, sd, len(one))
        for (dataset, figure, method, x), offsets in (jitter or {}).items():
            x_col = one.n_trees if figure == "A" else one.teacher_depth
            cell = (one.dataset == dataset) & (one.figure == figure) & (one.method == method)
            one.loc[cell & (x_col == x), "auc"] += offsets[k]
        rows.append(one.assign(risk=1.0 - one.auc))
    return pd.concat(rows, ignore_index=True)


#: per-repeat offsets of mean 0 and sd 0.0047: a paired difference of 5 repeats with a 95% t
#: interval of half-width 2.776 * 0.0047 / sqrt(5) = 0.0059
SPREAD = np.array([0.006, -0.006, 0.003, -0.003, 0.0])


@pytest.mark.claim("SEMI-4")
@pytest.mark.parametrize("seed", range(3))
def test_semi4_verdicts_on_hand_built_runs(seed):
    """Paired over repeats (published depth-1 cells: teacher 0.825, KD 0.823, enhanced 0.913,
    scratch 0.915). Enhanced 0.034 below scratch fails non-inferiority at -0.01; enhanced 0.010
    below scratch, exactly at the margin, with a deterministic spread (95% CI -0.010 +- 0.006,
    no other noise), is undecided; a depth-1 teacher better than scratch leaves the premise unmet
    (inconclusive); KD 0.02 above the teacher-scratch midpoint 0.870 does not inherit the
    teacher's bias (fails); the orthogonal gamma 0.03 better than the tuned one at depth 5 fails
    "no better" at that depth (one check per depth), and the other depths hold. The noise of
    sd 0.002 on every cell leaves each outcome far from its threshold, whatever the seed."""
    far = tk.claims(_noisy_runs({("magic", "B", "enhanced", 1.0): -0.032}, seed=seed))
    assert _semi4(far, "approaches").verdict == "fails"
    cell = ("magic", "B", "enhanced", 1.0)
    at_margin = tk.claims(_noisy_runs({cell: -0.008}, sd=0.0, jitter={cell: SPREAD}))
    margin = _semi4(at_margin, "approaches")
    assert margin.value == pytest.approx(-0.010, abs=1e-12)
    assert margin.ci[0] < -tc.APPROACH_TOL < margin.ci[1]
    assert margin.verdict == "inconclusive" and margin.outcome is None
    teacher_good = {("magic", "B", "teacher", 1.0): 0.1}
    good_teacher = tk.claims(_noisy_runs(teacher_good, seed=seed))
    for words in ("approaches", "inherits"):
        check = _semi4(good_teacher, words)
        assert not check.premise_met and check.verdict == "inconclusive"
    # KD at 0.823 + 0.067 = 0.890, the midpoint (0.825 + 0.915) / 2 = 0.870 plus 0.02
    above_mid = tk.claims(_noisy_runs({("magic", "B", "kd", 1.0): 0.047 + 0.02}, seed=seed))
    assert _semi4(above_mid, "inherits").verdict == "fails"
    # published ortho 0.906, enhanced 0.918 at depth 5: ortho raised to 0.948, 0.03 better
    better = tk.claims(_noisy_runs({("magic", "B", "ortho", 5.0): 0.012 + 0.03}, seed=seed))
    per_depth = [c for c in better if c.id == "SEMI-4" and "no better" in c.statement]
    assert [c.statement.split(" teacher")[0] for c in per_depth] == [
        f"MAGIC, depth-{z}" for z in tk.PUBLISHED_B_DEPTHS
    ]
    assert [c.verdict for c in per_depth] == ["holds", "fails", "holds"]
    assert per_depth[1].value == pytest.approx(0.03, abs=0.005)


def test_without_magic_the_claims_are_inconclusive():
    """A run without MAGIC (Adult only): both claims inconclusive, their premise "MAGIC data
    available" unmet, nothing asserted."""
    df = _published_as_runs()
    claims = tk.claims(df[df.dataset == "adult"])
    assert [c.id for c in claims] == list(tk.CLAIM_IDS)
    assert all(c.verdict == "inconclusive" and not c.asserted for c in claims)
    assert all([p.met for p in c.premise] == [False] for c in claims)
    assert all("MAGIC data available" in c.premise[0].statement for c in claims)


def test_presets():
    quick, full = tk.PRESETS["quick"], tk.PRESETS["full"]
    assert set(tk.PRESETS) == {"quick", "full"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        quick.seed = 1
    # the full preset is the paper's protocol (kamath.md section 4)
    assert full.seed == quick.seed == 2357 and full.datasets == ("magic", "adult")
    assert full.student_trees == (1, 2, 3, 5, 10, 15, 20, 30, 40) and full.teacher_trees == 500
    assert full.depths == (1, 2, 3, 5, 10, 15, 20) and full.depth_teacher_trees == 100
    assert (full.n_folds, full.cv_folds, full.n_repeats, full.depth_student_trees) == (10, 5, 5, 10)
    assert full.test_size == 0.3 and full.n_rows is None
    assert quick.n_rows == 3000 and quick.n_repeats < full.n_repeats


@pytest.fixture
def synthetic_data(monkeypatch):
    """Replace the CSV loader by a synthetic two-class problem (no data files needed)."""
    X, y = make_classification(700, n_features=5, n_informative=3, random_state=1)

    def fake(name, data_root=None):
        return X * 3.0 + 1.0, y, [f"x{j}" for j in range(5)]

    monkeypatch.setattr(tk, "load_tabular", fake)


TINY = tk.Config(
    datasets=("magic",),
    student_trees=(1, 2, 4),
    teacher_trees=20,
    depths=(1, 6),
    depth_teacher_trees=10,
    depth_student_trees=3,
    n_folds=3,
    cv_folds=3,
    c_grid=(1e-3, 1.0, 1e3),
    n_repeats=2,
)


def test_tiny_run_end_to_end(synthetic_data, tmp_path):
    df = tk.run(TINY, progress=False)
    assert {
        "dataset",
        "figure",
        "method",
        "n_trees",
        "teacher_depth",
        "repeat",
        "auc",
        "risk",
    } <= set(df.columns)
    assert np.allclose(df.risk, 1.0 - df.auc) and df.auc.between(0, 1).all()
    a = df[df.figure == "A"]
    students = a[~a.method.str.startswith("teacher")]
    counts = students.groupby(["method", "n_trees"]).size()
    assert (counts == TINY.n_repeats).all() and len(counts) == 5 * 3
    assert (a.method == "teacher_cf").sum() == TINY.n_folds
    b = df[df.figure == "B"]
    assert set(b.teacher_depth.dropna()) == {1, 6}
    assert b[b.method == "scratch"].teacher_depth.isna().all()
    # each row carries the published mean of its cell, where the paper has one
    kd_a = a[a.method == "kd"].set_index("n_trees").published
    assert kd_a.loc[1.0].tolist() == [0.894] * 2 and np.isnan(kd_a.loc[4.0]).all()
    # the chosen c is recorded on the enhanced rows and comes from the grid
    assert set(df[df.method == "enhanced"].c) <= set(TINY.c_grid)
    # the pure orthogonal target (log p_hat + y / p_hat - 1) spreads more than the KD target
    sd = b.groupby("method").target_sd.mean()
    assert sd["ortho"] > sd["kd_cf"]
    # same table with two workers and from the cache
    again = tk.run(TINY, n_jobs=2, progress=False, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(df, again)
    cached = tk.run(TINY, progress=False, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(again, cached)


def _require_magic():
    try:
        load_tabular("magic")
    except FileNotFoundError:
        pytest.skip(f"MAGIC data not found (set {DATA_ENV_VAR} to the shared data folder)")


@pytest.fixture(scope="module")
def quick():
    _require_magic()
    df = tk.run(tk.PRESETS["quick"], n_jobs=2, progress=False)
    analysis = tk.analyze(df)
    return df, analysis, tk.claims(df, analysis)


@pytest.mark.claim("SEMI-4", "SEMI-6")
def test_quick_preset_claims(quick):
    df, analysis, claims = quick
    assert {c.id for c in claims} == set(tk.CLAIM_IDS)
    failed = [c for c in claims if c.asserted and not c.holds]
    assert not failed, failed
    # the reported checks are not required to hold: they keep the committed record's verdicts
    record = json.loads((FIGURES / "tabular_kd-quick.json").read_text())
    recorded = {c["statement"]: c["verdict"] for c in record["claims"]}
    reported = [c for c in claims if not c.asserted]
    assert {c.id for c in reported} == set(tk.CLAIM_IDS)
    assert [c.verdict for c in reported] == [recorded.get(c.statement) for c in reported]
    assert all(c.premise_met for c in claims)
    # every published MAGIC cell that the quick preset covers is compared
    cmp = analysis["comparison"]
    assert set(cmp.dataset) == {"magic"} and cmp.ours.notna().all()


def test_quick_preset_plot(quick):
    df, analysis, claims = quick
    fig = tk.plot(df, analysis, claims)
    try:
        assert len(fig.axes) == 3 and all(ax.get_xlabel() for ax in fig.axes)
    finally:
        plt.close(fig)
