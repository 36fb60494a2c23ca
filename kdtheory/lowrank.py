"""Exact risks of soft matching and RaT with a low-rank teacher kernel (claim RAT-5).

A teacher kernel of rank ``r`` on the source points, ``K_T(X, X) = Phi Phi^T`` (``Phi``:
``n x r``; the finite-rank Sobolev kernel exactly, a Gaussian kernel to a stated tolerance by
:func:`pivoted_cholesky`), makes the teacher's smoother on the target points rank ``r``:

``G = K_T(Xt, X) (K_T(X, X) + a_T I)^{-1} = Phi_t H Phi^T``,  ``H = (Phi^T Phi + a_T I)^{-1}``

(push-through identity). Every student-teacher smoother is then ``A_l = B_l Phi^T`` with a small
left factor ``B_l`` (``N x r``) per student ridge ``a_l``:

- soft matching (SM): ``B_l = S_l Phi_t H``, ``S_l`` the student's kernel ridge smoother from
  the target points to the evaluation points; for the kernel ``min(x, x')`` on one-dimensional
  points one tridiagonal solve with ``r`` right-hand sides per ridge
  (:class:`~kdtheory._minkernel.MinKernelSmoother`), else one eigendecomposition of
  ``K_S(Xt, Xt)``;
- RaT's fixed point ``K_S(Xe, Xt) (a_l I + G K_S(X, Xt))^{-1} G``: by the push-through identity
  again, ``B_l = E (a_l I + H Q)^{-1} H`` with ``E = K_S(Xe, Xt) Phi_t`` and
  ``Q = Phi^T K_S(X, Xt) Phi_t``: an ``r x r`` solve per ridge, no ``n x n`` matrix.

The exact risk over the noise (CLAIMS.md, "How a claim is checked") of ``A_l y`` is
``||B_l Phi^T f - f_eval||_W^2 + sigma^2 tr(B_l^T W B_l Phi^T Phi)``. Cost: ``O(n r^2)`` for the
factor and the ``r x r`` products, ``O(n r)`` per ridge for SM on the structured student, and
``O(N r^2)`` per ridge for the risks; memory ``O((n + N) r)``. The dense path of
:func:`kdtheory.exact.distillation_paths` costs ``O(n^3)`` time and ``O(n^2)`` memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from kdtheory._minkernel import MinKernelSmoother, min_kernel_predict
from kdtheory.kernels import SobolevMin
from kdtheory.linalg import SymmetricEigen, _PathRisks, _ridges, check_ridge, inverse_filter

__all__ = ["pivoted_cholesky", "FactorPath", "low_rank_paths"]


def pivoted_cholesky(kernel, X: ArrayLike, *, rtol: float = 1e-12, max_rank: int | None = None):
    """A factor ``Phi`` with ``K(X, X) ~ Phi Phi^T`` by the pivoted Cholesky decomposition.

    Each step takes the point with the largest remaining diagonal as pivot (Harbrecht, Peters and
    Schneider, 2012). The residual ``E = K - Phi Phi^T`` is positive semi-definite (a Schur
    complement), so its largest diagonal ``delta`` bounds every entry of ``E`` and
    ``||E||_2 <= n delta``: with a teacher ridge ``a_T``, the teacher's smoother moves by at most
    ``n delta / a_T`` in the operator norm (``10 delta`` for ``a_T = 0.1 n``).

    Parameters
    ----------
    kernel : callable
        ``kernel(A, B)`` with a ``diag(A)`` method (scikit-learn kernels, :mod:`kdtheory.kernels`).
    X : array of shape (n, d)
        Points.
    rtol : float, default=1e-12
        Stop when the largest remaining diagonal is at most ``rtol`` times the largest diagonal
        of ``K``.
    max_rank : int, optional
        At most this many pivots (default ``n``); the tolerance may then be missed.

    Returns
    -------
    ndarray of shape (n, r)
        ``Phi``; ``r`` is the number of pivots taken.

    Examples
    --------
    >>> import numpy as np
    >>> from kdtheory.kernels import gaussian
    >>> X = np.linspace(0, 1, 2000)[:, None]
    >>> Phi = pivoted_cholesky(gaussian(0.2), X)
    >>> Phi.shape[1] < 30, bool(np.abs(gaussian(0.2)(X) - Phi @ Phi.T).max() < 1e-11)
    (True, True)
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d); got {X.shape}")
    n = X.shape[0]
    if not (np.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"rtol must be finite and >= 0, got {rtol!r}")
    cap = n if max_rank is None else min(int(max_rank), n)
    residual = np.array(kernel.diag(X), dtype=float)
    scale = residual.max(initial=0.0)
    Phi = np.zeros((n, min(cap, 64)))
    r = 0
    while r < cap and scale > 0:
        i = int(np.argmax(residual))
        if residual[i] <= rtol * scale:
            break
        if r == Phi.shape[1]:
            Phi = np.hstack([Phi, np.zeros((n, min(Phi.shape[1], cap - r)))])
        column = np.asarray(kernel(X, X[i : i + 1]), dtype=float)[:, 0] - Phi[:, :r] @ Phi[i, :r]
        Phi[:, r] = column / np.sqrt(residual[i])
        residual -= Phi[:, r] ** 2
        residual[i] = 0.0
        r += 1
    return Phi[:, :r]


