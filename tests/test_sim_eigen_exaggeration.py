"""Tests of simulations/eigen_exaggeration (NAG-1..NAG-5): design, clocks, checks that can fail."""

from __future__ import annotations

import dataclasses
import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kdtheory.claims import combined_verdict
from kdtheory.dynamics import SpectralDecomposition, gd_filter, gd_weights, simulate_gd
from kdtheory.io import table_csv_text
from kdtheory.simulations import eigen_exaggeration as ee

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


def _saved(df: pd.DataFrame) -> pd.DataFrame:
    """The table as the CLI analyses it: its CSV text at ``PRECISION``, read back."""
    return pd.read_csv(io.StringIO(table_csv_text(df, ee.PRECISION)))


def _verdicts(claims) -> dict[str, str]:
    ids = dict.fromkeys(c.id for c in claims)
    return {cid: combined_verdict([c for c in claims if c.id == cid]) for cid in ids}


@pytest.mark.claim("NAG-1", "NAG-2", "NAG-3", "NAG-4", "NAG-5")
def test_small_run_claims_hold_and_cover_ids(small):
    df, analysis = small
    claims = ee.claims(df, analysis)
    assert {c.id for c in claims} == set(ee.CLAIM_IDS)
    assert all(c.holds for c in claims), [c for c in claims if not c.holds]
    assert all(c.premise_met for c in claims)
    assert set(df.dynamics) == {"flow", "gd"} and set(df.trial) == {0, 1}


def test_saved_table_decides_every_check_as_the_computed_one(small):
    """The CLI analyses the table at PRECISION: same verdicts, bounds and premises."""
    df, analysis = small
    raw, saved = ee.claims(df, analysis), ee.claims(_saved(df))
    assert [(c.statement, c.verdict, c.relation) for c in raw] == [
        (c.statement, c.verdict, c.relation) for c in saved
    ]
    assert [[p.met for p in c.premise] for c in raw] == [[p.met for p in c.premise] for c in saved]
    # the NAG-5 slopes keep the digits their bands need (margins of 5e-8 at a slope of 1)
    s, r = df[df.kind == "summary"], _saved(df).query("kind == 'summary'")
    for f in ("kd", "label"):
        np.testing.assert_allclose(r[f"{f}_slope"], s[f"{f}_slope"], rtol=1e-9, atol=0)


def test_rounding_level_errors_are_recorded_as_bounds(small):
    """Errors that differ between BLAS builds in every digit are saved as their bound."""
    df, _ = small
    text = table_csv_text(df, ee.PRECISION)
    saved = _saved(df)
    assert "gd_student_err" not in saved.columns and "gd_student_err" in df.columns
    for column in ("gd_teacher_err", "T_inf_error", "t_inf_error"):
        assert (saved[column].dropna() == ee.ROUNDING_BOUND).all(), column
    assert (saved.gd_student_excess.dropna() == ee.STUDENT_EXCESS_BOUND).all()
    assert text == table_csv_text(saved, ee.PRECISION)  # rounding twice changes nothing
    claims = {c.statement: c for c in ee.claims(saved)}
    bounds = [c for c in claims.values() if c.relation == "<"]
    assert len(bounds) == 4  # NAG-1 teacher and student, NAG-4's two degenerate cases
    assert {c.value for c in bounds} == {ee.ROUNDING_BOUND, ee.STUDENT_EXCESS_BOUND}


def test_an_error_above_its_bound_is_recorded_with_its_value(small):
    """Above the bound the value itself is recorded; the check still compares with 1e-8."""
    df, _ = small
    bad = df.copy()
    design = (bad.kind == "design") & (bad.trial == 1)
    bad.loc[design, "gd_teacher_err"] = 3e-9
    check = next(c for c in ee.claims(bad) if c.statement.startswith("GD on the labels"))
    assert (check.relation, check.value, check.verdict) == ("=", 3e-9, "holds")
    bad.loc[design, "gd_teacher_err"] = 3e-8
    check = next(c for c in ee.claims(bad) if c.statement.startswith("GD on the labels"))
    assert (check.relation, check.value, check.verdict) == ("=", 3e-8, "fails")


