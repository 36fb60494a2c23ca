"""One formatter for every number kdtheory shows: figures, tables, README.md and CLAIMS.md.

A number with a confidence interval is shown with the digits the interval supports
(:func:`ci_decimals`), its bounds rounded outward (the interval shown contains the interval
computed); a number without one with three significant digits; an integer as an integer; a
bound (a rounding-level diagnostic, e.g. an error below ``1e-10``) as ``< 1e-10``. The claims
document, the figures' verdict tables and the README's quoted numbers all call these functions,
so one number has one spelling everywhere.
"""

from __future__ import annotations

import math

__all__ = [
    "GUARD_DECIMALS",
    "ci_decimals",
    "stored_interval",
    "format_ci",
    "format_value",
    "format_estimate",
    "stored_value",
]

#: magnitudes shown in plain decimals; outside, scientific notation
PLAIN_RANGE = (1e-3, 1e5)
#: decimals a record keeps beyond those its interval supports: a number shown from the record
#: is then the number shown from the computation except when the computed value lies within
#: 5e-5 units of a rounding boundary (double rounding: about one value in ten thousand)
GUARD_DECIMALS = 4
#: how a value and its interval's two bounds are rounded
ROUNDING = ("nearest", "down", "up")


def ci_decimals(lo: float, hi: float) -> int | None:
    """Decimals that an interval ``[lo, hi]`` supports.

    The place of the first significant digit of the half-width, one more when that digit is 1
    (so the half-width is 2 to 19 units of the last digit shown). Negative for wide intervals
    (``-2``: round to hundreds).

    Parameters
    ----------
    lo, hi : float
        The interval's ends.

    Returns
    -------
    int or None
        ``None`` for an empty, degenerate or non-finite interval.

    Examples
    --------
    >>> ci_decimals(1.146, 1.223), ci_decimals(0.00047, 0.00237), ci_decimals(100.0, 400.0)
    (2, 4, -1)
    """
    half = (hi - lo) / 2.0
    if not (math.isfinite(half) and half > 0):
        return None
    half *= 1 + 1e-9  # 0.19999999999999996 is the half-width 0.2
    e = math.floor(math.log10(half))
    lead = half / 10.0**e
    if lead >= 10.0:  # floating-point edge of log10
        e, lead = e + 1, lead / 10.0
    return -e + (1 if lead < 2.0 else 0)


def _is_integer(x: float) -> bool:
    return math.isfinite(x) and abs(x) < 1e15 and float(x).is_integer()


def _round(x: float, decimals: int, direction: str = "nearest") -> float:
    """``x`` rounded at ``decimals >= 0`` decimals: to the nearest, ``"down"`` or ``"up"``; a
    number already on the grid up to floating point (``0.3 * 10``) stays where it is."""
    scale = 10.0**decimals
    y = x * scale
    tol = 8 * 2.220446049250313e-16 * abs(y) + 1e-12  # the rounding error of x * scale
    if direction == "down":
        r = math.floor(y + tol)
    elif direction == "up":
        r = math.ceil(y - tol)
    else:  # halves away from zero, whatever the binary representation rounds them to
        r = math.copysign(math.floor(abs(y) + 0.5 + tol), y)
    return r / scale


def _fixed(x: float, decimals: int) -> str:
    return f"{x + 0.0:.{max(decimals, 0)}f}"  # + 0.0: no "-0.00"


def format_value(value: float | None) -> str:
    """A number without an interval: an integer as an integer, otherwise three significant digits.

    Parameters
    ----------
    value : float or None
        The number (``None``: missing).

    Returns
    -------
    str
        ``"-"`` for a missing value; ``"nan"`` and ``"inf"`` as Python writes them.

    Examples
    --------
    >>> format_value(2.0), format_value(0.08912), format_value(7.11e-12), format_value(None)
    ('2', '0.0891', '7.11e-12', '-')
    """
    if value is None:
        return "-"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if _is_integer(value):
        return str(int(value))
    if PLAIN_RANGE[1] > abs(value) >= 1e3:  # plain like format_ci: 1234.5 -> 1235, not 1.23e+03
        return str(int(_round(value, 0)))
    return f"{value:.3g}"


