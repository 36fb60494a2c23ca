"""Distillation losses as pure functions of arrays, in numerically safe forms.

- :func:`kl_divergence` and the Cressie-Read :func:`power_divergence` (CLAIMS.md 4, claim PD-1:
  ``lam -> 0`` is KL, ``lam -> -1`` the reverse KL, agreement with ``scipy.stats``), and the
  distillation loss :func:`power_divergence_kd_loss` ``T^2 D_lam`` between tempered teacher and
  student in either argument order, with its closed-form gradient
  :func:`power_divergence_kd_gradient` (which order and ``lam`` down-weight a teacher the
  student disagrees with: claim PD-2). These three take numpy or JAX arrays: each formula is
  written once against an array namespace, ``jax.numpy`` when an input is a JAX array (JAX is
  never imported here, so the module works without it), numpy otherwise;
- Hinton's tempered KD loss :func:`tempered_kd_loss` ``T^2 KL(w || q)`` with
  ``w = softmax(log p_hat / T)`` and ``q = softmax(z / T)``, and the public code's orthogonal
  correction :func:`kd_orthogonal_correction` (CLAIMS.md 3.1, ``KDOrthoLoss`` of
  ``microsoft/semiparametric-distillation``): the directional derivative in ``p`` of the
  ``z``-dependent part ``-sum_j w_j(p) log q_j`` along ``y - p_hat``; at ``T = 1`` the corrected
  loss is the hard-label cross-entropy minus the teacher's entropy (CLAIMS.md 3.1; the
  first-order cancellation behind claim SEMI-1);
- the binary squared losses ``(z - g(p))^2`` of :mod:`kdtheory.semiparametric` and their
  orthogonal correction :func:`orthogonal_squared_loss`, which is the squared loss to the
  orthogonal regression target up to a ``z``-independent constant.

All losses are per sample (reduced over the class axis, the last one); the public code averages
them over the batch, i.e. takes ``.mean()`` of what these functions return. Class probabilities lie
along the last axis; ``student_logits`` are the student's logits ``z``.
"""

from __future__ import annotations

import contextlib
import sys

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import log_softmax, rel_entr

from kdtheory.semiparametric import (
    _check_scale,
    _link,
    clip_proba,
    orthogonal_gamma,
)

__all__ = [
    "kl_divergence",
    "power_divergence",
    "power_divergence_kd_loss",
    "power_divergence_kd_gradient",
    "power_divergence_kd_loss_and_gradient",
    "proba_sum_tolerance",
    "KD_ORDERS",
    "cross_entropy",
    "tempered_kd_loss",
    "kd_orthogonal_correction",
    "corrected_kd_loss",
    "squared_loss",
    "orthogonal_squared_loss",
]


def _as_float(a: ArrayLike) -> NDArray:
    return np.asarray(a, dtype=float)


def _nonnegative(a: ArrayLike, name: str) -> NDArray:
    """``a`` as floats, or a ValueError naming ``name`` and the first negative or NaN entry."""
    a = _as_float(a)
    bad = np.isnan(a) | (a < 0)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must hold non-negative numbers (probabilities or counts); entry {where} is "
            f"{a[where]!r}."
        )
    return a


def kl_divergence(p: ArrayLike, q: ArrayLike, axis: int = -1) -> NDArray:
    """``KL(p || q) = sum_k p_k log(p_k / q_k)`` of probability vectors along ``axis``.

    Terms with ``p_k = 0`` are 0; a term with ``p_k > 0 = q_k`` is ``+inf``
    (:func:`scipy.special.rel_entr`).
    """
    return np.sum(rel_entr(_nonnegative(p, "p"), _nonnegative(q, "q")), axis=axis)


# ------------------------------------------------------------------ power divergences (PD-1)
#: the two argument orders of :func:`power_divergence_kd_loss`
KD_ORDERS = ("teacher_student", "student_teacher")
#: below this ``|lam L|`` the factor ``expm1(lam L) / lam`` is its Taylor polynomial
_TAYLOR = 1e-4


