"""The statistics of :mod:`kdtheory.simulations.imagenette_deviations` (NAG-6, NAG-7).

NAG-6: for the teacher's top class ``c``, ``x = logit(p_T[c])`` and ``y = logit(p_S[c])`` with
``p`` clipped to ``[P_CLIP, 1 - P_CLIP]`` (:func:`class_logits`, :func:`top_class_logits`), and
the OLS slope of ``y`` on ``x`` (:func:`slope_fit`), evaluated after every student stage
(:func:`evaluate_stage`); the main time is the stage nearest the teacher's budget ``t = T``
(:func:`main_epochs`). NAG-7's recovered fraction is the linear toy's
(:func:`kdtheory.simulations.late_distillation.recovered_fraction`). Kept apart from the study
module, which re-exports these names; this module does not import it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.special import logsumexp

from kdtheory.rates import fit_slope

#: CLAIMS.md NAG-6: probabilities clipped to [P_CLIP, 1 - P_CLIP] before the logit
P_CLIP = 1e-7
LOGIT_CLIP = float(np.log1p(-P_CLIP) - np.log(P_CLIP))


def class_logits(logits, classes) -> np.ndarray:
    """``logit(p[c])`` of ``p = softmax(z)`` for class ``c`` of each row, ``p`` clipped (NAG-6).

    Computed as ``z_c - logsumexp(z_{-c})`` (no cancellation); clipping ``p`` to
    ``[1e-7, 1 - 1e-7]`` is clipping this logit to ``+-logit(1 - 1e-7) ~ 16.1``.
    """
    z = np.asarray(logits, dtype=np.float64)
    classes = np.asarray(classes)
    rows = np.arange(len(z))
    others = z.copy()
    others[rows, classes] = -np.inf
    return np.clip(z[rows, classes] - logsumexp(others, axis=1), -LOGIT_CLIP, LOGIT_CLIP)


def top_class_logits(teacher_logits, student_logits) -> tuple[np.ndarray, np.ndarray]:
    """``x = logit(p_T[c])`` and ``y = logit(p_S[c])``, ``c`` the teacher's top class (NAG-6).

    Raises
    ------
    ValueError
        Shapes that differ or are not ``(n, K)`` with ``n >= 1``, ``K >= 2``.
    """
    t, s = np.asarray(teacher_logits), np.asarray(student_logits)
    if t.shape != s.shape or t.ndim != 2 or t.shape[0] < 1 or t.shape[1] < 2:
        raise ValueError(
            "teacher and student logits must have one shape (n, K), n >= 1, K >= 2; got "
            f"{t.shape} and {s.shape}"
        )
    top = np.argmax(t, axis=1)
    return class_logits(t, top), class_logits(s, top)


def slope_fit(x, y) -> dict:
    """OLS slope of ``y`` on ``x`` with its 95% interval (independent points): NAG-6's line."""
    fit = fit_slope(x, y, summary=False)
    return {
        "slope": fit.slope,
        "lo": fit.ci[0],
        "hi": fit.ci[1],
        "intercept": fit.intercept,
        "n_points": fit.n_obs,
    }


def within_class(x, y, classes) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``y`` centred within each class (NAG-6's within-class slope is the OLS slope of
    the centred ``y`` on the centred ``x``: the pooled fixed-effects slope). Classes with one
    image contribute nothing (both centred values are 0)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    classes = np.asarray(classes)
    _, inverse, counts = np.unique(classes, return_inverse=True, return_counts=True)
    mean_x = np.bincount(inverse, weights=x) / counts
    mean_y = np.bincount(inverse, weights=y) / counts
    return x - mean_x[inverse], y - mean_y[inverse]


def main_epochs(epochs: Iterable, teacher_epochs) -> int:
    """NAG-6's main time ``t = T``: of the students' stage ends ``epochs``, the one nearest the
    teacher's budget, a tie going to the earlier one.

    Raises
    ------
    ValueError
        No stage ends.
    """
    ends = list(epochs)
    if not ends:
        raise ValueError("no student stage to pick the main time from")
    return int(min(ends, key=lambda e: (abs(e - teacher_epochs), e)))


def evaluate_stage(network, teacher_logits, sets, scatter) -> tuple[dict, list[dict]]:
    """Accuracies on each set, and the NAG-6 lines (pooled, and within the teacher's top
    classes) and scatter points on each split.

    ``sets`` maps a split to ``(images, labels)``, ``teacher_logits`` a split to the teacher's
    logits on those images, and ``scatter`` (or None) a split to the indices of the points kept.
    """
    from kdtheory.neural.train import predict_logits

    acc, slopes = {}, []
    for split, (images, labels) in sets.items():
        z = predict_logits(network, images)
        acc[f"{split}_acc"] = float(np.mean(np.argmax(z, axis=1) == labels))
        x, y = top_class_logits(teacher_logits[split], z)
        slopes.append({"kind": "slope", "split": split, **slope_fit(x, y)})
        top = np.argmax(teacher_logits[split], axis=1)
        xc, yc = within_class(x, y, top)
        if np.ptp(xc) > 0:
            slopes.append({"kind": "slope_within", "split": split, **slope_fit(xc, yc)})
        if scatter:
            idx = scatter[split]
            slopes += [
                {"kind": "point", "split": split, "teacher_logit": a, "student_logit": b}
                for a, b in zip(x[idx], y[idx], strict=True)
            ]
    return acc, slopes
