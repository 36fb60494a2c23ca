"""The decision rules behind the verdicts (kdtheory.verdicts) and the three-verdict Claim."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from kdtheory.claims import Claim, Premise, combined_verdict, verdict_summary
from kdtheory.verdicts import (
    ALPHA,
    Estimate,
    check,
    estimate_from_ci,
    estimate_from_fit,
    holm,
    holm_rejections,
    mean_estimate,
    paired_estimate,
    premise,
    ratio_estimate,
    region_outcome,
)

finite = st.floats(-1e3, 1e3, allow_nan=False)
positive = st.floats(1e-3, 1e2, allow_nan=False)
dfs = st.one_of(st.just(math.inf), st.integers(1, 200).map(float))


# ------------------------------------------------------------------ the three verdicts
def test_an_unmet_premise_makes_any_outcome_inconclusive():
    unmet = Premise("teacher beats labels", False, -0.1, (-0.2, -0.05))
    met = Premise("shift hurts", True, 0.05, (0.04, 0.06))
    for outcome in (True, False, None):
        claim = Claim("RAT-6", "RaT beats SM", outcome, 0.03, premise=[met, unmet])
        assert claim.verdict == "inconclusive" and not claim.holds and not claim.premise_met
    assert Claim("RAT-6", "s", True, premise=[met]).verdict == "holds"
    assert Claim("RAT-6", "s", False, premise=[met]).verdict == "fails"
    assert Claim("RAT-6", "s", None, premise=[met]).verdict == "inconclusive"


def test_holds_keyword_and_explicit_verdict():
    assert Claim("X-1", "s", holds=True).verdict == "holds"
    assert Claim("X-1", "s", holds=False).verdict == "fails"
    assert Claim("X-1", "s", verdict="inconclusive").outcome is None
    assert Claim("X-1", "s", verdict="fails").outcome is False
    with pytest.raises(ValueError, match="one of"):
        Claim("X-1", "s", verdict="maybe")
    with pytest.raises(ValueError, match="unmet premise"):
        Claim("X-1", "s", verdict="holds", premise=[Premise("p", False)])
    with pytest.raises(ValueError, match="once"):
        Claim("X-1", "s", True, holds=False)
    with pytest.raises(ValueError, match="once"):
        Claim("X-1", "s", holds=True, verdict="fails")
    with pytest.raises(ValueError, match="relation"):
        Claim("X-1", "s", True, relation="<=")
    with pytest.raises(TypeError, match="Premise"):
        Claim("X-1", "s", True, premise=[{"statement": "p", "met": True}])


def test_replace_keeps_the_verdict_rules():
    claim = Claim("X-1", "s", True, 1.0, premise=[Premise("p", True)])
    assert dataclasses.replace(claim, asserted=False).verdict == "holds"
    assert dataclasses.replace(claim, premise=(Premise("p", False),)).verdict == "inconclusive"


def test_record_round_trip_and_old_records():
    claim = Claim(
        "RAT-1",
        "SM slope within [-0.1, 0.1]",
        None,
        -0.0123456789,
        (-0.0321, 0.0075),
        "detail",
        False,
        premise=[Premise("teacher biased", True, 0.04123456, (0.03, 0.05))],
        p_fail=0.2,
        family=4,
    )
    d = json.loads(json.dumps(claim.to_dict()))
    assert d["verdict"] == "inconclusive" and d["holds"] is False and d["outcome"] is None
    assert d["premise"][0]["met"] is True
    back = Claim.from_dict(d)
    assert back.verdict == claim.verdict and back.family == 4 and back.asserted is False
    assert back.premise[0].statement == "teacher biased"
    # stored at the digits the interval supports and four more, not 17
    assert d["value"] == -0.0123457 and d["premise"][0]["value"] == 0.0412346
    old = {"id": "NAG-2", "statement": "gap", "holds": False, "value": 1.0, "ci": None}
    assert Claim.from_dict(old).verdict == "fails"
    assert Claim.from_dict({**old, "holds": True}).verdict == "holds"


def test_bound_values_are_shown_as_bounds():
    claim = Claim("NAG-1", "error below 1e-8", True, 1e-10, relation="<")
    assert claim.value_text() == "< 1e-10"
    assert Claim.from_dict(claim.to_dict()).value_text() == "< 1e-10"


def test_combined_verdict():
    ok, bad = Claim("X-1", "a", True), Claim("X-1", "b", False)
    undecided = Claim("X-1", "c", None)
    out_of_scope = Claim("X-1", "d", False, premise=[Premise("p", False)])
    assert combined_verdict([ok, ok]) == "holds"
    assert combined_verdict([ok, bad, undecided]) == "fails"
    assert combined_verdict([ok, undecided]) == "inconclusive"
    assert combined_verdict([ok, out_of_scope]) == "holds"  # outside the claim's scope
    assert combined_verdict([out_of_scope]) == "inconclusive"
    assert combined_verdict([]) == "inconclusive"
    assert verdict_summary([ok, out_of_scope]) == "holds (1 of 2 checks hold, premise not met in 1)"
    assert verdict_summary([ok, bad, undecided]) == "fails (1 of 3 checks fail, 1 undecided)"


# ------------------------------------------------------------------ estimates
@given(st.lists(finite, min_size=2, max_size=30))
def test_mean_estimate_matches_scipy_t_interval(values):
    arr = np.asarray(values)
    est = mean_estimate(arr)
    assert est.df == arr.size - 1
    if est.se > 1e-9 * max(1.0, np.abs(arr).max()):
        lo, hi = stats.t.interval(0.95, arr.size - 1, loc=arr.mean(), scale=stats.sem(arr))
        assert est.ci() == pytest.approx((lo, hi), rel=1e-9, abs=1e-9)


@given(st.lists(st.tuples(finite, finite), min_size=3, max_size=30))
def test_paired_estimate_p_values_match_scipy(pairs):
    a, b = (np.asarray(x) for x in zip(*pairs, strict=True))
    diff = a - b
    if diff.std(ddof=1) <= 1e-6 * max(1.0, np.abs(diff).max()):
        return  # a degenerate t statistic
    est = paired_estimate(a, b)
    ref = stats.ttest_rel(a, b, alternative="greater").pvalue
    assert est.p_greater(0.0) == pytest.approx(ref, rel=1e-7, abs=1e-12)
    assert est.p_less(0.0) == pytest.approx(1 - ref, rel=1e-7, abs=1e-12)


def test_ratio_estimate_delta_method_against_simulation():
    """The delta-method standard error of a ratio of means matches the spread of the ratio
    over many replications (to Monte Carlo accuracy: 2,000 replications, 10%)."""
    rng = np.random.default_rng(0)
    n, reps = 40, 2000
    num = rng.normal(0.8, 0.3, size=(reps, n))
    den = 0.5 * num + rng.normal(1.0, 0.2, size=(reps, n))
    ratios = num.mean(axis=1) / den.mean(axis=1)
    ses = [ratio_estimate(num[i], den[i]).se for i in range(200)]
    assert np.mean(ses) == pytest.approx(ratios.std(ddof=1), rel=0.1)
    assert math.isnan(ratio_estimate([1.0, 2.0], [1.0, -1.0]).value)


def test_estimates_from_fits_and_intervals():
    from kdtheory.rates import fit_rate

    rng = np.random.default_rng(1)
    n = np.repeat([100, 200, 400, 800, 1600], 4)
    fit = fit_rate(n, n**-0.7 * np.exp(0.1 * rng.standard_normal(n.size)))
    est = estimate_from_fit(fit)
    assert est.df == n.size - 2
    assert est.ci() == pytest.approx(fit.ci, rel=1e-12)
    again = estimate_from_ci(fit.slope, fit.ci, df=fit.df)
    assert again.se == pytest.approx(est.se, rel=1e-12)
    assert estimate_from_ci(1.0, (1.0, 1.0)).se == 0.0
    with pytest.raises(ValueError, match="at least 2"):
        mean_estimate([1.0])
    with pytest.raises(ValueError, match="finite"):
        mean_estimate([1.0, np.nan])
    with pytest.raises(ValueError, match="equal lengths"):
        paired_estimate([1.0, 2.0], [1.0])


# ------------------------------------------------------------------ region checks
@given(finite, positive, dfs, finite, positive)
def test_region_outcome_follows_the_interval(value, se, df, c, width):
    """holds iff the 95% CI lies inside the region; fails iff the test of "in the region"
    rejects at 2.5%, i.e. iff the CI lies outside it; undecided otherwise."""
    est = Estimate(value, se, df)
    lo, hi = est.ci()
    for region in ({"above": c}, {"below": c}, {"above": c, "below": c + width}):
        outcome, p_fail, ci = region_outcome(est, **region)
        assert ci == (lo, hi)
        a, b = region.get("above", -math.inf), region.get("below", math.inf)
        inside, outside = a < lo and hi < b, hi < a or lo > b
        if inside:
            assert outcome is True
        if outside and abs(min(abs(hi - a), abs(lo - b))) > 1e-9 * (1 + abs(c) + se):
            assert outcome is False
        if not inside and not outside:
            assert outcome is None


def test_exact_numbers_and_bad_regions():
    assert region_outcome(Estimate(1.0, 0.0), above=0.5)[0] is True
    assert region_outcome(Estimate(0.0, 0.0), above=0.5)[0] is False
    # identical paired results: an exact zero difference is not above 0, it is decided
    assert region_outcome(mean_estimate([0.0, 0.0, 0.0]), above=0.0)[0] is False
    with pytest.raises(ValueError, match="needs"):
        region_outcome(Estimate(1.0, 0.1))
    with pytest.raises(ValueError, match="empty region"):
        region_outcome(Estimate(1.0, 0.1), above=1.0, below=0.5)


def test_check_and_premise_build_claims():
    est = Estimate(0.05, 0.01, 9)
    claim = check("RAT-6", "RaT - SM above 0", est, above=0.0, asserted=False)
    assert claim.verdict == "holds" and claim.ci == est.ci() and claim.p_fail > 0.999
    p = premise("teacher beats labels", Estimate(-0.1, 0.02, 4), above=0.0)
    assert p.met is False and p.ci[1] < 0
    # a premise must be established: an interval that straddles its threshold is not met
    assert premise("p", Estimate(0.01, 0.02, 4), above=0.0).met is False
    claim = check("RAT-6", "RaT - SM above 0", est, above=0.0, premise=[p])
    assert claim.verdict == "inconclusive"


# ------------------------------------------------------------------ multiplicity
@settings(max_examples=40)  # statsmodels' multipletests collects garbage at every call
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_holm_rejections_match_the_step_down_rule_and_statsmodels(p):
    from statsmodels.stats.multitest import multipletests

    reject = holm_rejections(p, 0.05)
    assert reject == list(multipletests(p, alpha=0.05, method="holm")[0])
    order = np.argsort(p, kind="stable")
    expected = [False] * len(p)
    for rank, i in enumerate(order):
        if p[i] > 0.05 / (len(p) - rank):
            break
        expected[i] = True
    assert reject == expected


def test_holm_turns_unadjusted_failures_into_undecided_and_is_idempotent():
    checks = [
        Claim("X-1", "a", False, p_fail=0.001),
        Claim("X-1", "b", False, p_fail=0.02),  # < 0.025 alone, not after Holm (0.0125)
        Claim("X-1", "c", True, p_fail=0.9),
        Claim("X-2", "d", False, p_fail=0.02),  # another claim: its own family of one
        Claim("X-1", "e", False),  # deterministic: unchanged
        Claim("X-1", "f", False, p_fail=0.0, premise=[Premise("p", False)]),  # out of scope
    ]
    once = holm(checks)
    assert [c.verdict for c in once] == [
        "fails",
        "inconclusive",
        "holds",
        "fails",
        "fails",
        "inconclusive",
    ]
    assert [c.family for c in once[:4]] == [3, 3, 3, 1]
    assert holm(once) == once


def test_holm_controls_false_failures_of_true_claims():
    """Ten true checks at their boundary: unadjusted, some check fails in about 1 - 0.975^10
    = 22% of runs; after Holm in at most 2.5% (to Monte Carlo accuracy)."""
    rng = np.random.default_rng(2)
    runs, k = 4000, 10
    z = rng.standard_normal((runs, k))  # each check's estimate, true value 0, claim "> 0"
    p_fail = stats.norm.cdf(z)
    any_raw = np.mean((p_fail < ALPHA).any(axis=1))
    any_fail = np.mean([any(holm_rejections(row)) for row in p_fail])
    assert any_raw > 0.15
    assert any_fail <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    # the claims carry the same p-values and Holm gives the same failures
    checks = [check("X-1", f"c{i}", Estimate(z[0, i], 1.0), above=0.0) for i in range(k)]
    assert [c.p_fail for c in checks] == pytest.approx(list(p_fail[0]), rel=1e-12)
    failed = [c.verdict == "fails" for c in holm(checks)]
    assert failed == holm_rejections(p_fail[0])


@settings(max_examples=50)
@given(st.lists(st.tuples(finite, positive), min_size=1, max_size=8))
def test_holm_never_turns_a_hold_or_creates_a_failure(rows):
    checks = [check("X-1", f"c{i}", Estimate(v, s), above=0.0) for i, (v, s) in enumerate(rows)]
    for before, after in zip(checks, holm(checks), strict=True):
        if before.outcome is True:
            assert after.outcome is True
        if after.outcome is False:
            assert before.outcome is False
