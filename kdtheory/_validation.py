"""Input checks shared by the estimators (the ones scikit-learn's ``validate_data`` leaves out)."""

from __future__ import annotations

import numpy as np


def check_numeric_y(y, owner: str) -> None:
    """Raise a ``ValueError`` naming ``y`` when a regressor's targets are not numbers.

    ``validate_data(..., y_numeric=True)`` converts only object arrays and lets string arrays
    through, which then fail deep inside numpy; this check names the problem instead.
    """
    arr = np.asarray(y)
    if arr.dtype.kind in "biufc":  # complex: validate_data's own "Complex data not supported"
        return
    if arr.dtype.kind == "O":
        try:
            arr.astype(np.float64)
            return
        except (TypeError, ValueError):
            pass
    example = repr(arr.flat[0]) if arr.size else "none"
    raise ValueError(
        f"{owner} is a regressor: y must hold real numbers, got dtype {arr.dtype} (first value "
        f"{example}); encode the labels as numbers first."
    )


def validate_params(estimator) -> None:
    """Check an estimator's parameters against its ``_parameter_constraints`` the way
    scikit-learn does (``InvalidParameterError``, a ``ValueError`` and ``TypeError`` that names
    the parameter, the constraint and the value), and refuse a bool where a count is expected
    (scikit-learn lets ``True`` pass as the integer 1)."""
    from numbers import Integral

    from sklearn.utils._param_validation import Interval, InvalidParameterError

    estimator._validate_params()
    for name, constraints in estimator._parameter_constraints.items():
        value = getattr(estimator, name)
        counts = [c for c in constraints if isinstance(c, Interval) and c.type is Integral]
        if counts and isinstance(value, bool | np.bool_):
            raise InvalidParameterError(
                f"The {name!r} parameter of {type(estimator).__name__} must be {counts[0]}. "
                f"Got {value!r} instead (a bool is not a count)."
            )
