"""Exact expected risks of the kernel student-teacher estimators over paths of ridges.

SM, RaT, the teacher, kernel ridge on the source labels and the target oracle are linear in the
responses, ``f_hat(X_eval) = A y``, so their expected risk over the noise is exact (CLAIMS.md,
"How a claim is checked"): Monte Carlo then runs over designs only. :func:`distillation_paths`
builds, from as few eigendecompositions as the design allows, one path of smoothers per method:

- equal teacher and student kernels with ``X_target = X``: one eigendecomposition of ``K(X, X)``
  serves every method and every ridge;
- equal kernels under shift: three (``K(X, X)``, ``K(Xt, Xt)`` and the symmetric ``G K_st``);
- different kernels: RaT falls back to one linear solve per student ridge;
- the kernel ``min(x, x')`` on one-dimensional inputs (``solver="structured"``, or ``"auto"``
  beyond :data:`~kdtheory.structured.DENSE_MAX_POINTS` points): no eigendecomposition and no
  ``n x n`` matrix, one banded factorization per method and ridge gives the exact bias and
  variance in linear time (:class:`~kdtheory.structured.StructuredPath`);
- periodic kernels on an equispaced grid with ``X_target = X_eval = X`` (``solver="circulant"``,
  or ``"auto"`` whenever the design allows): the Gram matrices are circulant, the FFT
  diagonalizes them, and every path costs ``O(n log n + n L)``
  (:class:`~kdtheory.circulant.CirculantPath`).

Ridges are in scikit-learn's ``alpha`` convention (``a_T = n lam_T``, ``a_S = m lam_S``).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike, NDArray

from kdtheory.circulant import CirculantPath, circulant_paths, use_circulant
from kdtheory.linalg import (
    DensePath,
    SpectralPath,
    SymmetricEigen,
    _ridges,
    check_ridge,
    inverse_filter,
    is_symmetric,
)
from kdtheory.structured import StructuredPath, resolve_path_solver

__all__ = ["distillation_paths", "PATH_INPUTS"]

#: Which responses each method's smoother takes: source labels or target-point labels (oracle).
PATH_INPUTS = {
    "teacher": "source",
    "krr": "source",
    "sm": "source",
    "rat": "source",
    "oracle": "target",
}


def _same(a: NDArray, b: NDArray) -> bool:
    return a is b or (a.shape == b.shape and bool(np.array_equal(a, b)))


def distillation_paths(
    X: ArrayLike,
    X_target: ArrayLike,
    X_eval: ArrayLike,
    *,
    kernel,
    teacher_ridge: float,
    student_ridges: ArrayLike,
    teacher_kernel=None,
    source_ridges: ArrayLike | None = None,
    eval_weights: ArrayLike | None = None,
    methods: tuple[str, ...] = ("teacher", "krr", "sm", "rat", "oracle"),
    solver: str = "auto",
    n_probes: int | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, SpectralPath | DensePath | StructuredPath | CirculantPath]:
    """Paths of linear smoothers for the student-teacher estimators (claims RAT-1, RAT-2, RAT-5).

    Parameters
    ----------
    X : array of shape (n, d)
        Source covariates (the teacher's training points).
    X_target : array of shape (m, d)
        Target covariates (the student's points). Pass ``X`` itself for no shift.
    X_eval : array of shape (N, d)
        Evaluation points of the target risk (for example a quadrature rule for ``L2(Q)``).
    kernel : callable
        Student kernel ``kernel(A, B)``; also the teacher's unless ``teacher_kernel`` is given.
    teacher_ridge : float
        ``a_T`` (scikit-learn ``alpha`` of the teacher), fixed.
    student_ridges : array of shape (L,)
        Path of student ridges ``a_S`` for SM and RaT.
    teacher_kernel : callable, optional
        Teacher kernel ``teacher_kernel(A, B)``; default ``kernel``.
    source_ridges : array, optional
        Path of ridges for kernel ridge on the source labels (``krr``, student kernel) and for the
        target oracle; default ``student_ridges``.
    eval_weights : array of shape (N,), optional
        Quadrature weights; default ``1/N``.
    methods : tuple of str
        Any of ``"teacher"``, ``"krr"``, ``"sm"``, ``"rat"``, ``"oracle"``.
    solver : {"auto", "dense", "structured", "circulant"}, default="auto"
        ``"dense"``: the eigendecompositions above (``n x n`` matrices). ``"structured"``: for
        the kernel ``min(x, x')`` (:class:`~kdtheory.kernels.SobolevMin`, teacher and student)
        on one-dimensional inputs, :class:`~kdtheory.structured.StructuredPath` objects that
        form no ``n x n`` matrix (the same risks up to rounding, exact variances included, in
        ``O(n)`` time and memory per ridge). ``"circulant"``: for
        :class:`~kdtheory.kernels.PeriodicSobolev` kernels on an equispaced grid ``X`` with
        ``X_target`` and ``X_eval`` equal to ``X`` and equal weights
        (:func:`~kdtheory.circulant.allows_circulant`),
        :class:`~kdtheory.circulant.CirculantPath` objects (the same risks up to rounding, by
        the FFT). ``"auto"``: circulant when the design allows it; else structured when the
        kernels allow it and ``max(n, m)`` exceeds
        :data:`~kdtheory.structured.DENSE_MAX_POINTS`; else dense.
    n_probes : int, optional
        Structured path only: estimate the variance from this many Rademacher probes
        (Hutchinson, unbiased; ``risk`` then also returns ``variance_se``) instead of exactly.
    rng : numpy.random.Generator, optional
        Draws the probes.

    Returns
    -------
    dict
        Method name -> a path with ``risk(f_in, f_eval, noise_sd)``; ``f_in`` is ``f*`` at
        ``X`` for every method but ``"oracle"``, where it is ``f*`` at ``X_target``
        (see :data:`PATH_INPUTS`).

    Raises
    ------
    ValueError
        For an unknown method or solver, ``solver="structured"`` on other kernels or on
        inputs with more than one feature, or ``solver="circulant"`` on another design.

    Examples
    --------
    Exact target risks of SM and RaT along three student ridges, from one factorization: the
    teacher's large fixed ridge keeps SM near 0.3 at every student ridge, while RaT, which
    corrects the teacher's bias, reaches 0.01 at the smallest:

    >>> import numpy as np
    >>> from kdtheory.kernels import SobolevMin
    >>> from kdtheory.shift import two_piece_shift
    >>> rng = np.random.default_rng(0)
    >>> X, Xt = two_piece_shift(4.0).draw(rng, 200)
    >>> Xe = np.linspace(0, 1, 101)[:, None]
    >>> f = lambda x: np.sin(2 * np.pi * x[:, 0])
    >>> paths = distillation_paths(X, Xt, Xe, kernel=SobolevMin(), teacher_ridge=20.0,
    ...                            student_ridges=[0.01, 0.1, 1.0], methods=("sm", "rat"))
    >>> {m: p.risk(f(X), f(Xe), noise_sd=0.5)["risk"].round(3).tolist()
    ...  for m, p in paths.items()}
    {'sm': [0.286, 0.292, 0.329], 'rat': [0.01, 0.032, 0.197]}
    """
    unknown = set(methods) - set(PATH_INPUTS)
    if unknown:
        raise ValueError(f"unknown methods {sorted(unknown)}; choose from {sorted(PATH_INPUTS)}.")
    X, Xt, Xe = (np.asarray(a, dtype=float) for a in (X, X_target, X_eval))
    tkernel = kernel if teacher_kernel is None else teacher_kernel
    equal_kernels = teacher_kernel is None or teacher_kernel == kernel
    same_points = _same(X, Xt)
    # every solver validates the ridges the same way, before it is chosen
    teacher_ridge = check_ridge(teacher_ridge, "teacher_ridge")
    student_ridges = _ridges(student_ridges)
    source_ridges = student_ridges if source_ridges is None else _ridges(source_ridges)
    w = eval_weights
    kernels = (kernel,) if teacher_kernel is None else (kernel, teacher_kernel)
    if use_circulant(solver, kernels, X, Xt, Xe, w):
        return circulant_paths(
            X,
            kernel=kernel,
            teacher_ridge=teacher_ridge,
            student_ridges=student_ridges,
            teacher_kernel=teacher_kernel,
            source_ridges=source_ridges,
            eval_weight=None if w is None else float(np.asarray(w, dtype=float)[0]),
            methods=methods,
        )
    n_points = max(len(X), len(Xt))
    if resolve_path_solver(solver, kernels, X.shape[1], n_points) == "structured":
        a_T = float(teacher_ridge)
        spec = {
            "teacher": ("teacher", X, [a_T]),
            "krr": ("krr", X, source_ridges),
            "sm": ("sm", X, student_ridges),
            "rat": ("rat", X, student_ridges),
            "oracle": ("krr", Xt, source_ridges),
        }
        return {  # in the dense path's order
            m: StructuredPath(spec[m][0], spec[m][1], Xt, Xe, a_T, spec[m][2], w, n_probes, rng)
            for m in ("teacher", "krr", "sm", "oracle", "rat")
            if m in methods
        }
    paths: dict[str, SpectralPath | DensePath] = {}

    eig_T = SymmetricEigen.of(tkernel(X, X))
    V_T = eig_T.vectors
    inv_T = inverse_filter(eig_T.values, teacher_ridge)[:, 0]
    B_T = tkernel(Xe, X) @ V_T if {"teacher", "krr"} & set(methods) else None
    if "teacher" in methods:
        paths["teacher"] = SpectralPath(B_T, V_T.T, inv_T[:, None], w, True)
    # G = K_T(Xt, X) (K_T(X, X) + a_T I)^{-1}, kept in the teacher's eigenbasis: G = Gv V_T^T.
    Gv = (tkernel(Xt, X) @ V_T) * inv_T[None, :]

    eig_S = eig_T if equal_kernels else SymmetricEigen.of(kernel(X, X))
    if "krr" in methods:
        V = eig_S.vectors
        paths["krr"] = SpectralPath(
            B_T if equal_kernels else kernel(Xe, X) @ V,
            V.T,
            inverse_filter(eig_S.values, source_ridges),
            w,
            True,
        )

    need_target = {"sm", "oracle", "rat"} & set(methods)
    if not need_target:
        return paths
    K_et = kernel(Xe, Xt)
    eig_tt = eig_S if same_points else SymmetricEigen.of(kernel(Xt, Xt))
    U = eig_tt.vectors
    B_t = K_et @ U
    if "sm" in methods:
        P = (U.T @ Gv) @ V_T.T
        paths["sm"] = SpectralPath(B_t, P, inverse_filter(eig_tt.values, student_ridges), w)
    if "oracle" in methods:
        paths["oracle"] = SpectralPath(
            B_t, U.T, inverse_filter(eig_tt.values, source_ridges), w, True
        )
    if "rat" in methods:
        paths["rat"] = _rat_path(
            Gv,
            V_T,
            kernel(X, Xt),
            K_et,
            student_ridges,
            w,
            shortcut=(eig_T, teacher_ridge) if equal_kernels and same_points else None,
            symmetric=equal_kernels,
            student_gram=kernel(X, X) if same_points and not equal_kernels else None,
        )
    return paths


def _rat_path(
    Gv, V_T, K_st, K_et, ridges, w, shortcut=None, symmetric=False, student_gram=None
) -> SpectralPath | DensePath:
    """RaT fixed points ``A = K_S(Xe, Xt) (a_S I + C)^{-1} G`` with ``C = G K_st``.

    ``C`` is symmetric positive semi-definite when teacher and student kernels are equal
    (``C = K(Xt, X) (K(X, X) + a_T I)^{-1} K(X, Xt)``): then one eigendecomposition serves the
    path. With different kernels on the same points (``X_target = X``), ``G`` is symmetric and
    ``(a K_S + K_S G K_S) alpha = K_S G y`` is a symmetric-definite pencil: one generalized
    eigendecomposition ``K_S G K_S Z = K_S Z diag(c)``, ``Z^T K_S Z = I``, serves the path.
    Otherwise, or when ``K_S`` is not numerically positive definite, one solve per ridge.
    """
    if shortcut is not None:  # C = V diag(d^2 / (d + a_T)) V^T: no new factorization
        eig, a_T = shortcut
        d = eig.values
        c = d * d * inverse_filter(d, a_T)[:, 0]
        V = eig.vectors
        return SpectralPath(K_et @ V, (V.T @ Gv) @ V_T.T, inverse_filter(c, ridges), w)
    G = Gv @ V_T.T
    C = G @ K_st
    if symmetric or is_symmetric(C):
        eig = SymmetricEigen.of((C + C.T) / 2.0)
        V = eig.vectors
        return SpectralPath(K_et @ V, V.T @ G, inverse_filter(eig.values, ridges), w)
    if student_gram is not None:
        A = student_gram @ G @ student_gram
        try:
            c, Z = scipy.linalg.eigh((A + A.T) / 2.0, student_gram, check_finite=False)
        except scipy.linalg.LinAlgError:
            pass
        else:
            return SpectralPath(K_et @ Z, Z.T @ (student_gram @ G), inverse_filter(c, ridges), w)
    eye = np.eye(C.shape[0])

    def matrix(i: int) -> NDArray:
        return K_et @ np.linalg.solve(C + ridges[i] * eye, G)

    return DensePath(matrix, len(ridges), None if w is None else np.asarray(w))
