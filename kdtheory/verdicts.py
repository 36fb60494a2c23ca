"""The decision rules behind every statistical verdict (the methodology of CLAIMS.md).

A statistical check compares an estimate with a region that its claim states, fixed before the
run: ``theta > c`` (an ordering, a positive gain), ``theta < c`` (a decay), or
``a < theta < b`` (an equivalence: a slope within a margin of 0, a ratio within a margin of 1).
The estimate comes with a standard error and degrees of freedom (a t interval over seeds or
designs, an OLS or cluster-robust slope, a delta-method ratio), and the check reads its two-sided
95% confidence interval:

* **holds** when the interval lies inside the region (each side a one-sided test at 2.5%; for
  an equivalence region the two one-sided tests, TOST);
* **fails** when the interval lies outside the region, that is when the test of "the claim holds
  here" rejects at 2.5%; where one verdict rests on several checks, these tests are adjusted by
  Holm's step-down procedure (:func:`holm`), so that the chance of declaring any true check
  failed stays below 2.5%;
* **undecided** otherwise (the interval straddles a boundary): the claim's verdict is then
  "inconclusive", as it is when a premise of the claim is not met (:class:`Premise`).

A verdict that needs every one of several checks to hold needs no adjustment for "holds": it
is an intersection-union test (Berger, 1982), whose level is that of its checks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

__all__ = [
    "ALPHA",
    "Estimate",
    "mean_estimate",
    "paired_estimate",
    "ratio_estimate",
    "estimate_from_ci",
    "estimate_from_fit",
    "region_outcome",
    "check",
    "premise",
    "holm",
    "holm_rejections",
]

#: one-sided level of every statistical check: the two-sided 95% interval's tail
ALPHA = 0.025


@dataclass(frozen=True)
class Estimate:
    """An estimate with its standard error and the degrees of freedom of its t distribution.

    Attributes
    ----------
    value : float
        The estimate.
    se : float
        Its standard error (0 for an exact number).
    df : float, default inf
        Degrees of freedom (``inf``: normal approximation).
    """

    value: float
    se: float
    df: float = math.inf

    def _quantile(self, q: float) -> float:
        return float(stats.norm.ppf(q) if math.isinf(self.df) else stats.t.ppf(q, self.df))

    def _cdf(self, z: float) -> float:
        return float(stats.norm.cdf(z) if math.isinf(self.df) else stats.t.cdf(z, self.df))

    def _sf(self, z: float) -> float:
        return float(stats.norm.sf(z) if math.isinf(self.df) else stats.t.sf(z, self.df))

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        """Two-sided confidence interval at ``level``."""
        if self.se == 0:
            return (self.value, self.value)
        q = self._quantile(0.5 + level / 2)
        return (self.value - q * self.se, self.value + q * self.se)

    def p_greater(self, c: float) -> float:
        """One-sided p-value of ``H0: theta <= c`` (small: evidence that ``theta > c``)."""
        if self.se == 0:
            return 0.0 if self.value > c else 1.0
        return self._sf((self.value - c) / self.se)

    def summary(self, level: float = 0.95) -> dict[str, float]:
        """``{"mean", "lo", "hi"}``: the estimate and its interval, for a table or a plot."""
        lo, hi = self.ci(level)
        return {"mean": self.value, "lo": lo, "hi": hi}

    def p_less(self, c: float) -> float:
        """One-sided p-value of ``H0: theta >= c`` (small: evidence that ``theta < c``)."""
        if self.se == 0:
            return 0.0 if self.value < c else 1.0
        return self._cdf((self.value - c) / self.se)


def _finite(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if arr.size < 2:
        raise ValueError(f"`{name}` needs at least 2 values for an interval, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite")
    return arr


def mean_estimate(values) -> Estimate:
    """The mean of independent replicates (seeds, designs) with its t standard error.

    Parameters
    ----------
    values : array_like
        At least two finite values.

    Returns
    -------
    Estimate
        ``df = len(values) - 1``.

    Examples
    --------
    >>> e = mean_estimate([1.0, 2.0, 3.0])
    >>> e.value, e.se, e.df
    (2.0, 0.5773502691896258, 2)
    """
    arr = _finite(values, "values")
    return Estimate(float(arr.mean()), float(arr.std(ddof=1) / math.sqrt(arr.size)), arr.size - 1)


def _aligned(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Paired values as arrays: two pandas Series must carry the same index (the pairing key,
    seed or design), in any order; arrays must have equal lengths."""
    import pandas as pd

    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        if a.index.has_duplicates or b.index.has_duplicates:
            raise ValueError("paired values need a unique pairing key (duplicated index)")
        if set(a.index) != set(b.index):
            raise ValueError(
                "paired values need the same pairing keys: "
                f"{sorted(set(a.index) ^ set(b.index))[:5]} are on one side only"
            )
        b = b.reindex(a.index)
    a_arr, b_arr = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"paired values need equal lengths, got {a_arr.size} and {b_arr.size}")
    return a_arr, b_arr


