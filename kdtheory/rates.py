"""Fitted log-log rates: the summary statistic of every **rate / ordering** claim.

CLAIMS.md ("How a claim is verified") verifies a statistical claim (a rate such as RAT-2's
``n^{-2a/(2a+1)}``, or an ordering of methods) by a Monte Carlo simulation summarized by a fitted
log-log slope with a 95% confidence interval: statsmodels OLS of ``log(risk)`` on ``log(n)``, or WLS
on the per-``n`` means of ``log(risk)`` when there are many designs per sample size. This module
fits that model and returns the slope, its confidence interval and statsmodels' summary text.

The model is ``log(risk) = intercept + slope * log(n) + error``, that is
``risk ~ exp(intercept) * n**slope``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import statsmodels.api as sm
from numpy.typing import ArrayLike, NDArray

__all__ = ["RateFit", "fit_rate", "fit_rate_means", "fit_slope"]


@dataclass(frozen=True)
class RateFit:
    """A fitted power law ``risk ~ exp(intercept) * n**slope``.

    Attributes
    ----------
    slope : float
        Fitted log-log slope (the rate exponent; negative for a decaying risk).
    ci : tuple of float
        Confidence interval of the slope at level ``level`` (95% by default), from the
        t distribution of the statsmodels fit.
    intercept : float
        Fitted intercept on the log scale.
    intercept_ci : tuple of float
        Confidence interval of the intercept at level ``level``.
    n_obs : int
        Number of observations in the regression (for :func:`fit_rate_means`, the number of
        distinct sample sizes).
    summary : str
        statsmodels' summary text of the regression (excluded from equality and repr, since it
        contains the date and time of the fit).
    level : float
        Confidence level of ``ci`` and ``intercept_ci``.
    se : float
        Standard error of the slope (cluster-robust with ``groups``).
    df : float
        Degrees of freedom of the t distribution behind ``ci`` (``n_obs - 2``; with clusters,
        their number less 1), so that a check can test the slope against a threshold at any
        level (:func:`kdtheory.verdicts.estimate_from_fit`).
    """

    slope: float
    ci: tuple[float, float]
    intercept: float
    intercept_ci: tuple[float, float]
    n_obs: int
    summary: str = field(default="", compare=False, repr=False)
    level: float = 0.95
    se: float = float("nan")
    df: float = float("inf")

    def ci_contains(self, value: float) -> bool:
        """Whether the slope's confidence interval contains ``value`` (endpoints included).

        Parameters
        ----------
        value : float
            A predicted slope, e.g. ``-2a/(2a+1)`` for the minimax rate (RAT-2) or ``0`` for a
            risk that does not decay (RAT-1).

        Returns
        -------
        bool
        """
        return bool(self.ci[0] <= value <= self.ci[1])

    def predict(self, n: ArrayLike) -> NDArray[np.float64]:
        """Fitted risk ``exp(intercept) * n**slope`` at sample sizes ``n``.

        Parameters
        ----------
        n : array_like
            Sample sizes (positive).

        Returns
        -------
        numpy.ndarray
            Fitted risks, same shape as ``n``.
        """
        n_arr = np.asarray(n, dtype=float)
        return np.exp(self.intercept) * n_arr**self.slope

    def label(self, fmt: str = ".2f") -> str:
        """Short text for legends and tables, e.g. ``"slope -0.66 [-0.70, -0.62]"``.

        Parameters
        ----------
        fmt : str, default ".2f"
            Format specification applied to the slope and the interval endpoints.

        Returns
        -------
        str
        """
        lo, hi = self.ci
        return f"slope {self.slope:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"


def _as_1d(values: Any, name: str) -> NDArray[np.float64]:
    """Convert a list, array or pandas Series to a 1-d float array, or raise ValueError."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must be numeric, got {type(values).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"`{name}` must be one-dimensional, got shape {arr.shape}")
    return arr


