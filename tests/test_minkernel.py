"""The linear-time path for the kernel min(x, x') equals the dense one (issue: structured path).

Property tests over random designs (unsorted, with duplicated points and points at 0), ridges
and shifts: relative difference of coefficients and predictions at most 1e-8, a bound that holds
for backward-stable solvers whenever the dense system's condition number stays below about 1e7
(the ridges drawn here keep it there: cond <= (||K|| + a) / a with ||K|| <= n).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdtheory._minkernel import (
    MinKernelSmoother,
    min_kernel_predict,
    min_kernel_ridge,
    min_rat_fixed_point,
    min_sm,
)
from kdtheory.student_teacher import rat_fixed_point

RTOL = 1e-8


def _gram(a, b):
    return np.minimum(np.asarray(a)[:, None], np.asarray(b)[None, :])


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@st.composite
def designs(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n, m = draw(st.integers(2, 60)), draw(st.integers(2, 60))
    shift = draw(st.floats(0.2, 5.0))
    X = rng.uniform(0, 1, n)
    Xt = rng.uniform(0, 1, m) ** shift  # covariate shift toward 0 or 1
    if draw(st.booleans()):  # duplicated points, within and across the samples, and 0
        X[: n // 3] = X[n // 3 : 2 * (n // 3)]
        Xt[0] = X[-1]
        X[0] = 0.0
    y = rng.normal(size=n)
    n_total = n + m
    a_T = n_total * 10 ** draw(st.floats(-4, 1))
    a_S = n_total * 10 ** draw(st.floats(-4, 1))
    return X, y, Xt, a_T, a_S


@settings(max_examples=60, deadline=None)
@given(designs())
def test_kernel_ridge_and_predictions_match_dense(design):
    X, y, Xt, a_T, _ = design
    c = min_kernel_ridge(X, y, a_T)
    dense = np.linalg.solve(_gram(X, X) + a_T * np.eye(X.size), y)
    assert _rel(c, dense) <= RTOL
    assert _rel(min_kernel_predict(X, c, Xt), _gram(Xt, X) @ dense) <= RTOL


@settings(max_examples=60, deadline=None)
@given(designs())
def test_tridiagonal_smoother_matches_dense_kernel_ridge(design):
    """:class:`MinKernelSmoother` (a tridiagonal system in the suffix sums) on the same designs,
    several columns at once, evaluated inside, at and beyond the points (below 0 included)."""
    X, y, Xt, a_T, _ = design
    Y = np.column_stack([y, y**2, np.ones_like(y)])
    z = np.concatenate([Xt, X, [-0.5, 0.0, 1.5]])
    dense = _gram(z, X) @ np.linalg.solve(_gram(X, X) + a_T * np.eye(X.size), Y)
    assert _rel(MinKernelSmoother(X, Y).predict(a_T, z), dense) <= RTOL


@settings(max_examples=60, deadline=None)
@given(designs())
def test_rat_and_sm_match_dense(design):
    X, y, Xt, a_T, a_S = design
    dense = rat_fixed_point(
        y,
        teacher_gram=_gram(X, X),
        teacher_cross=_gram(Xt, X),
        student_cross=_gram(X, Xt),
        teacher_ridge=a_T,
        student_ridge=a_S,
    )
    assert _rel(min_rat_fixed_point(X, y, Xt, a_T, a_S), dense) <= RTOL
    G = _gram(Xt, X) @ np.linalg.inv(_gram(X, X) + a_T * np.eye(X.size))
    sm = np.linalg.solve(_gram(Xt, Xt) + a_S * np.eye(Xt.size), G @ y)
    assert _rel(min_sm(X, y, Xt, a_T, a_S), sm) <= RTOL


def test_several_response_columns_are_solved_together():
    rng = np.random.default_rng(1)
    X, Xt = rng.uniform(size=40), rng.uniform(size=30)
    Y = rng.normal(size=(40, 3))
    both = min_rat_fixed_point(X, Y, Xt, 2.0, 0.5)
    for j in range(3):
        np.testing.assert_allclose(both[:, j], min_rat_fixed_point(X, Y[:, j], Xt, 2.0, 0.5))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="x must hold one-dimensional points"):
        min_kernel_ridge(np.ones((5, 2)), np.ones(5), 1.0)
    with pytest.raises(ValueError, match="X_target holds NaN"):
        min_rat_fixed_point(np.ones(3), np.ones(3), [0.1, np.nan], 1.0, 1.0)
    with pytest.raises(np.linalg.LinAlgError, match="singular"):
        min_kernel_ridge([0.5, 0.5, 0.2], [1.0, 2.0, 0.0], 0.0)  # interpolate duplicates