@dataclass(frozen=True)
class FactorPath(_PathRisks):
    """A path of linear smoothers ``A_l = lefts[l] @ right``, of rank at most ``r``.

    Same interface as :class:`kdtheory.linalg.SpectralPath` (``predict``, ``risk``, ``risks``).

    Parameters
    ----------
    lefts : ndarray of shape (L, N, r)
        ``B_l``, one per path value.
    right : ndarray of shape (r, n)
        The shared right factor.
    weights : ndarray of shape (N,), optional
        Quadrature weights of the evaluation points; default ``1/N`` each.
    """

    lefts: NDArray
    right: NDArray
    weights: NDArray | None = None

    def _w(self) -> NDArray:
        N = self.lefts.shape[1]
        return np.full(N, 1.0 / N) if self.weights is None else np.asarray(self.weights, float)

    def predict(self, z: ArrayLike) -> NDArray:
        """Predictions ``A_l z`` at the evaluation points, shape ``(N, L)``."""
        return (self.lefts @ (self.right @ np.asarray(z, dtype=float))).T

    @cached_property
    def _squared_frobenius(self) -> NDArray:
        # ||W^{1/2} B R||_F^2 = ||W^{1/2} B C||_F^2 with C C^T = R R^T (r x r, eigen-root)
        eig = SymmetricEigen.of(self.right @ self.right.T)
        root = eig.vectors * np.sqrt(np.clip(eig.values, 0.0, None))
        M = _stacked_product(self.lefts, root)
        return np.sum(M * M, axis=2) @ self._w()

    def risk(self, f_in: ArrayLike, f_eval: ArrayLike, noise_sd: float) -> dict[str, NDArray]:
        """Exact expected risk over the noise for every path value: arrays ``bias``,
        ``variance`` and ``risk`` of shape ``(L,)`` (see :meth:`SpectralPath.risk
        <kdtheory.linalg.SpectralPath.risk>`)."""
        return self._pointwise_risk(f_in, f_eval, noise_sd)


def _stacked_product(stack: NDArray, M: NDArray) -> NDArray:
    """``stack[l] @ M`` for every ``l`` as one matrix product (one BLAS call)."""
    L, N, r = stack.shape
    return (stack.reshape(L * N, r) @ M).reshape(L, N, M.shape[1])


def _student(kernel, Xt: NDArray, Xe: NDArray):
    """Two functions of the student kernel: ``apply(ridges, Y)``, its kernel ridge fits of the
    columns of ``Y`` (responses at ``Xt``) evaluated at ``Xe``, one ``(N, k)`` block per ridge;
    and ``times(A, Y)``, the product ``K_S(A, Xt) @ Y``."""
    if isinstance(kernel, SobolevMin) and Xt.shape[1] == 1:

        def apply(ridges, Y):
            smoother = MinKernelSmoother(Xt, Y)
            return np.stack([smoother.predict(a, Xe) for a in ridges])

        def times(A, Y):  # K_S(A, Xt) @ Y in O((n + N) log n)
            return min_kernel_predict(Xt, Y, A)

        return apply, times
    eig = SymmetricEigen.of(kernel(Xt, Xt))
    K_et = kernel(Xe, Xt)

    def apply(ridges, Y):
        left, right = K_et @ eig.vectors, eig.vectors.T @ Y
        h = inverse_filter(eig.values, ridges)  # (m, L)
        return np.stack([left @ (h[:, [i]] * right) for i in range(len(ridges))])

    def times(A, Y):
        return kernel(A, Xt) @ Y

    return apply, times


