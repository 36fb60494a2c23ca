"""Covariate shift on images by selection on the input alone (CLAIMS.md 6, claim RAT-6).

Each image gets a scalar statistic (mean brightness by default; mean saturation, contrast or
sharpness as options: the last two are features a network is sensitive to). The
source split keeps an image with a probability that decreases in the standardized statistic ``z``,
the target split with one that increases in it, both logistic tilts of strength ``c``::

    pi_S(x) = expit(a_S - c z(x)),        pi_T(x) = expit(a_T + c z(x)),

with intercepts set so that each keeps a fraction ``keep`` of the train pool on average. Because
the selection looks at the image only, never at its label, ``P(y | x)`` is the same in every split:
this is covariate shift, with a likelihood ratio ``dQ/dP`` bounded by the tilt. ``c = 0`` is no
shift. The realized bounds are reported alongside ``c``.

numpy and scipy only: this module works without the ``neural`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq
from scipy.special import expit, log_expit, logit

__all__ = [
    "STATISTICS",
    "image_statistic",
    "selection_probabilities",
    "ShiftSplits",
    "covariate_shift_splits",
]

#: the image statistics the selection can tilt on
STATISTICS = ("brightness", "saturation", "contrast", "sharpness")

#: ITU-R BT.601 luma weights of R, G, B
LUMA = (0.299, 0.587, 0.114)

#: pixels processed at once by :func:`image_statistic` (bounds its float64 temporaries)
_CHUNK_PIXELS = 1024 * 64 * 64


def image_statistic(images: ArrayLike, kind: str = "brightness") -> NDArray:
    """Per-image scalar statistic on which the covariate shift selects (CLAIMS.md 6, RAT-6).

    Parameters
    ----------
    images : array_like of uint8, shape (N, H, W, 3)
        RGB images.
    kind : {"brightness", "saturation", "contrast", "sharpness"}
        ``"brightness"``: mean over pixels of the luma ``Y = (0.299 R + 0.587 G + 0.114 B) /
        255``.
        ``"saturation"``: mean over pixels of the HSV saturation ``(max - min) / max`` over the
        three channels (0 where ``max = 0``).
        ``"contrast"``: the standard deviation of ``Y`` over the pixels (RMS contrast).
        ``"sharpness"``: the square root of the mean squared 4-neighbour Laplacian of ``Y`` over
        the interior pixels (high-frequency energy: low for blurred images); images need
        ``H, W >= 3``.

    Returns
    -------
    numpy.ndarray of float64, shape (N,)
        Values in ``[0, 1]`` (sharpness: in ``[0, 8]``).

    Raises
    ------
    ValueError
        If ``kind`` is not one of :data:`STATISTICS`, or ``images`` is not a uint8 array of shape
        ``(N, H, W, 3)``.

    Notes
    -----
    Images are processed in chunks (1024 images of 64 x 64, fewer of larger ones) to keep memory
    low. Brightness is exact: the per-channel sums are integers.
    """
    if kind not in STATISTICS:
        raise ValueError(f"kind must be one of {STATISTICS}, got {kind!r}.")
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be a uint8 array, got dtype {images.dtype}.")
    if images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"images must have shape (N, H, W, 3) with H, W >= 1, got {images.shape}.")
    n, h, w, _ = images.shape
    if kind == "sharpness" and min(h, w) < 3:
        raise ValueError(f"sharpness needs images of at least 3 x 3 pixels, got {h} x {w}.")
    pixels = h * w
    chunk = max(1, _CHUNK_PIXELS // pixels)
    out = np.empty(n, dtype=np.float64)
    weights = np.asarray(LUMA) / 255.0
    for start in range(0, n, chunk):
        block = images[start : start + chunk].reshape(-1, pixels, 3)
        red, green, blue = block[..., 0], block[..., 1], block[..., 2]
        if kind in ("contrast", "sharpness"):
            luma = (block.astype(np.float64) @ weights).reshape(-1, h, w)
            if kind == "contrast":
                out[start : start + chunk] = luma.std(axis=(1, 2))
            else:
                lap = (
                    4 * luma[:, 1:-1, 1:-1]
                    - luma[:, :-2, 1:-1]
                    - luma[:, 2:, 1:-1]
                    - luma[:, 1:-1, :-2]
                    - luma[:, 1:-1, 2:]
                )
                out[start : start + chunk] = np.sqrt(np.mean(lap**2, axis=(1, 2)))
        elif kind == "brightness":
            # integer channel sums (exact), then the luma weights
            sums = np.stack([c.sum(axis=1, dtype=np.uint64) for c in (red, green, blue)], axis=1)
            out[start : start + chunk] = sums.astype(np.float64) @ weights / pixels
        else:
            high = np.maximum(np.maximum(red, green), blue)
            spread = (high - np.minimum(np.minimum(red, green), blue)).astype(np.float64)
            sat = np.zeros_like(spread)
            np.divide(spread, high, out=sat, where=high > 0)
            out[start : start + chunk] = sat.mean(axis=1)
    return out


def _tilt(
    score: ArrayLike, strength: float, keep: float, reference: ArrayLike
) -> tuple[NDArray, float, float]:
    """Standardized scores ``z`` of ``score`` and the intercepts ``(a_S, a_T)``."""
    strength = _check_strength(strength)
    keep = _check_keep(keep)
    score = np.asarray(score, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64).ravel()
    if reference.size == 0 or not np.all(np.isfinite(reference)):
        raise ValueError("reference must be a non-empty array of finite scores.")
    if not np.all(np.isfinite(score)):
        raise ValueError("score must hold finite values.")
    if strength == 0.0:
        return np.zeros_like(score), float(logit(keep)), float(logit(keep))
    scale = float(np.std(reference))
    if scale == 0.0:
        raise ValueError(
            f"reference scores are all equal, so they cannot be standardized; a tilt of strength "
            f"{strength} needs varying scores (or use strength=0)."
        )
    center = float(np.median(reference))
    z_ref = (reference - center) / scale
    span = strength * float(np.max(np.abs(z_ref))) + 1.0
    base = float(logit(keep))

    def intercept(sign: float) -> float:
        def gap(a: float) -> float:
            return float(np.mean(expit(a + sign * strength * z_ref))) - keep

        return float(brentq(gap, base - span, base + span, xtol=1e-14, rtol=1e-15, maxiter=500))

    return (score - center) / scale, intercept(-1.0), intercept(1.0)


def selection_probabilities(
    score: ArrayLike, strength: float, keep: float, reference: ArrayLike
) -> tuple[NDArray, NDArray]:
    """Source and target selection probabilities of a logistic tilt (CLAIMS.md 6, RAT-6).

    ``z = (score - median(reference)) / std(reference)``, ``pi_S = expit(a_S - c z)``,
    ``pi_T = expit(a_T + c z)``, with ``a_S`` and ``a_T`` solved (Brent's method) so that the mean
    of each over ``reference`` is ``keep``. Passing the train scores as ``reference`` for the val
    scores too gives both the same standardization and intercepts.

    Parameters
    ----------
    score : array_like of float
        Statistics of the images to select from.
    strength : float
        Tilt ``c >= 0``. ``0`` gives ``keep`` everywhere (no shift).
    keep : float
        Mean selection probability over ``reference``, in ``(0, 1)``.
    reference : array_like of float
        Statistics of the pool that fixes the standardization and the intercepts.

    Returns
    -------
    pi_source, pi_target : numpy.ndarray
        Same shape as ``score``; ``pi_source`` decreases and ``pi_target`` increases in it.

    Raises
    ------
    ValueError
        If ``strength`` is negative or not finite, ``keep`` is outside ``(0, 1)``, a score is not
        finite, or ``reference`` is empty or (with ``strength > 0``) constant.
    """
    z, a_source, a_target = _tilt(score, strength, keep, reference)
    c = float(strength)
    return expit(a_source - c * z), expit(a_target + c * z)


@dataclass(frozen=True)
class ShiftSplits:
    """Source and target splits drawn by :func:`covariate_shift_splits` (CLAIMS.md 6, RAT-6).

    Attributes
    ----------
    source, target : numpy.ndarray of int64
        Sorted, disjoint indices into the train images.
    source_test, target_test : numpy.ndarray of int64
        Sorted indices into the val images (the two may overlap; they are only evaluated on).
    report : pandas.DataFrame
        One row per split (``source``, ``target``, ``source_test``, ``target_test``) with columns
        ``split``, ``pool`` (``"train"`` or ``"val"``), ``pool_size``, ``size``,
        ``mean_statistic``, ``ratio_bound`` (realized ``max pi / mean_pool pi`` over the pool the
        split was drawn from: the sup of its density relative to that pool), ``strength``,
        ``statistic``, and ``p_<k>`` for each class ``k``: the class proportions.
    likelihood_ratio_bound : float
        Realized ``sup_x dQ/dP`` of the target relative to the source over the train images:
        ``max_x (pi_T(x) / mean pi_T) / (pi_S(x) / mean pi_S)``, means over all train images.
    strength : float
        The tilt ``c``.
    statistic : str
        The image statistic selected on.
    keep : float
        Mean selection probability over the train images.
    """

    source: NDArray
    target: NDArray
    source_test: NDArray
    target_test: NDArray
    report: pd.DataFrame
    likelihood_ratio_bound: float
    strength: float
    statistic: str
    keep: float


def covariate_shift_splits(
    train_images: ArrayLike,
    train_labels: ArrayLike,
    val_images: ArrayLike,
    val_labels: ArrayLike,
    *,
    strength: float,
    rng: np.random.Generator,
    statistic: str = "brightness",
    keep: float = 0.5,
    min_per_class: int = 20,
    n_classes: int | None = None,
) -> ShiftSplits:
    """Covariate-shift splits by selection on the image alone (CLAIMS.md 6, claim RAT-6).

    Each train image goes to the source pool or the target pool with probability 1/2, so the two
    splits are disjoint; an image of the source pool is then kept with probability ``pi_S(x)``, one
    of the target pool with ``pi_T(x)`` (see :func:`selection_probabilities`; the reference is the
    train statistics). Every val image enters ``source_test`` with probability ``pi_S(x)`` and,
    independently, ``target_test`` with ``pi_T(x)``. The labels are never used to select, so
    ``P(y | x)`` is the same in all four splits.

    Parameters
    ----------
    train_images, val_images : array_like of uint8, shape (N, H, W, 3)
    train_labels, val_labels : array_like of int, shape (N,)
        Class indices ``>= 0``.
    strength : float
        Tilt ``c >= 0``; ``0`` is no shift.
    rng : numpy.random.Generator
        Source of randomness. Draw order: ``rng.random(N_train)`` (target pool where ``< 1/2``),
        ``rng.random(N_train)`` (kept where ``< pi`` of the image's pool), ``rng.random(N_val)``
        (``source_test`` where ``< pi_S``), ``rng.random(N_val)`` (``target_test`` where
        ``< pi_T``). The draws do not depend on the labels.
    statistic : {"brightness", "saturation"}
        See :func:`image_statistic`.
    keep : float
        Mean selection probability over the train images, in ``(0, 1)``.
    min_per_class : int
        Each split must hold at least this many images of every class.
    n_classes : int, optional
        Number of classes; default ``1 + max`` label over train and val.

    Returns
    -------
    ShiftSplits

    Raises
    ------
    ValueError
        On invalid arguments (the message names the argument), or if a split ends up with fewer
        than ``min_per_class`` images of a class (the message names the split, the class, its
        count, the threshold and the strength).
    """
    strength = _check_strength(strength)
    keep = _check_keep(keep)
    if statistic not in STATISTICS:
        raise ValueError(f"statistic must be one of {STATISTICS}, got {statistic!r}.")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}.")
    if isinstance(min_per_class, bool) or not isinstance(min_per_class, int | np.integer):
        raise ValueError(f"min_per_class must be an int >= 0, got {min_per_class!r}.")
    if min_per_class < 0:
        raise ValueError(f"min_per_class must be an int >= 0, got {min_per_class!r}.")
    train_score = _scores(train_images, statistic, "train_images")
    val_score = _scores(val_images, statistic, "val_images")
    train_labels = _check_labels(train_labels, train_score.size, "train_labels", "train_images")
    val_labels = _check_labels(val_labels, val_score.size, "val_labels", "val_images")
    if train_labels.size == 0 or val_labels.size == 0:
        raise ValueError("train_images and val_images must each hold at least one image.")
    top = int(max(train_labels.max(), val_labels.max()))
    if n_classes is None:
        n_classes = top + 1
    elif isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer):
        raise ValueError(f"n_classes must be an int or None, got {n_classes!r}.")
    elif n_classes <= top:
        raise ValueError(f"n_classes must exceed the largest label {top}, got {n_classes}.")

    z_train, a_source, a_target = _tilt(train_score, strength, keep, train_score)
    z_val = _tilt(val_score, strength, keep, train_score)[0]
    pi = {
        "source": expit(a_source - strength * z_train),
        "target": expit(a_target + strength * z_train),
        "source_test": expit(a_source - strength * z_val),
        "target_test": expit(a_target + strength * z_val),
    }

    in_target_pool = rng.random(train_score.size) < 0.5
    u_train = rng.random(train_score.size)
    pools = {
        "source": np.flatnonzero(~in_target_pool),
        "target": np.flatnonzero(in_target_pool),
        "source_test": np.arange(val_score.size),
        "target_test": np.arange(val_score.size),
    }
    chosen = {
        "source": pools["source"][u_train[pools["source"]] < pi["source"][pools["source"]]],
        "target": pools["target"][u_train[pools["target"]] < pi["target"][pools["target"]]],
        "source_test": np.flatnonzero(rng.random(val_score.size) < pi["source_test"]),
        "target_test": np.flatnonzero(rng.random(val_score.size) < pi["target_test"]),
    }

    # sup_x dQ/dP over the train images; the means of pi_S and pi_T over them are both keep
    log_ratio = log_expit(a_target + strength * z_train) - log_expit(a_source - strength * z_train)
    with np.errstate(over="ignore"):
        lr_bound = float(np.exp(np.max(log_ratio)))

    rows = []
    for name, idx in chosen.items():
        train = name in ("source", "target")
        labels = train_labels if train else val_labels
        score = train_score if train else val_score
        pool_pi = pi[name][pools[name]]
        mean_pi = float(pool_pi.mean()) if pool_pi.size else 0.0
        counts = np.bincount(labels[idx], minlength=n_classes)
        row = {
            "split": name,
            "pool": "train" if train else "val",
            "pool_size": int(pools[name].size),
            "size": int(idx.size),
            "mean_statistic": float(score[idx].mean()) if idx.size else float("nan"),
            "ratio_bound": float(pool_pi.max()) / mean_pi if mean_pi > 0 else float("nan"),
            "strength": strength,
            "statistic": statistic,
        }
        share = counts / idx.size if idx.size else np.full(n_classes, np.nan)
        row.update({f"p_{k}": float(share[k]) for k in range(n_classes)})
        rows.append(row)
        short = np.flatnonzero(counts < min_per_class)
        if short.size:
            k = int(short[0])
            raise ValueError(
                f"split {name!r} has {int(counts[k])} images of class {k}, fewer than "
                f"min_per_class={min_per_class}, at strength={strength} ({statistic}, "
                f"keep={keep}); lower `strength`, raise `keep`, or lower `min_per_class`."
            )

    return ShiftSplits(
        source=chosen["source"].astype(np.int64),
        target=chosen["target"].astype(np.int64),
        source_test=chosen["source_test"].astype(np.int64),
        target_test=chosen["target_test"].astype(np.int64),
        report=pd.DataFrame(rows),
        likelihood_ratio_bound=lr_bound,
        strength=strength,
        statistic=statistic,
        keep=keep,
    )


def _scores(images: ArrayLike, statistic: str, name: str) -> NDArray:
    """:func:`image_statistic` of ``images``, its errors naming the argument ``name``."""
    try:
        return image_statistic(images, statistic)
    except ValueError as err:
        raise ValueError(str(err).replace("images", name, 1)) from None


def _check_strength(strength: float) -> float:
    """``strength`` as a float, finite and ``>= 0``."""
    try:
        c = float(strength)
    except (TypeError, ValueError):
        raise ValueError(f"strength must be a finite number >= 0, got {strength!r}.") from None
    if not np.isfinite(c) or c < 0.0:
        raise ValueError(f"strength must be a finite number >= 0, got {strength!r}.")
    return c


def _check_keep(keep: float) -> float:
    """``keep`` as a float in ``(0, 1)``."""
    try:
        k = float(keep)
    except (TypeError, ValueError):
        raise ValueError(f"keep must be a number in (0, 1), got {keep!r}.") from None
    if not 0.0 < k < 1.0:
        raise ValueError(f"keep must be a number in (0, 1), got {keep!r}.")
    return k


def _check_labels(labels: ArrayLike, n: int, name: str, images_name: str) -> NDArray:
    """``labels`` as a 1-d int64 array of ``n`` non-negative class indices."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.dtype == bool or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name} must be a 1-d array of integers, got dtype {labels.dtype}, "
            f"shape {labels.shape}."
        )
    if labels.size != n:
        raise ValueError(f"{name} has {labels.size} entries but {images_name} has {n} images.")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} must be >= 0, got a minimum of {labels.min()}.")
    return labels.astype(np.int64)
