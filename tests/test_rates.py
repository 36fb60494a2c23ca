"""Tests of kdtheory.rates (fitted log-log slopes) and of kdtheory.claims built from them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st

from kdtheory.claims import Claim, claims_table_markdown
from kdtheory.rates import RateFit, fit_rate, fit_rate_means

NS = np.array([50, 100, 200, 400, 800, 1600])


def _noisy_power_law(seed: int = 12345, reps: int = 20, sigma: float = 0.2):
    rng = np.random.default_rng(seed)
    n = np.repeat(NS, reps)
    risk = 3.0 * n**-0.5 * np.exp(sigma * rng.standard_normal(n.size))
    return n, risk


def test_recovers_known_slope():
    n, risk = _noisy_power_law()
    fit = fit_rate(n, risk)
    assert fit.ci_contains(-0.5)
    assert fit.ci[0] < fit.slope < fit.ci[1]
    assert fit.ci[1] - fit.ci[0] < 0.1  # informative, not just wide
    assert not fit.ci_contains(0.0) and not fit.ci_contains(-1.0)
    assert fit.intercept_ci[0] <= np.log(3.0) <= fit.intercept_ci[1]
    assert fit.n_obs == n.size
    assert fit.level == 0.95
    np.testing.assert_allclose(fit.predict(NS), 3.0 * NS**-0.5, rtol=0.1)
    assert "log(n)" in fit.summary and "OLS" in fit.summary


def test_matches_statsmodels_and_level():
    n, risk = _noisy_power_law(seed=1)
    result = sm.OLS(np.log(risk), sm.add_constant(np.log(n))).fit()
    for level in (0.8, 0.95, 0.99):
        fit = fit_rate(n, risk, level=level)
        np.testing.assert_allclose(fit.ci, result.conf_int(alpha=1 - level)[1], rtol=1e-12)
        np.testing.assert_allclose(
            fit.intercept_ci, result.conf_int(alpha=1 - level)[0], rtol=1e-12
        )
    assert fit_rate(n, risk, level=0.99).ci[0] < fit_rate(n, risk, level=0.8).ci[0]


def test_weights_give_wls():
    n, risk = _noisy_power_law(seed=2)
    weights = np.linspace(1.0, 3.0, n.size)
    fit = fit_rate(n, risk, weights=weights)
    result = sm.WLS(np.log(risk), sm.add_constant(np.log(n)), weights=weights).fit()
    assert fit.slope == pytest.approx(result.params[1], rel=1e-12)
    assert fit.slope != pytest.approx(fit_rate(n, risk).slope, rel=1e-6)
    assert "WLS" in fit.summary


def test_accepts_lists_arrays_series():
    n, risk = _noisy_power_law(seed=3, reps=2)
    from_array = fit_rate(n, risk)
    frame = pd.DataFrame({"n": n, "risk": risk}, index=np.arange(n.size)[::-1] * 7)
    assert fit_rate(n.tolist(), risk.tolist()) == from_array
    assert fit_rate(frame["n"], frame["risk"]) == from_array


def test_ratefit_helpers():
    fit = RateFit(
        slope=-0.6612, ci=(-0.7049, -0.6201), intercept=1.0, intercept_ci=(0.9, 1.1), n_obs=10
    )
    assert fit.label() == "slope -0.66 [-0.70, -0.62]"
    assert fit.label(".3f") == "slope -0.661 [-0.705, -0.620]"
    assert fit.ci_contains(-0.7049) and fit.ci_contains(-0.66)
    assert not fit.ci_contains(-0.5) and not fit.ci_contains(-0.71)
    np.testing.assert_allclose(fit.predict([1.0, 4.0]), np.e * np.array([1.0, 4.0**-0.6612]))


@settings(max_examples=60, deadline=None)
@given(
    slope=st.floats(-3.0, 3.0),
    intercept=st.floats(-5.0, 5.0),
    exponents=st.sets(st.integers(0, 16), min_size=3, max_size=10),
    reps=st.integers(1, 3),
)
def test_exact_power_law_is_recovered(slope, intercept, exponents, reps):
    # Sample sizes at least a factor 2 apart, so rounding in log(risk) (about 1e-14 here) is
    # amplified by at most 1/log(2) in the slope.
    n = np.repeat(10.0 * 2.0 ** np.array(sorted(exponents)), reps)
    risk = np.exp(intercept) * n**slope
    fit = fit_rate(n, risk)
    assert abs(fit.slope - slope) < 1e-9
    assert abs(fit.intercept - intercept) < 1e-9
    assert fit.ci[1] - fit.ci[0] < 1e-9
    assert fit.ci_contains(fit.slope)
    means = fit_rate_means(n, risk)
    assert abs(means.slope - fit.slope) < 1e-9
    assert abs(means.intercept - fit.intercept) < 1e-9
    assert means.n_obs == len(exponents)


def test_fit_rate_means_uses_inverse_variance_weights():
    rng = np.random.default_rng(4)
    n = np.repeat(NS, 8)
    sigma = np.repeat(np.linspace(0.05, 0.5, NS.size), 8)  # noisier at large n
    risk = 2.0 * n**-1.0 * np.exp(sigma * rng.standard_normal(n.size))
    fit = fit_rate_means(n, risk)
    logs = pd.Series(np.log(risk)).groupby(n)
    weights = logs.count() / logs.var()
    result = sm.WLS(
        logs.mean().to_numpy(),
        sm.add_constant(np.log(NS.astype(float))),
        weights=weights.to_numpy(),
    ).fit()
    assert fit.slope == pytest.approx(result.params[1], rel=1e-12)
    assert fit.n_obs == NS.size
    assert fit.ci_contains(-1.0)
    assert "WLS" in fit.summary


def test_fit_rate_means_falls_back_to_ols():
    n = np.array([10, 20, 40, 80, 80])  # single observations: variances undefined
    risk = np.array([1.0, 0.6, 0.3, 0.2, 0.1])
    fit = fit_rate_means(n, risk)
    means = np.log([1.0, 0.6, 0.3, np.sqrt(0.02)])
    result = sm.OLS(means, sm.add_constant(np.log([10.0, 20, 40, 80]))).fit()
    assert fit.slope == pytest.approx(result.params[1], rel=1e-12)
    assert "OLS" in fit.summary
    with pytest.raises(ValueError, match="3 distinct"):
        fit_rate_means([10, 10, 20, 20], [1.0, 1.1, 0.5, 0.6])


@pytest.mark.parametrize(
    ("n", "risk", "kwargs", "name"),
    [
        ([10, 20, 40], [1.0, 0.5], {}, "same length"),
        ([10, 20], [1.0, 0.5], {}, "at least 3"),
        ([10, 10, 10], [1.0, 0.5, 0.3], {}, "distinct"),
        ([10, 0, 40], [1.0, 0.5, 0.3], {}, "`n`"),
        ([10, -20, 40], [1.0, 0.5, 0.3], {}, "`n`"),
        ([10, np.nan, 40], [1.0, 0.5, 0.3], {}, "`n`"),
        ([10, 20, 40], [1.0, 0.0, 0.3], {}, "`risk`"),
        ([10, 20, 40], [1.0, np.inf, 0.3], {}, "`risk`"),
        ([10, 20, 40], [1.0, np.nan, 0.3], {}, "`risk`"),
        ([10, 20, 40], ["a", "b", "c"], {}, "`risk`"),
        ([[10, 20, 40]], [[1.0, 0.5, 0.3]], {}, "`n`"),
        ([10, 20, 40], [1.0, 0.5, 0.3], {"weights": [1.0, 2.0]}, "`weights`"),
        ([10, 20, 40], [1.0, 0.5, 0.3], {"weights": [1.0, -2.0, 1.0]}, "`weights`"),
        ([10, 20, 40], [1.0, 0.5, 0.3], {"level": 1.5}, "`level`"),
    ],
)
def test_bad_input(n, risk, kwargs, name):
    with pytest.raises(ValueError, match=name):
        fit_rate(n, risk, **kwargs)


def test_claim_from_fit_roundtrip_and_table():
    n, risk = _noisy_power_law()
    fit = fit_rate(n, risk)
    claim = Claim(
        "RAT-2",
        "risk | decays like n^-1/2",
        fit.ci_contains(-0.5),
        np.float64(fit.slope),
        fit.ci,
        detail=fit.label(),
    )
    record = json.loads(json.dumps(claim.to_dict()))
    restored = Claim.from_dict(record)
    # the record keeps the numbers at the precision their interval supports: a second round
    # trip changes nothing, and the stored slope is the fitted one to that precision
    assert restored.to_dict() == record
    assert (restored.outcome, restored.verdict, restored.statement) == (
        True,
        "holds",
        claim.statement,
    )
    assert restored.value == pytest.approx(fit.slope, abs=1e-4)
    assert restored.ci == pytest.approx(fit.ci, abs=1e-4)
    assert type(record["holds"]) is bool
    failed = Claim("RAT-1", "no decay", False)
    table = claims_table_markdown([claim, failed]).splitlines()
    assert table[0] == "| id | check | value [95% CI] | verdict |"
    assert table[2].startswith("| RAT-2 | risk \\| decays like n^-1/2 | -0.")
    assert table[2].endswith("| holds |")
    assert table[3] == "| RAT-1 | no decay | - | **fails** |"