def _validate(
    n: Any, risk: Any, weights: Any | None, min_obs: int = 3
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
    n_arr = _as_1d(n, "n")
    risk_arr = _as_1d(risk, "risk")
    if n_arr.shape != risk_arr.shape:
        raise ValueError(
            f"`n` and `risk` must have the same length, got {n_arr.size} and {risk_arr.size}"
        )
    w_arr = None
    if weights is not None:
        w_arr = _as_1d(weights, "weights")
        if w_arr.shape != n_arr.shape:
            raise ValueError(
                f"`weights` must have the same length as `n`, got {w_arr.size} and {n_arr.size}"
            )
        if not (np.all(np.isfinite(w_arr)) and np.all(w_arr > 0)):
            raise ValueError("`weights` must be finite and positive")
    if n_arr.size < min_obs:
        raise ValueError(f"`n` must have at least {min_obs} observations, got {n_arr.size}")
    if not (np.all(np.isfinite(n_arr)) and np.all(n_arr > 0)):
        raise ValueError("`n` must be finite and positive")
    if not (np.all(np.isfinite(risk_arr)) and np.all(risk_arr > 0)):
        raise ValueError("`risk` must be finite and positive")
    if np.unique(n_arr).size < 2:
        raise ValueError("`n` must take at least 2 distinct values to fit a slope")
    return n_arr, risk_arr, w_arr


def _fit_loglog(
    log_n: NDArray[np.float64],
    log_risk: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
    level: float,
) -> RateFit:
    return _fit_linear(log_n, log_risk, weights, level, names=("log(risk)", "log(n)"))


def _fit_linear(
    x: NDArray[np.float64],
    y: NDArray[np.float64],
    weights: NDArray[np.float64] | None,
    level: float,
    *,
    names: tuple[str, str],
    groups: NDArray | None = None,
    with_summary: bool = True,
) -> RateFit:
    if not 0.0 < level < 1.0:
        raise ValueError(f"`level` must lie in (0, 1), got {level}")
    design = sm.add_constant(x, has_constant="add")
    model = sm.OLS(y, design) if weights is None else sm.WLS(y, design, weights)
    if groups is None:
        result = model.fit()
    else:
        result = model.fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    intercept, slope = (float(v) for v in result.params)
    ci = np.asarray(result.conf_int(alpha=1.0 - level), dtype=float)
    # the t distribution statsmodels used: residual df, or clusters - 1 with cov_type="cluster"
    df = float(result.df_resid_inference if groups is not None else result.df_resid)
    summary = ""
    if with_summary:  # formatting the table costs more than the fit itself
        with warnings.catch_warnings():
            # Residual normality diagnostics (omnibus, skew) warn on small or exact fits; they
            # play no part in the slope.
            warnings.simplefilter("ignore")
            summary = str(result.summary(yname=names[0], xname=["const", names[1]]))
    return RateFit(
        slope=slope,
        ci=(float(ci[1, 0]), float(ci[1, 1])),
        intercept=intercept,
        intercept_ci=(float(ci[0, 0]), float(ci[0, 1])),
        n_obs=int(result.nobs),
        summary=summary,
        level=float(level),
        se=float(result.bse[1]),
        df=df,
    )


def fit_rate(
    n: ArrayLike | pd.Series,
    risk: ArrayLike | pd.Series,
    *,
    level: float = 0.95,
    weights: ArrayLike | pd.Series | None = None,
) -> RateFit:
    """Fit ``log(risk) = intercept + slope * log(n)`` by OLS (WLS when ``weights`` are given).

    This is CLAIMS.md's verification of a **rate / ordering** claim: the fitted log-log slope with
    its 95% confidence interval, e.g. RAT-2 holds when the interval contains the minimax exponent
    ``-2a/(2a+1)``. Every observation (one Monte Carlo design, say) enters the regression;
    see :func:`fit_rate_means` to regress the per-``n`` means instead.

    Parameters
    ----------
    n : array_like or pandas.Series
        Sample sizes, positive and finite, at least 2 distinct values.
    risk : array_like or pandas.Series
        Risks, positive and finite, same length as ``n`` (at least 3 observations).
    level : float, default 0.95
        Confidence level of the intervals.
    weights : array_like or pandas.Series, optional
        Positive weights (inverse variances of ``log(risk)``) for weighted least squares
        (``statsmodels.api.WLS``); ordinary least squares (``statsmodels.api.OLS``) when omitted.

    Returns
    -------
    RateFit
        Slope, its confidence interval, intercept, number of observations and summary text.

    Raises
    ------
    ValueError
        If the lengths differ, there are fewer than 3 observations or fewer than 2 distinct
        ``n``, or any ``n``, ``risk`` or weight is non-positive or not finite. The message names
        the offending argument.

    Examples
    --------
    >>> import numpy as np
    >>> n = np.array([100, 200, 400, 800, 1600])
    >>> fit = fit_rate(n, 3.0 * n**-0.5)
    >>> round(fit.slope, 6), fit.ci_contains(-0.5)
    (-0.5, True)
    >>> fit.label()
    'slope -0.50 [-0.50, -0.50]'
    """
    n_arr, risk_arr, w_arr = _validate(n, risk, weights)
    return _fit_loglog(np.log(n_arr), np.log(risk_arr), w_arr, level)


def fit_rate_means(
    n: ArrayLike | pd.Series,
    risk: ArrayLike | pd.Series,
    *,
    level: float = 0.95,
) -> RateFit:
    """Fit the log-log slope by WLS on the per-``n`` means of ``log(risk)``.

    CLAIMS.md's alternative for **rate / ordering** claims when there are many Monte Carlo
    designs per sample size: the observations are grouped by ``n``; the mean of ``log(risk)`` in
    each group is regressed on ``log(n)`` with weights ``count / var`` (the inverse variance of
    the group mean, ``var`` the sample variance with ``ddof=1``). When some group has a zero
    variance or a single observation, so that these weights are undefined, the means are
    regressed by OLS instead (equal weights).

    Parameters
    ----------
    n : array_like or pandas.Series
        Sample sizes, positive and finite, at least 3 distinct values (one regression point each).
    risk : array_like or pandas.Series
        Risks, positive and finite, same length as ``n``.
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    RateFit
        The fit; ``n_obs`` is the number of distinct sample sizes and the fitted risk is the
        geometric mean of the risk at each ``n``.

    Raises
    ------
    ValueError
        As :func:`fit_rate`, and when ``n`` has fewer than 3 distinct values.

    Examples
    --------
    >>> import numpy as np
    >>> n = np.repeat([100, 200, 400, 800], 5)
    >>> rng = np.random.default_rng(0)
    >>> fit = fit_rate_means(n, 2.0 * n**-1.0 * np.exp(0.1 * rng.standard_normal(n.size)))
    >>> fit.n_obs, fit.ci_contains(-1.0)
    (4, True)
    """
    n_arr, risk_arr, _ = _validate(n, risk, None)
    groups = pd.DataFrame({"n": n_arr, "log_risk": np.log(risk_arr)}).groupby("n")["log_risk"]
    stats = groups.agg(["mean", "var", "count"])
    if len(stats) < 3:
        raise ValueError(
            f"`n` must take at least 3 distinct values to fit per-n means, got {len(stats)}"
        )
    var = stats["var"].to_numpy()
    weights = None
    if np.all(np.isfinite(var)) and np.all(var > 0):
        weights = stats["count"].to_numpy() / var
    return _fit_loglog(
        np.log(stats.index.to_numpy(dtype=float)), stats["mean"].to_numpy(), weights, level
    )


def fit_slope(
    x: ArrayLike | pd.Series,
    y: ArrayLike | pd.Series,
    *,
    groups: ArrayLike | pd.Series | None = None,
    level: float = 0.95,
    summary: bool = True,
) -> RateFit:
    """Fit the straight line ``y = intercept + slope * x`` by OLS, with a confidence interval.

    The summary statistic of a **scatter** claim such as NAG-6 (student logit regressed on teacher
    logit: slope above 1). With ``groups`` (e.g. the Monte Carlo design of each point) the
    interval is cluster-robust (statsmodels ``cov_type="cluster"``, t distribution with
    ``n_groups - 1`` degrees of freedom), because points of one design share its randomness.
    ``RateFit.predict`` is meaningless here; use ``intercept + slope * x``.

    Parameters
    ----------
    x, y : array_like or pandas.Series
        Finite values of equal length (at least 3).
    groups : array_like, optional
        Cluster label of each point (at least 2 distinct labels).
    level : float, default 0.95
        Confidence level of the intervals.
    summary : bool, default True
        Whether to store statsmodels' summary text (``False`` saves its formatting time when
        many lines are fitted).

    Returns
    -------
    RateFit

    Raises
    ------
    ValueError
        Non-finite values, mismatched lengths, fewer than 3 points or 2 distinct ``x``, fewer than
        2 groups; the message names the argument.

    Examples
    --------
    >>> fit = fit_slope([0.0, 1.0, 2.0, 3.0], [1.0, 3.0, 5.0, 7.0])
    >>> round(fit.slope, 9), round(fit.intercept, 9)
    (2.0, 1.0)
    """
    x_arr, y_arr = _as_1d(x, "x"), _as_1d(y, "y")
    if x_arr.size != y_arr.size:
        raise ValueError(
            f"`x` and `y` must have the same length, got {x_arr.size} and {y_arr.size}"
        )
    if x_arr.size < 3:
        raise ValueError(f"`x` must have at least 3 observations, got {x_arr.size}")
    for name, arr in (("x", x_arr), ("y", y_arr)):
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` must be finite")
    if np.unique(x_arr).size < 2:
        raise ValueError("`x` must take at least 2 distinct values to fit a slope")
    g = None
    if groups is not None:
        g = np.asarray(groups.to_numpy() if isinstance(groups, pd.Series) else groups).ravel()
        if g.size != x_arr.size:
            raise ValueError(f"`groups` must have length {x_arr.size}, got {g.size}")
        if np.unique(g).size < 2:
            raise ValueError("`groups` must have at least 2 distinct labels")
        g = pd.factorize(g)[0]
    return _fit_linear(x_arr, y_arr, None, level, names=("y", "x"), groups=g, with_summary=summary)