def paired_estimate(a, b) -> Estimate:
    """The mean paired difference ``a - b`` (paired by seed or design) with its t error.

    Two pandas Series are paired by their index (the seed or design), whatever its order, and
    must have the same keys; arrays are paired by position.
    """
    a_arr, b_arr = _aligned(a, b)
    return mean_estimate(a_arr - b_arr)


def ratio_estimate(num, den) -> Estimate:
    """``mean(num) / mean(den)`` over paired replicates, by the delta method.

    The variance of the ratio of means ``R = N / D`` is estimated as
    ``(s_N^2 - 2 R s_ND + R^2 s_D^2) / (n D^2)``; the interval uses ``n - 1`` degrees of
    freedom. It is unreliable when ``mean(den)``'s interval comes near 0: a claim that divides
    by a gain states that gain's positivity as its premise.
    """
    num, den = _aligned(num, den)
    n_arr, d_arr = _finite(num, "num"), _finite(den, "den")
    n = n_arr.size
    mn, md = n_arr.mean(), d_arr.mean()
    if md == 0:
        return Estimate(math.nan, math.inf, n - 1)
    r = mn / md
    cov = np.cov(n_arr, d_arr, ddof=1)
    var = (cov[0, 0] - 2 * r * cov[0, 1] + r**2 * cov[1, 1]) / (n * md**2)
    return Estimate(float(r), float(math.sqrt(max(var, 0.0))), n - 1)


def estimate_from_ci(
    value: float, ci: tuple[float, float], df: float = math.inf, level: float = 0.95
) -> Estimate:
    """The estimate behind a symmetric interval at ``level`` with ``df`` degrees of freedom."""
    lo, hi = ci
    if hi == lo:
        return Estimate(float(value), 0.0, df)
    dist = stats.norm if math.isinf(df) else stats.t(df)
    q = float(dist.ppf(0.5 + level / 2))
    return Estimate(float(value), float((hi - lo) / (2 * q)), df)


def estimate_from_fit(fit) -> Estimate:
    """The slope of a :class:`kdtheory.rates.RateFit` as an :class:`Estimate`."""
    if not math.isfinite(fit.se):
        raise ValueError("the fit has no standard error (a RateFit built by hand?)")
    return Estimate(float(fit.slope), float(fit.se), float(fit.df))


def region_outcome(
    est: Estimate, *, above: float | None = None, below: float | None = None
) -> tuple[bool | None, float | None, tuple[float, float]]:
    """Compare ``est`` with the region ``above < theta < below`` (either end may be open).

    Returns
    -------
    outcome : bool or None
        True when the 95% interval lies inside the region, False when the test of "theta is in
        the region" rejects at :data:`ALPHA` (the interval lies outside), None otherwise.
    p_fail : float
        That test's p-value (before any multiplicity adjustment): the smaller of the one-sided
        p-values at the region's ends.
    ci : tuple of float
        The 95% interval.
    """
    if above is None and below is None:
        raise ValueError("a region needs `above`, `below` or both")
    if above is not None and below is not None and not above < below:
        raise ValueError(f"empty region: above={above} is not below below={below}")
    lo, hi = est.ci()
    inside = (above is None or lo > above) and (below is None or hi < below)
    p = []
    if above is not None:
        p.append(est.p_less(above))
    if below is not None:
        p.append(est.p_greater(below))
    p_fail = min(p)
    if est.se == 0:  # an exact number: inside or not, nothing undecided
        return inside, p_fail, (lo, hi)
    outcome = True if inside else (False if p_fail <= ALPHA else None)
    return outcome, p_fail, (lo, hi)