def _namespace(*values):
    """``jax.numpy`` when any value is a JAX array (or tracer), else numpy.

    JAX is looked up in ``sys.modules`` only: a JAX array cannot exist before ``jax`` has been
    imported, so this module never imports JAX itself and works without it.
    """
    jax = sys.modules.get("jax")
    if jax is not None and any(isinstance(v, jax.Array) for v in values):
        import jax.numpy as jnp

        return jnp
    return np


def _concrete(*values) -> bool:
    """Whether the values can be read (not JAX tracers inside ``jax.jit`` or ``jax.grad``)."""
    jax = sys.modules.get("jax")
    tracer = getattr(getattr(jax, "core", None), "Tracer", None)
    return tracer is None or not any(isinstance(v, tracer) for v in values)


def _floats(xp, a):
    a = xp.asarray(a)
    if xp is np:
        return a.astype(float)
    return a if xp.issubdtype(a.dtype, xp.floating) else a.astype(xp.result_type(float))


def _quiet(xp):
    """numpy's warnings off for the masked branches below (log 0, inf - inf); JAX has none."""
    return np.errstate(all="ignore") if xp is np else contextlib.nullcontext()


def _log_softmax(xp, z):
    if xp is np:
        return log_softmax(z, axis=-1)
    import jax

    return jax.nn.log_softmax(z, axis=-1)


def proba_sum_tolerance(k: int) -> float:
    """Tolerance ``2 (k + 8) eps32`` on the sum of a probability vector with ``k`` entries.

    A probability vector computed in single precision (a float32 softmax: each entry within a
    few ulps, their sum within ``(k - 1) eps32`` more, Higham's bound) misses 1 by at most about
    ``(k + 8) eps32``; twice that is accepted, so float32 and float64 probabilities pass. The
    mistakes the check is for (logits or unnormalized scores, the wrong axis) miss by ``O(1)``.
    """
    return 2.0 * (k + 8) * float(np.finfo(np.float32).eps)


def _check_sums(p, q, axis, names) -> None:
    """ValueError unless ``p`` (and ``q``, or 1 when ``q`` is None) have equal sums along axis."""
    p = np.asarray(p, dtype=float)
    k = p.shape[axis] if p.ndim else 1
    sp = p.sum(axis=axis)
    sq = np.ones_like(sp) if q is None else np.asarray(q, dtype=float).sum(axis=axis)
    tol = proba_sum_tolerance(k)
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(sp - sq) <= tol * np.maximum(sp, sq))
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.ndim else ()
        if q is None:
            raise ValueError(
                f"{names} must sum to 1 along the last axis (within {tol:.1e} = 2 (k + 8) eps32, "
                f"the rounding of a float32 softmax over k = {k} classes); slice {where} sums to "
                f"{float(np.asarray(sp)[where])!r}."
            )
        raise ValueError(
            f"{names} must have equal sums along axis {axis} (probability vectors, or observed "
            f"and expected counts with the same total), within a relative {tol:.1e} "
            f"= 2 (k + 8) eps32 (k = {k}); slice {where} sums to {float(np.asarray(sp)[where])!r} "
            f"and {float(np.asarray(sq)[where])!r}."
        )