def low_rank_paths(
    X: ArrayLike,
    X_target: ArrayLike,
    X_eval: ArrayLike,
    *,
    teacher_factor: ArrayLike,
    teacher_ridge: float,
    student_ridges: ArrayLike,
    kernel=None,
    target_factor: ArrayLike | None = None,
    eval_weights: ArrayLike | None = None,
    methods: tuple[str, ...] = ("sm", "rat"),
) -> dict[str, FactorPath]:
    """SM and RaT paths for a teacher kernel given by a factor, ``K_T = Phi Phi^T`` (RAT-5).

    The risks equal those of :func:`kdtheory.exact.distillation_paths` with the teacher kernel
    ``K_T(A, B) = Phi(A) Phi(B)^T`` up to rounding (module docstring); in time linear in ``n``
    with the student ``min(x, x')`` on one-dimensional points (another student kernel adds one
    eigendecomposition of ``K_S(Xt, Xt)``).

    Parameters
    ----------
    X : array of shape (n, d)
        Source covariates (the teacher's training points).
    X_target : array of shape (m, d)
        Target covariates (the student's points); ``X`` itself for no shift.
    X_eval : array of shape (N, d)
        Evaluation points of the target risk.
    teacher_factor : array of shape (n, r)
        ``Phi`` at ``X``: ``K_T(X, X) = Phi Phi^T`` (:func:`pivoted_cholesky`, or a finite-rank
        kernel's features).
    teacher_ridge : float
        ``a_T`` (scikit-learn ``alpha``), ``> 0``.
    student_ridges : array of shape (L,)
        ``a_S`` along the path, each ``> 0`` on the structured student.
    kernel : callable, optional
        Student kernel; default :class:`~kdtheory.kernels.SobolevMin` (one-dimensional inputs:
        tridiagonal solves, no ``m x m`` matrix; any other kernel: one eigendecomposition of
        ``K_S(Xt, Xt)``).
    target_factor : array of shape (m, r), optional
        ``Phi`` at ``X_target`` (``K_T(Xt, X) = Phi_t Phi^T``); required unless ``X_target`` is
        ``X`` (the same points in the same order).
    eval_weights : array of shape (N,), optional
        Quadrature weights; default ``1/N``.
    methods : tuple of str
        ``"sm"`` and/or ``"rat"``.

    Returns
    -------
    dict
        Method -> :class:`FactorPath`; its ``risk(f_in, f_eval, noise_sd)`` takes ``f*`` at
        ``X`` and at ``X_eval``.

    Raises
    ------
    ValueError
        For an unknown method, factors whose shapes do not match the points, a missing
        ``target_factor`` under shift, or a teacher ridge of 0.
    """
    unknown = set(methods) - {"sm", "rat"}
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from ['rat', 'sm'].")
    X, Xt, Xe = (np.asarray(a, dtype=float) for a in (X, X_target, X_eval))
    Phi = np.asarray(teacher_factor, dtype=float)
    if Phi.ndim != 2 or Phi.shape[0] != X.shape[0]:
        raise ValueError(f"teacher_factor must have shape ({X.shape[0]}, r); got {Phi.shape}")
    if target_factor is None:
        if not (Xt.shape == X.shape and np.array_equal(Xt, X)):
            raise ValueError("target_factor is required when X_target is not X")
        Phi_t = Phi
    else:
        Phi_t = np.asarray(target_factor, dtype=float)
        if Phi_t.shape != (Xt.shape[0], Phi.shape[1]):
            raise ValueError(
                f"target_factor must have shape ({Xt.shape[0]}, {Phi.shape[1]}); got {Phi_t.shape}"
            )
    a_T = check_ridge(teacher_ridge, "teacher_ridge")
    if a_T == 0:
        raise ValueError("teacher_ridge must be > 0 on the low-rank path")
    ridges = _ridges(student_ridges, "student_ridges")
    r = Phi.shape[1]
    H = scipy.linalg.cho_solve(scipy.linalg.cho_factor(Phi.T @ Phi + a_T * np.eye(r)), np.eye(r))
    H = (H + H.T) / 2.0
    apply, times = _student(SobolevMin() if kernel is None else kernel, Xt, Xe)
    paths = {}
    if "sm" in methods:
        paths["sm"] = FactorPath(_stacked_product(apply(ridges, Phi_t), H), Phi.T, eval_weights)
    if "rat" in methods:
        E = times(Xe, Phi_t)
        HQ = H @ (Phi.T @ times(X, Phi_t))
        eye = np.eye(r)
        lefts = np.stack([E @ np.linalg.solve(a * eye + HQ, H) for a in ridges])
        paths["rat"] = FactorPath(lefts, Phi.T, eval_weights)
    return {m: paths[m] for m in methods}
