"""One formatter for every number (kdtheory.formatting)."""

from __future__ import annotations

import math
import re

from hypothesis import assume, given
from hypothesis import strategies as st

from kdtheory.formatting import (
    GUARD_DECIMALS,
    ci_decimals,
    format_ci,
    format_estimate,
    format_value,
    stored_value,
)


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[+-]\d+)?", text)]


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(1e-7, 1e4, allow_nan=False),
    st.floats(0.0, 1.0),
)
def test_bounds_rounded_outward_and_value_to_the_nearest(center, half, where):
    lo, hi = center - half, center + half
    value = lo + where * (hi - lo)
    assume(max(abs(lo), abs(hi), abs(value)) > 1e-300)
    text = format_ci(value, lo, hi)
    v, a, b = _numbers(text)
    tol = 1e-12 * max(1.0, abs(lo), abs(hi))
    assert a <= lo + tol and b >= hi - tol  # the interval shown contains the one computed
    d = ci_decimals(lo, hi)
    mag = max(abs(value), abs(lo), abs(hi))
    unit = 10.0**-d if 1e-3 <= mag < 1e5 or d < 0 else None
    if unit is not None:
        assert abs(v - value) <= unit / 2 + tol
        assert lo - unit - tol <= a and b <= hi + unit + tol  # never more than one unit out


def test_known_spellings():
    assert format_ci(0.00142, 0.00047, 0.00237) == "0.0014 [0.0004, 0.0024]"
    assert format_ci(0.028, 0.007, 0.050) == "0.03 [0.00, 0.05]"  # half-width 2 units
    assert format_ci(0.3, 0.1, 0.5) == "0.3 [0.1, 0.5]"  # on the grid: not pushed outward
    assert format_ci(-0.7153, -0.7241, -0.7065) == "-0.715 [-0.725, -0.706]"
    assert format_ci(1.0, 1.0, 1.0) == "1 [1, 1]"
    assert format_ci(2.3e-05, 1.9e-05, 2.7e-05) == "2.3e-05 [1.9e-05, 2.7e-05]"
    assert format_ci(1234.0, 900.0, 1600.0) == "1200 [900, 1600]"
    assert format_value(2.0) == "2" and format_value(11693.0) == "11693"
    assert format_value(0.0891) == "0.0891" and format_value(1.3e-9) == "1.3e-09"
    assert format_value(None) == "-" and format_value(math.inf) == "inf"
    assert format_estimate(1e-10, relation="<") == "< 1e-10"
    assert format_estimate(None) == "-"


@given(st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: abs(x) > 1e-200))
def test_integers_stay_integers(x):
    n = float(round(x))
    if n != 0:
        assert format_value(n) == str(int(n))


@given(
    st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: abs(x) > 1e-6),
    st.floats(1e-5, 1e2, allow_nan=False),
)
def test_stored_values_keep_what_the_interval_supports(value, half):
    ci = (value - half, value + half)
    stored = stored_value(value, ci)
    d = ci_decimals(*ci)
    # four decimals more than the interval supports, or, where that is more than ten
    # significant digits, ten significant digits
    unit = max(10.0 ** -(d + GUARD_DECIMALS), 10.0 ** (math.floor(math.log10(abs(value))) - 9))
    assert abs(stored - value) <= 0.5 * unit * (1 + 1e-9)
    # the last bits of a computation do not move it, except at a rounding boundary
    nudged = stored_value(value * (1 + 1e-13), ci)
    assert nudged == stored or abs(nudged - stored) <= unit * (1 + 1e-9)
    assert stored_value(1.0 / 3.0) == 0.333333


def test_bad_intervals_fall_back_to_three_digits():
    assert ci_decimals(1.0, 1.0) is None and ci_decimals(0.0, math.nan) is None
    assert format_ci(0.5, math.nan, 1.0) == "0.5 [nan, 1]"


@given(
    st.floats(-1e4, 1e4, allow_nan=False).filter(lambda x: abs(x) > 1e-6),
    st.floats(1e-7, 1e3, allow_nan=False),
    st.floats(0.5, 2.0),
)
def test_a_stored_claim_shows_an_interval_containing_the_computed_one(value, half, skew):
    """Figures, CLAIMS.md and the README show a claim as its record stores it (the command line
    draws the figure from the stored claims); the interval shown from the record still contains
    the interval computed, and the value shown is within one unit of the exact value's spelling."""
    from kdtheory.claims import Claim

    lo, hi = value - half, value + skew * half
    stored = Claim.from_dict(Claim("X-1", "s", True, value, (lo, hi)).to_dict())
    shown = _numbers(stored.value_text())
    exact = _numbers(format_ci(value, lo, hi))
    tol = 1e-12 * max(1.0, abs(lo), abs(hi))
    assert shown[1] <= lo + tol and shown[2] >= hi - tol
    d = ci_decimals(lo, hi)
    mag = max(abs(value), abs(lo), abs(hi))
    # plain decimals, and the two guard digits within the ten significant digits a record keeps
    if 1e-3 <= mag < 1e5 and d + GUARD_DECIMALS <= 9 - math.floor(math.log10(mag)):
        assert abs(shown[0] - exact[0]) <= 10.0**-d * (1 + 1e-9)
