"""Tests of kdtheory.simulations.rat_iteration's verdicts (claim RAT-3).

Hand-built summary tables get the verdicts the rules give: a fixed-point error at rounding level
is recorded as the bound ``< 1e-10``, a larger one as its value, one above the tolerance fails;
a run faster than ``rho(M)`` by more than ``RATE_RTOL`` is no failure but a slower one is; a
design without an admissible step leaves the checks that need one inconclusive; counts show as
integers. The tracked record's checks hold, with margins wider than the table's rounding.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from kdtheory.claims import combined_verdict
from kdtheory.formatting import format_estimate
from kdtheory.simulations import rat_iteration as ri

FIGURES = Path(__file__).resolve().parents[1] / "paper_figures"


def _summary(rows) -> pd.DataFrame:
    """Summary rows ``(trial, step, rho, empirical_rate, converged, fixed_point_error)``."""
    keys = ("trial", "step", "rho", "empirical_rate", "converged", "fixed_point_error")
    return pd.DataFrame([dict(zip(keys, r, strict=True)) | {"kind": "summary"} for r in rows])


def _good(fpe=7.5e-13, rate_factor=1.0):
    rows = []
    for trial in range(3):
        for step, rho in ((0.5, 0.8), (1.0, 0.6), (3.0, 1.05)):
            conv = rho < 1
            rate = rho * rate_factor if conv else rho
            rows.append((trial, step, rho, rate, conv, fpe if conv else 1e6))
    return _summary(rows)


def _by_statement(claims, word):
    return next(c for c in claims if word in c.statement)


@pytest.mark.claim("RAT-3")
def test_rounding_level_error_is_a_bound_and_counts_are_integers():
    out = ri.claims(_good())
    assert all(c.holds for c in out)
    fixed = _by_statement(out, "closed-form fixed point")
    assert (fixed.value, fixed.relation) == (ri.BOUND, "<")
    assert format_estimate(fixed.value, fixed.ci, fixed.relation) == "< 1e-10"
    count = _by_statement(out, "do not converge")
    assert format_estimate(count.value, count.ci, count.relation) == "3"


@pytest.mark.claim("RAT-3")
def test_fixed_point_error_above_the_bound_is_a_value_and_above_tolerance_fails():
    fixed = _by_statement(ri.claims(_good(fpe=3e-9)), "closed-form fixed point")
    assert (fixed.value, fixed.relation, fixed.verdict) == (3e-9, "=", "holds")
    fixed = _by_statement(ri.claims(_good(fpe=1e-6)), "closed-form fixed point")
    assert fixed.verdict == "fails"


@pytest.mark.claim("RAT-3")
def test_slower_than_rho_fails_and_faster_is_no_failure():
    slow = ri.claims(_good(rate_factor=1.05))
    assert _by_statement(slow, "at least at rate").verdict == "fails"
    assert combined_verdict(slow) == "fails"
    fast = ri.claims(_good(rate_factor=0.9))
    assert _by_statement(fast, "at least at rate").verdict == "holds"
    assert _by_statement(fast, "is tight").verdict == "fails"  # 10% off rho(M)


@pytest.mark.claim("RAT-3")
def test_a_design_without_admissible_step_is_inconclusive():
    df = _good()
    df.loc[df.trial == 2, "rho"] = 1.2  # design 2: every step diverges
    df.loc[df.trial == 2, "converged"] = False
    out = ri.claims(df)
    needing = [c for c in out if c.premise]
    assert len(needing) == 3 and not any(c.premise_met for c in needing)
    assert {c.verdict for c in needing} == {"inconclusive"}
    assert needing[0].premise[0].value == 0


@pytest.mark.claim("RAT-3")
def test_tracked_record_holds_with_margins_beyond_the_rounding():
    df = pd.read_csv(FIGURES / "rat_iteration-quick.csv")
    out = ri.claims(df)
    assert all(c.holds and c.premise_met for c in out), out
    a = ri.analyze(df)
    # three digits move a rate below 1 by at most 5e-4, its excess over rho(M) by 5e-4 / rho
    rounding = 5e-4 / a["admissible"].rho.min()
    assert a["max_rate_excess"] < ri.RATE_RTOL - rounding
    assert a["median_rate_error"] < ri.RATE_RTOL - rounding
    # the stored changes and errors respect their floor
    assert (df.change.dropna() >= ri.BOUND).all()
    assert (df.fixed_point_error.dropna() >= ri.BOUND).all()
