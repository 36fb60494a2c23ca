"""Bad input to the public estimators and losses: one clear error naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, PredefinedSplit

from kdtheory import DistilledRegressor, GradientDescentRegressor, ResidualAsTeacher, SoftMatching
from kdtheory.losses import kl_divergence, power_divergence, tempered_kd_loss

REGRESSORS = [
    GradientDescentRegressor,
    SoftMatching,
    ResidualAsTeacher,
    lambda: DistilledRegressor(Ridge()),
]
NON_NUMERIC_Y = [
    np.array(["a", "b", "c", "d"]),
    ["a", "b", "c", "d"],
    np.array(["a", 1, 2.0, None], dtype=object),
]


@pytest.mark.parametrize("make", REGRESSORS)
@pytest.mark.parametrize("y", NON_NUMERIC_Y, ids=["str", "list", "object"])
def test_regressors_reject_non_numeric_targets_naming_y(make, y):
    X = np.arange(8.0).reshape(4, 2)
    with pytest.raises(ValueError, match="y must hold real numbers"):
        make().fit(X, y)


@pytest.mark.parametrize("make", REGRESSORS)
def test_regressors_reject_complex_targets_as_scikit_learn_does(make):
    with pytest.raises(ValueError, match="Complex data not supported"):
        make().fit(np.arange(8.0).reshape(4, 2), np.array([1 + 1j, 2, 3, 4]))


@pytest.mark.parametrize("make", REGRESSORS)
def test_regressors_accept_numeric_object_targets(make):
    X = np.arange(8.0).reshape(4, 2)
    make().fit(X, np.array([0.5, 1, 2, 3], dtype=object))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    k=st.integers(2, 6),
    bad=st.sampled_from([-1e-12, -0.3, -5.0, np.nan]),
    which=st.sampled_from(["p", "q"]),
    lam=st.sampled_from([-1.0, -0.7, 0.0, 2 / 3, 1.0, 3.0]),
)
def test_divergences_reject_negative_probabilities(seed, k, bad, which, lam):
    rng = np.random.default_rng(seed)
    p, q = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    j = rng.integers(k)
    (p if which == "p" else q)[j] = bad
    with pytest.raises(ValueError, match=rf"^{which} must hold non-negative numbers.*\({j},\)"):
        power_divergence(p, q, lam)
    with pytest.raises(ValueError, match=rf"^{which} must hold non-negative numbers"):
        kl_divergence(p, q)
    if which == "p":
        with pytest.raises(ValueError, match="^teacher_proba must hold non-negative"):
            tempered_kd_loss(rng.standard_normal(k), p, 2.0)


@pytest.mark.parametrize(
    "cv",
    [
        KFold(2),  # the labels are sorted: each test fold holds one class
        PredefinedSplit(np.r_[np.zeros(20), np.ones(20)]),
        [(np.arange(10, 40), np.arange(10))],  # an iterable of (train, test) with one class
    ],
    ids=["kfold-sorted", "predefined", "iterable"],
)
def test_cv_choice_of_c_refuses_folds_without_both_classes(cv):
    """c='cv' scores each c by ROC AUC on held-out folds; a fold with one class makes the AUC
    undefined, which used to pick the first grid value silently."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.model_selection import check_cv

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.r_[np.zeros(20), np.ones(20)].astype(int)
    p = np.clip(0.5 + 0.3 * X[:, 0], 0.01, 0.99)
    student = RandomForestRegressor(5, random_state=0)
    est = DistilledRegressor(student, correction="bound_fast", c="cv", cv=check_cv(cv))
    with pytest.raises(ValueError, match=r"c='cv': test fold 0 .* holds only class 0"):
        est.fit(X, y, teacher_proba=p)
