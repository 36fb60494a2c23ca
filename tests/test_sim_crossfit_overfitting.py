"""Tests of kdtheory.simulations.crossfit_overfitting (claim SEMI-3).

The mixture's ``p0`` is checked against Bayes' rule on the Gaussian densities, the radius rule
against the stated law of the Bayes logit, and the task, analysis, claims and figure on a tiny
configuration. Whether SEMI-3 holds is the simulation's finding, not asserted here: the claims'
numbers and verdicts must be those of their stated rule recomputed from the table (CI above 0,
premises met, Holm), and hand-built tables get the verdicts their numbers give (a gain holds, a
loss fails, no leakage is inconclusive).

Tolerances. Floating point: ``sigmoid`` of a sum versus a ratio of densities agree to ``1e-12``
relative for logits of size up to ~30; means, intervals and slopes recomputed in another order
agree to ``1e-9`` relative. Monte Carlo: a mean of ``N`` draws is within 5 standard
errors of its expectation except with probability below ``6e-7``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.stats import multivariate_normal
from statsmodels.stats.multitest import multipletests

from kdtheory.claims import Claim, combined_verdict
from kdtheory.simulations import crossfit_overfitting as cf

TINY = cf.Config(
    n=300,
    n_test=500,
    ds=(2, 6),
    depths=(1, 0),
    n_trees=8,
    n_folds=3,
    n_trials=3,
    student_trees=(1, 3),
)


@settings(max_examples=30, deadline=None)
@given(d=st.integers(1, 6), r=st.floats(0.05, 1.5), seed=st.integers(0, 2**32 - 1))
def test_bayes_proba_is_the_posterior(d, r, seed):
    X = np.random.default_rng(seed).normal(scale=2.0, size=(5, d))
    f1 = multivariate_normal(mean=np.full(d, r)).pdf(X)
    f0 = multivariate_normal(mean=np.full(d, -r)).pdf(X)
    np.testing.assert_allclose(cf.bayes_proba(X, r), f1 / (f0 + f1), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("d", [1, 4, 10])
def test_radius_fixes_the_bayes_logit_law(d):
    """Logit 2 r 1'x given y = 1 is N(2 s, 4 s) with r = sqrt(s / d)."""
    s = 0.9
    r = cf.mixture_radius(d, s)
    assert 2 * r * (r * d) == pytest.approx(2 * s) and 4 * r**2 * d == pytest.approx(4 * s)
    X, y = cf.sample_mixture(np.random.default_rng(d), 40_000, d, r)
    logit = 2 * r * X.sum(axis=1)
    pos = logit[y == 1]
    assert abs(pos.mean() - 2 * s) <= 5 * np.sqrt(4 * s / pos.size)
    assert abs(y.mean() - 0.5) <= 5 * 0.5 / np.sqrt(y.size)
    if d == 10:
        assert r == pytest.approx(0.3)  # kamath.md's d = 10, r = 0.3


def test_task_rows():
    rows = cf._task(np.random.default_rng(0), d=3, max_depth=0, cfg=TINY)
    teachers = [r for r in rows if r["kind"] == "teacher"]
    students = [r for r in rows if r["kind"] == "student"]
    assert [r["method"] for r in teachers] == list(cf.TEACHERS)
    assert len(students) == len(TINY.student_trees) * len(cf.METHODS)
    for r in rows:
        assert r["risk"] == pytest.approx(r["distance"] ** 2)
    leak = {r["method"]: r["leakage"] for r in teachers}
    # a fully grown forest predicts y_i in the ~63% of trees whose bootstrap sample holds i
    assert leak["vanilla"] < leak["crossfit"]


@pytest.fixture(scope="module")
def tiny():
    df = cf.run(TINY, progress=False)
    analysis = cf.analyze(df)
    return df, analysis, cf.claims(df, analysis)


