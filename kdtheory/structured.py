"""Structured (linear-time) kernel ridge for the kernel ``min(x, x')``, and the solver choice.

:class:`StructuredKernelRidge` is scikit-learn's :class:`~sklearn.kernel_ridge.KernelRidge` with
kernel :class:`~kdtheory.kernels.SobolevMin` fitted and evaluated without forming a kernel
matrix (:mod:`kdtheory._minkernel`: banded solves on sorted points, ``O(n)`` memory). The
student-teacher estimators take ``solver="auto" | "dense" | "structured"`` and
:func:`resolve_solver` decides which path a pair of kernel ridge regressors gets (CLAIMS.md 1.2).
"""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.kernel_ridge import KernelRidge
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted, validate_data

from kdtheory._minkernel import min_kernel_predict, min_kernel_ridge, min_rat_fixed_point, min_sm
from kdtheory._minrisk import BorderedRisk, min_risk_terms
from kdtheory._validation import check_numeric_y, validate_params
from kdtheory.kernels import SobolevMin
from kdtheory.linalg import _PathRisks, _ridges, check_ridge

__all__ = [
    "StructuredKernelRidge",
    "SOLVERS",
    "has_structure",
    "resolve_solver",
    "as_dense",
    "as_structured",
    "structured_risk",
    "structured_apply",
    "RISK_METHODS",
    "StructuredPath",
    "DENSE_MAX_POINTS",
    "kernels_allow_structure",
    "resolve_path_solver",
]

#: the values of the estimators' ``solver`` parameter
SOLVERS = ("auto", "dense", "structured")


def has_structure(estimator) -> bool:
    """Whether ``estimator`` is kernel ridge with the kernel ``min(x, x')`` and a scalar ridge.

    Parameters
    ----------
    estimator : object
        Any regressor.

    Returns
    -------
    bool
        True for a :class:`StructuredKernelRidge`, and for a
        :class:`~sklearn.kernel_ridge.KernelRidge` whose ``kernel`` is a
        :class:`~kdtheory.kernels.SobolevMin` instance, without ``kernel_params``, with a scalar
        ``alpha``.
    """
    if isinstance(estimator, StructuredKernelRidge):
        return np.ndim(estimator.alpha) == 0
    return (
        isinstance(estimator, KernelRidge)
        and isinstance(estimator.kernel, SobolevMin)
        and not estimator.kernel_params
        and np.ndim(estimator.alpha) == 0
    )


def as_dense(estimator):
    """A :class:`StructuredKernelRidge` as the equivalent ``KernelRidge``; anything else as is."""
    if isinstance(estimator, StructuredKernelRidge):
        return KernelRidge(alpha=estimator.alpha, kernel=estimator.kernel or SobolevMin())
    return estimator


def as_structured(estimator) -> StructuredKernelRidge:
    """The :class:`StructuredKernelRidge` with the ridge of ``estimator`` (it has the structure)."""
    return StructuredKernelRidge(alpha=estimator.alpha)


def resolve_solver(solver: str, estimators, n_features: int) -> str:
    """``"dense"`` or ``"structured"``: the path that ``solver`` asks for and the pair allows.

    Parameters
    ----------
    solver : {"auto", "dense", "structured"}
        ``"auto"`` takes the structured path whenever every estimator has the structure
        (:func:`has_structure`), no ridge is 0 and the inputs are one-dimensional.
    estimators : iterable of regressors
        The teacher and the student.
    n_features : int
        Number of input features.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        For an unknown ``solver``, or ``"structured"`` forced on kernels without the structure
        or on inputs with more than one feature.
    """
    estimators = list(estimators)
    structured = n_features == 1 and all(has_structure(e) for e in estimators)
    kernels = ", ".join(repr(getattr(e, "kernel", type(e).__name__)) for e in estimators)
    # an interpolating teacher or student: its system can be singular (repeated points, a point
    # at 0); "auto" leaves it to the dense path, which handles it as scikit-learn does
    return _choose(
        solver,
        structured,
        prefer=structured and not any(float(e.alpha) == 0 for e in estimators),
        needs="KernelRidge teacher and student with kernel=SobolevMin() (min(x, x')), a scalar "
        f"alpha and one-dimensional inputs; got kernels {kernels} and {n_features} feature(s)",
    )


