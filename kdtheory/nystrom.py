"""Nystrom kernel ridge, solved directly in one pass or by FALKON's preconditioned CG.

Kernel ridge restricted to the span of ``M`` centers ``C`` drawn from the training points
(Nystrom; Rudi, Camoriano and Rosasco 2015: about ``sqrt(n) log n`` centers keep the optimal
rate) minimizes ``||K_nM a - y||^2 + alpha a^T K_MM a``, i.e. solves

    ``(K_nM^T K_nM + alpha K_MM) a = K_nM^T y``          (scikit-learn's ``alpha = n lam``).

FALKON (Rudi, Carratino and Rosasco 2017) solves it by conjugate gradients preconditioned with
``B = T^{-1} A^{-1} / sqrt(n)``, ``T^T T = K_MM`` and ``A^T A = T T^T / M + lam I`` (Cholesky
factors), so that ``B^T H B`` is close to the identity and a few tens of iterations suffice.
``K_nM`` is never formed: each product ``K_nM^T K_nM v`` runs over chunks of ``chunk_size``
rows, so memory is ``O(M^2 + chunk_size M)``, linear in ``n`` only through the data itself.
Each iteration evaluates the kernel between every point and every center again; on a CPU, up to
a few thousand centers, one pass accumulating the Gram of the centers' whitened features
``Phi = K_nM W`` (:class:`_Whitening`: a Cholesky factor, or an eigendecomposition where the
centers' Gram is numerically singular) followed by a Cholesky solve (``solver="direct"``, the
default there) is faster, in the same memory. A teacher-student pair of them is solved the same
way (:func:`nystrom_sm`, :func:`nystrom_rat_fixed_point`).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import PAIRWISE_KERNEL_FUNCTIONS, pairwise_kernels
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from kdtheory._validation import check_numeric_y, validate_params

__all__ = [
    "NystromKernelRidge",
    "default_n_centers",
    "DIRECT_MAX_CENTERS",
    "is_nystrom_pair",
    "nystrom_sm",
    "nystrom_rat_fixed_point",
]


def _chunks(n: int, size: int) -> list[slice]:
    return [slice(i, min(n, i + size)) for i in range(0, n, size)]


def _chunk_moments(X, chunk_size: int, left, others=(), y=None, gram: bool = True):
    """Sums over chunks of rows of ``L^T L`` (with ``gram``), ``L^T R_j`` and ``L^T y``, where
    ``L = left(X[rows])`` and ``R_j = others[j](X[rows])`` are kernel blocks against centers:
    no block larger than a chunk of rows is ever formed. Returns ``(L^T L, [L^T R_j], L^T y)``,
    with None for what was not asked."""
    LL = crosses = Ly = None
    for rows in _chunks(X.shape[0], chunk_size):
        L = left(X[rows])
        if gram:
            LL = L.T @ L if LL is None else LL + L.T @ L
        if y is not None:
            Ly = L.T @ y[rows] if Ly is None else Ly + L.T @ y[rows]
        blocks = [L.T @ other(X[rows]) for other in others]
        crosses = (
            blocks if crosses is None else [c + b for c, b in zip(crosses, blocks, strict=True)]
        )
    return LL, crosses or [], Ly


class _Whitening:
    """The centers' whitening ``Phi = K(., C) W`` with ``W^T K_MM W = I``: the features a
    Nystrom ridge regression (and the SM/RaT pairs) is solved on.

    By a Cholesky factor ``R^T R = K_MM + jitter I`` (``W = R^{-1}``, FALKON's, fast) when it
    exists and its pivots ``R_ii^2`` stay above ``sqrt(eps)`` times the largest (fewer than
    half the digits lost to the whitening); otherwise, for a Gram that is numerically singular
    (repeated or collinear centers, a linear or polynomial kernel with more centers than its
    rank, a smooth kernel on a dense design), by its eigendecomposition
    ``K_MM = U diag(w) U^T``, keeping the ``r`` eigenvectors with ``w > M eps max(w)`` (numpy's
    ``pinv`` cut-off; below it an eigenvalue is rounding), ``W = U_r diag(w_r)^{-1/2}``, as
    scikit-learn's ``Nystroem`` does: a rank-deficient Gram lowers ``r`` instead of failing.
    """

    PIVOT_FLOOR = float(np.sqrt(np.finfo(np.float64).eps))

    def __init__(self, K_MM: np.ndarray):
        K = (K_MM + K_MM.T) / 2
        M = K.shape[0]
        self.R = self.W = None
        try:
            R = _upper_cholesky(K, escalate=False)
            pivots = np.diag(R) ** 2
            if M and pivots.min() > self.PIVOT_FLOOR * pivots.max():
                self.R = R
        except np.linalg.LinAlgError:
            pass
        if self.R is None:
            w, U = scipy.linalg.eigh(K)
            top = float(w[-1]) if w.size else 0.0
            keep = w > M * np.finfo(np.float64).eps * top if top > 0 else np.zeros(M, bool)
            self.W = U[:, keep] / np.sqrt(w[keep])

    @property
    def rank(self) -> int:
        """Number of features ``r`` (``M`` on the Cholesky path)."""
        return self.R.shape[0] if self.R is not None else self.W.shape[1]

    def features(self, block: np.ndarray) -> np.ndarray:
        """``K(rows, C) W`` for a block ``K(rows, C)``."""
        if self.R is not None:
            return scipy.linalg.solve_triangular(self.R, block.T, trans="T").T
        return block @ self.W

    def coef(self, gamma: np.ndarray) -> np.ndarray:
        """The dual coefficients ``W gamma`` of the centers."""
        if self.R is not None:
            return scipy.linalg.solve_triangular(self.R, gamma)
        return self.W @ gamma


def _upper_cholesky(K_MM: np.ndarray, *, escalate: bool = True) -> np.ndarray:
    """``R`` upper triangular with ``R^T R = K_MM + jitter I`` (FALKON's preconditioner): the
    jitter ``eps M`` times the mean diagonal, raised a hundredfold until the factorization
    succeeds (a numerically singular Gram has eigenvalues slightly below zero); with
    ``escalate=False`` only the first jitter is tried (``numpy.linalg.LinAlgError`` if it
    fails)."""
    M = K_MM.shape[0]
    scale = max(float(np.trace(K_MM)) / max(M, 1), np.finfo(np.float64).tiny)
    jitter = np.finfo(np.float64).eps * M * scale
    K = (K_MM + K_MM.T) / 2
    while True:
        try:
            return scipy.linalg.cholesky(K + jitter * np.eye(M), lower=False)
        except np.linalg.LinAlgError:
            if not escalate or jitter > scale:  # the latter: not for a semi-definite Gram
                raise
            jitter *= 100.0


#: ``solver="auto"`` of :class:`NystromKernelRidge` solves directly up to this many centers
DIRECT_MAX_CENTERS = 4096


def default_n_centers(n: int) -> int:
    """``ceil(sqrt(n) log n)`` centers, at most ``n`` (the rate-preserving choice)."""
    return int(min(n, max(1, np.ceil(np.sqrt(n) * np.log(max(n, 2))))))


class NystromKernelRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge on ``n_centers`` Nystrom centers, fitted directly or by FALKON's CG.

    Parameters
    ----------
    kernel : kernel object or str, default=None
        A kernel object called as ``kernel(A, B)`` (for example :func:`kdtheory.kernels.laplace`
        or :class:`~kdtheory.kernels.SobolevMin`), or a metric name of
        :func:`sklearn.metrics.pairwise.pairwise_kernels`; None: ``"rbf"`` with
        scikit-learn's default ``gamma = 1 / n_features``.
    n_centers : int, default=None
        Number of centers ``M``, drawn without replacement from the training points; None:
        :func:`default_n_centers`. Must satisfy ``1 <= M <= n``.
    alpha : float, default=1.0
        Ridge ``> 0`` in scikit-learn's convention (``n lam``).
    max_iter : int, default=200
        Conjugate-gradient iterations at most.
    tol : float, default=1e-10
        Relative residual at which CG stops.
    chunk_size : int, default=8192
        Rows of ``K_nM`` formed at a time.
    random_state : int, Generator or None, default=None
        Draws the centers.
    solver : {"auto", "cg", "direct"}, default="auto"
        ``"cg"``: FALKON's preconditioned conjugate gradients, each iteration a pass over the
        data that recomputes ``K_nM`` chunk by chunk (memory ``O(M^2 + chunk M)``).
        ``"direct"``: one pass accumulating ``K_nM^T K_nM`` and ``K_nM^T y`` (the same memory,
        ``n M^2`` flops), then ridge regression on the centers' whitened features by Cholesky:
        on a CPU, where evaluating the kernel costs more than those flops, it is the faster one
        up to a few thousand centers. ``"auto"``: ``"direct"`` when ``M <=``
        :data:`DIRECT_MAX_CENTERS`, else ``"cg"``.

    Attributes
    ----------
    centers_ : ndarray of shape (M, d)
    dual_coef_ : ndarray of shape (M,)
    n_iter_ : int
        CG iterations run; 1 for the direct solve (one pass over the data).
    solver_ : str
        ``"cg"`` or ``"direct"``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(2000, 2))
    >>> y = np.sin(4 * X[:, 0]) + 0.1 * rng.standard_normal(2000)
    >>> model = NystromKernelRidge(n_centers=200, alpha=1.0, random_state=0).fit(X, y)
    >>> model.solver_, model.centers_.shape
    ('direct', (200, 2))
    >>> bool(np.sqrt(np.mean((model.predict(X) - np.sin(4 * X[:, 0])) ** 2)) < 0.1)
    True
    """

    _parameter_constraints: dict = {
        "kernel": [None, StrOptions(set(PAIRWISE_KERNEL_FUNCTIONS)), callable],
        "n_centers": [None, Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "chunk_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "solver": [StrOptions({"auto", "cg", "direct"})],
    }

    def __init__(
        self,
        kernel=None,
        n_centers=None,
        alpha=1.0,
        *,
        max_iter=200,
        tol=1e-10,
        chunk_size=8192,
        random_state=None,
        solver="auto",
    ):
        self.kernel = kernel
        self.n_centers = n_centers
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.chunk_size = chunk_size
        self.random_state = random_state
        self.solver = solver

    def _gram(self, A, B):
        kernel = "rbf" if self.kernel is None else self.kernel
        if isinstance(kernel, str):
            return pairwise_kernels(A, B, metric=kernel)
        return np.asarray(kernel(A, B), dtype=np.float64)

    def _check_params(self, n: int) -> int:
        validate_params(self)
        if self.n_centers is None:
            return default_n_centers(n)
        if not isinstance(self.n_centers, Integral) or not 1 <= self.n_centers <= n:
            raise ValueError(
                f"n_centers must be an integer between 1 and the number of samples ({n}), got "
                f"{self.n_centers!r}."
            )
        return int(self.n_centers)

    def _centers(self, X) -> np.ndarray:
        """The ``M`` centers, drawn without replacement from the rows of ``X`` (sorted indices)."""
        n = X.shape[0]
        M = self._check_params(n)
        rng = check_random_state(self.random_state)
        return X[np.sort(rng.choice(n, size=M, replace=False))]

    def fit(self, X, y):
        """Draw the centers and solve the Nystrom system (preconditioned CG or directly).

        Parameters
        ----------
        X : array-like of shape (n, d)
        y : array-like of shape (n,)

        Returns
        -------
        NystromKernelRidge
            ``self``.
        """
        check_numeric_y(y, type(self).__name__)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        n = X.shape[0]
        C = self._centers(X)  # validates the parameters (_check_params)
        M = C.shape[0]
        self.solver_ = (
            ("direct" if M <= DIRECT_MAX_CENTERS else "cg")
            if self.solver == "auto"
            else self.solver
        )
        K_MM = self._gram(C, C)
        block = lambda Z: self._gram(Z, C)  # noqa: E731
        if self.solver_ == "direct":
            white = _Whitening(K_MM)
            features = lambda Z: white.features(block(Z))  # noqa: E731
            gram, _, moment = _chunk_moments(X, self.chunk_size, features, y=y)
            gamma = _ridge_solve(gram, float(self.alpha), moment)
            self.centers_, self.dual_coef_, self.n_iter_ = C, white.coef(gamma), 1
            return self
        T = _upper_cholesky(K_MM)
        tri = scipy.linalg.solve_triangular
        lam = float(self.alpha) / n
        A = scipy.linalg.cholesky(T @ T.T / M + lam * np.eye(M), lower=False)
        scale = 1.0 / np.sqrt(n)

        def precondition(v):  # B v = T^{-1} A^{-1} v / sqrt(n)
            return tri(T, tri(A, v)) * scale

        def precondition_t(v):  # B^T v = A^{-T} T^{-T} v / sqrt(n)
            return tri(A, tri(T, v, trans="T"), trans="T") * scale

        chunks = _chunks(n, self.chunk_size)

        def normal(v):  # (K_nM^T K_nM + alpha K_MM) v, K_nM in chunks of rows
            out = float(self.alpha) * (K_MM @ v)
            for rows in chunks:
                K = self._gram(X[rows], C)
                out += K.T @ (K @ v)
            return out

        _, _, rhs = _chunk_moments(X, self.chunk_size, block, y=y, gram=False)
        op = scipy.sparse.linalg.LinearOperator(
            (M, M), matvec=lambda b: precondition_t(normal(precondition(b))), dtype=np.float64
        )
        iterations = [0]

        def count(_):
            iterations[0] += 1

        beta, info = scipy.sparse.linalg.cg(
            op, precondition_t(rhs), rtol=self.tol, maxiter=self.max_iter, callback=count
        )
        if info > 0:
            warnings.warn(
                f"FALKON's conjugate gradients did not reach tol={self.tol:g} in "
                f"{self.max_iter} iterations; raise max_iter.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.centers_ = C
        self.dual_coef_ = precondition(beta)
        self.n_iter_ = iterations[0]
        return self

    def predict(self, X):
        """``sum_j a_j k(x, c_j)``, in chunks of rows.

        Parameters
        ----------
        X : array-like of shape (m, d)

        Returns
        -------
        ndarray of shape (m,)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.concatenate(
            [
                self._gram(X[i : i + self.chunk_size], self.centers_) @ self.dual_coef_
                for i in range(0, X.shape[0], self.chunk_size)
            ]
            or [np.empty(0)]
        )


def is_nystrom_pair(teacher, student) -> bool:
    """Whether teacher and student are both :class:`NystromKernelRidge` (the low-rank path)."""
    return isinstance(teacher, NystromKernelRidge) and isinstance(student, NystromKernelRidge)


def _fitted(estimator, centers: np.ndarray, coef: np.ndarray):
    fitted = clone(estimator)
    fitted.centers_ = centers
    fitted.dual_coef_ = coef
    fitted.n_iter_ = 1
    fitted.solver_ = "direct"  # solved from the one-pass moments
    fitted.n_features_in_ = centers.shape[1]
    return fitted


def _pair_moments(teacher, student, X, y, Xt, rat: bool) -> dict:
    """One pass over the source and one over the target rows, in chunks: the centers, their
    whitenings ``W_T``, ``W_S`` (:class:`_Whitening`) and the moments ``Phi^T Phi``,
    ``Phi^T y``, ``Psi_t^T Phi_t`` and (RaT) ``Phi^T Psi`` or (SM) ``Psi_t^T Psi_t`` of the
    features ``Phi = K(., C_T) W_T``, ``Psi = K(., C_S) W_S`` (``_t``: at the target points),
    each formed chunk by chunk."""
    C_T, C_S = teacher._centers(X), student._centers(Xt)
    W_T = _Whitening(teacher._gram(C_T, C_T))
    W_S = _Whitening(student._gram(C_S, C_S))
    phi = lambda Z: W_T.features(teacher._gram(Z, C_T))  # noqa: E731
    psi = lambda Z: W_S.features(student._gram(Z, C_S))  # noqa: E731
    TT, TS, Ty = _chunk_moments(X, teacher.chunk_size, phi, (psi,) if rat else (), y)
    SS, (ST,), _ = _chunk_moments(Xt, student.chunk_size, psi, (phi,), gram=not rat)
    return {
        "C_T": C_T,
        "C_S": C_S,
        "W_T": W_T,
        "W_S": W_S,
        "PhiPhi": TT,
        "Phiy": Ty,
        "PsiPhi_t": ST,
        "PhiPsi": TS[0] if rat else None,
        "PsiPsi_t": None if rat else SS,
    }


def _ridge_solve(gram: np.ndarray, ridge: float, b: np.ndarray) -> np.ndarray:
    """``(gram + ridge I)^{-1} b`` for symmetric positive semi-definite ``gram``, ``ridge > 0``:
    by Cholesky, or, where rounding leaves ``gram`` eigenvalues below ``-ridge``, by its
    eigendecomposition with those eigenvalues set to zero."""
    A = (gram + gram.T) / 2
    try:
        return scipy.linalg.cho_solve(scipy.linalg.cho_factor(A + ridge * np.eye(len(A))), b)
    except np.linalg.LinAlgError:
        w, U = scipy.linalg.eigh(A)
        inv = 1.0 / (np.maximum(w, 0.0) + ridge)
        return U @ ((U.T @ b) * (inv if b.ndim == 1 else inv[:, None]))


def nystrom_sm(teacher, student, X, y, X_target):
    """Soft matching for a pair of :class:`NystromKernelRidge`, in one pass over the data.

    The teacher is kernel ridge on its centers ``C_T`` (drawn from ``X``), the student kernel
    ridge on its centers ``C_S`` (drawn from ``X_target``) fitted to the teacher's target
    predictions (CLAIMS.md 1.2). Both are ridge regressions on whitened features
    ``Phi = K(., C_T) W_T`` and ``Psi = K(., C_S) W_S`` (``W`` whitens the centers' Gram,
    :class:`_Whitening`), so the whole estimator needs the moments ``Phi^T Phi``, ``Phi^T y``,
    ``Psi_t^T Phi_t``, ``Psi_t^T Psi_t``, accumulated over chunks of rows, and two
    ``M x M`` solves: memory ``O(M^2 + chunk M)``, time ``O((n + m) M^2)``.

    Parameters
    ----------
    teacher, student : NystromKernelRidge
        Unfitted; their kernels, ``n_centers``, ``alpha``, ``chunk_size`` and ``random_state``
        are used as their own ``fit`` uses them (the same centers); their ``solver`` is not
        (the pair is always solved from the one-pass moments).
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    X_target : ndarray of shape (m, d)

    Returns
    -------
    teacher_, student_ : NystromKernelRidge
        Fitted (``centers_``, ``dual_coef_``; ``n_iter_ = 1`` and ``solver_ = "direct"``: one
        pass).
    """
    mo = _pair_moments(teacher, student, X, y, X_target, rat=False)
    gamma = _ridge_solve(mo["PhiPhi"], float(teacher.alpha), mo["Phiy"])
    delta = _ridge_solve(mo["PsiPsi_t"], float(student.alpha), mo["PsiPhi_t"] @ gamma)
    return (
        _fitted(teacher, mo["C_T"], mo["W_T"].coef(gamma)),
        _fitted(student, mo["C_S"], mo["W_S"].coef(delta)),
    )


def nystrom_rat_fixed_point(teacher, student, X, y, X_target):
    """The RaT fixed point for a pair of :class:`NystromKernelRidge` (claim RAT-2, at scale).

    Picard's RaT refits the teacher to the student's source residuals and the student (ridge
    ``eta a_S``, the proximal step) to ``f(Xt) + eta g(Xt)``. For Nystrom kernel ridge on
    whitened features (see :func:`nystrom_sm`) its fixed point, independent of ``eta``, solves
    the ``M_S x M_S`` system

        ``(a_S I + Psi_t^T Phi_t (Phi^T Phi + a_T I)^{-1} Phi^T Psi) delta
        = Psi_t^T Phi_t (Phi^T Phi + a_T I)^{-1} Phi^T y``,

    the student being ``Psi delta`` and the teacher, fitted to the final residuals,
    ``Phi (Phi^T Phi + a_T I)^{-1} Phi^T (y - Psi delta)``: the low-rank analogue of
    ``(a_S I + G K_st) alpha = G y``, built from one pass over the data instead of refits.

    Parameters
    ----------
    teacher, student : NystromKernelRidge
        Unfitted; used as their own ``fit`` would use them (the same centers).
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    X_target : ndarray of shape (m, d)

    Returns
    -------
    teacher_, student_ : NystromKernelRidge
        Fitted at the fixed point.
    """
    mo = _pair_moments(teacher, student, X, y, X_target, rat=True)
    r_S = mo["W_S"].rank
    D = _ridge_solve(
        mo["PhiPhi"], float(teacher.alpha), np.column_stack([mo["PhiPsi"], mo["Phiy"]])
    )
    lhs = float(student.alpha) * np.eye(r_S) + mo["PsiPhi_t"] @ D[:, :r_S]
    delta = scipy.linalg.solve(lhs, mo["PsiPhi_t"] @ D[:, r_S])
    gamma = D[:, r_S] - D[:, :r_S] @ delta
    return (
        _fitted(teacher, mo["C_T"], mo["W_T"].coef(gamma)),
        _fitted(student, mo["C_S"], mo["W_S"].coef(delta)),
    )