def format_ci(value: float, lo: float, hi: float) -> str:
    """``value [lo, hi]`` with the digits the interval supports, its bounds rounded outward.

    The value is rounded to the nearest at :func:`ci_decimals` decimals; ``lo`` is rounded down
    and ``hi`` up, so the interval shown contains the one computed. Magnitudes outside
    ``[0.001, 1e5)`` use scientific notation with one exponent for all three numbers.

    Parameters
    ----------
    value : float
        The estimate.
    lo, hi : float
        Its confidence interval.

    Returns
    -------
    str

    Examples
    --------
    >>> format_ci(1.184, 1.146, 1.223)
    '1.18 [1.14, 1.23]'
    >>> format_ci(0.00142, 0.00047, 0.00237)
    '0.0014 [0.0004, 0.0024]'
    >>> format_ci(2.3e-05, 1.9e-05, 2.7e-05)
    '2.3e-05 [1.9e-05, 2.7e-05]'
    >>> format_ci(2.0, 2.0, 2.0)
    '2 [2, 2]'
    """
    d = ci_decimals(lo, hi)
    if d is None or not math.isfinite(value):
        return f"{format_value(value)} [{format_value(lo)}, {format_value(hi)}]"
    mag = max(abs(value), abs(lo), abs(hi))
    if mag >= PLAIN_RANGE[1] or mag < PLAIN_RANGE[0]:  # one exponent for the three numbers
        exp = math.floor(math.log10(mag))
        dm = d + exp  # decimals of the mantissa
        if dm >= 0:

            def sci(e: int, decimals: int) -> list[str]:
                ms = [
                    _round(x / 10.0**e, decimals, how)
                    for x, how in zip(three, ROUNDING, strict=True)
                ]
                return [f"{_fixed(m, decimals)}e{e:+03d}" for m in ms]

            three = (value, lo, hi)
            texts = sci(exp, dm)
            if any(abs(float(t.partition("e")[0])) >= 10 for t in texts):
                # a bound rounded up across a power of ten (9.99e-05 to 10.0e-05): the next
                # exponent, one more decimal, the same last unit (0.999e-04 [..., 1.000e-04])
                texts = sci(exp + 1, dm + 1)
            return f"{texts[0]} [{texts[1]}, {texts[2]}]"
    d = min(d, 12)
    if d < 0:  # wide: whole numbers rounded at tens, hundreds, ...
        step = 10.0 ** (-d)
        v = round(value / step) * step
        a, b = math.floor(lo / step) * step, math.ceil(hi / step) * step
        return f"{int(v)} [{int(a)}, {int(b)}]"
    return (
        f"{_fixed(_round(value, d), d)} "
        f"[{_fixed(_round(lo, d, 'down'), d)}, {_fixed(_round(hi, d, 'up'), d)}]"
    )


def format_estimate(
    value: float | None, ci: tuple[float, float] | None = None, relation: str = "="
) -> str:
    """A claim's number: ``value [lo, hi]``, a bare value, or a bound such as ``< 1e-10``.

    Parameters
    ----------
    value : float or None
        The number (``None``: missing, shown as ``-``).
    ci : tuple of float, optional
        Its confidence interval.
    relation : {"=", "<", ">"}, default "="
        ``"<"`` or ``">"``: ``value`` is a bound on the quantity, not its value.

    Returns
    -------
    str

    Examples
    --------
    >>> format_estimate(-0.7153, (-0.7241, -0.7065)), format_estimate(1e-10, relation="<")
    ('-0.715 [-0.725, -0.706]', '< 1e-10')
    """
    if value is None:
        return "-"
    if relation != "=":
        return f"{relation} {format_value(value)}"
    if ci is not None:
        return format_ci(value, ci[0], ci[1])
    return format_value(value)


def stored_value(
    x: float, ci: tuple[float, float] | None = None, *, digits: int = 6, most: int = 10
) -> float:
    """``x`` at the precision it is determined to, for the tracked records.

    With an interval: rounded at :data:`GUARD_DECIMALS` decimals more than the interval supports
    (:func:`ci_decimals`), but never to more than ``most`` significant digits (an interval
    narrower than a computation's floating-point noise does not make its last bits
    meaningful); without one: to ``digits`` significant digits. A record stored this way does
    not change when the last bits of a computation do (another BLAS, another summation order),
    except in the rare case that a value lies on a rounding boundary to within that noise.

    Parameters
    ----------
    x : float
        The number.
    ci : tuple of float, optional
        Its confidence interval.
    digits : int, default 6
        Significant digits of a value without an interval.
    most : int, default 10
        Significant digits at most, with an interval.

    Returns
    -------
    float

    Examples
    --------
    >>> stored_value(-0.71534917, (-0.72413, -0.70651)), stored_value(1.0 / 3.0)
    (-0.7153492, 0.333333)
    >>> stored_value(1.99999791234, (1.99999771, 1.99999811))
    1.999997912
    """
    x = float(x)
    if not math.isfinite(x) or x == 0.0:
        return x + 0.0  # no -0.0
    sig = float(f"{x:.{digits}g}") + 0.0
    if ci is None:
        return sig
    d = ci_decimals(*ci)
    if d is None:
        return sig
    coarse = _round(x, d + GUARD_DECIMALS) + 0.0
    return coarse if _n_significant(coarse) <= most else float(f"{x:.{most}g}")


def stored_interval(lo: float, hi: float, *, most: int = 10) -> tuple[float, float]:
    """An interval at the precision :func:`stored_value` keeps, its bounds rounded outward (the
    stored interval contains the computed one, so does every rounding of it shown later).

    Examples
    --------
    >>> stored_interval(1.2633997912, 1.2639001134)
    (1.26339979, 1.26390012)
    """
    lo, hi = float(lo), float(hi)
    d = ci_decimals(lo, hi)
    if d is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return stored_value(lo), stored_value(hi)
    d += GUARD_DECIMALS
    mag = max(abs(lo), abs(hi))
    if mag > 0:  # never more than ``most`` significant digits (narrower than float noise)
        d = min(d, most - 1 - math.floor(math.log10(mag)))
    return _round(lo, d, "down") + 0.0, _round(hi, d, "up") + 0.0


def _n_significant(x: float) -> int:
    if x == 0.0:
        return 1
    text = f"{abs(x):.15g}"
    mantissa = text.split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) or 1