def test_run_is_reproducible(tiny):
    df, _, _ = tiny
    again = cf.run(TINY, progress=False)
    np.testing.assert_array_equal(df.distance.to_numpy(), again.distance.to_numpy())


def _t_interval(x) -> tuple[float, float, float, float]:
    """Mean, 95% t interval and the one-sided p-value of "mean <= 0" ("fails" for CI above 0)."""
    x = np.asarray(x, dtype=float)
    se = x.std(ddof=1) / np.sqrt(x.size)
    half = stats.t.ppf(0.975, x.size - 1) * se
    return x.mean(), x.mean() - half, x.mean() + half, stats.t.cdf(x.mean() / se, x.size - 1)


def _hc_slope(x, y) -> tuple[float, float, float, float]:
    """OLS slope with the heteroscedasticity-robust interval of one cluster per point
    (statsmodels' cluster correction N/(N-2), t on N - 1 df), and the p-value of "slope <= 0"."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    X = np.column_stack([np.ones_like(x), x])
    bread = np.linalg.inv(X.T @ X)
    coef = bread @ X.T @ y
    e = y - X @ coef
    cov = bread @ (X.T * e**2) @ X @ bread * x.size / (x.size - 2)
    se, df = np.sqrt(cov[1, 1]), x.size - 1
    half = stats.t.ppf(0.975, df) * se
    return coef[1], coef[1] - half, coef[1] + half, stats.t.cdf(coef[1] / se, df)


@pytest.mark.claim("SEMI-3")
def test_claims_recomputed_from_the_table(tiny):
    """Every check and premise recomputed from the table without the module's analysis: at the
    fully grown teacher (the deepest), the paired differences over trials (t intervals); the
    trend, an OLS slope with a robust interval written out here; the verdicts, from these
    intervals, the premises and Holm's adjustment (statsmodels) over the checks whose premises
    are met."""
    df, _, claims = tiny
    assert all(isinstance(c, Claim) and c.id == "SEMI-3" for c in claims)
    teach, stud = df[df.kind == "teacher"], df[df.kind == "student"]
    expected = []  # (value, lo, hi, p_fail, premises met)
    for d in sorted(TINY.ds):
        t = teach[(teach.d == d) & (teach.max_depth == 0)]
        leak = t.pivot(index="trial", columns="method", values="leakage")
        train = t.pivot(index="trial", columns="method", values="teacher_train")
        premises = [_t_interval(leak.crossfit - leak.vanilla)]
        premises.append(_t_interval(train.vanilla - train.crossfit))
        met = all(p[1] > 0 for p in premises)
        for trees in sorted(TINY.student_trees):
            s = stud[(stud.d == d) & (stud.student_trees == trees)]
            w = s.pivot_table(index=["max_depth", "trial"], columns="method", values="distance")
            gap = w.vanilla - w.crossfit
            depth = s.groupby(["max_depth", "trial"]).tree_depth.first().reindex(gap.index)
            expected.append((*_t_interval(gap.loc[0]), met, premises))
            expected.append((*_hc_slope(np.log2(depth), gap), met, premises))
    assert len(claims) == len(expected) == 2 * len(TINY.student_trees) * len(TINY.ds)
    family = [i for i, e in enumerate(expected) if e[4]]
    rejected = dict.fromkeys(range(len(expected)), False)
    if family:
        reject = multipletests([expected[i][3] for i in family], alpha=0.025, method="holm")[0]
        rejected |= dict(zip(family, reject, strict=True))
    for i, (c, (value, lo, hi, _, met, premises)) in enumerate(zip(claims, expected, strict=True)):
        assert c.value == pytest.approx(value, rel=1e-9, abs=1e-15)
        assert c.ci == pytest.approx((lo, hi), rel=1e-9, abs=1e-15)
        assert [(p.value, *p.ci) for p in c.premise] == [
            pytest.approx(p[:3], rel=1e-9, abs=1e-15) for p in premises
        ]
        assert c.premise_met == met
        want = "holds" if lo > 0 else ("fails" if hi < 0 and rejected[i] else "inconclusive")
        assert c.verdict == (want if met else "inconclusive")
        assert c.family == (len(family) if met else 1)


def _table(gap_per_doubling, leak=0.1, seed=0, d=4, trees=1) -> pd.DataFrame:
    """A hand-built run: one mixture, depths 1, 4 and 16 (fully grown), six trials; the
    vanilla student is farther from p0 than the cross-fit one by ``gap_per_doubling * log2
    depth``, the in-sample teacher's leakage lower by ``leak`` (noise sd 0.005 on both)."""
    rng = np.random.default_rng(seed)
    rows = []
    for max_depth, depth in ((1, 1.0), (4, 4.0), (0, 16.0)):
        for trial in range(6):
            key = {"d": d, "max_depth": max_depth, "trial": trial, "tree_depth": depth}
            for method, dl, dt in (("vanilla", 0.0, 0.05), ("crossfit", leak, 0.0)):
                noise = rng.normal(0.0, 0.005, 2)
                teacher = {"leakage": 0.2 + dl + noise[0], "teacher_train": 0.1 + dt + noise[1]}
                rows.append({**key, "kind": "teacher", "method": method, **teacher})
            gap = gap_per_doubling * np.log2(depth) + rng.normal(0.0, 0.005)
            for method, dist in (("vanilla", 0.2 + gap), ("crossfit", 0.2), ("scratch", 0.3)):
                student = {"student_trees": trees, "distance": dist, "risk": dist**2}
                rows.append({**key, "kind": "student", "method": method, **student})
    return pd.DataFrame(rows)