def test_premises_not_met_make_their_checks_inconclusive(small):
    """Equal eigenvalues (NAG-2/3), a rank-deficient X (NAG-4), b not small (NAG-5)."""
    df, _ = small
    bad = df.copy()
    design, summary = bad.kind == "design", bad.kind == "summary"
    bad.loc[design & (bad.trial == 1), "eig_gap_min"] = 0.0
    bad.loc[design & (bad.trial == 0), "rank"] = SMALL.n - 1  # X X^T singular
    bad.loc[summary & (bad.trial == 0), "kd_fit_bound"] = 0.05
    claims = ee.claims(bad)
    unmet = {c.statement for c in claims if not c.premise_met}
    for c in claims:
        texts = {p.statement.split(":")[0] for p in c.premise}
        expected = bool(texts & {"distinct eigenvalues", "X X^T invertible"})
        expected |= any(t.startswith("the bottom of the spectrum") for t in texts)
        assert (c.statement in unmet) == expected, c.statement
        assert c.verdict == ("inconclusive" if expected else "holds"), c.statement
    # NAG-2 and NAG-5: every check has an unmet premise, so the claim is inconclusive; NAG-3
    # and NAG-4: the checks with an unmet premise count for neither verdict and the others
    # (tau < min(t, T); the generations and t = inf) hold; NAG-1 untouched
    verdicts = _verdicts(claims)
    assert verdicts["NAG-1"] == verdicts["NAG-3"] == verdicts["NAG-4"] == "holds"
    assert verdicts["NAG-2"] == verdicts["NAG-5"] == "inconclusive"


@pytest.mark.claim("NAG-4")
def test_a_rank_deficient_design_does_not_meet_the_invertibility_premise(monkeypatch):
    """Two equal rows: X X^T is singular, SpectralDecomposition keeps n - 1 eigenvalues, whose
    ratio lam_r / lam_1 is as large as an invertible design's: only the rank detects it."""
    design = ee._design

    def twin_rows(rng, cfg):
        X, y = design(rng, cfg)
        X[1] = X[0]
        return X, y

    monkeypatch.setattr(ee, "_design", twin_rows)
    cfg = dataclasses.replace(SMALL, t_ratios=(1.0,))
    df = ee.run(cfg, progress=False)
    d = df[df.kind == "design"]
    assert (d["rank"] == cfg.n - 1).all() and (d.n == cfg.n).all()
    analysis = ee.analyze(df)
    assert 10.0 ** -analysis["max_span"] > 1e-12  # the nonzero spectrum is well conditioned
    claims = ee.claims(df, analysis)
    premises = [p for c in claims for p in c.premise if p.statement.startswith("X X^T")]
    assert premises and all(not p.met and p.value == cfg.n - 1 for p in premises)
    interpolating = next(c for c in claims if c.statement.startswith("interpolating teacher"))
    assert interpolating.verdict == "inconclusive" and not interpolating.premise_met


@pytest.mark.claim("NAG-5")
def test_slopes_near_two_and_one(small):
    df, analysis = small
    assert analysis["slopes"]["kd"]["mean"] == pytest.approx(2.0, abs=1e-3)
    assert analysis["slopes"]["label"]["mean"] == pytest.approx(1.0, abs=1e-3)
    # the 95% t interval over designs (flow, t/T = 1), recomputed from the table
    at_one = df[(df.kind == "summary") & (df.dynamics == "flow") & (df.t_ratio == 1.0)]
    for f in ("kd", "label"):
        x = at_one[f"{f}_slope"].to_numpy()
        half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
        got = analysis["slopes"][f]
        assert got["mean"] == pytest.approx(x.mean(), rel=1e-12)
        # half-widths compared directly: they are ~1e-6, far below the slopes' own size
        assert half > 0
        assert got["hi"] - got["mean"] == pytest.approx(half, rel=1e-6)
        assert got["mean"] - got["lo"] == pytest.approx(half, rel=1e-6)
    with pytest.raises(ValueError):  # one design: no interval (not a zero-width one)
        ee.analyze(df[df.trial == 0])


@pytest.mark.claim("NAG-2", "NAG-3")
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
        "NAG-3": ("tau_margin", -0.5, "summary"),
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
