"""The circulant path (kdtheory.circulant, FFT) gives the dense path's exact risks.

On random equispaced grids (any offset, 8 to 64 points), periodic Sobolev kernels of order 1 or
2 for teacher and student (equal or not), random ridges, random ``f*`` (white noise or a
trigonometric polynomial), noise levels and constant quadrature weights, every method's bias,
variance and risk on ``solver="circulant"`` equal ``solver="dense"``'s within a bound derived
from floating point (:func:`_tolerance`); ``solver="auto"`` takes the circulant path exactly
when the design allows it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdtheory.circulant import (
    CirculantPath,
    allows_circulant,
    circulant_paths,
    is_equispaced_grid,
)
from kdtheory.exact import distillation_paths
from kdtheory.kernels import PeriodicSobolev, SobolevMin
from kdtheory.linalg import SpectralPath

EPS = np.finfo(float).eps
METHODS = ("teacher", "krr", "sm", "rat", "oracle")


def _grid(n: int, offset: float = 0.0) -> np.ndarray:
    return np.mod(offset + np.arange(n) / n, 1.0)[:, None]


def _tolerance(n, K_T, K_S, ridges, equal) -> float:
    """``delta``: a bound on ``||A_dense - A_fft||_2`` for every smoother of the path.

    Both paths are exact for Gram matrices within backward errors ``||E||_2 <= c n eps ||K||_2``
    of the true ones (LAPACK's ``syevd`` and the products that form the dense smoothers, c = 10;
    the real FFT of the first row errs by ``O(log n eps ||c||_1)`` with ``||c||_1 = ||K||_2``, the
    row being positive, so the same bound covers it). Each smoother is ``h(K)`` for a filter
    whose change is at most ``||E|| (1/a_T + 1/a_S) <= 2 ||E|| / a_min``: ridge filters
    ``I - a (K + a I)^{-1}`` move by ``||E|| / a`` (resolvent identity), SM is the product of
    two of them, RaT's ``c / (c + a_S)`` of ``c = d^2 / (d + a_T)`` with ``0 <= dc/dd <= 1``.
    With different kernels the dense RaT path first forms ``C = G K_S``, whose error carries the
    teacher's ``||E|| / a_T`` times ``||K_S||``: a factor ``1 + ||K|| / a_min`` more. Two
    computations compared: x 2.
    """
    K = max(np.linalg.norm(K_T, 2), np.linalg.norm(K_S, 2))
    a_min = float(min(ridges))
    delta = 2 * 2 * 10.0 * n * EPS * K / a_min
    return delta if equal else delta * (1.0 + K / a_min)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(8, 64),
    offset=st.floats(0.0, 1.0, exclude_max=True),
    orders=st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2])),
    seed=st.integers(0, 2**32 - 1),
    trig=st.booleans(),
    log_lam_T=st.floats(-3, 1),
    log_lam_S=st.lists(st.floats(-3, 1), min_size=1, max_size=4),
    log_lam_src=st.lists(st.floats(-3, 1), min_size=1, max_size=3),
    noise_sd=st.floats(0.0, 2.0),
    weight=st.one_of(st.none(), st.floats(1e-3, 1.0)),
)
def test_circulant_path_equals_the_dense_path(
    n, offset, orders, seed, trig, log_lam_T, log_lam_S, log_lam_src, noise_sd, weight
):
    X = _grid(n, offset)
    rng = np.random.default_rng(seed)
    if trig:  # trigonometric polynomials (smooth f*), different at the inputs and the risk
        ks = np.arange(int(rng.integers(1, n // 2)) + 1)
        arg = 2 * np.pi * np.outer(X[:, 0], ks)
        f_in, f_eval = (np.cos(arg) @ rng.normal(size=ks.size) for _ in range(2))
    else:
        f_in, f_eval = rng.normal(size=n), rng.normal(size=n)
    kernel, tkernel = PeriodicSobolev(orders[0]), PeriodicSobolev(orders[1])
    a_T = n * 10.0**log_lam_T
    a_S, a_src = n * 10.0 ** np.asarray(log_lam_S), n * 10.0 ** np.asarray(log_lam_src)
    weights = None if weight is None else np.full(n, weight)
    common = dict(
        kernel=kernel,
        teacher_kernel=tkernel,
        teacher_ridge=a_T,
        student_ridges=a_S,
        source_ridges=a_src,
        eval_weights=weights,
    )
    dense = distillation_paths(X, X, X, solver="dense", **common)
    fast = distillation_paths(X, X, X, solver="circulant", **common)
    assert list(fast) == list(dense)  # the same methods, in the same order
    equal = orders[0] == orders[1]
    delta = _tolerance(n, tkernel(X, X), kernel(X, X), [a_T, *a_S, *a_src], equal)
    # Risk from smoothers within delta (||A||_2 <= 1 for every filter in [0, 1]): the bias
    # w ||A f - f_e||^2 moves by <= w n delta (4 mean f^2 + mean f_e^2), the variance
    # w sigma^2 ||A||_F^2 by <= w n sigma^2 (2 delta + delta^2) <= 3 w n sigma^2 delta.
    wn = 1.0 if weight is None else weight * n
    atol = 4 * delta * wn * (np.mean(f_in**2) + np.mean(f_eval**2) + noise_sd**2)
    # the bound is not vacuous: far below the risks' scale (1e-5 with different kernels)
    assert atol <= (1e-8 if equal else 1e-5) * wn * (np.mean(f_in**2) + np.mean(f_eval**2) + 1)
    for method in METHODS:
        assert isinstance(fast[method], CirculantPath)
        want, got = (
            dense[method].risk(f_in, f_eval, noise_sd),
            fast[method].risk(f_in, f_eval, noise_sd),
        )
        L = {"teacher": 1, "sm": len(a_S), "rat": len(a_S)}.get(method, len(a_src))
        for key in ("bias", "variance", "risk"):
            assert got[key].shape == (L,)
            np.testing.assert_allclose(got[key], want[key], rtol=0, atol=atol, err_msg=key)
        # predictions: ||(A_dense - A_fft) f||_inf <= delta ||f||_2
        np.testing.assert_allclose(
            fast[method].predict(f_in),
            dense[method].predict(f_in),
            rtol=0,
            atol=delta * np.linalg.norm(f_in),
        )


def test_auto_takes_the_circulant_path_exactly_when_the_design_allows():
    n = 32
    X = _grid(n)
    f = np.sin(2 * np.pi * X[:, 0])
    kw = dict(kernel=PeriodicSobolev(1), teacher_ridge=0.1 * n, student_ridges=[0.01, 1.0])
    assert all(isinstance(p, CirculantPath) for p in distillation_paths(X, X, X, **kw).values())
    assert all(
        isinstance(p, SpectralPath)
        for p in distillation_paths(X, X, X, solver="dense", **kw).values()
    )
    shuffled = X[np.random.default_rng(0).permutation(n)]
    other = np.linspace(0.0, 1.0, n)[:, None]  # endpoints 0 and 1: not a grid of the circle
    for args, extra in (
        ((shuffled, shuffled, shuffled), {}),
        ((other, other, other), {}),
        ((X, X, X[:-1]), {}),
        ((X, X[::-1], X), {}),
        ((X, X, X), {"eval_weights": np.linspace(1, 2, n)}),
        ((X, X, X), {"kernel": SobolevMin()}),
        ((X, X, X), {"teacher_kernel": SobolevMin()}),
    ):
        paths = distillation_paths(*args, **{**kw, **extra})
        assert not any(isinstance(p, CirculantPath) for p in paths.values())
        with pytest.raises(ValueError, match="solver='circulant' needs"):
            distillation_paths(*args, solver="circulant", **{**kw, **extra})
    with pytest.raises(ValueError, match="solver must be one of"):
        distillation_paths(X, X, X, solver="fft", **kw)
    with pytest.raises(ValueError, match="unknown methods"):
        circulant_paths(X, kernel=PeriodicSobolev(1), teacher_ridge=1.0, student_ridges=[1.0],
                        methods=("nope",))  # fmt: skip
    risk = distillation_paths(X, X, X, **kw)["sm"].risk(f, f, 0.5)
    assert all(v.shape == (2,) and np.all(np.isfinite(v)) for v in risk.values())


def test_grid_detection():
    n = 48
    assert is_equispaced_grid(_grid(n))
    assert is_equispaced_grid(np.linspace(0, 1, n, endpoint=False)[:, None])  # an ulp apart
    assert is_equispaced_grid(_grid(n, 0.7))  # wraps around 1
    assert is_equispaced_grid(_grid(n) + 3.25)  # any offset: only (x - x') mod 1 matters
    assert is_equispaced_grid(np.zeros((1, 1)))
    X = _grid(n)
    X[5] += 1e-9
    assert not is_equispaced_grid(X)
    assert not is_equispaced_grid(_grid(n)[::-1])  # the order matters (f* is given in it)
    assert not is_equispaced_grid(np.zeros((0, 1)))
    assert not is_equispaced_grid(np.c_[_grid(n), _grid(n)])
    assert allows_circulant([PeriodicSobolev(2)], _grid(n), _grid(n), _grid(n), np.full(n, 0.5))
    assert not allows_circulant([PeriodicSobolev(1)], _grid(n), _grid(n), _grid(n), np.ones(3))


@pytest.mark.parametrize("bad", [np.nan, -1.0, np.inf, "a", True])
@pytest.mark.parametrize("which", ["teacher_ridge", "student_ridges", "source_ridges"])
def test_the_circulant_path_refuses_the_dense_paths_bad_ridges(bad, which):
    X = _grid(16)
    ridges = {"teacher_ridge": 0.1, "student_ridges": [0.1, 1.0], "source_ridges": [0.1]}
    ridges[which] = bad if which == "teacher_ridge" else [0.1, bad]
    for solver in ("auto", "circulant"):
        with pytest.raises(ValueError, match=r"(ridge|ridges|ridge values) must be"):
            distillation_paths(X, X, X, kernel=PeriodicSobolev(1), solver=solver, **ridges)


def test_rat_separation_circulant_task_matches_the_dense_path():
    """The experiment's rows (oracle student ridge, its risk, bias and variance) from the FFT
    equal those from the dense eigendecomposition, the same ridge chosen. Tolerance 1e-10
    (relative): measured differences are at most 1.1e-12 at every n of the full preset (128 to
    4096); the worst-case bound of :func:`_tolerance` is loose here (its smallest student ridge,
    n 1e-10, is far below the smallest eigenvalue, where the filters barely move)."""
    from kdtheory.simulations import rat_separation as rs
    from kdtheory.simulations._targets import PeriodicTarget

    cfg = rs.PRESETS["quick"]
    n = 256
    rows = {r["method"]: r for r in rs._circulant_task(None, n=n, cfg=cfg)}
    X = _grid(n)
    fx = PeriodicTarget()(X)
    lams = np.asarray(cfg.student_lams)
    dense = distillation_paths(
        X, X, X, kernel=PeriodicSobolev(1), teacher_ridge=n * cfg.teacher_lam,
        student_ridges=n * lams, methods=("sm", "rat"), solver="dense",
    )  # fmt: skip
    for m, path in dense.items():
        want = rs._best(path.risk(fx, fx, cfg.noise_sd), lams)
        assert rows[m]["student_lam"] == want["student_lam"]
        for key in ("risk", "bias", "variance"):
            assert rows[m][key] == pytest.approx(want[key], rel=1e-10)
