"""Unit tests of simulations/confidence_exaggeration.py (claim NAG-6)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
from scipy.spatial.distance import pdist

from kdtheory.dynamics import distill_filter, gd_filter, gd_predictions, gd_weights
from kdtheory.kernels import gaussian
from kdtheory.rates import fit_slope
from simulations import confidence_exaggeration as ce


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


def test_long_student_reproduces_teacher_slope_one():
    """NAG-4 limit: t -> inf gives the teacher, so the scatter lies on y = x."""
    s, t = _sample(5, n=30, dim=60), _sample(6, n=30, dim=60)
    flow = ce.SpectralFlow.of("linear", s.X, t.X)
    T = ce.teacher_time(flow.eigenvalues, flow.left.T @ s.y, 10.0)
    f_t = flow.predict(gd_filter(flow.eigenvalues, T), s.y)[1]
    f_s = flow.predict(distill_filter(flow.eigenvalues, np.inf, T), s.y)[1]
    x, y = ce.top_class_logits(f_t, f_s)
    assert fit_slope(x, y).slope == pytest.approx(1.0, abs=1e-10)


def test_shrinks_toward_one_rules():
    lo = np.array([1.2, 1.1, 1.05, 0.99])
    hi = np.array([1.6, 1.5, 1.25, 1.01])
    assert ce.shrinks_toward_one(np.array([1.4, 1.3, 1.15, 1.0]), lo, hi, 1)
    # undershoot: |slope - 1| grows again at the end
    assert not ce.shrinks_toward_one(np.array([1.4, 1.3, 1.01, 0.97]), lo, hi, 1)
    # last interval reaches farther from 1 than the main interval's distance 0.1
    assert not ce.shrinks_toward_one(
        np.array([1.4, 1.3, 1.15, 1.0]), lo, np.array([1.6, 1.5, 1.25, 1.2]), 1
    )


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
    assert len(claim_list) == 2 * len(cfg.features)


def test_run_is_reproducible(tiny):
    cfg, df = tiny
    again = ce.run(cfg, progress=False)
    pd.testing.assert_frame_equal(df, again)
