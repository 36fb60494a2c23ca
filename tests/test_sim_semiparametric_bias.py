"""Tests of kdtheory.simulations.semiparametric_bias (claims SEMI-1, SEMI-2, SEMI-5).

The bands the claims use are derived in the module's comments; the tests check those derivations
(the local-slope inequalities of SEMI-1, the expansion constants ``K`` of SEMI-2), the exact
conditional moments against Monte Carlo, that the quick preset runs, its asserted checks hold
and its SEMI-2 slopes agree with a recomputation from the table, and that hand-altered tables get
the verdicts their rules give (a slope outside its margin fails, an unmet premise is
inconclusive).

Tolerances. Floating point: least squares on a few thousand points in double precision agrees with
a second solve to ``1e-8`` relative (condition number of ``Phi' Phi`` below 10). Monte Carlo: a
mean of ``N`` draws is within 5 standard errors of its expectation except with probability
below ``6e-7`` (normal tail); a sample variance of ``N`` near-normal draws has relative standard
error ``sqrt(2 / (N - 1))``, and we allow 5 of them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.linear_model import LinearRegression

from kdtheory.claims import Claim, combined_verdict
from kdtheory.semiparametric import DistilledRegressor, distillation_target, target_bias
from kdtheory.simulations import semiparametric_bias as sb

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"


def _kd_slope(u):
    """Local log-log slope of log(1 + u) in u."""
    return u / ((1 + u) * np.log1p(u))


def _orth_bias(u):
    return np.log1p(u) - u / (1 + u)


def _orth_slope(u):
    """Local log-log slope of b(u) = log(1 + u) - u / (1 + u)."""
    return u**2 / ((1 + u) ** 2 * _orth_bias(u))


@pytest.mark.claim("SEMI-1")
@settings(max_examples=200, deadline=None)
@given(u=st.floats(1e-3, 0.75))
def test_semi1_local_slope_and_ratio_bounds(u):
    """SEMI-1 bands: 1 - u/2 <= s_KD <= 1, 2 - 4u/3 <= s_orth <= 2, u^2/2 - 2u^3/3 <= b <= u^2/2."""
    rel = 1e-9  # rounding of log1p and the quotients near u = 1e-3
    assert 1 - sb.POINTWISE_C["kd"] * u - rel <= _kd_slope(u) <= 1 + rel
    assert 2 - sb.POINTWISE_C["orthogonal"] * u - rel <= _orth_slope(u) <= 2 + rel
    b = _orth_bias(u)
    assert u**2 / 2 - 2 * u**3 / 3 <= b * (1 + rel)
    assert b <= u**2 / 2 * (1 + rel)


@pytest.mark.claim("SEMI-1")
@settings(max_examples=50, deadline=None)
@given(p0=st.floats(0.05, 0.95), rel_eps=st.floats(1e-3, 0.5))
def test_pointwise_bias_is_the_closed_form(p0, rel_eps):
    """The package's target_bias on the log scale is log(1 + u) (KD) and b(u) (orthogonal)."""
    eps = rel_eps * min(p0, 1 - p0)  # p_hat stays inside (0, 1), no clipping
    u = eps / p0
    kd = target_bias(p0, p0 + eps, scale="logp", correction="none")
    orth = target_bias(p0, p0 + eps, scale="logp", correction="orthogonal")
    # log p_hat - log p0 and the correction cancel to b(u): absolute rounding ~ 1e-16 * |log p0|
    np.testing.assert_allclose(kd, np.log1p(u), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(orth, _orth_bias(u), rtol=1e-6, atol=1e-14)


@pytest.mark.claim("SEMI-2")
def test_semi2_expansion_constants():
    """The moments of r = sin(pi x1 / 2) and the constants K of the SEMI-2 bands."""
    x, w = np.polynomial.legendre.leggauss(400)
    w = w / 2  # U[-1, 1]
    r = np.sin(np.pi * x / 2)
    np.testing.assert_allclose(sb.teacher_direction(np.column_stack([x, x])), r)
    for value, exact in ((w @ r**2, sb._A2), (w @ r**4, sb._A4)):
        assert value == pytest.approx(exact, abs=1e-12)
    for value, exact in ((w @ (x * r), sb._C1), (w @ (x * r**3), sb._C3)):
        assert value == pytest.approx(exact, abs=1e-12)

    def l2_projection_norm(g):  # onto span(1, x1) in L2(U[-1, 1])
        return np.hypot(w @ g, np.sqrt(3.0) * (w @ (x * g)))

    biases = {"kd": np.log1p, "orthogonal": _orth_bias}
    eps, h = 0.02, 1e-3
    for method, b in biases.items():
        up = l2_projection_norm(b(eps * np.exp(h) * r))
        down = l2_projection_norm(b(eps * np.exp(-h) * r))
        slope = (np.log(up) - np.log(down)) / (2 * h)
        # local slope = k + K eps^2 + O(eps^4): at eps = 0.02 the remainder is ~1e-3 K relative
        excess = (slope - sb.ORDER[method]) / eps**2
        assert excess == pytest.approx(sb.SLOPE_K[method], rel=0.01)


def _design(n, rng, eps):
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    Phi = np.column_stack([np.ones(n), X])
    p0 = np.exp(Phi @ np.asarray(sb.Config(ns=(n,), n_designs=1).beta))
    p_hat = p0 * (1.0 + eps * sb.teacher_direction(X))
    return X, Phi, p0, p_hat


@pytest.mark.parametrize("method", ["kd", "orthogonal"])
def test_student_moments_match_monte_carlo(method):
    rng = np.random.default_rng(3)
    n, draws = 40, 20_000
    X, Phi, p0, p_hat = _design(n, rng, eps=0.2)
    hat = np.linalg.solve(Phi.T @ Phi, Phi.T)
    mean, cov = sb.student_moments(hat, p0, p_hat, method)
    Y = (rng.random((draws, n)) < p0).astype(float)
    gamma = 0.0 if method == "kd" else 1.0 / p_hat
    coefs = distillation_target(Y, p_hat, scale="logp", gamma=gamma) @ hat.T
    if method == "kd":  # y-free target: no variance at all
        np.testing.assert_allclose(coefs, np.broadcast_to(mean, coefs.shape), rtol=1e-12)
        np.testing.assert_allclose(cov, 0.0, atol=1e-30)
        return
    se = np.sqrt(np.diag(cov) / draws)
    assert np.all(np.abs(coefs.mean(axis=0) - mean) <= 5 * se)
    np.testing.assert_allclose(
        np.var(coefs, axis=0, ddof=1), np.diag(cov), rtol=5 * np.sqrt(2 / (draws - 1))
    )


@pytest.mark.parametrize("method", ["kd", "orthogonal"])
def test_distilled_regressor_is_least_squares_on_the_target(method):
    """The sampled student in the task equals hat @ target (the exact moments' premise)."""
    rng = np.random.default_rng(4)
    X, Phi, p0, p_hat = _design(2000, rng, eps=0.1)
    y = (rng.random(len(p0)) < p0).astype(float)
    student = DistilledRegressor(LinearRegression(), scale="logp", correction=sb.METHODS[method])
    student.fit(X, y, teacher_proba=p_hat)
    coef = np.r_[student.student_.intercept_, student.student_.coef_]
    hat = np.linalg.solve(Phi.T @ Phi, Phi.T)
    np.testing.assert_allclose(coef, hat @ student.target_, rtol=1e-8, atol=1e-10)


def test_teacher_is_never_clipped():
    """p_hat = p0 (1 + eps r) stays in [1/500, 1] for the largest eps: no clipping bias."""
    cfg = sb.PRESETS["full"]
    _, _, p0, p_hat = _design(50_000, np.random.default_rng(0), eps=max(cfg.eps))
    assert p_hat.min() > 1 / 500 and p_hat.max() < 1.0


def test_task_rows_and_kd_identity():
    cfg = sb.Config(ns=(5000,), n_designs=1, eps=(0.2, 0.05))
    rows = sb._task(np.random.default_rng(0), n=5000, cfg=cfg)
    assert len(rows) == 2 * len(sb.METHODS)
    for row in rows:
        assert row["risk"] == pytest.approx(row["bias"] ** 2 + row["variance"])
        assert row["delta2"] == 3 / 5000
        if row["method"] == "kd":  # no label noise: the sampled fit is its conditional mean
            assert row["variance"] == 0.0
            assert row["sampled_risk"] == pytest.approx(row["risk"], rel=1e-8)


@pytest.fixture(scope="module")
def quick():
    df = sb.run(sb.PRESETS["quick"], progress=False)
    analysis = sb.analyze(df)
    return df, analysis, sb.claims(df, analysis)


@pytest.mark.claim("SEMI-1", "SEMI-2", "SEMI-5")
def test_quick_preset_claims_hold(quick):
    df, analysis, claims = quick
    assert {"trial", "risk", "kind"} <= set(df.columns)
    assert all(isinstance(c, Claim) for c in claims)
    assert {c.id for c in claims} == set(sb.CLAIM_IDS)
    asserted = [c for c in claims if c.asserted]
    assert not [c for c in asserted if not c.holds]
    for cid in sb.CLAIM_IDS:
        assert combined_verdict([c for c in asserted if c.id == cid]) == "holds"
    # the reported check (the sampled fits' factor-2 convention) is not required to hold: it
    # keeps the verdict of the committed record, whatever that is
    record = json.loads((FIGURES / "semiparametric_bias-quick.json").read_text())
    recorded = {c["statement"]: c["verdict"] for c in record["claims"]}
    reported = [c for c in claims if not c.asserted]
    assert [c.id for c in reported] == ["SEMI-2"]
    assert [c.verdict for c in reported] == [recorded[c.statement] for c in reported]
    # SEMI-2's headline, recomputed from the table without fit_slope: every design has the same
    # eps grid, so the pooled OLS slope is the mean of the per-design slopes b_g, and the
    # cluster-robust variance (statsmodels' correction G/(G-1) (N-1)/(N-2)) is
    # var(b_g) / G (N-1)/(N-2), with a t interval on G - 1 df. Slopes near 1 (KD) and 2
    # (corrected), inside the expansion's band; the interval excludes the exponent itself.
    est = df[df.kind == "estimator"]
    eps_max = max(sb.PRESETS["quick"].eps)
    for method, k in sb.ORDER.items():
        g = est[est.method == method]
        b = np.array(
            [np.polyfit(np.log(d.eps), np.log(d.bias), 1)[0] for _, d in g.groupby(["n", "trial"])]
        )
        n_groups, n_points = b.size, len(g)
        assert n_groups == len(sb.PRESETS["quick"].ns) * sb.PRESETS["quick"].n_designs
        se = b.std(ddof=1) / np.sqrt(n_groups) * np.sqrt((n_points - 1) / (n_points - 2))
        half = stats.t.ppf(0.975, n_groups - 1) * se
        lo, hi = b.mean() - half, b.mean() + half
        fit = analysis["slopes"][method]
        assert fit.slope == pytest.approx(b.mean(), rel=1e-9)
        assert fit.ci == pytest.approx((lo, hi), rel=1e-9)
        assert fit.df == n_groups - 1
        band = sb.SLOPE_K[method] * eps_max**2
        assert k - band < lo and hi < k + band and not lo <= k <= hi


def _check(claims, cid, words):
    (found,) = [c for c in claims if c.id == cid and words in c.statement]
    return found


@pytest.mark.claim("SEMI-2")
def test_semi2_slope_outside_the_band_fails(quick):
    """A KD bias growing like eps^1.1 leaves the band 1 +- 0.026: the equivalence test fails."""
    df = quick[0].copy()
    kd = (df.kind == "estimator") & (df.method == "kd")
    df.loc[kd, "bias"] *= df.loc[kd, "eps"] ** 0.1
    claims = sb.claims(df)
    assert _check(claims, "SEMI-2", "estimator level, KD").verdict == "fails"
    assert _check(claims, "SEMI-2", "estimator level, orthogonal").verdict == "holds"
    assert combined_verdict([c for c in claims if c.id == "SEMI-2"]) == "fails"


@pytest.mark.claim("SEMI-2")
def test_semi2_variance_slope_and_sampled_ratio_fail_outside_their_margins(quick):
    """A variance decaying like n^-0.7 (outside -1 +- 1/(2 log n_max)) fails; sampled errors ten
    times the exact decomposition fall outside the factor-2 margin."""
    df = quick[0].copy()
    orth = (df.kind == "estimator") & (df.method == "orthogonal")
    df.loc[orth, "variance"] *= (df.loc[orth, "n"] / df.n.min()) ** 0.3
    df.loc[orth, "sampled_risk"] *= 10.0
    claims = sb.claims(df)
    margin = 1 / (2 * np.log(max(sb.PRESETS["quick"].ns)))
    variance = _check(claims, "SEMI-2", "variance is the n^{-1/2} part")
    assert variance.verdict == "fails" and variance.value == pytest.approx(-0.7, abs=0.01)
    assert f"{margin:.3g}" in variance.statement
    assert _check(claims, "SEMI-2", "sampled fits agree").verdict == "fails"


@pytest.mark.claim("SEMI-1")
def test_semi1_premise_unmet_is_inconclusive(quick):
    """A pointwise grid reaching eps = p0 (u = 1 > 3/4) leaves the bands' derivation: SEMI-1 is
    inconclusive, whatever the slopes."""
    df = quick[0]
    cfg = dataclasses.replace(sb.PRESETS["quick"], pointwise_p0=(0.01, 0.5))
    pointwise = sb._pointwise_rows(cfg)
    claims = sb.claims(pd.concat([pointwise, df[df.kind == "estimator"]], ignore_index=True))
    semi1 = [c for c in claims if c.id == "SEMI-1"]
    assert all(not c.premise_met and c.verdict == "inconclusive" for c in semi1)
    assert semi1[0].premise[0].value == pytest.approx(1.0)
    assert combined_verdict(semi1) == "inconclusive"


@pytest.mark.claim("SEMI-5")
def test_semi5_wrong_shape_fails(quick):
    """KD risks replaced by the corrected estimator's (shape d/n + e^4): KD's e^2 shape no longer
    fits better, SEMI-5 fails."""
    df = quick[0].copy()
    est = df[df.kind == "estimator"]
    key = ["n", "trial", "eps"]
    orth = est[est.method == "orthogonal"].set_index(key).risk
    kd = est[est.method == "kd"]
    df.loc[kd.index, "risk"] = orth.loc[pd.MultiIndex.from_frame(kd[key])].to_numpy()
    claims = sb.claims(df)
    assert _check(claims, "SEMI-5", "KD").verdict == "fails"
    assert _check(claims, "SEMI-5", "orthogonal").verdict == "holds"


def test_quick_preset_plot(quick):
    df, analysis, claims = quick
    fig = sb.plot(df, analysis, claims)
    try:
        assert len(fig.axes) == 3
        assert all(ax.get_xlabel() for ax in fig.axes)
    finally:
        plt.close(fig)


def test_presets():
    assert set(sb.PRESETS) == {"quick", "full"}
    quick, full = sb.PRESETS["quick"], sb.PRESETS["full"]
    assert max(full.ns) > max(quick.ns) and full.n_designs > quick.n_designs
    with pytest.raises(AttributeError):
        quick.seed = 1