def _choose(solver: str, allowed: bool, *, prefer: bool, needs: str) -> str:
    """``"dense"`` or ``"structured"``: ``solver`` checked, ``"structured"`` refused unless
    ``allowed`` (the message says what it ``needs``), ``"auto"`` structured when ``allowed``
    and ``prefer``."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}.")
    if solver == "structured" and not allowed:
        raise ValueError(f"solver='structured' needs {needs}. Use solver='dense' (or 'auto').")
    if solver == "auto":
        return "structured" if allowed and prefer else "dense"
    return solver


def _interpolate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients of ``K c = y`` for ``min(x, x')`` with ``alpha = 0``; for a singular ``K``
    (repeated points, points at 0) the minimum-norm least-squares solution, as scikit-learn's
    ``KernelRidge`` gives it, with its warning: the interpolant of the mean response at each
    distinct positive point, its coefficient shared equally by the repeats, 0 at points 0."""
    unique, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    if unique.size == x.size and unique[0] > 0:
        return min_kernel_ridge(x, y, 0.0)
    warnings.warn(
        "Singular matrix in solving dual problem. Using least-squares solution instead.",
        UserWarning,
        stacklevel=3,
    )
    means = np.zeros((unique.size,) + y.shape[1:])
    np.add.at(means, inverse, y)
    means /= counts.reshape((-1,) + (1,) * (y.ndim - 1))
    positive = unique > 0
    coef = np.zeros_like(means)
    coef[positive] = min_kernel_ridge(unique[positive], means[positive], 0.0)
    share = coef / counts.reshape((-1,) + (1,) * (y.ndim - 1))
    return share[inverse]


