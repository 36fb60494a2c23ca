"""Unit tests of simulations/confidence_exaggeration.py (claim NAG-6)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import pdist

from kdtheory.claims import combined_verdict
from kdtheory.dynamics import distill_filter, gd_filter, gd_predictions, gd_weights
from kdtheory.kernels import gaussian
from kdtheory.rates import fit_slope
from kdtheory.simulations import confidence_exaggeration as ce
from kdtheory.verdicts import Estimate


def _sample(seed: int = 0, n: int = 30, dim: int = 60, h: float = 0.2):
    return ce.draw_clusters(
        np.random.default_rng(seed),
        n,
        dim,
        atypical_fraction=h,
        atypical_separation=0.5,
        noise_norm=0.6,
        flip_rate=0.15,
    )


def test_top_class_logits_are_margins():
    rng = np.random.default_rng(1)
    f_t, f_s = rng.normal(size=50), rng.normal(size=50)
    x, y = ce.top_class_logits(f_t, f_s)
    # logit(sigmoid(z)) round trip for |z| < 4: a few ulps of p over p (1 - p) >= 0.017
    np.testing.assert_allclose(x, np.abs(f_t), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, np.sign(f_t) * f_s, rtol=1e-12, atol=1e-12)


def test_top_class_logits_clip_at_1e_minus_7():
    x, y = ce.top_class_logits(np.array([50.0, -50.0]), np.array([-50.0, -50.0]))
    bound = np.log((1 - 1e-7) / 1e-7)
    # the clipped probability 1 - 1e-7 is itself rounded to 1 ulp: relative error ~ 1e-9 in logit
    np.testing.assert_allclose(x, [bound, bound], rtol=1e-8)
    np.testing.assert_allclose(y, [-bound, bound], rtol=1e-8)


def test_draw_clusters_structure():
    s = _sample(n=400, dim=20)
    assert s.X.shape == (400, 20)
    np.testing.assert_array_equal(s.y, np.where(s.flipped, -s.y_clean, s.y_clean))
    typ = ~s.atypical
    # class signal along e_1 (typical) or e_2 (atypical): mean of y_clean x_k is 1 or 0.5,
    # up to the noise sd 0.6 / sqrt(20) ~ 0.13 over >= 40 points (4 standard errors: 0.09)
    assert abs(np.mean(s.y_clean[typ] * s.X[typ, 0]) - 1.0) < 0.09
    assert abs(np.mean(s.y_clean[~typ] * s.X[~typ, 1]) - 0.5) < 0.09
    assert np.all(~_sample(h=0.0).atypical)


def test_linear_flow_matches_library_closed_forms():
    s, t = _sample(0, n=30, dim=60), _sample(1, n=10, dim=60)
    flow = ce.SpectralFlow.of("linear", s.X, t.X)
    T = 0.7
    train, test = flow.predict(gd_filter(flow.eigenvalues, T), s.y)
    # same SVD, operations associated differently; Gaussian X with p = 2n is well conditioned
    np.testing.assert_allclose(train, gd_predictions(s.X, s.y, T), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(test, t.X @ gd_weights(s.X, s.y, T), rtol=1e-9, atol=1e-12)


def _kernel_flow_reference(K, K_test, y, t):
    """Function-space flow f' = -K (f - y) from zero by a matrix exponential (Van Loan).

    ``alpha(t) = int_0^t exp(-s K) ds y`` is the top-right block of ``expm(t [[-K, I], [0, 0]])``.
    """
    n = K.shape[0]
    block = np.zeros((2 * n, 2 * n))
    block[:n, :n] = -K
    block[:n, n:] = np.eye(n)
    alpha = scipy.linalg.expm(t * block)[:n, n:] @ y
    return K @ alpha, K_test @ alpha


def test_gaussian_flow_and_student_match_matrix_exponential():
    s, t = _sample(2, n=25, dim=4), _sample(3, n=8, dim=4)
    flow = ce.SpectralFlow.of("gaussian", s.X, t.X)
    kernel = gaussian(float(np.median(pdist(s.X))))
    K, K_test = kernel(s.X), kernel(t.X, s.X)
    T, tt = 3.0, 1.5
    ref_train, ref_test = _kernel_flow_reference(K, K_test, s.y, T)
    train, test = flow.predict(gd_filter(flow.eigenvalues, T), s.y)
    # expm is accurate to ~1e-13 relative; dropped eigenvalues (< n eps lam_max) move f by
    # at most lam T |y| ~ 1e-13
    np.testing.assert_allclose(train, ref_train, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(test, ref_test, rtol=1e-8, atol=1e-10)
    # student: the same flow on the teacher's training outputs
    ref_s_train, ref_s_test = _kernel_flow_reference(K, K_test, ref_train, tt)
    s_train, s_test = flow.predict(distill_filter(flow.eigenvalues, tt, T), s.y)
    np.testing.assert_allclose(s_train, ref_s_train, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(s_test, ref_s_test, rtol=1e-8, atol=1e-10)


def test_teacher_time_converges_the_main_label_direction():
    s = _sample(4, n=40, dim=80)
    flow = ce.SpectralFlow.of("linear", s.X, s.X[:3])
    coef = flow.left.T @ s.y
    T = ce.teacher_time(flow.eigenvalues, coef, 10.0)
    k = int(np.argmax(coef**2))
    assert gd_filter(flow.eigenvalues[k], T) == pytest.approx(-np.expm1(-10.0), rel=1e-14)
    assert k == 0  # the typical class direction is the top eigendirection in this design


@pytest.mark.claim("NAG-6")
def test_long_student_reproduces_teacher_slope_one():
    """NAG-4 limit: t -> inf gives the teacher, so the scatter lies on y = x."""
    s, t = _sample(5, n=30, dim=60), _sample(6, n=30, dim=60)
    flow = ce.SpectralFlow.of("linear", s.X, t.X)
    T = ce.teacher_time(flow.eigenvalues, flow.left.T @ s.y, 10.0)
    f_t = flow.predict(gd_filter(flow.eigenvalues, T), s.y)[1]
    f_s = flow.predict(distill_filter(flow.eigenvalues, np.inf, T), s.y)[1]
    x, y = ce.top_class_logits(f_t, f_s)
    assert fit_slope(x, y).slope == pytest.approx(1.0, abs=1e-10)


def _slopes(values, half_widths, df: float = 15.0) -> list[Estimate]:
    """Slopes with 95% t intervals of the given half-widths."""
    q = stats.t.ppf(0.975, df)
    return [Estimate(v, h / q, df) for v, h in zip(values, half_widths, strict=True)]


@pytest.mark.claim("NAG-6")
def test_shrinks_toward_one_rules():
    half = [0.2, 0.2, 0.1, 0.01]
    outcome, p_fail, change = ce.shrinks_toward_one(_slopes([1.4, 1.3, 1.15, 1.0], half), 1)
    # from t/T = 1 to the last: |1.0 - 1| - |1.3 - 1| = -0.3, half-width 0.2 + 0.01
    assert outcome is True and change.value == pytest.approx(-0.3)
    assert change.ci() == pytest.approx((-0.51, -0.09))
    assert p_fail == pytest.approx(stats.t.sf(-0.3 / ((0.2 + 0.01) / stats.t.ppf(0.975, 15)), 15))
    # the intervals decide, but |slope - 1| grows from t/T = 0.5 to 1 (0.1, then 0.3): undecided
    outcome, _, change = ce.shrinks_toward_one(_slopes([1.1, 1.3, 1.15, 1.0], half), 1)
    assert outcome is None and change.ci()[1] < 0
    # ... or from t/T = 1 to 2 (0.3, then 0.35 on the other side of 1): undecided
    outcome, _, _ = ce.shrinks_toward_one(_slopes([1.4, 1.3, 0.65, 1.0], half), 1)
    assert outcome is None
    # the last interval reaches farther from 1 (0.25) than the main one's nearest point (0.1)
    outcome, _, change = ce.shrinks_toward_one(
        _slopes([1.4, 1.3, 1.15, 1.0], [0.2, 0.2, 0.1, 0.25]), 1
    )
    assert outcome is None and change.ci()[0] < 0 < change.ci()[1]
    # the reverse: [0.98, 1.04] lies closer to 1 than [1.3, 1.5]: fails (before Holm)
    outcome, p_fail, change = ce.shrinks_toward_one(
        _slopes([1.0, 1.01, 1.2, 1.4], [0.03, 0.03, 0.1, 0.1]), 1
    )
    assert outcome is False and p_fail < 0.025 and change.value == pytest.approx(0.39)
    with pytest.raises(ValueError, match="before the last"):
        ce.shrinks_toward_one(_slopes([1.2, 1.1], [0.1, 0.1]), 1)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(0.0, 2.0), min_size=2, max_size=2),
    st.lists(st.floats(1e-3, 0.5), min_size=2, max_size=2),
)
def test_distance_change_interval_is_the_comparison_of_the_two_intervals(values, halves):
    """With equal degrees of freedom the change's 95% CI lies below 0 exactly when every point
    of the last slope's interval is closer to 1 than every point of the main one's, above 0 in
    the reverse case (the rule the statement names), the distances computed from the intervals'
    end points."""
    main, last = _slopes(values, halves)
    (lo_m, hi_m), (lo_l, hi_l) = main.ci(), last.ci()

    def near(lo, hi):
        return max(lo - 1.0, 1.0 - hi, 0.0)

    def far(lo, hi):
        return max(abs(lo - 1.0), abs(hi - 1.0))

    lo, hi = ce.distance_change(main, last).ci()
    margin = 1e-9  # away from ties, where rounding decides
    if far(lo_l, hi_l) < near(lo_m, hi_m) - margin:
        assert hi < 0
    elif far(lo_l, hi_l) > near(lo_m, hi_m) + margin:
        assert not hi < 0
    if near(lo_l, hi_l) > far(lo_m, hi_m) + margin:
        assert lo > 0
    elif near(lo_l, hi_l) < far(lo_m, hi_m) - margin:
        assert not lo > 0


#: slope of the student's logit on the teacher's at t/T = 0.5, 1, 2, 10, relative to 1: the
#: student's deviation from y = x is scaled by these factors (1 at t/T = 1)
_SCALE = {0.5: 1.5, 1.0: 1.0, 2.0: 0.5, 10.0: 0.02}


def _table(
    within: float, gap: float, train_fit: float = 0.85, n_designs: int = 8, scale=None
) -> pd.DataFrame:
    """A hand-built table of the atypical design (linear features), ``n_designs`` designs of 40
    typical points (teacher logit in [0.5, 0.9]) and 10 atypical ones (in [0.1, 0.4]). At
    ``t/T = 1`` the student's logit has slope ``within`` inside each group and the group means
    lie on a line of slope ``gap`` (the pooled slope lies between the two), plus noise of sd
    0.01; at other ``t/T`` the deviation from ``y = x`` is scaled by ``scale`` (default
    ``_SCALE``), so that every slope is ``1 + scale[t/T] (slope at t/T = 1 - 1)`` exactly."""
    scale = _SCALE if scale is None else scale
    rng = np.random.default_rng(0)
    rows = []
    for trial in range(n_designs):
        rows.append(
            {"design": "atypical", "trial": trial, "kind": "teacher", "features": "linear",
             "progress": 10.0, "train_fit": train_fit}
        )  # fmt: skip
        for split in ce.SPLITS:
            x = np.r_[rng.uniform(0.5, 0.9, 40), rng.uniform(0.1, 0.4, 10)]
            atypical = np.arange(50) >= 40
            centre = np.where(atypical, 0.25, 0.7)
            y1 = 0.7 + gap * (centre - 0.7) + within * (x - centre) + rng.normal(0, 0.01, 50)
            for ratio, k in scale.items():
                y = x + k * (y1 - x)
                rows += [
                    {"design": "atypical", "trial": trial, "kind": "point", "features": "linear",
                     "ratio": ratio, "split": split, "teacher_logit": a, "student_logit": b,
                     "atypical": at, "flipped": False}
                    for a, b, at in zip(x, y, atypical, strict=True)
                ]  # fmt: skip
            rows.append(
                {"design": "atypical", "trial": trial, "kind": "sensitivity",
                 "features": "linear", "split": split, "progress": 10.0, "slope": gap}
            )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.claim("NAG-6")
def test_verdicts_on_hand_built_tables():
    # a pooled slope above 1 made by the gap between the groups, within-group slopes 0.8: fails
    claims = ce.claims(_table(within=0.8, gap=1.33))
    assert len(claims) == 8 and combined_verdict(claims) == "fails"
    pooled = [c for c in claims if "pooled" in c.statement]
    groups = [c for c in claims if "points only" in c.statement]
    shrink = [c for c in claims if "strictly decreases" in c.statement]
    assert [c.verdict for c in pooled] == ["holds", "holds"]
    assert all(1.1 < c.value < 1.33 for c in pooled)  # between within (0.8) and between (1.33)
    assert [c.verdict for c in groups] == ["fails"] * 4 and not any(c.asserted for c in groups)
    # Holm's family: the 8 checks, the shrinking ones included (they carry a p-value)
    assert all(c.value == pytest.approx(0.8, abs=0.05) and c.family == 8 for c in groups)
    assert [c.verdict for c in shrink] == ["holds", "holds"]
    assert all(c.family == 8 and c.p_fail > 0.5 for c in shrink)
    # the value: |slope - 1| at t/T = 10 minus at t/T = 1, the former 0.02 times the latter
    for p, c in zip(pooled, shrink, strict=True):
        assert c.value == pytest.approx(-0.98 * (p.value - 1.0), rel=1e-9)
    assert all(c.premise_met for c in claims)
    # slopes above 1 within the groups and pooled: holds
    claims = ce.claims(_table(within=1.3, gap=1.3))
    assert combined_verdict(claims) == "holds" and all(c.holds for c in claims)
    # the deviation from y = x doubles from t/T = 1 to 10: the shrinking checks fail, after
    # Holm's adjustment over the claim's 8 checks
    grows = {0.5: 0.5, 1.0: 1.0, 2.0: 1.5, 10.0: 2.0}
    claims = ce.claims(_table(within=1.3, gap=1.3, scale=grows))
    shrink = [c for c in claims if "strictly decreases" in c.statement]
    assert [c.verdict for c in shrink] == ["fails", "fails"] and combined_verdict(claims) == "fails"
    assert all(c.family == 8 and c.p_fail < 0.025 / 8 for c in shrink)
    assert all(c.holds for c in claims if c not in shrink)
    pooled = [c for c in claims if "pooled" in c.statement]
    for p, c in zip(pooled, shrink, strict=True):
        assert c.value == pytest.approx(p.value - 1.0, rel=1e-9)  # (2 - 1) (slope - 1)
    # a teacher that fits every training label has not been stopped early: inconclusive
    claims = ce.claims(_table(within=1.3, gap=1.3, train_fit=1.0))
    assert combined_verdict(claims) == "inconclusive"
    assert all(c.verdict == "inconclusive" and not c.premise_met for c in claims)
    assert claims[0].premise[0].value == 1.0 and "early-stopped" in claims[0].premise[0].statement


@pytest.fixture(scope="module")
def tiny():
    cfg = dataclasses.replace(
        ce.PRESETS["quick"], n_train=40, n_test=30, n_designs=3, features=ce.FEATURES
    )
    return cfg, ce.run(cfg, progress=False)


def test_run_table_and_claims(tiny):
    cfg, df = tiny
    assert {"trial", "risk", "design", "kind"} <= set(df.columns)
    pts = df[df.kind == "point"]
    per_task = len(cfg.features) * len(cfg.ratios) * (cfg.n_train + cfg.n_test)
    assert len(pts) == per_task * cfg.n_designs * len(cfg.designs)
    assert set(pts.risk.unique()) <= {0.0, 1.0}
    analysis = ce.analyze(df)
    assert len(analysis["slopes"]) == len(cfg.features) * 2 * len(cfg.ratios) * 2
    claim_list = ce.claims(df, analysis)
    assert {c.id for c in claim_list} == set(ce.CLAIM_IDS)
    # per feature map: pooled and two within-group slopes on two splits, shrinking on two
    assert len(claim_list) == 8 * len(cfg.features)
    assert set(analysis["group_fits"]) >= {
        (f, "atypical", sp, flag) for f in cfg.features for sp in ce.SPLITS for flag in ce.GROUPS
    }
    # the numbers, recomputed from the table's points: pooled OLS slopes at t/T = 1 and 10
    slope = {
        key: np.polyfit(g.teacher_logit, g.student_logit, 1)[0]
        for key, g in pts[pts.design == "atypical"].groupby(["features", "split", "ratio"])
    }
    for c in claim_list:
        features, split = c.statement.split(",")[0], c.statement.split(", ")[1].split(" ")[0]
        if "pooled" in c.statement:
            assert c.value == pytest.approx(slope[features, split, 1.0], rel=1e-9)
        elif "strictly decreases" in c.statement:
            d = abs(slope[features, split, 10.0] - 1) - abs(slope[features, split, 1.0] - 1)
            assert c.value == pytest.approx(d, rel=1e-9)
            assert c.p_fail is not None and c.family > 1


def test_run_is_reproducible(tiny):
    cfg, df = tiny
    again = ce.run(cfg, progress=False)
    pd.testing.assert_frame_equal(df, again)
