"""Knowledge distillation as semiparametric inference: cross-fitting and corrected targets.

Our formalization (CLAIMS.md 3.1, following the public code
``microsoft/semiparametric-distillation`` summarized in ``reference/kamath.md``) of Dao,
Kamath, Syrgkanis and Mackey (arXiv 2104.09732). Binary labels ``y`` in {0, 1}; the teacher's
probability ``p_hat = P(Y = 1 | x)``; the student is a regressor fitted by squared loss to a
target on the probability scale (``scale="p"``, ``g(p) = p``) or the log scale
(``scale="logp"``, ``g(p) = log p`` with ``p`` clipped at ``1/500`` as the public code does)::

    target = g(p_hat) + gamma * (y - p_hat)

- ``gamma = 0``: vanilla KD;
- ``gamma = g'(p_hat)`` (1 on the p scale, ``1 / p_hat`` on the log scale): the orthogonal (Neyman)
  correction ``l(z, p_hat) + d_p l(z, p_hat) (y - p_hat)`` of ``l(z, p) = (z - g(p))^2`` equals
  the squared loss to this target up to a ``z``-independent constant
  (:func:`kdtheory.losses.orthogonal_squared_loss`); the bias of the target is then second order
  in ``p_hat - p0`` (claim SEMI-1, :func:`target_bias`);
- "bound-fast": per sample, ``gamma`` minimizes
  ``gamma^2 (y - p_hat)^2 + c (gamma - gamma_orth)^2``, i.e.
  ``gamma = c gamma_orth / (c + (y - p_hat)^2)``, with ``c`` chosen by cross-validation.

Cross-fitting (:class:`CrossFitTeacher`) gives every training point a teacher probability from a
model that did not see it (claim SEMI-3); :class:`DistilledRegressor` fits the student to the
corrected targets (claims SEMI-2, SEMI-4).
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, RegressorMixin, clone
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_validate
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import _num_samples, check_is_fitted, validate_data

from kdtheory._validation import check_numeric_y, validate_params

__all__ = [
    "SCALES",
    "CORRECTIONS",
    "LOG_SCALE_CLIP",
    "C_GRID",
    "clip_proba",
    "orthogonal_gamma",
    "bound_fast_gamma",
    "correction_gamma",
    "distillation_target",
    "target_bias",
    "CrossFitTeacher",
    "DistilledRegressor",
]

#: Scales of the distillation target: probabilities ``"p"`` or log-probabilities ``"logp"``.
SCALES = ("p", "logp")
#: Named corrections of the distillation target (see :func:`correction_gamma`).
CORRECTIONS = ("none", "orthogonal", "bound_fast")
#: The public code's floor for probabilities on the log scale.
LOG_SCALE_CLIP = 1.0 / 500.0
#: The public code's grid for the bound-fast constant ``c``: 1e-5, ..., 1e3.
C_GRID = 10.0 ** np.arange(-5, 4)


# ----------------------------------------------------------------------------- pure functions
def _check_scale(scale: str) -> str:
    if not isinstance(scale, str) or scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}.")
    return scale


def _check_c(c) -> NDArray:
    c_arr = np.asarray(c, dtype=float) if not isinstance(c, bool | str) else None
    if c_arr is None or not np.all(np.isfinite(c_arr) & (c_arr > 0)):
        raise ValueError(f"c must be a finite number > 0, got {c!r}.")
    return c_arr


def _link(p: NDArray, scale: str) -> NDArray:
    """``g(p)``: ``p`` or ``log p`` (no clipping here)."""
    if scale == "p":
        return p
    with np.errstate(divide="ignore"):
        return np.log(p)


def clip_proba(p: ArrayLike, scale: str = "p") -> NDArray:
    """Probabilities ``P(Y = 1 | x)`` as the public code uses them: clipped to ``[1/500, 1]`` on
    the log scale (``scale="logp"``), to ``[0, 1]`` on the p scale (the identity on valid input)."""
    lower = LOG_SCALE_CLIP if _check_scale(scale) == "logp" else 0.0
    return np.clip(np.asarray(p, dtype=float), lower, 1.0)


def orthogonal_gamma(p_hat: ArrayLike, scale: str = "p") -> NDArray:
    """Orthogonal step ``gamma_orth = g'(p_hat)``: 1 on the p scale, ``1 / p_hat`` (``p_hat``
    clipped at 1/500) on the log scale (CLAIMS.md 3.1, claim SEMI-1)."""
    p = clip_proba(p_hat, scale)
    return np.ones_like(p) if scale == "p" else 1.0 / p


def bound_fast_gamma(y: ArrayLike, p_hat: ArrayLike, c: float, scale: str = "p") -> NDArray:
    """Per-sample "bound-fast" step: the minimizer of ``gamma^2 (y - p_hat)^2 +
    c (gamma - gamma_orth)^2`` (CLAIMS.md 3.1, claim SEMI-4).

    ``gamma = c gamma_orth / (c + (y - p_hat)^2)``: ``c / (c + (y - p_hat)^2)`` on the p scale
    (in ``(0, 1]``) and ``c / (p_hat (c + (y - p_hat)^2))`` on the log scale, ``p_hat`` clipped at
    1/500. ``y``: hard labels in {0, 1}; ``p_hat``: teacher probabilities; ``c > 0``: the weight
    of the pull toward ``gamma_orth``; ``c -> 0`` gives vanilla KD (``gamma -> 0``), ``c -> inf``
    the orthogonal step.
    """
    c_arr = _check_c(c)
    p = clip_proba(p_hat, scale)
    r2 = (np.asarray(y, dtype=float) - p) ** 2
    # c / (c + r2) is in (0, 1]: no overflow for any c > 0
    return orthogonal_gamma(p, scale) * (c_arr / (c_arr + r2))


def correction_gamma(
    y: ArrayLike,
    p_hat: ArrayLike,
    *,
    scale: str = "p",
    correction: str | float = "none",
    c: float = 1.0,
) -> NDArray:
    """The step ``gamma`` per sample (``y``, ``p_hat`` broadcast together) for a correction rule:
    ``"none"``: 0 (vanilla KD); ``"orthogonal"``: :func:`orthogonal_gamma`; ``"bound_fast"``:
    :func:`bound_fast_gamma` with ``c``; a float: that constant."""
    _check_scale(scale)
    y_arr, p = np.broadcast_arrays(np.asarray(y, dtype=float), clip_proba(p_hat, scale))
    if isinstance(correction, str):
        if correction == "none":
            return np.zeros_like(p)
        if correction == "orthogonal":
            return orthogonal_gamma(p, scale)
        if correction == "bound_fast":
            return bound_fast_gamma(y_arr, p, c, scale)
    elif isinstance(correction, Real) and not isinstance(correction, bool):
        if np.isfinite(correction):
            return np.full_like(p, float(correction))
    raise ValueError(
        f"correction must be one of {CORRECTIONS} or a finite float, got {correction!r}."
    )


def distillation_target(
    y: ArrayLike, p_hat: ArrayLike, *, scale: str = "p", gamma: ArrayLike | float = 0.0
) -> NDArray:
    """The student's regression target ``g(p_hat) + gamma (y - p_hat)`` (CLAIMS.md 3.1).

    p scale: ``p_hat + gamma (y - p_hat)`` (``gamma = 1`` gives ``y``); log scale:
    ``log p_hat + gamma (y - p_hat)`` with ``p_hat`` clipped at 1/500 in both places, as the
    public code does (orthogonal: ``log p_hat + y / p_hat - 1``). ``gamma``: a float or one step
    per sample, 0 for vanilla KD (see :func:`correction_gamma`).
    """
    p = clip_proba(p_hat, scale)
    return _link(p, scale) + np.asarray(gamma, dtype=float) * (np.asarray(y, dtype=float) - p)


def target_bias(
    p0: ArrayLike,
    p_hat: ArrayLike,
    *,
    scale: str = "p",
    correction: str | float = "none",
    c: float = 1.0,
) -> NDArray:
    """Pointwise bias ``E[target | x] - g(p0)`` with ``Y ~ Bernoulli(p0)`` (claim SEMI-1).

    Exact: ``p0 t(1) + (1 - p0) t(0) - g(p0)``, where ``t(y)`` is the target with the step of
    ``correction`` (which may depend on ``y``, as bound-fast does); ``g(p0)`` is not clipped.
    With ``p_hat = p0 + eps``: vanilla KD has bias ``eps`` (p scale) or ``log(1 + eps / p0)``
    (log scale), first order; the orthogonal target has bias 0 (p scale) or
    ``log(1 + x) - x / (1 + x) = x^2 / 2 + O(x^3)`` with ``x = eps / p0`` (log scale), second order.
    """
    _check_scale(scale)
    p0 = np.asarray(p0, dtype=float)
    gammas = [correction_gamma(y, p_hat, scale=scale, correction=correction, c=c) for y in (0, 1)]
    t0, t1 = (distillation_target(y, p_hat, scale=scale, gamma=gammas[y]) for y in (0, 1))
    return p0 * t1 + (1.0 - p0) * t0 - _link(p0, scale)


# --------------------------------------------------------------------------------- estimators
def _no_score(estimator, X, y) -> float:
    """A scorer that does no work: the out-of-fold probabilities are computed once, in ``fit``."""
    return 0.0


class CrossFitTeacher(ClassifierMixin, MetaEstimatorMixin, BaseEstimator):
    """A K-fold cross-fitted teacher: one clone per fold, out-of-fold training probabilities.

    Fold ``b``'s model is fitted on the other folds; the training point ``i`` in fold ``b(i)``
    gets ``oof_proba_[i] = model_{b(i)}.predict_proba(x_i)``, from a model that did not see it
    (CLAIMS.md 3.1, claim SEMI-3; the public code uses ``KFold(10, shuffle=True)``). The folds come
    from :class:`~sklearn.model_selection.KFold` and the fits from
    :func:`~sklearn.model_selection.cross_validate` (each fold model fitted once, in parallel with
    ``n_jobs``). On new points, :meth:`predict_proba` averages the fold models.

    Parameters
    ----------
    estimator : classifier
        Unfitted scikit-learn classifier with ``predict_proba`` (cloned per fold; its own
        ``random_state`` is kept).
    n_folds : int >= 2, default=10
    shuffle : bool, default=True
        Shuffle before splitting into folds.
    random_state : int, RandomState or None, default=None
        Seeds the shuffle (ignored when ``shuffle=False``).
    n_jobs : int or None, default=None
        Folds fitted in parallel (joblib).

    Attributes
    ----------
    estimators_ : list of classifiers
        Fold models; ``estimators_[b]`` was fitted on all points except ``test_indices_[b]``,
        the held-out indices of fold ``b`` (together a partition of ``range(n)``).
    test_indices_ : list of ndarray
    oof_fold_ : ndarray of shape (n,)
        The fold holding each training point.
    oof_proba_ : ndarray of shape (n, n_classes)
        Out-of-fold probabilities of the training points, columns in the order of ``classes_``
        (a class that a fold model never saw gets probability 0 from it).
    classes_ : ndarray
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "n_folds": [Interval(Integral, 2, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
    }

    def __init__(self, estimator, n_folds=10, shuffle=True, random_state=None, n_jobs=None):
        self.estimator = estimator
        self.n_folds = n_folds
        self.shuffle = shuffle
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.input_tags.allow_nan = inner.input_tags.allow_nan
        return tags

    def _validate(self, X, y="no_validation", reset=True):
        tags = self.__sklearn_tags__().input_tags
        return validate_data(
            self,
            X,
            y,
            reset=reset,
            accept_sparse=("csr", "csc") if tags.sparse else False,
            ensure_all_finite=not tags.allow_nan,
            dtype=None,
        )

    def fit(self, X, y, **fit_params):
        """Fit one clone of ``estimator`` per fold and the out-of-fold probabilities.

        ``fit_params`` (e.g. ``sample_weight``) are passed to each fold's ``fit``, sliced to the
        fold's training points.
        """
        validate_params(self)
        X, y = self._validate(X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        n = _num_samples(X)
        if self.n_folds > n:
            raise ValueError(
                f"n_folds={self.n_folds} must not exceed the number of samples, got n_samples={n}."
            )
        seed = self.random_state if self.shuffle else None
        result = cross_validate(
            self.estimator,
            X,
            y,
            cv=KFold(self.n_folds, shuffle=self.shuffle, random_state=seed),
            scoring=_no_score,  # each fold model predicts its held-out fold once, below
            return_estimator=True,
            return_indices=True,
            error_score="raise",
            n_jobs=self.n_jobs,
            params=fit_params or None,
        )
        self.estimators_ = list(result["estimator"])
        self.test_indices_ = [np.asarray(idx) for idx in result["indices"]["test"]]
        self.oof_proba_ = np.empty((n, self.classes_.size))
        self.oof_fold_ = np.empty(n, dtype=int)
        for b, (model, idx) in enumerate(zip(self.estimators_, self.test_indices_, strict=True)):
            self.oof_proba_[idx] = self._fold_proba(model, _safe_indexing(X, idx))
            self.oof_fold_[idx] = b
        return self

    def _fold_proba(self, model, X) -> NDArray:
        """A fold model's probabilities with columns aligned to ``classes_``."""
        proba = np.asarray(model.predict_proba(X), dtype=float)
        model_classes = getattr(model, "classes_", self.classes_)
        if len(model_classes) == self.classes_.size:
            return proba
        out = np.zeros((proba.shape[0], self.classes_.size))
        out[:, np.searchsorted(self.classes_, model_classes)] = proba
        return out

    def predict_proba(self, X):
        """Average of the fold models' probabilities at ``X``, shape (m, n_classes)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        return np.mean([self._fold_proba(m, X) for m in self.estimators_], axis=0)

    def predict(self, X):
        """The class with the largest averaged probability."""
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


#: ROC AUC of a regressor's predictions against the held-out hard labels, as the public code scores.
_AUC_OF_PREDICTIONS = make_scorer(roc_auc_score, response_method="predict")
#: Tolerance on the row sums of a (n, 2) ``teacher_proba``: normalisation leaves a few ulps of
#: the input's dtype; 1e-6 covers float32 teachers (eps32 = 1.2e-7, two terms plus a division).
_ROW_SUM_TOL = 1e-6


def _check_teacher_proba(teacher_proba, n: int) -> NDArray:
    try:
        p = np.asarray(teacher_proba, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"teacher_proba must be numeric probabilities: {err}") from None
    if p.ndim == 2 and p.shape[1] == 2:
        if not np.all(np.abs(p.sum(axis=1) - 1.0) <= _ROW_SUM_TOL):
            raise ValueError("teacher_proba of shape (n, 2) must have rows summing to 1.")
        p = p[:, 1]
    if p.ndim != 1:
        raise ValueError(
            "teacher_proba must be P(y = 1) of shape (n,) or class probabilities of shape (n, 2) "
            f"(binary only), got shape {np.shape(teacher_proba)}."
        )
    if p.shape[0] != n:
        raise ValueError(f"teacher_proba has {p.shape[0]} entries, but X has {n} samples.")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError("teacher_proba must lie in [0, 1] (and not be NaN).")
    return p


def _binary_labels(y) -> NDArray:
    """Labels as floats in {0, 1}: kept when already in {0, 1}, else the larger of two classes
    is 1 (scikit-learn's ``classes_[1]``, the column of ``predict_proba`` called P(y = 1))."""
    kind = type_of_target(y)
    classes = np.unique(y)
    if kind != "binary":
        raise ValueError(
            "y must hold binary labels (two classes) when teacher_proba is given, got target "
            f"type {kind!r} with {classes.size} distinct values."
        )
    if classes.dtype.kind in "biuf" and np.all(np.isin(classes, (0, 1))):
        return np.asarray(y, dtype=float)
    if classes.size != 2:
        raise ValueError(f"y must hold two classes or labels in {{0, 1}}, got {classes!r}.")
    return (np.asarray(y) == classes[1]).astype(float)


class DistilledRegressor(RegressorMixin, BaseEstimator):
    """A regressor student fitted to (corrected) teacher targets (CLAIMS.md 3.1, SEMI-2, SEMI-4).

    ``fit(X, y, teacher_proba=p_hat)`` fits the student to :func:`distillation_target` with the
    step of ``correction``; :meth:`predict` returns the student's prediction on the probability
    scale (``exp`` of its output on the log scale, which may exceed 1 when the targets do).
    Without ``teacher_proba`` the student is fitted to ``y`` itself (the "scratch" baseline; ``y``
    may be continuous then, and ``scale`` and ``correction`` are not used).

    Parameters
    ----------
    student : regressor, default=None
        Unfitted scikit-learn regressor (cloned). ``None``: ``RandomForestRegressor(
        n_estimators=10, random_state=random_state)``, the student of the public code's
        teacher-depth experiment (a fully grown, bagged forest, averaging the noisy corrected
        targets).
    scale : {"p", "logp"}, default="p"
    correction : {"none", "orthogonal", "bound_fast"} or float, default="none"
        See :func:`correction_gamma`; a float is a constant ``gamma``.
    c : float > 0 or "cv", default=1.0
        Bound-fast constant. ``"cv"``: the value of ``c_grid`` with the best mean ROC AUC of the
        student's predictions against the held-out hard labels over ``cv`` folds (as the public
        code's ``GridSearchCV`` does); the folds are stratified so that each has both classes.
    cv : int >= 2 or CV splitter, default=5
        Folds for ``c="cv"``; an int means ``StratifiedKFold(cv)`` (unshuffled, deterministic).
    c_grid : array-like of float > 0, default=None
        Grid for ``c="cv"``; ``None`` means the public code's ``10 ** arange(-5, 4)``.
    random_state : int, RandomState or None, default=None
        Seeds the default student (a user's ``student`` keeps its own).
    n_jobs : int or None, default=None
        Parallel fits in the search for ``c``.

    Attributes
    ----------
    student_ : regressor
        The student fitted to ``target_`` (shape (n,)), the targets with steps ``gamma_`` (shape
        (n,); ``None`` without ``teacher_proba``) on the scale ``target_scale_`` (``scale``, or
        ``"p"`` for the scratch fit).
    c_ : float or None
        The bound-fast constant used (``None`` for other corrections); with ``c="cv"``,
        ``c_grid_`` and ``c_scores_`` hold the grid and each value's mean cross-validated AUC.
    n_features_in_ : int
    """

    _parameter_constraints: dict = {
        "student": [None, HasMethods(["fit", "predict"])],
        "scale": [StrOptions(set(SCALES))],
        "correction": [StrOptions(set(CORRECTIONS)), Interval(Real, None, None, closed="neither")],
        "c": [Interval(Real, 0, None, closed="neither"), StrOptions({"cv"})],
        "cv": ["cv_object"],
        "c_grid": [None, "array-like"],
        "random_state": ["random_state"],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        student=None,
        *,
        scale="p",
        correction="none",
        c=1.0,
        cv=5,
        c_grid=None,
        random_state=None,
        n_jobs=None,
    ):
        self.student = student
        self.scale = scale
        self.correction = correction
        self.c = c
        self.cv = cv
        self.c_grid = c_grid
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _make_student(self):
        if self.student is None:
            return RandomForestRegressor(n_estimators=10, random_state=self.random_state)
        return clone(self.student)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = get_tags(self._make_student()).input_tags.sparse
        return tags

    def _accept_sparse(self):
        return ("csr", "csc") if self.__sklearn_tags__().input_tags.sparse else False

    def _check_params(self) -> None:
        validate_params(self)  # types, the scale, a number c > 0 or "cv"
        correction_gamma(0.0, 0.5, correction=self.correction)  # a finite number, if a number
        if self.c != "cv":
            _check_c(self.c)  # finite
        if isinstance(self.cv, Integral) and not isinstance(self.cv, bool):
            if self.cv < 2:
                raise ValueError(f"cv must be an integer >= 2 or a CV splitter, got {self.cv!r}.")
        elif not hasattr(self.cv, "split"):
            raise ValueError(f"cv must be an integer >= 2 or a CV splitter, got {self.cv!r}.")
        if self.c_grid is not None:
            grid = np.asarray(self.c_grid, dtype=float)
            if grid.ndim != 1 or grid.size == 0:
                raise ValueError(f"c_grid must be a non-empty 1-d array, got {self.c_grid!r}.")
            _check_c(grid)

    def fit(self, X, y, teacher_proba=None):
        """Fit the student to the teacher targets, or to ``y`` when ``teacher_proba`` is None.

        Parameters
        ----------
        X : array-like of shape (n, d)
        y : array-like of shape (n,)
            Binary labels when ``teacher_proba`` is given (in {0, 1}, or two classes of which the
            larger is 1); any numbers otherwise.
        teacher_proba : array-like of shape (n,) or (n, 2), default=None
            The teacher's ``P(y = 1 | x_i)`` (e.g. :attr:`CrossFitTeacher.oof_proba_`); for
            shape (n, 2), column 1 is used.
        """
        self._check_params()
        student = self._make_student()
        for stale in ("c_grid_", "c_scores_"):
            self.__dict__.pop(stale, None)
        if teacher_proba is None:
            check_numeric_y(y, type(self).__name__)
            X, y = validate_data(self, X, y, y_numeric=True, accept_sparse=self._accept_sparse())
            self.target_scale_, self.target_ = "p", np.asarray(y, dtype=float)
            self.gamma_ = self.c_ = None
            self.student_ = student.fit(X, self.target_)
            return self
        X, y = validate_data(self, X, y, accept_sparse=self._accept_sparse())
        y01 = _binary_labels(y)
        p_hat = _check_teacher_proba(teacher_proba, _num_samples(X))
        self.c_ = None
        if self.correction == "bound_fast":
            self.c_ = self._select_c(X, y01, p_hat) if self.c == "cv" else float(self.c)
        self.gamma_ = correction_gamma(
            y01, p_hat, scale=self.scale, correction=self.correction, c=self.c_ or 1.0
        )
        self.target_ = distillation_target(y01, p_hat, scale=self.scale, gamma=self.gamma_)
        self.target_scale_ = self.scale
        self.student_ = student.fit(X, self.target_)
        return self

    def _select_c(self, X, y01: NDArray, p_hat: NDArray) -> float:
        """The ``c`` of ``c_grid`` with the best cross-validated AUC (ties: the first)."""
        grid = C_GRID if self.c_grid is None else np.asarray(self.c_grid, dtype=float)
        folds = self.cv
        if isinstance(folds, Integral):
            smallest = int(np.min(np.bincount(y01.astype(int), minlength=2)))
            if smallest < folds:
                raise ValueError(
                    f"c='cv' with cv={folds} needs at least {folds} samples of each class, got "
                    f"{smallest}."
                )
            folds = StratifiedKFold(folds)
        for i, (_, test) in enumerate(folds.split(X, y01)):
            present = np.unique(y01[test])
            if len(present) < 2:
                raise ValueError(
                    f"c='cv': test fold {i} of {type(folds).__name__} holds only class "
                    f"{int(present[0]) if len(present) else 'none'}, so its ROC AUC is undefined; "
                    "use folds with both classes in every test fold (e.g. StratifiedKFold)."
                )
        inner = clone(self).set_params(correction="bound_fast", c=float(grid[0]), c_grid=None)
        search = GridSearchCV(
            inner,
            {"c": [float(v) for v in grid]},
            scoring=_AUC_OF_PREDICTIONS,
            cv=folds,
            refit=False,
            n_jobs=self.n_jobs,
            error_score="raise",
        )
        search.fit(X, y01, teacher_proba=p_hat)
        self.c_grid_ = grid
        self.c_scores_ = np.asarray(search.cv_results_["mean_test_score"], dtype=float)
        if not np.all(np.isfinite(self.c_scores_)):
            bad = [
                float(v) for v, sc in zip(grid, self.c_scores_, strict=True) if not np.isfinite(sc)
            ]
            raise ValueError(
                f"c='cv': the cross-validated AUC is undefined for c in {bad}; no value of c_grid "
                "can be chosen."
            )
        best = float(grid[search.best_index_])
        if grid.size > 1 and best in (float(grid.min()), float(grid.max())):
            warnings.warn(
                f"c='cv' chose c={best:g}, the edge of c_grid [{grid.min():g}, {grid.max():g}]: "
                "the best c may lie beyond it; extend c_grid past that edge.",
                UserWarning,
                stacklevel=3,
            )
        return best

    def predict(self, X):
        """The student's prediction on the probability scale (``exp`` of it on the log scale)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=self._accept_sparse())
        out = np.asarray(self.student_.predict(X), dtype=float)
        if self.target_scale_ == "logp":
            with np.errstate(over="ignore"):
                return np.exp(out)
        return out