def check(
    cid: str,
    statement: str,
    est: Estimate,
    *,
    above: float | None = None,
    below: float | None = None,
    **kwargs,
):
    """A :class:`kdtheory.claims.Claim` that ``est`` lies in ``above < theta < below``.

    The claim's value and interval are the estimate and its 95% interval; ``p_fail`` is kept
    for :func:`holm`. Other keyword arguments (``detail``, ``premise``, ``asserted``) go to
    the claim.
    """
    from kdtheory.claims import Claim

    outcome, p_fail, ci = region_outcome(est, above=above, below=below)
    return Claim(cid, statement, outcome, est.value, ci, p_fail=p_fail, **kwargs)


def premise(
    statement: str,
    est: Estimate,
    *,
    above: float | None = None,
    below: float | None = None,
):
    """A :class:`kdtheory.claims.Premise` met when the 95% interval of ``est`` lies inside
    ``above < theta < below`` (a premise must be established, not merely not refuted)."""
    from kdtheory.claims import Premise

    outcome, _, ci = region_outcome(est, above=above, below=below)
    return Premise(statement, bool(outcome), est.value, ci)


def holm(claims: Sequence, alpha: float = ALPHA) -> list:
    """Holm's step-down adjustment of the "fails" tests behind each verdict.

    Within each claim id, the checks that carry a ``p_fail`` and whose premises are met form one
    family; a check is "fails" only when Holm's procedure (:func:`holm_rejections`) rejects it
    at ``alpha``; a check whose interval lies outside its region but is not rejected
    after adjustment becomes undecided. Checks that hold, deterministic checks and checks with
    an unmet premise are unchanged. Applying it twice changes nothing.

    Parameters
    ----------
    claims : sequence of Claim
        The checks of one run.
    alpha : float, default :data:`ALPHA`
        Family-wise level of the "fails" tests.

    Returns
    -------
    list of Claim
        The same checks in the same order, each with ``family`` set to its family's size.
    """
    claims = list(claims)
    families: dict[str, list[int]] = {}
    for i, c in enumerate(claims):
        if c.p_fail is not None and c.premise_met:
            families.setdefault(c.id, []).append(i)
    for members in families.values():
        reject = holm_rejections([claims[i].p_fail for i in members], alpha)
        for i, rejected in zip(members, reject, strict=True):
            c = claims[i]
            outcome = True if c.outcome is True else (False if rejected else None)
            claims[i] = replace(c, outcome=outcome, family=len(members))
    return claims


def holm_rejections(p_values: Iterable[float], alpha: float = ALPHA) -> list[bool]:
    """Which of ``p_values`` Holm's step-down procedure rejects at family-wise level ``alpha``.

    Sorted ascending, the ``i``-th smallest p-value (from 0) is rejected when it and every smaller
    one satisfy ``p_(j) <= alpha / (m - j)``. The same decisions as statsmodels'
    ``multipletests(method="holm")`` (the tests check it), written out because that function runs
    a full garbage collection at every call, which costs milliseconds in a large process.
    """
    p = np.clip(np.asarray(list(p_values), dtype=float), 0.0, 1.0)
    m = p.size
    order = np.argsort(p, kind="stable")
    passes = p[order] <= alpha / (m - np.arange(m))
    k = m if passes.all() else int(np.argmin(passes))  # the first that fails stops the steps
    reject = np.zeros(m, dtype=bool)
    reject[order[:k]] = True
    return [bool(r) for r in reject]
