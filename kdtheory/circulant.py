"""Exact risk paths on circulant designs: periodic kernels on an equispaced grid, by the FFT.

On the grid ``x_i = x_0 + i / n`` a 1-periodic stationary kernel such as
:class:`~kdtheory.kernels.PeriodicSobolev` has a circulant Gram matrix ``K``, symmetric, with
first row ``c_j = k(x_0, x_j)``. The discrete Fourier basis diagonalizes it exactly: ``K = F^*
diag(lam) F`` with ``F`` the unitary DFT and ``lam = DFT(c)`` (real, ``lam_k = lam_{n-k}``). With
teacher and student kernels of this kind, ``X_target = X_eval = X`` and uniform weights, every
smoother of :func:`kdtheory.exact.distillation_paths` is ``A = F^* diag(h) F`` for a filter
``h`` of the eigenvalues (``g = lam_T / (lam_T + a_T)`` is the teacher's):

- teacher ``g``; kernel ridge on the labels and the target oracle ``lam_S / (lam_S + a)``;
- soft matching ``g lam_S / (lam_S + a_S)``;
- RaT ``c / (c + a_S)`` with ``c = g lam_S`` the spectrum of ``C = G K_S`` (RaT's fixed point
  ``K_S (a_S I + C)^{-1} G``, :func:`kdtheory.student_teacher.rat_fixed_point`).

By Parseval the exact expected risk (CLAIMS.md, "How a claim is checked") is then
``w sum_k |h_k DFT(f_in)_k - DFT(f_eval)_k|^2 / n + sigma^2 w sum_k h_k^2`` for the common
weight ``w`` (``1/n`` by default): ``O(n log n)`` per regression function and ``O(n L)`` for
``L`` ridges, where the dense path needs an ``O(n^3)`` eigendecomposition. The risks are those
of the sequence model of CLAIMS.md 1.3 with ``mu_k = lam_k / n``, exactly (claims RAT-1, RAT-4).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from kdtheory.kernels import PeriodicSobolev
from kdtheory.linalg import _PathRisks, _ridges, check_ridge, inverse_filter

__all__ = [
    "PATH_SOLVERS",
    "CirculantPath",
    "circulant_paths",
    "circulant_spectrum",
    "is_equispaced_grid",
    "allows_circulant",
    "use_circulant",
]

#: the values of ``solver`` in :func:`kdtheory.exact.distillation_paths`
PATH_SOLVERS = ("auto", "dense", "structured", "circulant")

#: how far (in units of ``eps max(1, |x|)``) a point may sit from the exact grid ``x_0 + i / n``:
#: ``np.linspace(0, 1, n, endpoint=False)`` and ``np.arange(n) / n`` differ by an ulp, and the
#: kernel, a function of ``(x - x') mod 1``, rounds at that level already
GRID_ULPS = 16


def is_equispaced_grid(X: ArrayLike) -> bool:
    """Whether ``X`` (shape ``(n, 1)``) is the grid ``x_0 + i / n``, ``i = 0..n-1``, modulo 1.

    The points must come in this order (up to :data:`GRID_ULPS` units of rounding); any offset
    ``x_0`` is allowed, since a periodic stationary kernel sees only ``(x - x') mod 1``.
    """
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 1 or X.shape[0] == 0 or not np.all(np.isfinite(X)):
        return False
    x = X[:, 0]
    n = x.size
    gap = np.mod(x - (x[0] + np.arange(n) / n) + 0.5, 1.0) - 0.5
    tol = GRID_ULPS * np.finfo(float).eps * max(1.0, float(np.max(np.abs(x))))
    return bool(np.max(np.abs(gap)) <= tol)


def allows_circulant(kernels, X, X_target, X_eval, eval_weights=None) -> bool:
    """Whether :func:`circulant_paths` gives :func:`~kdtheory.exact.distillation_paths`'s
    risks: every kernel a :class:`~kdtheory.kernels.PeriodicSobolev`, ``X`` an equispaced grid
    (:func:`is_equispaced_grid`), ``X_target`` and ``X_eval`` equal to ``X``, and the weights
    None or all equal."""
    X, Xt, Xe = (np.asarray(a, dtype=float) for a in (X, X_target, X_eval))
    if not all(isinstance(k, PeriodicSobolev) for k in kernels):
        return False
    if not (np.array_equal(X, Xt) and np.array_equal(X, Xe) and is_equispaced_grid(X)):
        return False
    if eval_weights is None:
        return True
    w = np.asarray(eval_weights, dtype=float)
    return w.shape == (len(X),) and bool(np.all(w == w[0]))


def use_circulant(solver: str, kernels, X, X_target, X_eval, eval_weights=None) -> bool:
    """Whether :func:`kdtheory.exact.distillation_paths` takes the circulant path.

    ``"circulant"`` takes it (a ValueError saying what it needs unless :func:`allows_circulant`);
    ``"auto"`` takes it whenever the design allows (exact, and faster than the dense path at
    every ``n``: ``benchmarks/bench_circulant.py``); ``"dense"`` and ``"structured"`` never.

    Raises
    ------
    ValueError
        For a ``solver`` not in :data:`PATH_SOLVERS`, or ``"circulant"`` on another design.
    """
    if solver not in PATH_SOLVERS:
        raise ValueError(f"solver must be one of {PATH_SOLVERS}, got {solver!r}.")
    if solver not in ("auto", "circulant"):
        return False
    allowed = allows_circulant(kernels, X, X_target, X_eval, eval_weights)
    if solver == "circulant" and not allowed:
        raise ValueError(
            "solver='circulant' needs kernel (and teacher_kernel) PeriodicSobolev, X an "
            "equispaced grid x_0 + i/n of shape (n, 1), X_target and X_eval equal to X and equal "
            f"eval_weights; got {', '.join(map(repr, kernels))}. Use solver='dense' (or 'auto')."
        )
    return allowed


def circulant_spectrum(kernel, X: ArrayLike) -> NDArray:
    """Eigenvalues ``lam_k = sum_j c_j cos(2 pi j k / n)``, ``k = 0..n//2``, of the circulant
    Gram matrix ``kernel(X, X)`` on an equispaced grid (the real FFT of its first row ``c``;
    frequency ``k`` and ``n - k`` share ``lam_k``)."""
    X = np.asarray(X, dtype=float)
    return np.fft.rfft(kernel(X[:1], X)[0]).real


@dataclass(frozen=True)
class CirculantPath(_PathRisks):
    """A path of circulant linear smoothers ``A_l = F^* diag(h_l) F`` on an ``n``-point grid,
    with the interface of :class:`kdtheory.linalg.SpectralPath` (``predict``, ``risk``,
    ``risks``, ``squared_frobenius``); claims RAT-1 and RAT-4 (module docstring).

    Parameters
    ----------
    filters : ndarray of shape (n // 2 + 1, L)
        ``h_l`` at the frequencies ``k = 0..n//2`` of :func:`numpy.fft.rfft` (frequency
        ``n - k`` has the filter of ``k``).
    n : int
        Number of grid points.
    weight : float, optional
        The quadrature weight of every grid point; default ``1/n``.
    """

    filters: NDArray
    n: int
    weight: float | None = None

    def _w(self) -> float:
        return 1.0 / self.n if self.weight is None else float(self.weight)

    @cached_property
    def _multiplicity(self) -> NDArray:
        """How many DFT frequencies each rfft frequency stands for (1 for 0 and n/2, else 2)."""
        m = np.full(self.n // 2 + 1, 2.0)
        m[0] = 1.0
        if self.n % 2 == 0:
            m[-1] = 1.0
        return m

    def predict(self, z: ArrayLike) -> NDArray:
        """Predictions ``A_l z`` at the grid points, shape ``(n, L)``."""
        spectrum = np.fft.rfft(np.asarray(z, dtype=float))
        return np.fft.irfft(self.filters * spectrum[:, None], n=self.n, axis=0)

    @cached_property
    def _squared_frobenius(self) -> NDArray:
        return self._w() * (self._multiplicity @ self.filters**2)

    def risk(self, f_in: ArrayLike, f_eval: ArrayLike, noise_sd: float) -> dict[str, NDArray]:
        """Exact expected risk over the noise for every path value (Parseval).

        Parameters
        ----------
        f_in : array of shape (n,)
            ``f*`` at the grid points (the responses' means).
        f_eval : array of shape (n,)
            ``f*`` at the evaluation points, the same grid.
        noise_sd : float
            ``sigma``, the noise standard deviation (homoscedastic).

        Returns
        -------
        dict
            Arrays ``bias``, ``variance`` and ``risk``, each of shape ``(L,)``.
        """
        a = np.fft.rfft(np.asarray(f_in, dtype=float))
        b = np.fft.rfft(np.asarray(f_eval, dtype=float))
        err = self.filters * a[:, None] - b[:, None]
        bias = (self._w() / self.n) * (self._multiplicity @ (err.real**2 + err.imag**2))
        variance = float(noise_sd) ** 2 * self.squared_frobenius()
        return {"bias": bias, "variance": variance, "risk": bias + variance}


def circulant_paths(
    X: ArrayLike,
    *,
    kernel,
    teacher_ridge: float,
    student_ridges: ArrayLike,
    teacher_kernel=None,
    source_ridges: ArrayLike | None = None,
    eval_weight: float | None = None,
    methods: tuple[str, ...] = ("teacher", "krr", "sm", "rat", "oracle"),
) -> dict[str, CirculantPath]:
    """:func:`kdtheory.exact.distillation_paths` on a circulant design, by the FFT (RAT-1, RAT-4).

    The paths of ``distillation_paths(X, X, X, ...)`` for periodic kernels on an equispaced grid
    (:func:`allows_circulant`), which ``solver="circulant"`` (and ``"auto"``) returns: the same
    risks up to rounding, from one real FFT of each Gram matrix's first row, in ``O(n log n +
    n L)`` time and ``O(n L)`` memory (no ``n x n`` matrix).

    Parameters
    ----------
    X : array of shape (n, 1)
        The grid ``x_0 + i / n``: source, target and evaluation points at once.
    kernel : PeriodicSobolev
        Student kernel; also the teacher's unless ``teacher_kernel`` is given.
    teacher_ridge : float
        ``a_T`` (scikit-learn ``alpha`` of the teacher).
    student_ridges : array of shape (L,)
        Student ridges ``a_S`` of SM and RaT.
    teacher_kernel : PeriodicSobolev, optional
        Teacher kernel; default ``kernel``.
    source_ridges : array, optional
        Ridges of kernel ridge on the labels and of the target oracle; default ``student_ridges``.
    eval_weight : float, optional
        The weight of every grid point in the risk; default ``1/n``.
    methods : tuple of str
        Any of ``"teacher"``, ``"krr"``, ``"sm"``, ``"rat"``, ``"oracle"``.

    Returns
    -------
    dict
        Method name -> :class:`CirculantPath`, in the dense path's order.

    Examples
    --------
    Soft matching stays near its floor (claim RAT-1) while RaT's risk falls, on 1024 grid points
    from one FFT of the Gram matrix's first row (the dense path's numbers to rounding):

    >>> import numpy as np
    >>> from kdtheory.kernels import PeriodicSobolev
    >>> n = 1024
    >>> X = (np.arange(n) / n)[:, None]
    >>> f = np.sin(2 * np.pi * X[:, 0]) + 0.3 * np.cos(6 * np.pi * X[:, 0])
    >>> paths = circulant_paths(X, kernel=PeriodicSobolev(1), teacher_ridge=0.1 * n,
    ...                         student_ridges=n * np.array([1e-6, 1e-4]), methods=("sm", "rat"))
    >>> {m: p.risk(f, f, noise_sd=0.5)["risk"].round(4).tolist() for m, p in paths.items()}
    {'sm': [0.3611, 0.3618], 'rat': [0.0036, 0.0157]}
    """
    X = np.asarray(X, dtype=float)
    n = len(X)
    a_T = check_ridge(teacher_ridge, "teacher_ridge")
    student_ridges = _ridges(student_ridges)
    source_ridges = student_ridges if source_ridges is None else _ridges(source_ridges)
    # inverse_filter's pseudo-inverse cut at n eps max|lam|, as on the dense path's n eigenvalues
    rcond = n * np.finfo(float).eps
    lam_S = circulant_spectrum(kernel, X)
    same = teacher_kernel is None or teacher_kernel == kernel
    lam_T = lam_S if same else circulant_spectrum(teacher_kernel, X)
    g = lam_T * inverse_filter(lam_T, a_T, rcond)[:, 0]  # the teacher's filter

    def path(h: NDArray) -> CirculantPath:
        return CirculantPath(h, n, eval_weight)

    filters = {
        "teacher": lambda: g[:, None],
        "krr": lambda: lam_S[:, None] * inverse_filter(lam_S, source_ridges, rcond),
        "sm": lambda: (g * lam_S)[:, None] * inverse_filter(lam_S, student_ridges, rcond),
        "oracle": lambda: lam_S[:, None] * inverse_filter(lam_S, source_ridges, rcond),
        "rat": lambda: (g * lam_S)[:, None] * inverse_filter(g * lam_S, student_ridges, rcond),
    }
    unknown = set(methods) - set(filters)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {sorted(filters)}.")
    return {m: path(make()) for m, make in filters.items() if m in methods}
