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
