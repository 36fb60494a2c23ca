"""Kernel ridge, soft matching and RaT for the kernel ``min(x, x')`` in linear time.

On points sorted as ``p_1 <= ... <= p_N`` the Gram matrix of ``k(x, x') = min(x, x')`` factors as
``K = L D L^T`` with ``L`` the lower-triangular matrix of ones and ``D = diag(d)``,
``d_1 = p_1``, ``d_k = p_k - p_{k-1}`` (the covariance of Brownian motion; Wahba 1990). A function
``f = sum_k w_k k(., p_k)`` is therefore described at the points by two sequences linked by
bidiagonal relations: its values ``F = K w`` and the suffix sums ``Q = L^T w`` of its
coefficients,

    ``F_k - F_{k-1} = d_k Q_k``  and  ``w_k = Q_k - Q_{k+1}``   (``F_0 = Q_{N+1} = 0``),

so every linear system built from such blocks (kernel ridge, and the coupled teacher-student
system of the RaT fixed point) is a banded system in the interleaved unknowns, solved in
``O(N)`` by LAPACK's banded LU with partial pivoting (``gbsv``), without
forming an ``N x N`` matrix. Duplicated points (``d_k = 0``) and a point at 0 need no special
case. Predictions at new points are ``f(z) = sum_{p_k <= z} w_k p_k + z sum_{p_k > z} w_k``:
prefix sums and a binary search, ``O((N + M) log N)``.

Ridges are in scikit-learn's ``alpha`` convention: kernel ridge solves ``(K + a I) c = z``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

__all__ = ["min_kernel_ridge", "min_kernel_predict", "min_rat_fixed_point", "min_sm"]

SINGULAR = (
    "the structured system is singular (a ridge of 0 with duplicated points?); use a positive "
    "ridge or solver='dense'"
)


def _points(x: ArrayLike, name: str) -> NDArray:
    """One-dimensional float64 points (a column ``(n, 1)`` or a vector ``(n,)``)."""
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must hold one-dimensional points, shape (n, 1); got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return a


class _Entries:
    """The nonzero entries of a square sparse matrix of ``size`` rows, collected as triplets
    (positions are never repeated), for :class:`_Band` or a bordered system."""

    def __init__(self, size: int):
        self.size = size
        self.rows: list[NDArray] = []
        self.cols: list[NDArray] = []
        self.vals: list[NDArray] = []

    def put(self, rows, cols, vals) -> None:
        """Set ``A[rows, cols] = vals`` (index arrays)."""
        rows, cols = np.broadcast_arrays(np.asarray(rows), np.asarray(cols))
        self.rows.append(rows.ravel())
        self.cols.append(cols.ravel())
        self.vals.append(np.broadcast_to(np.asarray(vals, dtype=np.float64), rows.shape).ravel())

    def triplets(self) -> tuple[NDArray, NDArray, NDArray]:
        return tuple(np.concatenate(a) for a in (self.rows, self.cols, self.vals))


class _Band:
    """A square banded matrix with ``lower`` and ``upper`` diagonals, stored as LAPACK's banded LU
    wants it (``2 lower + upper + 1`` rows: room for the fill-in of partial pivoting), filled
    from :class:`_Entries` and solved in place: ``O(size (lower + upper))`` memory, never
    dense."""

    def __init__(self, entries: _Entries, lower: int, upper: int):
        self.lower, self.upper = lower, upper
        rows, cols, vals = entries.triplets()
        offset = rows - cols
        assert offset.size == 0 or (-upper <= offset.min() and offset.max() <= lower)
        self.ab = np.zeros((2 * lower + upper + 1, entries.size))
        self.ab[lower + upper + offset, cols] = vals

    def solve(self, b: NDArray) -> NDArray:
        """``A^{-1} b`` by LAPACK ``gbsv`` (banded LU with partial pivoting); ``A`` is consumed."""
        b2 = b.reshape(b.shape[0], -1)
        _, _, x, info = scipy.linalg.lapack.dgbsv(
            self.lower, self.upper, self.ab, b2, overwrite_ab=True, overwrite_b=True
        )
        self.ab = None
        if info > 0:
            raise np.linalg.LinAlgError(SINGULAR)
        return x.reshape(b.shape)


def _spline(band: _Entries, F: NDArray, Q: NDArray, d: NDArray, stride: int, offset: int) -> None:
    """Rows ``F_k - F_{k-1} - d_k Q_k = 0`` at ``stride k + offset`` (``F``, ``Q``: unknowns)."""
    N = F.size
    r = stride * np.arange(N) + offset
    band.put(r, F, np.ones(N))
    band.put(r[1:], F[:-1], -np.ones(N - 1))
    band.put(r, Q, -d)


def _coefficient(band: _Entries, rows: NDArray, Q: NDArray, scale) -> None:
    """Entries ``scale_k (Q_k - Q_{k+1}) = scale_k w_k`` in row ``rows[k]`` (``Q_{N+1} = 0``)."""
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), Q.shape)
    band.put(rows, Q, scale)
    band.put(rows[:-1], Q[1:], -scale[:-1])


def _from_suffix_sums(q: NDArray) -> NDArray:
    """Coefficients ``w_k = Q_k - Q_{k+1}`` from their suffix sums (rows of ``q``)."""
    return q - np.concatenate([q[1:], np.zeros((1,) + q.shape[1:])])


def min_kernel_ridge(x: ArrayLike, z: ArrayLike, ridge: float) -> NDArray:
    """Coefficients ``c`` of kernel ridge with ``min(x, x')``: ``(K + ridge I) c = z``, ``O(n)``.

    Parameters
    ----------
    x : array of shape (n,) or (n, 1)
        Points, in any order, duplicates allowed.
    z : array of shape (n,) or (n, k)
        Responses (several columns: one solve each, same factorization cost per column).
    ridge : float
        ``a >= 0``; 0 interpolates (then the points must be distinct and positive).

    Returns
    -------
    ndarray of shape (n,) or (n, k)
        ``c`` in the order of ``x``.
    """
    x = _points(x, "x")
    z = np.asarray(z, dtype=np.float64)
    M, s, rows, (p, F, Q), where = krr_system(x, ridge)
    b = np.zeros((M.size,) + z.shape[1:])
    b[rows] = z
    return _from_suffix_sums(_Band(M, 2, 2).solve(b)[Q])[where]


def _rank(order: NDArray) -> NDArray:
    """The position of each point in the sorted order ``order`` (its inverse permutation)."""
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank


def krr_system(x: NDArray, ridge: float):
    """Kernel ridge ``(K + ridge I) c = z`` as a banded system on the sorted points.

    Returns the entries ``M`` (unknowns interleaved per point: the fit's values ``F_k`` at
    ``2k``, the suffix sums ``Q_k`` of its coefficients at ``2k + 1``), the unknowns per point
    (2), the row receiving each ``z_i`` (in the order of ``x``), the fit as a spline
    ``(p, F, Q)`` (sorted knots, the indices of its values and slopes), and the sorted position
    of each point of ``x``.
    """
    x = _points(x, "x")
    order = np.argsort(x, kind="stable")
    p = x[order]
    n = p.size
    d = np.diff(p, prepend=0.0)
    F, Q = 2 * np.arange(n), 2 * np.arange(n) + 1
    M = _Entries(2 * n)
    _spline(M, F, Q, d, 2, 0)  # spline rows at even positions
    r = 2 * np.arange(n) + 1  # a (Q_k - Q_{k+1}) + F_k = z_k
    _coefficient(M, r, Q, ridge)
    M.put(r, F, np.ones(n))
    where = _rank(order)
    return M, 2, r[where], (p, F, Q), where


def min_kernel_predict(x: ArrayLike, c: ArrayLike, z: ArrayLike) -> NDArray:
    """``f(z) = sum_i c_i min(z, x_i)`` at every ``z``, in ``O((n + m) log n)``.

    Parameters
    ----------
    x : array of shape (n,) or (n, 1)
        Centers.
    c : array of shape (n,) or (n, k)
        Coefficients.
    z : array of shape (m,) or (m, 1)
        Evaluation points.

    Returns
    -------
    ndarray of shape (m,) or (m, k)
    """
    x = _points(x, "x")
    z = _points(z, "z")
    c = np.asarray(c, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    p, cs = x[order], c[order]
    tail = (slice(None),) + (None,) * (cs.ndim - 1)
    # prefix sums of c_i x_i over x_i <= z, suffix sums of c_i over x_i > z
    zero = np.zeros((1,) + cs.shape[1:])
    below = np.concatenate([zero, np.cumsum(cs * p[tail], axis=0)])
    above = np.concatenate([np.cumsum(cs[::-1], axis=0)[::-1], zero])
    j = np.searchsorted(p, z, side="right")
    return below[j] + z[tail] * above[j]


def min_rat_fixed_point(
    X: ArrayLike, y: ArrayLike, X_target: ArrayLike, teacher_ridge: float, student_ridge: float
) -> NDArray:
    """RaT fixed point for teacher and student kernels ``min(x, x')``, in ``O(n + m)``.

    Solves ``(a_S I + G K_st) alpha = G y`` with ``G = K(Xt, X) (K(X, X) + a_T I)^{-1}`` and
    ``K_st = K(X, Xt)`` (:func:`kdtheory.student_teacher.rat_fixed_point`) as the coupled system
    of the student ``f = K(., Xt) alpha`` and the teacher fitted to its residuals
    ``g = K(., X) c``: ``a_S alpha = g(Xt)`` and ``(K(X, X) + a_T I) c = y - f(X)``, banded on
    the merged sorted points.

    Parameters
    ----------
    X : array of shape (n,) or (n, 1)
        Source points.
    y : array of shape (n,) or (n, k)
        Source responses.
    X_target : array of shape (m,) or (m, 1)
        Target points.
    teacher_ridge, student_ridge : float
        ``a_T >= 0`` and ``a_S > 0``.

    Returns
    -------
    ndarray of shape (m,) or (m, k)
        The student's coefficients ``alpha`` on ``X_target``, in its order.
    """
    y = np.asarray(y, dtype=np.float64)
    M, s, rows, (p, F, Q), where = pair_system(X, X_target, teacher_ridge, student_ridge, "rat")
    b = np.zeros((M.size,) + y.shape[1:])
    b[rows] = y
    return _from_suffix_sums(_Band(M, 4, 4).solve(b)[Q])[where]


def pair_system(X, X_target, teacher_ridge: float, student_ridge: float, method: str):
    """The coupled teacher-student system of RaT or SM on the merged sorted points, banded.

    Unknowns per merged point ``k``: the student's values ``F_k`` and suffix sums ``Q_k``, the
    teacher's ``H_k`` and ``R_k``, at ``4k .. 4k + 3``. Student rows: ``a_S w_k - H_k = 0``
    (RaT: the student is the teacher's fit to the residuals, ``a_S alpha = g(Xt)``) or
    ``a_S w_k + F_k - H_k = 0`` (SM: ``(K(Xt, Xt) + a_S I) alpha = g0(Xt)``) at target points,
    ``w_k = 0`` at the others. Teacher rows: ``a_T c_i + F_k + H_k = y_i`` (RaT: fitted to
    ``y - f(X)``) or ``a_T c_i + H_k = y_i`` (SM) at source points, ``c = 0`` at the others.

    Without shift (``X_target`` equal to ``X``) the points carry both roles, so the system has
    half the size. Returns ``(M, 4, rows, (p, F, Q), where)`` as :func:`krr_system`, the spline
    being the student's and ``where`` the sorted positions of the target points.
    """
    X = _points(X, "X")
    Xt = _points(X_target, "X_target")
    n, m = X.size, Xt.size
    same = X.shape == Xt.shape and bool(np.array_equal(X, Xt))
    pts = X if same else np.concatenate([X, Xt])  # no shift: one set of points, both roles
    order = np.argsort(pts, kind="stable")
    p = pts[order]
    N = p.size
    is_source = np.ones(N, dtype=bool) if same else order < n
    is_target = is_source if same else ~is_source
    d = np.diff(p, prepend=0.0)
    base = 4 * np.arange(N)
    F, Q, H, R = base, base + 1, base + 2, base + 3
    M = _Entries(4 * N)
    _spline(M, F, Q, d, 4, 0)  # student values, rows 4k
    _spline(M, H, R, d, 4, 2)  # teacher values, rows 4k + 2
    k = np.arange(N)
    tgt = k[is_target]
    _coefficient(M, 4 * k + 1, Q, np.where(is_target, student_ridge, 1.0))
    M.put(4 * tgt + 1, H[tgt], -np.ones(m))
    if method == "sm":
        M.put(4 * tgt + 1, F[tgt], np.ones(m))
    src = k[is_source]
    _coefficient(M, 4 * k + 3, R, np.where(is_source, teacher_ridge, 1.0))
    if method == "rat":
        M.put(4 * src + 3, F[src], np.ones(n))
    M.put(4 * src + 3, H[src], np.ones(n))
    rank = _rank(order)
    where = rank if same else rank[n:]
    return M, 4, 4 * rank[:n] + 3, (p, F, Q), where


def min_sm(
    X: ArrayLike, y: ArrayLike, X_target: ArrayLike, teacher_ridge: float, student_ridge: float
) -> NDArray:
    """Soft matching for kernels ``min(x, x')``: the student's coefficients on ``X_target``.

    The teacher ``(K(X, X) + a_T I) c = y``, its predictions on ``X_target``, and the student
    ``(K(Xt, Xt) + a_S I) alpha = g0(Xt)``: two banded solves and one prediction, ``O(n + m)``
    up to the sort.
    """
    c = min_kernel_ridge(X, y, teacher_ridge)
    return min_kernel_ridge(X_target, min_kernel_predict(X, c, X_target), student_ridge)


class MinKernelSmoother:
    """Kernel ridge with ``min(x, x')`` for a block of responses and a path of ridges: one
    sort, then one symmetric positive definite tridiagonal solve per ridge (LAPACK ``ptsv``).

    Eliminating the values ``F_k = z_k - a w_k`` from the relations of the module docstring
    leaves the suffix sums ``Q`` of the coefficients alone:

        ``a (2 Q_k - Q_{k-1} - Q_{k+1}) + d_k Q_k = z_k - z_{k-1}``  (``a Q_1 - a Q_2 + d_1 Q_1
        = z_1``, ``Q_{N+1} = 0``),

    ``a`` times a positive definite second difference plus ``diag(d)``, ``d >= 0``: positive
    definite for every ``a > 0`` (repeated points and a point at 0 included), with entries of
    size ``a`` and ``d`` (no ``1 / d``). The fit at ``z``, with ``p_j <= z < p_{j+1}``, is
    ``F_j + (z - p_j) Q_{j+1}``. Used by :mod:`kdtheory.lowrank` for soft matching with many
    right-hand sides (several times faster than the interleaved banded LU, which also serves
    ridge 0).

    Parameters
    ----------
    x : array of shape (n,) or (n, 1)
        Points, ``>= 0``, any order.
    Z : array of shape (n, k)
        Responses at ``x``, one fit per column.
    """

    def __init__(self, x: ArrayLike, Z: ArrayLike):
        x = _points(x, "x")
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[0] != x.size:
            raise ValueError(f"Z must have shape ({x.size}, k); got {Z.shape}")
        order = np.argsort(x, kind="stable")
        self.p = x[order]
        if self.p.size and self.p[0] < 0:
            raise ValueError("the kernel min(x, x') needs points >= 0")
        self.d = np.diff(self.p, prepend=0.0)
        self.z = Z[order]
        self.rhs = np.asfortranarray(np.diff(self.z, axis=0, prepend=0.0))

    def predict(self, ridge: float, z_eval: ArrayLike) -> NDArray:
        """The fits of every column at ``z_eval`` for the ridge ``a > 0``: shape ``(N, k)``."""
        a = float(ridge)
        if not a > 0:
            raise ValueError(f"ridge must be > 0 on this path, got {ridge!r}")
        z_eval = _points(z_eval, "z_eval")
        n = self.p.size
        diag = 2.0 * a + self.d
        diag[0] = a + self.d[0]
        if n == 1:  # LAPACK wants an off-diagonal of at least one entry
            Q = self.rhs / diag[0]
        else:
            _, _, Q, info = scipy.linalg.lapack.dptsv(diag, np.full(n - 1, -a), self.rhs.copy("F"))
            if info != 0:
                raise np.linalg.LinAlgError(SINGULAR)
        j = np.searchsorted(self.p, z_eval, side="right")  # p_j <= z < p_{j+1} (1-based)
        slope = np.zeros((j.size, Q.shape[1]))
        slope[j < n] = Q[j[j < n]]  # Q_{j+1}; Q_{n+1} = 0
        at = j[j > 0] - 1  # F_j = z_j - a (Q_j - Q_{j+1}); F_0 = 0
        value = np.zeros_like(slope)
        value[j > 0] = self.z[at] - a * (Q[at] - slope[j > 0])
        knot = np.concatenate([[0.0], self.p])[j]
        return value + (z_eval - knot)[:, None] * slope