@pytest.mark.claim("SEMI-3")
@pytest.mark.parametrize(
    "gap, leak, verdict",
    [(0.02, 0.1, "holds"), (-0.02, 0.1, "fails"), (0.02, -0.01, "inconclusive")],
)
def test_hand_built_verdicts(gap, leak, verdict):
    """A gain growing with depth holds; a loss shrinking with depth fails (both checks, after
    Holm); an in-sample teacher that does not leak the labels (the premise: here it is farther
    from them than the out-of-fold one) makes the same gain inconclusive."""
    claims = cf.claims(_table(gap, leak))
    assert len(claims) == 2
    assert combined_verdict(claims) == verdict
    assert all(c.verdict == verdict for c in claims)
    assert all(c.premise_met == (leak > 0) for c in claims)


@pytest.mark.claim("SEMI-3")
def test_failing_setting_is_reported_not_hidden():
    """Only the setting listed as failing (d = 10, 10-tree student) is unasserted; its checks keep
    the verdict their numbers give and count in the claim's."""
    assert cf.FAILING == frozenset({(10, 10)})
    both = pd.concat([_table(0.02, d=4, trees=1), _table(-0.02, d=10, trees=10, seed=1)])
    claims = cf.claims(both)
    assert [(c.statement[:4], c.asserted, c.verdict) for c in claims] == [
        ("d=4,", True, "holds"),
        ("d=4,", True, "holds"),
        ("d=10", False, "fails"),
        ("d=10", False, "fails"),
    ]
    assert combined_verdict(claims) == "fails"


def test_plot(tiny):
    df, analysis, claims = tiny
    fig = cf.plot(df, analysis, claims)
    try:
        assert len(fig.axes) >= 2
        assert all(ax.get_xlabel() for ax in fig.axes)
    finally:
        plt.close(fig)


def test_presets():
    assert set(cf.PRESETS) == {"quick", "full"}
    quick, full = cf.PRESETS["quick"], cf.PRESETS["full"]
    assert full.n > quick.n and full.n_trials > quick.n_trials and full.n_folds == 10
    assert 0 in quick.depths and 0 in full.depths  # the fully grown teacher is the deepest
    with pytest.raises(AttributeError):
        quick.seed = 1