class StructuredKernelRidge(RegressorMixin, BaseEstimator):
    """Kernel ridge with ``min(x, x')`` in ``O(n)`` memory and ``O(n log n)`` time.

    The same estimator as ``KernelRidge(alpha=alpha, kernel=SobolevMin())`` (same ``dual_coef_``
    up to rounding), fitted by banded solves on the sorted points instead of a dense ``n x n``
    system, and predicting by prefix sums instead of a kernel matrix. Unsorted and duplicated
    points are fine. ``alpha = 0`` interpolates; when repeated points or points at 0 make the
    system singular it returns scikit-learn's least-squares solution, with the same warning.

    Parameters
    ----------
    alpha : float, default=1.0
        Ridge ``a >= 0`` (scikit-learn's convention: ``(K + a I) c = y``).
    kernel : SobolevMin, default=None
        Must be a :class:`~kdtheory.kernels.SobolevMin` instance (``None``: a new one).

    Attributes
    ----------
    dual_coef_ : ndarray of shape (n,) or (n, k)
    X_fit_ : ndarray of shape (n, 1)
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from kdtheory.structured import StructuredKernelRidge
    >>> X = np.linspace(0.1, 1, 5)[:, None]
    >>> StructuredKernelRidge(alpha=0.1).fit(X, X[:, 0] ** 2).predict([[0.5]]).round(4)
    array([0.2925])
    """

    _parameter_constraints: dict = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "kernel": [None, SobolevMin],
    }

    def __init__(self, alpha=1.0, *, kernel=None):
        self.alpha = alpha
        self.kernel = kernel

    def _check_kernel(self) -> None:
        if self.kernel is not None and not isinstance(self.kernel, SobolevMin):
            raise ValueError(
                f"StructuredKernelRidge needs kernel=SobolevMin(), got {self.kernel!r}."
            )
        validate_params(self)  # alpha: a number in [0, inf), so finite

    def fit(self, X, y, sample_weight=None):
        """Fit on one-dimensional ``X`` (shape ``(n, 1)``); ``sample_weight`` is not supported.

        Parameters
        ----------
        X : array-like of shape (n, 1)
        y : array-like of shape (n,) or (n, k)
        sample_weight : None
            Must be None.

        Returns
        -------
        StructuredKernelRidge
            ``self``.
        """
        self._check_kernel()
        if sample_weight is not None:
            raise ValueError("StructuredKernelRidge does not support sample_weight.")
        check_numeric_y(y, type(self).__name__)
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        if X.shape[1] != 1:
            raise ValueError(
                f"StructuredKernelRidge needs one-dimensional inputs, X has {X.shape[1]} features."
            )
        if X.size and X.min() < 0:
            SobolevMin._negative(X)
        self.X_fit_ = X
        self.dual_coef_ = (
            _interpolate(X[:, 0], y)
            if self.alpha == 0
            else min_kernel_ridge(X[:, 0], y, float(self.alpha))
        )
        return self

    def predict(self, X):
        """Predictions ``sum_i c_i min(x, x_i)`` at ``X`` of shape ``(m, 1)``.

        Parameters
        ----------
        X : array-like of shape (m, 1)

        Returns
        -------
        ndarray of shape (m,) or (m, k)
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return min_kernel_predict(self.X_fit_[:, 0], self.dual_coef_, X[:, 0])


#: the methods :func:`structured_risk` computes, and which responses each smoother takes
RISK_METHODS = ("teacher", "krr", "sm", "rat")


def structured_apply(method: str, X, Xt, teacher_ridge: float, student_ridge: float, Y, X_eval):
    """Predictions at ``X_eval`` of ``method`` fitted to each column of ``Y``, structured path.

    Parameters
    ----------
    method : {"teacher", "krr", "sm", "rat"}
        As in :func:`structured_risk`.
    X, Xt : arrays of shape (n,), (m,)
        Source and target points (one-dimensional).
    teacher_ridge, student_ridge : float
        ``a_T`` and ``a_S``.
    Y : array of shape (n,) or (n, k)
        Source responses, one fit per column (one factorization for all of them).
    X_eval : array of shape (N,)
        Evaluation points.

    Returns
    -------
    ndarray of shape (N,) or (N, k)
    """
    teacher_ridge = check_ridge(teacher_ridge, "teacher_ridge")
    student_ridge = check_ridge(student_ridge, "student_ridge")
    if method == "teacher":
        return min_kernel_predict(X, min_kernel_ridge(X, Y, teacher_ridge), X_eval)
    if method == "krr":
        return min_kernel_predict(X, min_kernel_ridge(X, Y, student_ridge), X_eval)
    solve = {"sm": min_sm, "rat": min_rat_fixed_point}[method]
    return min_kernel_predict(Xt, solve(X, Y, Xt, teacher_ridge, student_ridge), X_eval)


def structured_risk(
    method: str,
    X,
    X_target,
    X_eval,
    f_source,
    f_eval,
    noise_sd: float,
    *,
    teacher_ridge: float,
    student_ridge: float,
    eval_weights=None,
    n_probes: int | None = None,
    rng: np.random.Generator | None = None,
    chunk: int = 256,
) -> dict[str, float]:
    """Exact expected target risk of a linear smoother on the structured path (CLAIMS.md, "How
    a claim is checked"): ``sum_j w_j (A f(X) - f*(x_j))^2 + sigma^2 sum_j w_j ||A_j.||^2``.

    The bias part is exact (one solve with the noiseless responses). The variance part is exact
    when ``n_probes`` is None (one banded factorization of a bordered matrix whose
    log-determinant's derivative is ``sum_j w_j ||A_j.||^2``, :mod:`kdtheory._minrisk`:
    ``O(n + m + N)`` time and memory), and otherwise Hutchinson's unbiased estimate from
    ``n_probes`` Rademacher probes, ``E ||W^{1/2} A z||^2 = sum_j w_j ||A_j.||^2``, whose
    standard error is returned so that it can enter a confidence interval.

    Parameters
    ----------
    method : {"teacher", "krr", "sm", "rat"}
        The teacher (ridge ``teacher_ridge``), kernel ridge on the source labels (ridge
        ``student_ridge``), soft matching or the RaT fixed point; kernels ``min(x, x')``.
    X, X_target, X_eval : arrays of shape (n, 1), (m, 1), (N, 1)
        Source, target and evaluation points.
    f_source, f_eval : arrays of shape (n,), (N,)
        ``f*`` at the source and evaluation points.
    noise_sd : float
        ``sigma``.
    teacher_ridge, student_ridge : float
        ``a_T`` and ``a_S`` (scikit-learn ``alpha`` convention).
    eval_weights : array of shape (N,), optional
        Quadrature weights; default ``1/N``.
    n_probes : int, optional
        Hutchinson probes for the variance; None: exact.
    rng : numpy.random.Generator, optional
        Draws the probes (required with ``n_probes``).
    chunk : int, default=256
        Probes solved together.

    Returns
    -------
    dict
        ``risk``, ``bias`` (squared), ``variance``, ``variance_se`` (0 when exact).
    """
    if method not in RISK_METHODS:
        raise ValueError(f"method must be one of {RISK_METHODS}, got {method!r}.")
    X, Xt, Xe = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (X, X_target, X_eval))
    w = np.full(Xe.size, 1.0 / Xe.size) if eval_weights is None else np.asarray(eval_weights)
    f_source = np.asarray(f_source, dtype=np.float64)
    ridges = (
        check_ridge(teacher_ridge, "teacher_ridge"),
        check_ridge(student_ridge, "student_ridge"),
    )
    args = (method, X, Xt, *ridges)
    if n_probes is None:
        mean, total = min_risk_terms(*args[:3], Xe, w, *args[3:], f_source[:, None])
        bias = float(w @ (mean[:, 0] - np.asarray(f_eval)) ** 2)
        var, se = noise_sd**2 * total, 0.0
    else:
        n = X.size
        mean = structured_apply(*args, f_source, Xe)
        bias = float(w @ (mean - np.asarray(f_eval)) ** 2)
        if rng is None or int(n_probes) < 2:
            raise ValueError("n_probes >= 2 needs an rng (numpy.random.Generator).")
        values = []
        for start in range(0, int(n_probes), chunk):
            k = min(int(n_probes) - start, chunk)
            Z = rng.choice([-1.0, 1.0], size=(n, k))
            values.append(w @ structured_apply(*args, Z, Xe) ** 2)
        values = noise_sd**2 * np.concatenate(values)
        var, se = float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))
    return {"risk": bias + var, "bias": bias, "variance": var, "variance_se": se}


#: ``solver="auto"`` in :func:`kdtheory.exact.distillation_paths` keeps the dense path while
#: ``max(n, m)`` is at most this: there its eigendecompositions serve a path of ridges about as
#: fast as one structured factorization per ridge (``benchmarks/bench_exact_paths.py``, 32
#: ridges and 2,000 evaluation points: 0.5 s against 0.7 s at ``n = 400`` without shift,
#: 5.4 s against 1.1 s at ``n = 1600``)
DENSE_MAX_POINTS = 500


class StructuredPath(_PathRisks):
    """A path of structured linear smoothers (kernel ``min(x, x')``), one per ridge, with the
    interface of :class:`kdtheory.linalg.SpectralPath` (``predict``, ``risk``).

    Built by :func:`kdtheory.exact.distillation_paths` with ``solver="structured"``: nothing of
    size ``n x n`` is formed; each ridge costs one ``O(n)`` banded factorization per block of
    responses (:func:`structured_apply`). :meth:`risk` is exact (bias and variance from one
    banded factorization of a bordered matrix per ridge, :mod:`kdtheory._minrisk`: ``O(n)``
    time and memory; :meth:`risks` serves several ``f*`` from the same factorizations) unless
    ``n_probes`` is set, in which case the variance is Hutchinson's unbiased estimate and
    ``variance_se`` its standard error (:func:`structured_risk`).

    Parameters
    ----------
    method : {"teacher", "krr", "sm", "rat"}
        As in :func:`structured_risk` (the target oracle is ``"krr"`` on the target points).
    X, X_target, X_eval : arrays of shape (n,), (m,), (N,)
    teacher_ridge : float
    ridges : array of shape (L,)
        Student ridges (ignored by ``"teacher"``, which has one value).
    weights : array of shape (N,), optional
    n_probes : int, optional
    rng : numpy.random.Generator, optional
        Draws the probes.
    """

    def __init__(
        self, method, X, X_target, X_eval, teacher_ridge, ridges, weights=None, n_probes=None,
        rng=None,
    ):  # fmt: skip
        if method not in RISK_METHODS:
            raise ValueError(f"method must be one of {RISK_METHODS}, got {method!r}.")
        self.method = method
        self.X, self.X_target, self.X_eval = (
            np.asarray(a, dtype=np.float64).reshape(-1) for a in (X, X_target, X_eval)
        )
        self.teacher_ridge = check_ridge(teacher_ridge, "teacher_ridge")
        self.ridges = _ridges(ridges)
        self.weights = weights
        self.n_probes = n_probes
        self.rng = rng

    def _args(self, ridge: float) -> tuple:
        return (self.method, self.X, self.X_target, self.teacher_ridge, float(ridge))

    def predict(self, z) -> np.ndarray:
        """Predictions ``A_l z`` at the evaluation points, shape ``(N, L)``."""
        z = np.asarray(z, dtype=np.float64)
        return np.column_stack(
            [structured_apply(*self._args(a), z, self.X_eval) for a in self.ridges]
        )

    def risk(self, f_in, f_eval, noise_sd: float) -> dict[str, np.ndarray]:
        """Expected risk for every ridge: arrays ``bias``, ``variance``, ``risk`` and
        ``variance_se`` (0 when exact), each of shape ``(L,)``."""
        if self.n_probes is None:
            return self.risks(np.reshape(f_in, (-1, 1)), np.reshape(f_eval, (-1, 1)), noise_sd)[0]
        rows = [
            structured_risk(
                self.method,
                self.X,
                self.X_target,
                self.X_eval,
                f_in,
                f_eval,
                noise_sd,
                teacher_ridge=self.teacher_ridge,
                student_ridge=float(a),
                eval_weights=self.weights,
                n_probes=self.n_probes,
                rng=self.rng,
            )
            for a in self.ridges
        ]
        return {
            k: np.array([r[k] for r in rows]) for k in ("bias", "variance", "risk", "variance_se")
        }

    def risks(self, F_in, F_eval, noise_sd: float) -> list[dict[str, np.ndarray]]:
        """:meth:`risk` for each column of ``F_in`` (``(n, k)``) and ``F_eval`` (``(N, k)``);
        exact: one factorization per ridge serves every column."""
        if self.n_probes is not None:
            return _PathRisks.risks(self, F_in, F_eval, noise_sd)
        N = self.X_eval.size
        w = np.full(N, 1.0 / N) if self.weights is None else np.asarray(self.weights, float)
        F_in, F_eval = np.asarray(F_in, dtype=np.float64), np.asarray(F_eval, dtype=np.float64)
        system = BorderedRisk(self.method, self.X, self.X_target, self.X_eval, w)
        terms = [system.terms(self.teacher_ridge, float(a), F_in) for a in self.ridges]
        variance = float(noise_sd) ** 2 * np.array([v for _, v in terms])
        out = []
        for j in range(F_in.shape[1]):
            mean = np.column_stack([p[:, j] for p, _ in terms])
            bias = w @ (mean - F_eval[:, j : j + 1]) ** 2
            out.append(
                {
                    "bias": bias,
                    "variance": variance,
                    "risk": bias + variance,
                    "variance_se": np.zeros_like(variance),
                }
            )
        return out


def kernels_allow_structure(kernels, n_features: int) -> bool:
    """Whether every kernel is :class:`~kdtheory.kernels.SobolevMin` on one-dimensional inputs."""
    return n_features == 1 and all(isinstance(k, SobolevMin) for k in kernels)


def resolve_path_solver(solver: str, kernels, n_features: int, n_points: int) -> str:
    """The path :func:`kdtheory.exact.distillation_paths` takes: ``"dense"`` or ``"structured"``.

    ``"auto"`` takes the structured path when the kernels allow it and ``n_points`` (the larger
    of the source and target samples) exceeds :data:`DENSE_MAX_POINTS`; ``"structured"`` on
    other kernels raises a ValueError naming them.
    """
    return _choose(
        solver,
        kernels_allow_structure(kernels, n_features),
        prefer=n_points > DENSE_MAX_POINTS,
        needs="kernel (and teacher_kernel) SobolevMin() (min(x, x')) and one-dimensional "
        f"inputs; got {', '.join(map(repr, kernels))} and {n_features} feature(s)",
    )
