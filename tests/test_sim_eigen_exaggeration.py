"""Tests of simulations/eigen_exaggeration (NAG-1..NAG-5): design, clocks, checks that can fail."""

from __future__ import annotations

import dataclasses

import matplotlib.pyplot as plt
import numpy as np
import pytest

from kdtheory.dynamics import SpectralDecomposition, gd_filter, gd_weights, simulate_gd
from simulations import eigen_exaggeration as ee

#: a small configuration: two designs per dynamics, three student times (1.0 is required)
SMALL = dataclasses.replace(ee.PRESETS["quick"], n_designs=2, t_ratios=(0.5, 1.0, 3.0))


@pytest.fixture(scope="module")
def small():
    df = ee.run(SMALL, progress=False)
    return df, ee.analyze(df)


@pytest.mark.parametrize("seed", range(5))
def test_design_spectrum_spans_six_decades_and_gram_is_invertible(seed):
    X, y = ee._design(np.random.default_rng(seed), ee.PRESETS["full"])
    dec = SpectralDecomposition.of(X)
    assert dec.eigenvalues.size == X.shape[0] < X.shape[1]  # X X^T invertible: NAG-4's T = inf
    assert np.log10(dec.eigenvalues[0] / dec.eigenvalues[-1]) >= 6.0
    assert y.shape == (X.shape[0],)


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_clock_keeps_every_direction_resolvable(preset):
    """lam_1 max(t, T) <= 20 (module docstring): no direction converges to float64 precision."""
    cfg = ee.PRESETS[preset]
    assert 1.0 in cfg.t_ratios
    for dynamics in cfg.dynamics:
        eta, T, whole = ee._clock(cfg, dynamics, 3.0)
        times = [whole(r * T) for r in cfg.t_ratios] + [r * T for r in cfg.curve_ratios]
        if eta is None:
            assert 3.0 * max(times) <= 20.0 + 1e-12
        else:
            assert eta * 3.0 == pytest.approx(cfg.gd_step)
            assert all(float(s).is_integer() and s >= 1 for s in [T, *times[: len(cfg.t_ratios)]])
            assert eta * 3.0 * max(times) <= 20.0 + 1e-12
        # the top direction is not yet at F = 1 in float64 at the longest time
        assert gd_filter(3.0, max(times), eta) < 1.0


def test_small_run_claims_hold_and_cover_ids(small):
    df, analysis = small
    claims = ee.claims(df, analysis)
    assert {c.id for c in claims} == set(ee.CLAIM_IDS)
    assert all(c.holds for c in claims), [c for c in claims if not c.holds]
    assert set(df.dynamics) == {"flow", "gd"} and set(df.trial) == {0, 1}


def test_slopes_near_two_and_one(small):
    _, analysis = small
    assert analysis["slopes"]["kd"]["mean"] == pytest.approx(2.0, abs=1e-3)
    assert analysis["slopes"]["label"]["mean"] == pytest.approx(1.0, abs=1e-3)


def test_bottom_top_ratio_ordering(small):
    """Student's bottom/top ratio below the label model's at matched progress (NAG-3 at k = 1)."""
    _, analysis = small
    c = analysis["curve"].pivot_table(index=["dynamics", "t_ratio"], columns="model", values="mean")
    assert (c.student < c.label).all()
    assert (c.student < c.teacher).all()


def test_claims_detect_violations(small):
    """Each claim reads the column it states: corrupting it flips the verdict."""
    df, _ = small
    corrupt = {
        "NAG-2": ("gap2_min", -1e-3, "summary"),
        "NAG-3": ("tau_ratio", 1.5, "summary"),
        "NAG-4": ("T_inf_error", 1e-3, "design"),
        "NAG-1": ("gd_teacher_err", 1e-6, "design"),
        "NAG-5": ("kd_order_violation", 1e-3, "summary"),
    }
    for cid, (column, value, kind) in corrupt.items():
        bad = df.copy()
        bad.loc[(bad.kind == kind) & (bad.trial == 1), column] = value
        verdicts = [c.holds for c in ee.claims(bad) if c.id == cid]
        assert not all(verdicts), cid


def test_nag1_check_rejects_a_wrong_closed_form():
    """The NAG-1 comparison is sharp: one extra step of GD is far outside 1e-8."""
    X, y = ee._design(np.random.default_rng(0), SMALL)
    dec = SpectralDecomposition.of(X)
    eta = SMALL.gd_step / dec.eigenvalues[0]
    good = ee._rel_along(dec, simulate_gd(X, y, 20, eta), gd_weights(X, y, 20, eta))
    off = ee._rel_along(dec, simulate_gd(X, y, 21, eta), gd_weights(X, y, 20, eta))
    assert good.max() < ee.CLOSED_FORM_RTOL < off.min()


def test_same_seed_same_table():
    cfg = dataclasses.replace(SMALL, n_designs=1, dynamics=("gd",))
    a, b = ee.run(cfg, progress=False), ee.run(cfg, progress=False)
    assert a.equals(b)


def test_plot_has_labelled_axes(small):
    df, analysis = small
    fig = ee.plot(df, analysis, ee.claims(df, analysis))
    try:
        assert len(fig.axes) == 6
        assert all(ax.get_xlabel() and ax.get_title() for ax in fig.axes)
    finally:
        plt.close(fig)
