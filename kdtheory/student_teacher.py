"""Student soft matching (SM) and Residual-as-Teacher (RaT): closed forms, iterations, estimators.

Conventions (CLAIMS.md 1.1-1.2, in scikit-learn's ``alpha`` convention for ridges): the teacher is
kernel ridge with kernel ``K_T`` and ridge ``a_T`` (``= n lam_T``), fitted on the ``n`` source
points ``X``; the student is kernel ridge with kernel ``K_S`` and ridge ``a_S`` (``= m lam_S``),
fitted on the ``m`` target covariates ``X_target``. With

``G = K_T(Xt, X) (K_T(X, X) + a_T I)^{-1}`` (m x n) and ``K_st = K_S(X, Xt)`` (n x m),

- SM: the student fitted to the teacher's target predictions ``G y``;
- RaT, Picard iteration with step ``eta``: ``(K_tt + eta a_S I) alpha_{t+1} = K_tt alpha_t +
  eta G (y - K_st alpha_t)``, i.e. refit the teacher to the student's source residuals, predict
  them on the targets, refit the student (prox step with ridge ``eta a_S``);
- RaT fixed point: ``(a_S I + G K_st) alpha = G y`` (independent of ``eta``, linear in ``y``);
  Picard converges linearly at rate ``rho(M)``,
  ``M = (K_tt + eta a_S I)^{-1} (K_tt - eta G K_st)`` (claim RAT-3).

The estimators :class:`SoftMatching` and :class:`ResidualAsTeacher` take any scikit-learn
regressors as teacher and student; kernel ridge pairs get the exact closed form.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from kdtheory._minkernel import min_rat_fixed_point
from kdtheory._rat_kernel import (
    EXPLODED,
    PicardDivergenceError,
    _exploded,
    _rms,
    _stopped,
    kernel_matrix,
    picard_iteration_matrix,
    picard_rate,
    rat_fixed_point,
    rat_picard_kernel,
    sm_rat_path,
    teacher_operator,
)
from kdtheory._validation import check_numeric_y, validate_params
from kdtheory.linalg import linear_smoother_risk
from kdtheory.nystrom import (
    NystromKernelRidge,
    is_nystrom_pair,
    nystrom_rat_fixed_point,
    nystrom_sm,
)
from kdtheory.structured import (
    SOLVERS,
    StructuredKernelRidge,
    as_dense,
    as_structured,
    resolve_solver,
)

__all__ = [
    "SoftMatching",
    "ResidualAsTeacher",
    "kernel_matrix",
    "teacher_operator",
    "rat_fixed_point",
    "sm_rat_path",
    "rat_picard_kernel",
    "picard_iteration_matrix",
    "picard_rate",
    "picard_refit",
    "linear_smoother_risk",
    "PicardDivergenceError",
    "EXPLODED",
]

#: students whose ``alpha`` is the weight of a penalty on a squared loss: the prox with step
#: ``eta`` multiplies it by ``eta``. Any other ``alpha`` (a quantile, a learning-rate-like or
#: mixing parameter) is never rewritten.
PENALIZED_LEAST_SQUARES = (
    KernelRidge,
    StructuredKernelRidge,
    NystromKernelRidge,
    Ridge,
    Lasso,
    ElasticNet,
)


def _with_scaled_ridge(student: BaseEstimator, step: float) -> BaseEstimator:
    """The prox with step ``eta`` of a penalized least-squares student (one of
    :data:`PENALIZED_LEAST_SQUARES`): its ``alpha`` multiplied by ``eta``; any other student is
    cloned unchanged."""
    params = student.get_params(deep=False)
    if (
        step != 1.0
        and isinstance(student, PENALIZED_LEAST_SQUARES)
        and isinstance(params.get("alpha"), Real)
    ):
        return clone(student).set_params(alpha=params["alpha"] * step)
    return clone(student)


def picard_refit(
    teacher: BaseEstimator,
    student: BaseEstimator,
    X: ArrayLike,
    y: ArrayLike,
    X_target: ArrayLike,
    *,
    step: float = 1.0,
    n_iter: int = 1000,
    tol: float = 1e-10,
) -> tuple[BaseEstimator, BaseEstimator, list[float], bool]:
    """RaT as the algorithm reads, for any regressors (CLAIMS.md 1.2).

    From ``f_0 = 0``: refit a clone of ``teacher`` to the residuals ``y - f_t(X)``, predict them
    on ``X_target``, refit a clone of ``student`` to ``f_t(X_target) + step * residual``. A
    penalized least-squares student (:data:`PENALIZED_LEAST_SQUARES`) gets ``alpha * step`` (the
    prox with step ``eta``), which makes the fixed point independent of ``step``; other
    students keep their hyper-parameters. With ``step = 1`` the first iterate is soft matching.
    The iteration stops, not converged, when its change is not finite or explodes (see
    :func:`rat_picard_kernel`).

    Returns
    -------
    student, teacher : estimator
        The fitted estimators of the last iteration.
    history : list of float
        RMS change of the student's target predictions per iteration.
    converged : bool
    """
    X_target = np.asarray(X_target)
    y = np.asarray(y, dtype=float)
    f_target = np.zeros(len(X_target))
    f_source = np.zeros(len(y))
    prox = _with_scaled_ridge(student, step)
    history: list[float] = []
    fitted_student = fitted_teacher = None
    for _ in range(int(n_iter)):
        fitted_teacher = clone(teacher).fit(X, y - f_source)
        z = f_target + step * fitted_teacher.predict(X_target)
        fitted_student = clone(prox).fit(X_target, z)
        f_new = fitted_student.predict(X_target)
        history.append(_rms(f_new - f_target))
        f_target, f_source = f_new, fitted_student.predict(X)
        done = _stopped(history[-1], f_target, tol, history[0])
        if done is not None:
            return fitted_student, fitted_teacher, history, done
    return fitted_student, fitted_teacher, history, False


# --------------------------------------------------------------------------------- estimators
def _n_samples(a) -> int:
    shape = getattr(a, "shape", None)
    if shape is not None and len(shape):
        return int(shape[0])
    return len(a) if hasattr(a, "__len__") else int(np.asarray(a).shape[0])


def _fitted_structured(student, X_fit, dual_coef) -> StructuredKernelRidge:
    fitted = clone(student)
    fitted.X_fit_ = X_fit
    fitted.dual_coef_ = dual_coef
    fitted.n_features_in_ = X_fit.shape[1]
    return fitted


class _StudentTeacher(RegressorMixin, BaseEstimator):
    """Shared validation and prediction: the fitted student predicts."""

    _parameter_constraints: dict = {
        "teacher": [None, HasMethods(["fit", "predict"])],
        "student": [None, HasMethods(["fit", "predict"])],
        "solver": [StrOptions(set(SOLVERS))],
    }

    def __init__(self, teacher=None, student=None, *, solver="auto"):
        self.teacher = teacher
        self.student = student
        self.solver = solver

    def _paths(self, teacher, student, n_features: int):
        """The pair on the path ``solver`` selects (:func:`kdtheory.structured.resolve_solver`):
        structured estimators for ``min(x, x')`` pairs, dense ``KernelRidge`` otherwise."""
        self.solver_ = resolve_solver(self.solver, (teacher, student), n_features)
        if self.solver == "auto" and is_nystrom_pair(teacher, student):
            self.solver_ = "nystrom"
        if self.solver_ == "structured":
            return as_structured(teacher), as_structured(student)
        return as_dense(teacher), as_dense(student)

    def _components(self) -> tuple[BaseEstimator, BaseEstimator]:
        validate_params(self)
        teacher = KernelRidge() if self.teacher is None else clone(self.teacher)
        student = KernelRidge() if self.student is None else clone(self.student)
        for name, est in (("teacher", teacher), ("student", student)):
            ridge = est.get_params(deep=False).get("alpha")
            if isinstance(ridge, Real) and not (np.isfinite(ridge) and ridge >= 0):
                raise ValueError(
                    f"{name} ridge ({name}.alpha) must be finite and >= 0, got {ridge!r}."
                )
        return teacher, student

    def _validate_inputs(self, X, y, X_target):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        if _n_samples(X) != _n_samples(y):
            raise ValueError(
                f"X and y have mismatched lengths: X has {_n_samples(X)} samples, y has "
                f"{_n_samples(y)}."
            )
        check_numeric_y(y, type(self).__name__)
        X, y = validate_data(self, X, y, y_numeric=True, dtype=np.float64)
        if X_target is None:
            return X, y, X
        Xt = check_array(X_target, dtype=np.float64, input_name="X_target")
        if Xt.shape[1] != X.shape[1]:
            raise ValueError(
                f"X_target has {Xt.shape[1]} features, but X has {X.shape[1]}: source and target "
                "covariates must live in the same space."
            )
        # column names checked against X's the way predict checks them (reordered or renamed
        # columns raise; names on one side only warn), so that X_target cannot be misaligned
        try:
            validate_data(self, X_target, reset=False, dtype=np.float64, skip_check_array=True)
        except ValueError as err:
            raise ValueError(f"X_target does not match X: {err}") from None
        return X, y, Xt

    def predict(self, X):
        """Student predictions at ``X``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.student_.predict(X)


class SoftMatching(_StudentTeacher):
    """Student soft matching: fit the student to the teacher's predictions on the target covariates.

    ``f_SM = Student[ Teacher[y](X_target) ]`` (CLAIMS.md 1.2). The student inherits the teacher's
    bias: for kernel ridge with a fixed teacher ridge its target risk has a positive floor that
    does not shrink with ``n`` (claim RAT-1).

    Parameters
    ----------
    teacher, student : regressor, default=None
        Unfitted scikit-learn regressors (cloned in ``fit``); ``None`` means
        ``sklearn.kernel_ridge.KernelRidge()``.
    solver : {"auto", "dense", "structured"}, default="auto"
        ``"structured"``: kernel ridge pairs with the kernel ``min(x, x')``
        (:class:`~kdtheory.kernels.SobolevMin`) on one-dimensional inputs are fitted and predict
        in linear time without any ``n x n`` matrix (:mod:`kdtheory.structured`); ``"auto"``
        takes that path whenever the pair allows it; ``"dense"`` never does. A pair of
        :class:`~kdtheory.nystrom.NystromKernelRidge` with ``"auto"`` is fitted in one pass over
        the data on the centers' whitened features (:func:`kdtheory.nystrom.nystrom_sm`).

    Attributes
    ----------
    teacher_ : regressor
        The teacher fitted on ``(X, y)``.
    student_ : regressor
        The student fitted on ``(X_target, teacher_.predict(X_target))``.
    solver_ : str
        ``"dense"``, ``"structured"`` or ``"nystrom"``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.kernel_ridge import KernelRidge
    >>> from kdtheory import SoftMatching
    >>> from kdtheory.kernels import SobolevMin
    >>> rng = np.random.default_rng(0)
    >>> X, Xt = rng.random((50, 1)), rng.random((40, 1))
    >>> y = np.sin(3 * X[:, 0]) + 0.1 * rng.standard_normal(50)
    >>> sm = SoftMatching(KernelRidge(alpha=5.0, kernel=SobolevMin()),
    ...                   KernelRidge(alpha=1e-3, kernel=SobolevMin())).fit(X, y, X_target=Xt)
    >>> sm.predict(Xt[:2]).shape
    (2,)
    """

    def fit(self, X, y, X_target=None):
        """Fit the teacher on ``(X, y)``, then the student on the teacher's target predictions.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Source covariates.
        y : array-like of shape (n,)
            Source responses.
        X_target : array-like of shape (m, d), default=None
            Unlabelled target covariates; ``None`` means ``X``.

        Returns
        -------
        SoftMatching
            The fitted estimator, ``self``.
        """
        teacher, student = self._components()
        X, y, Xt = self._validate_inputs(X, y, X_target)
        teacher, student = self._paths(teacher, student, X.shape[1])
        if self.solver_ == "nystrom":
            self.teacher_, self.student_ = nystrom_sm(teacher, student, X, y, Xt)
            return self
        self.teacher_ = teacher.fit(X, y)
        self.student_ = student.fit(Xt, self.teacher_.predict(Xt))
        return self


_METHODS = ("auto", "closed_form", "picard")


class ResidualAsTeacher(_StudentTeacher):
    """Residual-as-Teacher: the teacher estimates the student's residuals (CLAIMS.md 1.2).

    With any regressors this runs the Picard iteration: refit the teacher to the student's source
    residuals ``y - f_t(X)``, predict them on the target covariates, refit the student to
    ``f_t(X_target) + step * residual`` (a penalized least-squares student, one of
    :data:`PENALIZED_LEAST_SQUARES`, gets ``alpha * step``, the proximal step; no other student's
    hyper-parameters are rewritten). When both are :class:`~sklearn.kernel_ridge.KernelRidge`,
    ``method="auto"`` solves the fixed point ``(a_S I + G K_st) alpha = G y`` exactly
    (:func:`rat_fixed_point`) and ``method="picard"`` iterates with the factorizations computed once
    (:func:`rat_picard_kernel`). Claims RAT-2 (minimax rate) and RAT-3 (iteration).

    Parameters
    ----------
    teacher, student : regressor, default=None
        Unfitted scikit-learn regressors (cloned); ``None`` means ``KernelRidge()``.
    n_iter : int, default=1000
        Maximum number of Picard iterations.
    step : float, default=1.0
        Proximal step ``eta > 0``.
    tol : float, default=1e-10
        Stop when the RMS change of the target predictions is below
        ``tol * max(1, RMS prediction)``.
    method : {"auto", "closed_form", "picard"}, default="auto"
        ``"auto"``: closed form for kernel ridge pairs with scalar ridges, Picard otherwise.
        ``"closed_form"`` requires kernel ridge pairs.
    solver : {"auto", "dense", "structured"}, default="auto"
        ``"structured"``: for kernel ridge pairs with the kernel ``min(x, x')`` on
        one-dimensional inputs the fixed point is solved in linear time as one banded system
        (:func:`kdtheory._minkernel.min_rat_fixed_point`) and every refit of the Picard iteration
        is linear-time too; ``"auto"`` takes that path whenever the pair allows it. A pair of
        :class:`~kdtheory.nystrom.NystromKernelRidge` with ``"auto"`` gets the low-rank fixed
        point (:func:`kdtheory.nystrom.nystrom_rat_fixed_point`, one pass over the data, an
        ``M x M`` solve) instead of Picard refits; ``method="picard"`` still iterates.

    Attributes
    ----------
    student_ : regressor
        The fitted student (for kernel ridge pairs a ``KernelRidge`` whose ``dual_coef_`` is the
        fixed point on ``X_target``).
    teacher_ : regressor
        The teacher fitted to the final student's source residuals.
    method_ : str
        ``"closed_form"`` or ``"picard"``.
    solver_ : str
        ``"dense"``, ``"structured"`` or ``"nystrom"``.
    n_iter_ : int
        Picard iterations run (0 for the closed form).
    converged_ : bool
    residuals_ : ndarray
        RMS change of the target predictions per iteration (empty for the closed form).
    n_features_in_ : int
    """

    def __init__(
        self,
        teacher=None,
        student=None,
        *,
        n_iter=1000,
        step=1.0,
        tol=1e-10,
        method="auto",
        solver="auto",
    ):
        super().__init__(teacher=teacher, student=student, solver=solver)
        self.n_iter = n_iter
        self.step = step
        self.tol = tol
        self.method = method

    _parameter_constraints: dict = {
        **_StudentTeacher._parameter_constraints,
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "step": [Interval(Real, 0, None, closed="neither")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "method": [StrOptions(set(_METHODS))],
    }

    def fit(self, X, y, X_target=None):
        """Run RaT on source data ``(X, y)`` with the student on ``X_target`` (default ``X``).

        Parameters
        ----------
        X : array-like of shape (n, d)
            Source covariates.
        y : array-like of shape (n,)
            Source responses.
        X_target : array-like of shape (m, d), default=None
            Unlabelled target covariates; ``None`` means ``X``.

        Returns
        -------
        ResidualAsTeacher
            The fitted estimator, ``self``.

        Raises
        ------
        PicardDivergenceError
            When the iteration diverges: ``rho(M) >= 1`` for kernel ridge pairs, or predictions
            that are not finite or exploded for other regressors. No diverged student is kept.

        Warns
        -----
        ConvergenceWarning
            When the Picard iteration stops before converging but does not diverge
            (``rho(M) < 1`` for kernel ridge pairs: raise ``n_iter``).
        """
        teacher, student = self._components()  # validates the parameters
        X, y, Xt = self._validate_inputs(X, y, X_target)
        teacher, student = self._paths(teacher, student, X.shape[1])
        structured = self.solver_ == "structured"
        low_rank = self.solver_ == "nystrom"
        kernel_pair = structured or all(
            isinstance(e, KernelRidge) and np.ndim(e.alpha) == 0 for e in (teacher, student)
        )
        if self.method == "closed_form" and not (kernel_pair or low_rank):
            raise ValueError(
                "method='closed_form' needs KernelRidge (or NystromKernelRidge with "
                "solver='auto') teacher and student with scalar alpha; use method='picard' for "
                "other regressors."
            )
        closed = kernel_pair or low_rank
        self.method_ = "closed_form" if self.method == "auto" and closed else self.method
        if self.method_ == "auto":
            self.method_ = "picard"
        if low_rank and self.method_ == "closed_form":
            self.teacher_, self.student_ = nystrom_rat_fixed_point(teacher, student, X, y, Xt)
            self.converged_ = True
            self._finish([], rate=None)
            return self
        if structured and self.method_ == "closed_form":
            alpha = min_rat_fixed_point(X, y, Xt, float(teacher.alpha), float(student.alpha))
            self.student_ = _fitted_structured(student, Xt, alpha)
            self.converged_ = True
            self._finish([], rate=None)
        elif kernel_pair and not structured:
            self._fit_kernel(teacher, student, X, y, Xt)
        else:  # any regressors, and the Picard iteration of structured pairs (linear-time refits)
            self.student_, _, history, self.converged_ = picard_refit(
                teacher, student, X, y, Xt, step=self.step, n_iter=self.n_iter, tol=self.tol
            )
            self._finish(history, rate=None)
        self.teacher_ = clone(teacher).fit(X, y - self.student_.predict(X))
        return self

    def _fit_kernel(self, teacher, student, X, y, Xt) -> None:
        mats = {
            "teacher_gram": kernel_matrix(teacher, X, X),
            "teacher_cross": kernel_matrix(teacher, Xt, X),
            "student_cross": kernel_matrix(student, X, Xt),
            "teacher_ridge": float(teacher.alpha),
        }
        a_S = float(student.alpha)
        if self.method_ == "closed_form":
            alpha = rat_fixed_point(y, student_ridge=a_S, **mats)
            self.converged_ = True
            history: list[float] = []
            rate = None
        else:
            Ktt = kernel_matrix(student, Xt, Xt)
            alpha, history, self.converged_ = rat_picard_kernel(
                y,
                student_gram=Ktt,
                student_ridge=a_S,
                step=self.step,
                n_iter=self.n_iter,
                tol=self.tol,
                **mats,
            )
            rate = None
            if not self.converged_:
                G = teacher_operator(
                    mats["teacher_gram"], mats["teacher_cross"], mats["teacher_ridge"]
                )
                rate = picard_rate(
                    student_gram=Ktt,
                    coupling=G @ mats["student_cross"],
                    student_ridge=a_S,
                    step=self.step,
                )
        fitted = clone(student)
        fitted.X_fit_ = Xt
        fitted.dual_coef_ = alpha
        fitted.n_features_in_ = Xt.shape[1]
        self.student_ = fitted
        self._finish(history, rate)

    def _finish(self, history: list[float], rate: float | None) -> None:
        self.residuals_ = np.asarray(history, dtype=float)
        self.n_iter_ = len(history)
        if self.converged_:
            return
        last = history[-1] if history else float("nan")
        exploded = bool(history) and _exploded(history[-1], history[0])
        if (rate is not None and rate >= 1) or (rate is None and exploded):
            del self.student_  # nothing diverged is left to predict with
            why = (
                f"the spectral radius of the iteration matrix is rho(M) = {rate:.4g} >= 1"
                if rate is not None
                else f"the change of the predictions reached {last:.3g} (first {history[0]:.3g})"
            )
            raise PicardDivergenceError(
                f"RaT Picard iteration diverges: {why}, after {self.n_iter_} iterations; lower "
                f"`step` (now {self.step:g})."
            )
        if rate is not None:
            why = (
                f"the spectral radius of the iteration matrix is rho(M) = {rate:.4g} >= 1, so the "
                "iteration diverges; lower `step`"
                if rate >= 1
                else f"rho(M) = {rate:.4g} < 1, so it converges but slowly; raise `n_iter`"
            )
        else:
            why = (
                "the Picard map may not be a contraction for this teacher, student and step "
                "(rho(M) >= 1); lower `step` or raise `n_iter`"
            )
        warnings.warn(
            f"RaT Picard iteration did not converge in {self.n_iter_} iterations (last change "
            f"{last:.3g}, tol {self.tol:g}): {why}.",
            ConvergenceWarning,
            stacklevel=3,
        )
