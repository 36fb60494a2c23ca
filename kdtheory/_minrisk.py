"""Exact variance of the ``min(x, x')`` smoothers in linear time, by one bordered determinant.

Every smoother of :mod:`kdtheory._minkernel` solves a banded system ``M u = B y`` (``B`` puts
the responses into some rows, with coefficient 1) and evaluates a linear spline at the
evaluation points, ``f_hat(X_eval) = E u``. Its variance term in the exact risk (CLAIMS.md,
"How a claim is checked") is ``sigma^2 sum_j w_j ||(E M^{-1} B)_j.||^2
= sigma^2 tr(P M^{-T} Omega M^{-1})`` with ``Omega = E^T W E`` and ``P = B B^T`` diagonal.

The bordered matrix ``H(t) = [[Omega, M^T], [M, t P]]`` has, by a block elimination,
``det H(t) = (-1)^S det(M)^2 det(I - t M^{-1} P M^{-T} Omega)``, so

    ``tr(P M^{-T} Omega M^{-1}) = - d/dt log det H(t)`` at ``t = 0``.

``H`` is banded once primal unknowns and rows of ``M`` are interleaved position by position,
and its log-determinant is the sum of ``log U_kk`` over the diagonal of its banded LU factor
(LAPACK ``zgbtrf``, partial pivoting). The derivative is taken by a complex step
(Squire and Trapp 1998): factor ``H(i h)`` with ``h`` far below rounding, then
``d/dt log det H = sum_k Im(U_kk) / (h Re(U_kk))`` up to ``O(h^2)``: no difference of nearby
numbers, so exact to rounding. One factorization of size ``2 S`` per ridge (``S`` the number of
unknowns of ``M``): ``O(n)`` time and memory, no ``n x n`` matrix and no column solves.
The same factorization also gives the predictions (the bias term): ``H(i h) (x, lam) =
(0, B y)`` has real part ``x = M^{-1} B y`` up to ``O(h^2)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from numpy.typing import NDArray

from kdtheory._minkernel import SINGULAR, _Entries, krr_system, pair_system

__all__ = ["BorderedRisk", "min_risk_terms"]

#: the complex step; any ``h`` with ``h * |d H / d t| << |H|`` in every entry gives the same
#: digits (the error is ``O(h^2)``, and no cancellation); far from underflow for these systems
STEP = 1e-30


@dataclass(frozen=True)
class _Spline:
    """Where a fitted linear spline lives in a system: sorted knots ``p``, the indices of its
    values ``F_k`` and slopes ``Q_k`` (``Q_k`` on ``(p_{k-1}, p_k]``) among the unknowns."""

    p: NDArray
    F: NDArray
    Q: NDArray


def _evaluation(spline: _Spline, z: NDArray, w: NDArray):
    """The rows of ``E`` (``f(z) = F_{j-1} + (z - p_{j-1}) Q_j``, ``F_{-1} = p_{-1} = 0``,
    ``f(z) = F_{N-1}`` past the last knot) and ``Omega = E^T W E`` as triplets."""
    p, F, Q = spline.p, spline.F, spline.Q
    N = p.size
    j = np.searchsorted(p, z, side="right")
    inside = j < N
    left = np.concatenate([[0.0], p])[j]  # p_{j-1}
    t = np.where(inside, z - left, 0.0)
    # E as two columns per row: value unknown (or none at j = 0) and slope unknown
    e_value = np.where(j > 0, F[np.maximum(j - 1, 0)], -1)
    e_slope = np.where(inside, Q[np.minimum(j, N - 1)], -1)
    rows, cols, vals = [], [], []
    for a, ca in ((e_value, 1.0), (e_slope, t)):
        for b, cb in ((e_value, 1.0), (e_slope, t)):
            keep = (a >= 0) & (b >= 0)
            rows.append(a[keep])
            cols.append(b[keep])
            vals.append((w * ca * cb)[keep])
    return (e_value, e_slope, t), (np.concatenate(rows), np.concatenate(cols), np.concatenate(vals))


#: where each primal unknown (first ``s``) and each row of ``M`` (last ``s``) of a position go
#: in its block of ``2 s``: the orders of least bandwidth (2 for kernel ridge, 4 for the pairs,
#: from 6 and 12 in the plain order), found by trying all ``(2 s)!`` orders on both layouts of
#: :mod:`kdtheory._minkernel`; the bandwidth is measured from the entries in any case
SLOTS = {2: np.array([3, 0, 1, 2]), 4: np.array([5, 0, 6, 3, 1, 4, 2, 7])}


def _bordered(M: _Entries, s: int, omega, input_rows: NDArray):
    """The entries of ``H(0)`` (rows, columns, values) with primal unknowns and rows of ``M``
    interleaved per position (``s`` of each, in the order :data:`SLOTS`), the position map of
    the primal unknowns, and the positions of the ``t P`` block's diagonal."""
    mr, mc, mv = M.triplets()
    slots = SLOTS[s]

    def primal(j):
        return 2 * s * (j // s) + slots[j % s]

    def dual(r):
        return 2 * s * (r // s) + slots[s + r % s]

    rows = np.concatenate([primal(omega[0]), dual(mr), primal(mc)])
    cols = np.concatenate([primal(omega[1]), primal(mc), dual(mr)])
    vals = np.concatenate([omega[2], mv, mv])
    return (rows, cols, vals), primal, dual(input_rows)


class BorderedRisk:
    """Predictions and exact variance sums of one ``min(x, x')`` smoother over its ridges.

    The bordered matrix is affine in the ridges, ``H = H_0 + a_T H_T + a_S H_S + i h P``: it
    is assembled once (``H_0`` in LAPACK's banded storage, the few entries of ``H_T`` and
    ``H_S`` as positions and values: differences of assemblies at other ridges, exact since
    every entry is a constant or a ridge times one) and each ridge then costs one banded
    complex LU, ``O(n)`` time and memory.

    Parameters
    ----------
    method : {"teacher", "krr", "sm", "rat"}
        As in :func:`kdtheory.structured.structured_risk` (kernels ``min(x, x')``); kernel
        ridge ("teacher", "krr") on ``X`` with the teacher's or the student's ridge.
    X, Xt, X_eval : arrays of shape (n,), (m,), (N,)
        Source, target and evaluation points (one-dimensional, any order).
    weights : array of shape (N,)
        Quadrature weights ``w_j``.
    """

    def __init__(self, method: str, X, Xt, X_eval, weights):
        def system(a_T: float, a_S: float):
            if method in ("teacher", "krr"):
                return krr_system(X, a_T if method == "teacher" else a_S)
            return pair_system(X, Xt, a_T, a_S, method)

        M, s, input_rows, spline, _ = system(0.0, 0.0)
        self.eval_map, omega = _evaluation(_Spline(*spline), np.asarray(X_eval), weights)
        (rows, cols, vals), self._primal, self._inputs = _bordered(M, s, omega, input_rows)
        self.kl = self.ku = int(np.max(np.abs(rows - cols)))
        self._base = np.zeros((2 * self.kl + self.ku + 1, 2 * M.size))
        flat = np.ravel_multi_index((self.kl + self.ku + rows - cols, cols), self._base.shape)
        np.add.at(self._base.reshape(-1), flat, vals)
        # the ridges' parts: the entries that change, as flat positions (each once) and values
        self._parts = []
        for a_T, a_S in ((1.0, 0.0), (0.0, 1.0)):
            (_, _, changed), _, _ = _bordered(system(a_T, a_S)[0], s, omega, input_rows)
            moved = changed != vals
            self._parts.append((flat[moved], changed[moved] - vals[moved]))

    def band(self, teacher_ridge: float, student_ridge: float) -> NDArray:
        """``H(0)`` at the ridges ``a_T``, ``a_S``, in LAPACK's banded storage (real)."""
        ab = self._base.copy()
        for (flat, values), ridge in zip(self._parts, (teacher_ridge, student_ridge), strict=True):
            ab.flat[flat] += ridge * values
        return ab

    def terms(self, teacher_ridge: float, student_ridge: float, Y: NDArray):
        """``(A Y at X_eval, sum_j w_j ||A_j.||^2)`` at the ridges ``a_T``, ``a_S``.

        Parameters
        ----------
        teacher_ridge, student_ridge : float
        Y : array of shape (n, k)
            Responses at the source points.

        Returns
        -------
        predictions : ndarray of shape (N, k)
        variance_sum : float
            Times ``sigma^2``, the variance term of the exact risk.
        """
        ab = self.band(teacher_ridge, student_ridge).astype(np.complex128)
        ab[self.kl + self.ku, self._inputs] += 1j * STEP
        rhs = np.zeros((ab.shape[1], Y.shape[1]), dtype=np.complex128)
        rhs[self._inputs] = Y
        lu, _, x, info = scipy.linalg.lapack.zgbsv(self.kl, self.ku, ab, rhs, overwrite_ab=True)
        if info != 0:
            raise np.linalg.LinAlgError(SINGULAR)
        diag = lu[self.kl + self.ku]
        variance_sum = -float(np.sum(diag.imag / diag.real)) / STEP
        u = x.real
        e_value, e_slope, t = self.eval_map
        value = np.where(e_value[:, None] >= 0, u[self._primal(np.maximum(e_value, 0))], 0.0)
        slope = np.where(e_slope[:, None] >= 0, u[self._primal(np.maximum(e_slope, 0))], 0.0)
        return value + t[:, None] * slope, variance_sum


def min_risk_terms(
    method: str,
    X: NDArray,
    Xt: NDArray,
    X_eval: NDArray,
    weights: NDArray,
    teacher_ridge: float,
    student_ridge: float,
    Y: NDArray,
) -> tuple[NDArray, float]:
    """Predictions for each column of ``Y`` and the exact variance sum, one factorization
    (:class:`BorderedRisk` at one pair of ridges).

    Parameters
    ----------
    method : {"teacher", "krr", "sm", "rat"}
        As in :func:`kdtheory.structured.structured_risk` (kernels ``min(x, x')``).
    X, Xt, X_eval : arrays of shape (n,), (m,), (N,)
        Source, target and evaluation points (one-dimensional, any order).
    weights : array of shape (N,)
        Quadrature weights ``w_j``.
    teacher_ridge, student_ridge : float
        ``a_T`` and ``a_S``.
    Y : array of shape (n, k)
        Responses at the source points (for example ``f*``), one prediction per column.

    Returns
    -------
    predictions : ndarray of shape (N, k)
        ``A Y`` at ``X_eval``.
    variance_sum : float
        ``sum_j w_j ||A_j.||^2`` (times ``sigma^2`` it is the variance term).
    """
    return BorderedRisk(method, X, Xt, X_eval, weights).terms(teacher_ridge, student_ridge, Y)