def _check_scalar(value, name: str, *, positive: bool = False):
    """``value`` as a float (numpy) or a 0-d array (JAX); its value is checked when readable."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar, got shape {np.shape(value)}.")
    if not _concrete(value):
        return value
    v = float(np.asarray(value))
    if not np.isfinite(v) or (positive and v <= 0):
        raise ValueError(f"{name} must be a finite number{' > 0' if positive else ''}, got {v!r}.")
    return value if _namespace(value) is not np else v


def _w_expm1(xp, w, log_w, nu, L):
    """``w (exp(nu L) - 1) / nu`` for every real ``nu`` (``w L`` at ``nu = 0``), elementwise.

    Three forms, each used only where it is accurate and each fed harmless inputs elsewhere (so
    that ``jax.grad`` sees no ``0 * inf``): for ``|nu L| < 1e-4`` the Taylor polynomial
    ``w L (1 + x/2 + x^2/6 + x^3/24)``, ``x = nu L`` (remainder below ``x^4 / 120 < 1e-18``
    relative; no division by ``nu``); up to half the overflow exponent ``w expm1(x) / nu``
    (a few ulps); beyond it ``(exp(log w + x) - w) / nu``, finite whenever the result is.
    """
    # nu = 0: x = 0 with the derivative L in nu (the limit w L, also for L = +-inf, comes from
    # the Taylor form below); an infinite L enters no product there, so no 0 * inf reaches
    # the value or jax.grad
    x = nu * xp.where((nu == 0) & ~xp.isfinite(L), 0.0, L)
    tiny = xp.abs(x) < _TAYLOR
    huge = x > 0.5 * float(np.log(xp.finfo(x.dtype).max))
    x_t, L_t = xp.where(tiny, x, 0.0), xp.where(tiny, L, 0.0)
    taylor = w * L_t * (1.0 + x_t / 2.0 * (1.0 + x_t / 3.0 * (1.0 + x_t / 4.0)))
    nu_s = xp.where(tiny, 1.0, nu)
    direct = w * xp.expm1(xp.where(tiny | huge, 0.0, x)) / nu_s
    logspace = (xp.exp(log_w + xp.where(huge, x, 0.0)) - w) / nu_s
    return xp.where(tiny, taylor, xp.where(huge, logspace, direct))


def _pd_sum(xp, a, log_a, b, log_b, lam, axis):
    """``D_lam(a || b)`` from the vectors and their logs, for every real ``lam``.

    ``sum_k [a_k E(L_k) - (a_k - b_k)] / (mu + 1)`` with ``E(L) = expm1(mu L) / mu``,
    ``L = log(a / b)``, after the duality swap ``D_lam(a || b) = D_{-1-lam}(b || a)`` for
    ``lam < -1/2``, so that ``mu >= -1/2``: ``1 / (mu + 1) <= 2`` and ``E`` has no pole.
    Terms with ``a_k = 0`` are ``b_k / (mu + 1)`` (``0 log 0 = 0``); each term is non-negative.
    """
    swap = lam < -0.5
    a, b, log_a, log_b = (
        xp.where(swap, b, a), xp.where(swap, a, b),
        xp.where(swap, log_b, log_a), xp.where(swap, log_a, log_b),
    )  # fmt: skip
    mu = xp.where(swap, -1.0 - lam, lam)
    pos = a > 0
    L = xp.where(pos, log_a - log_b, 0.0)
    aE = xp.where(pos, _w_expm1(xp, a, log_a, mu, L), 0.0)
    return xp.sum(aE - (a - b), axis=axis) / (mu + 1.0)


def power_divergence(p, q, lam, axis: int = -1):
    """Cressie-Read power divergence ``D_lam(p || q)`` (CLAIMS.md 4, claim PD-1).

    For vectors with equal sums (probability vectors, or observed and expected counts)::

        D_lam(p || q) = 1 / (lam (lam + 1)) sum_k p_k ((p_k / q_k)^lam - 1),

    which is ``scipy.stats.power_divergence(p, q, lambda_=lam).statistic / 2``; ``lam -> 0``
    gives ``KL(p || q)``, ``lam -> -1`` gives ``KL(q || p)``, and
    ``D_lam(p || q) = D_{-1-lam}(q || p)``. We evaluate the f-divergence ``sum_k q_k f(p_k/q_k)``
    with ``f(t) = (t^(lam+1) - 1 - (lam+1)(t-1)) / (lam (lam+1))``, which adds
    ``-(p_k - q_k) / (lam + 1)`` per term (summing to 0) and so is non-negative term by term, in
    the form ``sum_k [p_k expm1(lam log(p_k/q_k)) / lam - (p_k - q_k)] / (lam + 1)``, after the
    duality swap for ``lam < -1/2``: neither ``1 / lam`` nor ``1 / (lam + 1)`` is evaluated
    near its pole (a Taylor form replaces ``expm1(x) / lam`` for ``|x| < 1e-4``, see
    :func:`_w_expm1`). ``0 log 0 = 0``; ``q_k = 0 < p_k`` gives ``+inf`` for ``lam >= 0`` (as
    scipy) and a finite term for every ``lam < 0``; by duality ``p_k = 0 < q_k`` gives ``+inf``
    for ``lam <= -1`` and a finite term for ``lam > -1``.

    One formula for numpy and JAX: with a JAX array among ``p, q, lam`` the computation is
    ``jax.numpy`` (differentiable, jittable, in the arrays' precision), otherwise numpy in
    float64.

    Parameters
    ----------
    p, q : array-like
        Non-negative vectors along ``axis`` (broadcast together) with equal sums, within a
        relative :func:`proba_sum_tolerance`. Checked when their values can be read (numpy, or
        JAX outside ``jax.jit``): a negative or NaN entry or unequal sums raise ``ValueError``.
    lam : float
        The power (finite); 1 is half Pearson's chi-square, 2/3 Cressie-Read's recommendation.
        A 0-d JAX array (traced under ``jax.jit``) is accepted.
    axis : int, default=-1

    Returns
    -------
    ndarray
        ``D_lam(p || q)`` reduced over ``axis``.

    Examples
    --------
    The two KL limits, duality, and the paper's power:

    >>> import numpy as np
    >>> p, q = np.array([0.2, 0.5, 0.3]), np.array([0.4, 0.4, 0.2])
    >>> bool(np.isclose(power_divergence(p, q, 0.0), kl_divergence(p, q)))
    True
    >>> bool(np.isclose(power_divergence(p, q, -1.0), kl_divergence(q, p)))
    True
    >>> bool(np.isclose(power_divergence(p, q, 2 / 3), power_divergence(q, p, -5 / 3)))
    True
    >>> round(float(power_divergence(p, q, 2 / 3)), 6)
    0.089372
    """
    xp = _namespace(p, q, lam)
    lam = _check_scalar(lam, "lam")
    if _concrete(p, q):
        p_np, q_np = np.broadcast_arrays(_nonnegative(p, "p"), _nonnegative(q, "q"))
        _check_sums(p_np, q_np, axis, "p and q")
    p, q = xp.broadcast_arrays(_floats(xp, p), _floats(xp, q))
    with _quiet(xp):
        return _pd_sum(xp, p, xp.log(p), q, xp.log(q), lam, axis)


def _tempered(student_logits, teacher_proba, temperature, *more):
    """Checked and tempered inputs of every KD loss: ``xp, T, p, log w, log q``.

    ``xp`` is the namespace of the arrays, ``temperature`` and ``more`` (the other
    hyperparameters; see :func:`_namespace`), ``w = softmax(log p / T)`` and
    ``q = softmax(z / T)``. Checks: ``T`` a finite number > 0 (its value when readable), equal
    shapes, and, when the values can be read (not under ``jax.jit``), teacher rows on the simplex:
    non-negative and summing to 1 within :func:`proba_sum_tolerance`. One check for
    :func:`tempered_kd_loss` and :func:`power_divergence_kd_loss`, which agree at ``lam = 0``.
    """
    xp = _namespace(student_logits, teacher_proba, temperature, *more)
    T = _check_scalar(temperature, "temperature", positive=True)
    if np.shape(teacher_proba) != np.shape(student_logits):
        raise ValueError(
            f"teacher_proba and student_logits must have the same shape, got "
            f"{np.shape(teacher_proba)} and {np.shape(student_logits)}."
        )
    if _concrete(teacher_proba):
        _check_sums(_nonnegative(teacher_proba, "teacher_proba"), None, -1, "teacher_proba")
    p, z = _floats(xp, teacher_proba), _floats(xp, student_logits)
    with _quiet(xp):
        log_w = _log_softmax(xp, xp.log(p) / T)
    return xp, T, p, log_w, _log_softmax(xp, z / T)


def _kd_inputs(student_logits, teacher_proba, lam, temperature, order):
    """Checked inputs of the KD power-divergence loss: ``xp, T, lam, log w, log q``."""
    if order not in KD_ORDERS:
        raise ValueError(f"order must be one of {KD_ORDERS}, got {order!r}.")
    lam = _check_scalar(lam, "lam")
    xp, T, _, log_w, log_q = _tempered(student_logits, teacher_proba, temperature, lam)
    return xp, T, lam, log_w, log_q


def power_divergence_kd_loss(
    student_logits, teacher_proba, lam, *, temperature=1.0, order: str = "teacher_student"
):
    """Power-divergence distillation loss per sample (CLAIMS.md 4, claims PD-1 and PD-2).

    ``T^2 D_lam(w || q)`` (``order="teacher_student"``) or ``T^2 D_lam(q || w)``
    (``"student_teacher"``), with the tempered teacher ``w = softmax(log p_hat / T)``
    (``= softmax(t / T)`` for teacher logits ``t``; teacher probabilities, as in
    :func:`tempered_kd_loss`, which it equals at ``lam = 0`` in the first order) and the student
    ``q = softmax(z / T)``; the ``T^2`` is Hinton's, so gradients keep their size across ``T``.
    By duality the second order with ``lam`` is the first with ``-1 - lam``.

    Gradient (:func:`power_divergence_kd_gradient`). Write ``mu = lam`` (first order) or
    ``mu = -1 - lam`` (second), so that the loss is ``T^2 D_mu(w || q)``, ``nu = mu + 1`` and
    ``r_k = (w_k / q_k)^mu``. Then::

        d loss / d z_j = -(T / nu) (w_j r_j - q_j sum_k w_k r_k) = -T (a_j - q_j sum_k a_k),

    ``a_j = w_j^nu q_j^(1-nu) / nu``: a softmax step towards the unnormalized target ``a``
    (KL: ``nu = 1``, ``a = w``). The teacher's mass on class ``j`` enters as
    ``w_j (q_j / w_j)^(1-nu) / nu``. For ``nu < 1`` it is shrunk where the student finds the
    class less plausible than the teacher does (``q_j < w_j``): the down-weighting of claim
    PD-2; ``nu > 1`` inflates it. As ``nu = lam + 1`` teacher first and ``nu = -lam`` student
    first, the loss down-weights for ``lam < 0`` teacher first and ``lam > -1`` student first;
    ``lam = -1/2`` (four times the squared Hellinger distance, self-dual) is both. For
    ``0 < nu < 1`` the target ``a / sum a`` is a geometric mixture of teacher and student and
    ``sum_k a_k = S / nu`` with ``S = sum_k w_k^nu q_k^(1-nu) <= 1`` (Hoelder): a sample on
    which they disagree also weighs less. For ``nu <= 0`` (student first with ``lam >= 0``,
    e.g. 2/3; teacher first with ``lam <= -1``) the pull towards a class is at most of the
    order of the student's own ``q_j``, and the step pushes down the classes the teacher rates
    improbable, with a strength ``(q_j / w_j)^|nu|`` (``log(q_j / w_j)`` at ``nu = 0``) that is
    unbounded as ``w_j -> 0``.

    Parameters
    ----------
    student_logits : array of shape (..., k)
        Logits ``z``; numpy or JAX (differentiable, jittable).
    teacher_proba : array of shape (..., k)
        Rows on the simplex (non-negative, summing to 1 within :func:`proba_sum_tolerance`;
        checked when the values can be read, i.e. not under ``jax.jit``).
    lam : float
        The power (finite); a 0-d JAX array is accepted (a traced hyperparameter).
    temperature : float > 0, default=1.0
    order : {"teacher_student", "student_teacher"}, default="teacher_student"

    Returns
    -------
    array of shape (...)
        The loss per sample; the batch loss is its mean.
    """
    return _kd_loss(*_kd_inputs(student_logits, teacher_proba, lam, temperature, order), order)


def power_divergence_kd_gradient(
    student_logits, teacher_proba, lam, *, temperature=1.0, order: str = "teacher_student"
):
    """Closed-form gradient of :func:`power_divergence_kd_loss` in the student logits.

    ``-T q_j (E(l_j) - sum_k q_k E(l_k))`` with ``l = log(w / q)`` and
    ``E(l) = expm1((mu + 1) l) / (mu + 1)``: the formula ``-(T / (mu + 1)) (w_j r_j - q_j S)``
    of :func:`power_divergence_kd_loss` (``w_j r_j = q_j (w_j / q_j)^(mu+1)``, ``sum q = 1``)
    without its pole at ``mu = -1``, the reverse KL, where it is
    ``T q_j (log(q_j / w_j) - KL(q || w))``. Same arguments and checks as the loss; returns an
    array of the logits' shape. Finite wherever the loss is.
    """
    return _kd_grad(*_kd_inputs(student_logits, teacher_proba, lam, temperature, order), order)


def power_divergence_kd_loss_and_gradient(
    student_logits, teacher_proba, lam, *, temperature=1.0, order: str = "teacher_student"
):
    """``(power_divergence_kd_loss(...), power_divergence_kd_gradient(...))`` from one check
    and one tempering of the inputs (for optimizers that ask for both)."""
    inputs = _kd_inputs(student_logits, teacher_proba, lam, temperature, order)
    return _kd_loss(*inputs, order), _kd_grad(*inputs, order)


def _kd_loss(xp, T, lam, log_w, log_q, order):
    w, q = xp.exp(log_w), xp.exp(log_q)
    with _quiet(xp):
        if order == "teacher_student":
            return T**2 * _pd_sum(xp, w, log_w, q, log_q, lam, -1)
        return T**2 * _pd_sum(xp, q, log_q, w, log_w, lam, -1)


def _kd_grad(xp, T, lam, log_w, log_q, order):
    mu = lam if order == "teacher_student" else -1.0 - lam
    q = xp.exp(log_q)
    with _quiet(xp):
        u = _w_expm1(xp, q, log_q, mu + 1.0, log_w - log_q)
        return -T * (u - q * xp.sum(u, axis=-1, keepdims=True))


def _check_temperature(temperature: float) -> float:
    return float(_check_scalar(temperature, "temperature", positive=True))


def _one_hot(y: ArrayLike, shape: tuple[int, ...]) -> NDArray:
    """``y`` as one-hot rows of ``shape``: given one-hot, or as integer labels of shape[:-1]."""
    y = np.asarray(y)
    if y.shape == shape:
        return y.astype(float)
    if y.shape == shape[:-1] and y.dtype.kind in "iu":
        return (y[..., None] == np.arange(shape[-1])).astype(float)
    raise ValueError(
        f"y_onehot must be one-hot of shape {shape} or integer labels of shape {shape[:-1]}, "
        f"got shape {y.shape}."
    )


def _tempered_numpy(student_logits, teacher_proba, temperature):
    """:func:`_tempered` in numpy float64 (for the numpy-only losses below): ``T``, ``p``,
    ``w``, ``log w`` and ``log q``."""
    _, T, p, log_w, log_q = _tempered(
        _as_float(student_logits), _as_float(teacher_proba), _check_temperature(temperature)
    )
    return T, p, np.exp(log_w), log_w, log_q


def cross_entropy(student_logits: ArrayLike, y_onehot: ArrayLike) -> NDArray:
    """Hard-label cross-entropy ``-sum_j y_j log softmax(z)_j`` per sample."""
    log_q = log_softmax(_as_float(student_logits), axis=-1)
    y = _one_hot(y_onehot, log_q.shape)
    with np.errstate(invalid="ignore"):  # 0 * (-inf) for a -inf logit, masked out
        return -np.sum(np.where(y > 0, y * log_q, 0.0), axis=-1)


def tempered_kd_loss(
    student_logits: ArrayLike, teacher_proba: ArrayLike, temperature: float
) -> NDArray:
    """Hinton's KD loss ``T^2 KL(w || q)`` per sample (CLAIMS.md 3.1).

    ``w = softmax(log p_hat / T)`` (``= softmax(t / T)`` for teacher logits ``t``) and
    ``q = softmax(z / T)``; computed from log-softmaxes, classes with ``p_hat = 0`` contribute 0.
    The teacher is checked as by :func:`power_divergence_kd_loss` (which equals this loss at
    ``lam = 0``): rows non-negative and summing to 1 within :func:`proba_sum_tolerance`, else
    ``ValueError``.
    """
    T, _, w, log_w, log_q = _tempered_numpy(student_logits, teacher_proba, temperature)
    diff = np.where(w > 0, log_w - log_q, 0.0)
    return T**2 * np.sum(w * diff, axis=-1)


def kd_orthogonal_correction(
    student_logits: ArrayLike,
    teacher_proba: ArrayLike,
    y_onehot: ArrayLike,
    temperature: float,
    eps: float = 1e-2,
) -> NDArray:
    """The public code's orthogonal correction of tempered KD, per sample (``KDOrthoLoss``).

    ``a [(sum_j r_j w_j)(sum_j w_j log q_j) - sum_j r_j w_j log q_j]`` with ``a = 1/T``,
    ``r_j = y_j / max(p_hat_j, eps) - 1``, ``w`` and ``q`` as in :func:`tempered_kd_loss`.
    Where ``p_hat_y >= eps`` (the clamp inactive) it equals the directional derivative
    ``sum_i (y_i - p_i) d/dp_i [-sum_j w_j(p) log q_j]`` at ``p = p_hat`` (from
    ``d w_j / d p_i = a w_j (delta_ij - w_i) / p_i``), the first-order term of the orthogonal loss
    ``l(z, p_hat) + <d_p l(z, p_hat), y - p_hat>`` (CLAIMS.md 3.1). The entropy part of the KL does
    not depend on ``z`` and is not corrected.

    Parameters
    ----------
    student_logits : array of shape (..., k)
    teacher_proba : array of shape (..., k)
        Rows on the simplex (checked as in :func:`tempered_kd_loss`).
    y_onehot : array of shape (..., k), or integer labels of shape (...)
    temperature : float > 0
    eps : float, default=1e-2
        Floor on ``p_hat`` in ``r`` (the public code's default).
    """
    T, p, w, _, log_q = _tempered_numpy(student_logits, teacher_proba, temperature)
    y = _one_hot(y_onehot, p.shape)
    r_w = (y / np.maximum(p, eps) - 1.0) * w
    with np.errstate(invalid="ignore"):  # 0 * (-inf) for a -inf logit, masked out
        w_log_q = np.where(w > 0, w * log_q, 0.0)
        rw_log_q = np.where(w > 0, r_w * log_q, 0.0)
    return (np.sum(r_w, axis=-1) * np.sum(w_log_q, axis=-1) - np.sum(rw_log_q, axis=-1)) / T


def corrected_kd_loss(
    student_logits: ArrayLike,
    teacher_proba: ArrayLike,
    y_onehot: ArrayLike,
    temperature: float,
    eps: float = 1e-2,
) -> NDArray:
    """``T^2 [KL(w || q) + correction]`` per sample: the public code's corrected KD term.

    The public code's training loss is the batch mean of ``(1 - alpha) cross_entropy(z, y) +
    alpha corrected_kd_loss(...)``. At ``T = 1`` and ``p_hat_y >= eps`` it equals
    ``cross_entropy(z, y) - H(p_hat)``: hard-label training up to a constant (CLAIMS.md 3.1).
    """
    T = _check_temperature(temperature)
    kd = tempered_kd_loss(student_logits, teacher_proba, T)
    corr = kd_orthogonal_correction(student_logits, teacher_proba, y_onehot, T, eps=eps)
    return kd + T**2 * corr


def squared_loss(z: ArrayLike, p: ArrayLike, *, scale: str = "p") -> NDArray:
    """``(z - g(p))^2`` with ``g(p) = p`` or ``log p`` (``p`` clipped at 1/500), binary ``p``."""
    return (_as_float(z) - _link(clip_proba(p, scale), scale)) ** 2


def orthogonal_squared_loss(
    z: ArrayLike, p_hat: ArrayLike, y: ArrayLike, *, scale: str = "p"
) -> NDArray:
    """``l(z, p_hat) + d_p l(z, p_hat) (y - p_hat)`` for ``l(z, p) = (z - g(p))^2`` (CLAIMS.md 3.1).

    ``= (z - g(p_hat))^2 - 2 (z - g(p_hat)) g'(p_hat) (y - p_hat)``, which equals
    ``(z - target)^2 - (g'(p_hat) (y - p_hat))^2`` with the orthogonal target
    ``target = g(p_hat) + g'(p_hat) (y - p_hat)`` (``y`` on the p scale, ``log p_hat + y/p_hat - 1``
    on the log scale): minimizing it over ``z`` is regressing on the orthogonal target. ``p_hat`` is
    clipped at 1/500 on the log scale, as the targets are.
    """
    _check_scale(scale)
    p = clip_proba(p_hat, scale)
    resid = _as_float(z) - _link(p, scale)
    return resid**2 - 2.0 * resid * orthogonal_gamma(p, scale) * (_as_float(y) - p)
