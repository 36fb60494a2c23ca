"""Estimators on the structured path (kernel min(x, x')) give the dense path's numbers.

Relative difference at most 1e-8 (see tests/test_minkernel.py for why that bound holds) on
predictions of SM and RaT, over random designs with covariate shift, unsorted and duplicated
points, and random ridges.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.kernel_ridge import KernelRidge

from kdtheory import ResidualAsTeacher, SoftMatching
from kdtheory.kernels import SobolevMin, laplace
from kdtheory.structured import StructuredKernelRidge, has_structure, resolve_solver

RTOL = 1e-8


def _rel(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


@st.composite
def problems(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, m = draw(st.integers(3, 50)), draw(st.integers(3, 50))
    X = rng.uniform(size=(n, 1))
    Xt = rng.uniform(size=(m, 1)) ** draw(st.floats(0.25, 4.0))
    if draw(st.booleans()):
        X[: n // 2] = X[n - n // 2 :][::-1]  # duplicated source points, in no order
        Xt[-1] = X[0]
    y = np.sin(4 * X[:, 0]) + rng.normal(size=n)
    a_T = (n + m) * 10 ** draw(st.floats(-3, 1))
    a_S = (n + m) * 10 ** draw(st.floats(-3, 1))
    return X, y, Xt, a_T, a_S


@settings(max_examples=40, deadline=None)
@given(problems())
def test_structured_estimators_match_dense(problem):
    X, y, Xt, a_T, a_S = problem
    teacher = KernelRidge(alpha=a_T, kernel=SobolevMin())
    student = KernelRidge(alpha=a_S, kernel=SobolevMin())
    probe = np.linspace(-0.1, 1.1, 17)[:, None]
    for cls in (SoftMatching, ResidualAsTeacher):
        dense = cls(teacher, student, solver="dense").fit(X, y, X_target=Xt)
        fast = cls(teacher, student).fit(X, y, X_target=Xt)
        assert (dense.solver_, fast.solver_) == ("dense", "structured")
        assert isinstance(fast.student_, StructuredKernelRidge)
        assert _rel(fast.predict(probe), dense.predict(probe)) <= RTOL
        assert _rel(fast.teacher_.predict(X), dense.teacher_.predict(X)) <= RTOL


@pytest.mark.claim("RAT-3")
def test_picard_on_the_structured_path_reaches_the_fixed_point():
    rng = np.random.default_rng(3)
    X, Xt = rng.uniform(size=(80, 1)), rng.uniform(size=(60, 1)) ** 2
    y = np.cos(3 * X[:, 0]) + 0.2 * rng.normal(size=80)
    pair = (KernelRidge(alpha=20.0, kernel=SobolevMin()), StructuredKernelRidge(alpha=1.0))
    closed = ResidualAsTeacher(*pair).fit(X, y, X_target=Xt)
    picard = ResidualAsTeacher(*pair, method="picard", tol=1e-13).fit(X, y, X_target=Xt)
    assert picard.solver_ == "structured" and picard.converged_
    # the iteration stops when a step changes the predictions by < tol; the distance left to
    # the fixed point is that change times rho / (1 - rho), rho < 0.99 here
    assert _rel(picard.predict(Xt), closed.predict(Xt)) <= 1e-9


def test_structured_kernel_ridge_is_kernel_ridge():
    rng = np.random.default_rng(0)
    X, y = rng.uniform(size=(40, 1)), rng.normal(size=(40, 2))
    fast = StructuredKernelRidge(alpha=0.5).fit(X, y)
    dense = KernelRidge(alpha=0.5, kernel=SobolevMin()).fit(X, y)
    np.testing.assert_allclose(fast.dual_coef_, dense.dual_coef_, rtol=1e-10, atol=1e-12)
    assert clone(fast).get_params() == {"alpha": 0.5, "kernel": None}


def test_solver_choice_and_bad_requests():
    structured = KernelRidge(kernel=SobolevMin())
    other = KernelRidge(kernel=laplace(1.0))
    assert has_structure(structured) and has_structure(StructuredKernelRidge())
    assert not has_structure(other) and not has_structure(KernelRidge(kernel="rbf"))
    assert resolve_solver("auto", [structured, structured], 1) == "structured"
    assert resolve_solver("auto", [structured, other], 1) == "dense"
    assert resolve_solver("auto", [structured, structured], 2) == "dense"
    X, y = np.random.default_rng(0).uniform(size=(20, 2)), np.zeros(20)
    with pytest.raises(ValueError, match="needs KernelRidge teacher and student with kernel"):
        SoftMatching(structured, other, solver="structured").fit(X[:, :1], y)
    with pytest.raises(ValueError, match="2 feature"):
        ResidualAsTeacher(structured, structured, solver="structured").fit(X, y)
    with pytest.raises(ValueError, match="'solver' parameter of SoftMatching must be a str among"):
        SoftMatching(solver="fast").fit(X, y)
    with pytest.raises(ValueError, match="one-dimensional inputs"):
        StructuredKernelRidge().fit(X, y)
    with pytest.raises(ValueError, match="needs kernel=SobolevMin"):
        StructuredKernelRidge(kernel="rbf").fit(X[:, :1], y)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 8), st.integers(1, 3))
def test_interpolation_of_singular_designs_is_kernel_ridges_least_squares(seed, n, copies):
    """alpha = 0 with repeated points and a point at 0: the same predictions (and warning) as
    scikit-learn's KernelRidge, which falls back to a least-squares solve; and estimator pairs
    with a zero ridge take the dense path under solver='auto'."""
    rng = np.random.default_rng(seed)
    X = np.vstack([np.zeros((1, 1)), np.repeat(rng.random((n, 1)), copies, axis=0)])
    y = rng.standard_normal(len(X))
    probe = rng.random((9, 1))
    with pytest.warns(UserWarning, match="Singular matrix"):
        fast = StructuredKernelRidge(alpha=0.0).fit(X, y).predict(probe)
    with pytest.warns(UserWarning, match="Singular matrix"):
        dense = KernelRidge(alpha=0.0, kernel=SobolevMin()).fit(X, y).predict(probe)
    # two least-squares solves of the same singular system agree to eps times the condition
    # number of K restricted to its range (the distinct positive points), times a modest c n
    distinct = np.unique(X[X > 0])[:, None]
    cond = np.linalg.cond(SobolevMin()(distinct, distinct))
    scale = np.abs(dense).max() + np.abs(y).max()
    atol = 10 * len(X) * np.finfo(float).eps * cond * scale
    np.testing.assert_allclose(fast, dense, rtol=0, atol=atol)
    pair = (KernelRidge(alpha=0.0, kernel=SobolevMin()), KernelRidge(kernel=SobolevMin()))
    assert resolve_solver("auto", pair, 1) == "dense"


@settings(max_examples=40, deadline=None)
@given(
    problems(),
    st.sampled_from(["teacher", "krr", "sm", "rat", "oracle"]),
    st.booleans(),
    st.floats(-0.2, 0.2),
    st.floats(0.8, 1.5),
    st.booleans(),
)
def test_structured_exact_risk_equals_the_dense_path(problem, method, no_shift, lo, hi, uniform):
    """kdtheory.exact with solver="structured": bias and exact variance of every method over a
    path of ridges equal the dense smoothers' (RTOL, the module's bound from floating point),
    with and without shift (the same points for teacher and student), evaluation points on
    both sides of the data, quadrature weights given or uniform (the default), and for two
    ``f*`` at once (:meth:`risks`, one factorization per ridge)."""
    from kdtheory.exact import PATH_INPUTS, distillation_paths
    from kdtheory.structured import StructuredPath

    X, y, Xt, a_T, a_S = problem
    if no_shift:
        Xt = X
    X_eval = np.linspace(lo, hi, 37)[:, None]
    weights = None if uniform else np.random.default_rng(0).dirichlet(np.ones(37))
    f = lambda x: np.sin(5 * x[:, 0])  # noqa: E731
    common = dict(
        kernel=SobolevMin(),
        teacher_ridge=a_T,
        student_ridges=[a_S, 3 * a_S],
        source_ridges=[a_S / 2, a_S],
        eval_weights=weights,
        methods=(method,),
    )
    dense = distillation_paths(X, Xt, X_eval, solver="dense", **common)[method]
    fast = distillation_paths(X, Xt, X_eval, solver="structured", **common)[method]
    assert isinstance(fast, StructuredPath)
    targets = (f, lambda x: np.cos(2 * x[:, 0]) - x[:, 0])
    points = X if PATH_INPUTS[method] == "source" else Xt
    F_in = np.column_stack([g(points) for g in targets])
    F_eval = np.column_stack([g(X_eval) for g in targets])
    batch = fast.risks(F_in, F_eval, 0.7)  # both f* from one factorization per ridge
    for j in range(len(targets)):
        want, got = (
            dense.risk(F_in[:, j], F_eval[:, j], 0.7),
            fast.risk(F_in[:, j], F_eval[:, j], 0.7),
        )
        for key in ("bias", "variance", "risk"):
            np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=1e-300, err_msg=key)
            np.testing.assert_allclose(batch[j][key], want[key], rtol=RTOL, atol=1e-300)
        np.testing.assert_array_equal(got["variance_se"], 0.0)
    f_in = F_in[:, 1]
    np.testing.assert_allclose(
        fast.predict(f_in), dense.predict(f_in), rtol=0, atol=RTOL * np.abs(f_in).max()
    )


def test_exact_solver_choice():
    from kdtheory.exact import distillation_paths
    from kdtheory.kernels import laplace
    from kdtheory.structured import DENSE_MAX_POINTS, resolve_path_solver

    assert resolve_path_solver("auto", [SobolevMin()], 1, DENSE_MAX_POINTS) == "dense"
    assert resolve_path_solver("auto", [SobolevMin()], 1, DENSE_MAX_POINTS + 1) == "structured"
    assert resolve_path_solver("auto", [laplace(1.0)], 1, 10**6) == "dense"
    X = np.linspace(0.1, 1, 5)[:, None]
    with pytest.raises(ValueError, match="solver='structured' needs kernel"):
        distillation_paths(
            X, X, X, kernel=laplace(1.0), teacher_ridge=1.0, student_ridges=[1.0],
            solver="structured",
        )  # fmt: skip
    with pytest.raises(ValueError, match="solver must be one of"):
        distillation_paths(
            X, X, X, kernel=SobolevMin(), teacher_ridge=1.0, student_ridges=[1.0], solver="x"
        )


def test_hutchinson_variance_is_unbiased_within_its_standard_error():
    """The estimate lies within 4 standard errors of the exact variance (a normal-theory bound:
    it fails with probability < 1e-4 for an estimator that is unbiased)."""
    from kdtheory.structured import structured_risk

    rng = np.random.default_rng(11)
    X, Xt = rng.uniform(size=(300, 1)), rng.uniform(size=(250, 1)) ** 2
    X_eval = np.linspace(0, 1, 101)[:, None]
    f = lambda x: np.cos(3 * x[:, 0])  # noqa: E731
    kw = dict(teacher_ridge=30.0, student_ridge=0.5)
    exact = structured_risk("rat", X, Xt, X_eval, f(X), f(X_eval), 0.5, **kw)
    probe = structured_risk("rat", X, Xt, X_eval, f(X), f(X_eval), 0.5, n_probes=400, rng=rng, **kw)
    assert probe["bias"] == pytest.approx(exact["bias"], rel=1e-12)
    assert 0 < probe["variance_se"] < 0.2 * exact["variance"]
    assert abs(probe["variance"] - exact["variance"]) <= 4 * probe["variance_se"]
    with pytest.raises(ValueError, match="needs an rng"):
        structured_risk("rat", X, Xt, X_eval, f(X), f(X_eval), 0.5, n_probes=10, **kw)
    with pytest.raises(ValueError, match="method must be one of"):
        structured_risk("oracle", X, Xt, X_eval, f(X), f(X_eval), 0.5, **kw)


def test_rat_separation_structured_rates_agree_with_the_dense_task():
    """The large preset's task on a small n: the same design as the dense task (same seed), the
    same exact bias at the schedule ridge; the variance exact (up to exact_max_n: equal to the
    dense one within RTOL, variance_se 0) or Hutchinson's (beyond: within 4 of its standard
    errors, a normal-theory bound failing with probability < 1e-4)."""
    import dataclasses

    import kdtheory.simulations.rat_separation as rs

    base = dataclasses.replace(rs.PRESETS["large"], ns=(200,), n_designs=1, probes=64, n_eval=400)
    for exact_max_n in (200, 199):
        cfg = dataclasses.replace(base, exact_max_n=exact_max_n)
        for shift in (1.0, cfg.ratio_bound):
            fast = rs._structured_rate_task(np.random.default_rng(5), n=200, shift=shift, cfg=cfg)
            dense = rs._rate_task(np.random.default_rng(5), n=200, shift=shift, cfg=cfg)
            pick = lambda rows, m, f: next(  # noqa: E731
                r for r in rows if r["method"] == m and r["fstar"] == f
            )
            for fstar in rs.TARGETS:
                a, b = pick(fast, "rat_schedule", fstar), pick(dense, "rat_schedule", fstar)
                assert a["student_lam"] == pytest.approx(b["student_lam"], rel=1e-12)
                assert a["bias"] == pytest.approx(b["bias"], rel=RTOL)
                t_fast, t_dense = pick(fast, "teacher", fstar), pick(dense, "teacher", fstar)
                assert t_fast["bias"] == pytest.approx(t_dense["bias"], rel=RTOL)
                for got, want in ((a, b), (t_fast, t_dense)):
                    if exact_max_n >= 200:
                        assert got["variance_se"] == 0.0
                        assert got["variance"] == pytest.approx(want["variance"], rel=RTOL)
                    else:
                        assert got["variance_se"] > 0.0
                        assert abs(got["variance"] - want["variance"]) <= 4 * got["variance_se"]


def test_rat_separation_large_preset_runs_end_to_end_on_a_small_grid(tmp_path):
    import dataclasses

    import kdtheory.simulations.rat_separation as rs

    cfg = dataclasses.replace(rs.PRESETS["large"], ns=(100, 200, 400), n_designs=3, n_eval=300)
    df = rs.run(cfg, progress=False, cache_dir=tmp_path)
    assert set(df.experiment) == {"rate"}
    assert {"teacher", "krr", "sm", "rat", "rat_schedule"} <= set(df.method)
    analysis = rs.analyze(df)
    claims = rs.claims(df, analysis)
    # RAT-1: SM's slope per shift and f*; RAT-2: RaT's slope at the oracle's and the schedule's
    # ridge per shift and f*
    assert {c.id for c in claims} == {"RAT-1", "RAT-2"} and len(claims) == 4 + 8
    fig = rs.plot(df, analysis, claims)
    assert len(fig.axes) >= 4


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf, "a", True])
@pytest.mark.parametrize("which", ["teacher_ridge", "student_ridges", "source_ridges"])
@pytest.mark.parametrize("solver", ["dense", "structured", "auto"])
def test_every_solver_path_refuses_the_same_bad_ridges(bad, which, solver):
    """The structured path (which ``solver="auto"`` picks beyond 500 points) validates the
    ridges as the dense path does, before any solve: NaN, infinite, negative and non-numeric
    ridges are a ValueError naming the argument, never NaN or wrong risks."""
    from kdtheory.exact import distillation_paths

    rng = np.random.default_rng(0)
    n = 600 if solver == "auto" else 40
    X, Xt = rng.uniform(size=(n, 1)), rng.uniform(size=(n, 1))
    ridges = {"teacher_ridge": 0.1, "student_ridges": [0.1, 1.0], "source_ridges": [0.1]}
    ridges[which] = bad if which == "teacher_ridge" else [0.1, bad]
    with pytest.raises(ValueError, match=r"(ridge|ridges|ridge values) must be"):
        distillation_paths(X, Xt, X[:5], kernel=SobolevMin(), solver=solver, **ridges)


@pytest.mark.parametrize("bad", [np.nan, -0.5, np.inf])
def test_structured_risk_and_apply_refuse_bad_ridges(bad):
    from kdtheory.structured import structured_apply, structured_risk

    x = np.linspace(0.1, 1, 20)
    with pytest.raises(ValueError, match="teacher_ridge must be"):
        structured_apply("sm", x, x, bad, 0.1, np.sin(x), x)
    with pytest.raises(ValueError, match="student_ridge must be"):
        structured_risk(
            "rat", x[:, None], x[:, None], x[:, None], np.sin(x), np.sin(x), 0.5,
            teacher_ridge=0.1, student_ridge=bad,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("alpha", "match"),
    [
        ("1", r"'alpha' parameter of StructuredKernelRidge .* Got '1' instead"),
        (-1.0, r"'alpha' parameter .* range \[0.0, inf\)"),
        (np.nan, r"'alpha' parameter .* Got nan"),
        (np.inf, r"'alpha' parameter .* Got inf instead"),
        (np.array([0.1, 0.2]), r"'alpha' parameter"),
    ],
)
def test_structured_ridge_names_a_bad_alpha_and_bad_targets(alpha, match):
    X = np.linspace(0.1, 1, 10)[:, None]
    with pytest.raises(ValueError, match=match):
        StructuredKernelRidge(alpha=alpha).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="y must hold real numbers"):
        StructuredKernelRidge().fit(X, np.array(["a"] * 10))


def test_min_kernel_refuses_a_gram_of_negative_points_and_extends_linearly_below_zero():
    """``min(x, x')`` is positive semi-definite on ``[0, inf)`` only (``k(-1, -1) = -1``): a
    Gram matrix or a fit with a negative point is refused, on the dense and structured paths;
    evaluation below 0 is the linear extension ``f(x) = x sum_i c_i``."""
    X = np.array([[-0.5], [0.2], [0.7]])
    with pytest.raises(ValueError, match=r"kernel on \[0, inf\) only"):
        SobolevMin()(X)
    with pytest.raises(ValueError, match=r"kernel on \[0, inf\) only"):
        KernelRidge(kernel=SobolevMin()).fit(X, np.ones(3))
    with pytest.raises(ValueError, match=r"kernel on \[0, inf\) only"):
        StructuredKernelRidge().fit(X, np.ones(3))
    fit = StructuredKernelRidge(alpha=0.1).fit(np.abs(X), np.ones(3))
    x = np.array([[-2.0], [-1.0]])
    np.testing.assert_allclose(fit.predict(x), x[:, 0] * fit.dual_coef_.sum(), rtol=1e-12)
