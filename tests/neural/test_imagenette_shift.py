"""The Imagenette shift study (RAT-6) end to end at its smoke preset."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

pytest.importorskip("jax")
pytest.importorskip("orbax.checkpoint")
Image = pytest.importorskip("PIL.Image")

import matplotlib.pyplot as plt  # noqa: E402
from _imagenette_folder import run_smoke, write_imagenette  # noqa: E402

from kdtheory.cli import main  # noqa: E402
from kdtheory.simulations import imagenette_shift as sim  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A 10-class Imagenette-layout folder of 16-px JPEGs whose brightness varies."""
    return write_imagenette(
        tmp_path_factory.mktemp("imagenette"),
        {"train": 40, "val": 24},
        lambda rng, label: rng.uniform(30, 220) + 40 * rng.standard_normal((16, 16, 3)),
    )


@pytest.fixture(scope="module")
def smoke(folder, tmp_path_factory):
    return run_smoke(sim, folder, tmp_path_factory.mktemp("cache"))


def test_smoke_table(smoke):
    cfg, _, df = smoke
    main = df[df.method != sim.REFERENCE]
    assert set(main.method) == set(sim.METHODS)
    assert len(main) == len(cfg.shifts) * cfg.n_seeds * len(sim.METHODS)
    assert list(df[df.method == sim.REFERENCE].seed) == [0]
    assert df.target_acc.between(0, 1).all() and df.source_acc.between(0, 1).all()
    # the shift: no shift has ratio bound 1, the strong shift a larger one
    bounds = main.groupby("shift").ratio_bound.max()
    assert bounds.loc[0.0] == pytest.approx(1.0) and bounds.loc[max(cfg.shifts)] > 1.5
    # the budgets the table states: RaT's controls process as many images as RaT, to the
    # nearest epoch of their own training set (half an epoch per stage)
    rows = main[main["shift"] == max(cfg.shifts)].groupby("method").first()
    n_s, n_t = int(rows.loc["rat", "n_source"]), int(rows.loc["rat", "n_target"])
    batch = min(cfg.batch_size, n_t)
    per_epoch = {"sm_long": -(-n_t // batch) * batch}
    per_epoch["sm_ce"] = -(-(n_s + n_t) // batch) * batch
    for control, slack in per_epoch.items():
        gap = abs(rows.loc[control, "images"] - rows.loc["rat", "images"])
        assert gap <= cfg.rounds * slack / 2 + cfg.rounds * batch, control
    assert rows.loc["sm", "epochs"] == cfg.epochs
    assert rows.loc["teacher", "epochs"] == sim.recipe(cfg).train.epochs
    # RaT records its change per round; eta = 0 trains no refit (fewer images than RaT)
    assert all(
        np.isfinite(rows.loc[m, f"change_{k}"])
        for m in ("rat", "rat_eta0")
        for k in range(1, cfg.rounds + 1)
    )
    assert rows.loc["rat_eta0", "images"] < rows.loc["rat", "images"]
    # one teacher per shift, shared by the seeds: its row repeats
    teacher = main[main.method == "teacher"]
    assert teacher.groupby("shift").target_acc.nunique().eq(1).all()


@pytest.mark.claim("RAT-6")
def test_smoke_analysis_claims_and_figure(smoke):
    cfg, _, df = smoke
    analysis = sim.analyze(df)
    claims = sim.claims(df, analysis)
    assert {c.id for c in claims} == {"RAT-6"} and len(claims) == len(cfg.shifts)
    # numbers and verdicts recomputed from the table, whatever they are: t intervals of the
    # differences paired by seed, the premises, Holm's adjustment over the checks they admit
    main = df[df.method != sim.REFERENCE]
    expected = []
    for c, shift in zip(claims, sorted(cfg.shifts), strict=True):
        assert "RaT - sm_long" in c.statement and len(c.premise) == 2
        g = main[main["shift"] == shift]
        target = g.pivot(index="seed", columns="method", values="target_acc")
        worth = _t_interval(target.teacher - target.source)
        t = g[g.method == "teacher"].iloc[0]
        p, q = t.source_acc, t.target_acc
        se = np.sqrt(p * (1 - p) / t.n_source_test + q * (1 - q) / t.n_target_test)
        half = stats.norm.ppf(0.975) * se
        hurts = (p - q, p - q - half, p - q + half)
        for p, want, above in zip(c.premise, (worth, hurts), (0.0, sim.SHIFT_HURTS), strict=True):
            assert (p.value, *p.ci) == pytest.approx(want[:3], rel=1e-9, abs=1e-12)
            assert p.met == (want[1] > above)
        expected.append(
            (*_t_interval(target.rat - target.sm_long), worth[1] > 0 and hurts[1] > sim.SHIFT_HURTS)
        )
    family = [k for k, e in enumerate(expected) if e[4]]
    rejected = dict.fromkeys(range(len(expected)), False)
    if family:
        reject = multipletests([expected[k][3] for k in family], alpha=0.025, method="holm")[0]
        rejected |= dict(zip(family, reject, strict=True))
    for k, (c, (mean, lo, hi, _, met)) in enumerate(zip(claims, expected, strict=True)):
        assert (c.value, *c.ci) == pytest.approx((mean, lo, hi), rel=1e-9, abs=1e-12)
        assert c.premise_met == met
        want = "holds" if lo > 0 else ("fails" if hi < 0 and rejected[k] else "inconclusive")
        assert c.verdict == (want if met else "inconclusive")
    table = sim.result_table(analysis)
    assert set(table.method) == set(sim.METHODS)
    fig = sim.plot(df, analysis, claims)
    try:
        assert len(fig.axes) >= 4 and all(ax.get_xlabel() for ax in fig.axes[:4])
    finally:
        plt.close(fig)


def _t_interval(x) -> tuple[float, float, float, float]:
    """Mean, 95% t interval and the one-sided p-value of "mean <= 0" ("fails" for CI above 0)."""
    x = np.asarray(x, dtype=float)
    se = x.std(ddof=1) / np.sqrt(x.size)
    half = stats.t.ppf(0.975, x.size - 1) * se
    return x.mean(), x.mean() - half, x.mean() + half, stats.t.cdf(x.mean() / se, x.size - 1)


def _table(rat_minus_long, teacher_minus_source=0.05, shift_hurt=0.1, rat_minus_sm=0.2, n=4000):
    """A hand-built study table, 3 seeds, shifts 0 and 1.5: every method at 0.5 on both test
    sets plus the given paired differences (each with a seed jitter of mean 0); one teacher per
    shift (the same row for every seed), whose target accuracy the shift lowers by
    ``shift_hurt`` at c = 1.5 only, on test sets of ``n`` images."""
    jitter = np.array([0.01, -0.01, 0.0])
    rows = []
    for shift in (0.0, 1.5):
        for seed in range(3):
            j = jitter[seed]
            target = {
                "source": 0.5 - j,
                "sm": 0.5,
                "sm_long": 0.5,
                "sm_ce": 0.5,
                "rat_eta0": 0.5,
                "oracle": 0.6,
            }
            target["teacher"] = 0.5 + teacher_minus_source
            target["rat"] = 0.5 + rat_minus_long + j
            target["sm"] = target["rat"] - rat_minus_sm
            for method, acc in target.items():
                source = acc + (shift_hurt if shift > 0 and method == "teacher" else 0.0)
                rows.append(
                    dict(
                        shift=shift,
                        seed=seed,
                        method=method,
                        target_acc=acc,
                        source_acc=source,
                        epochs=14 if method in ("rat", "sm_long") else 6,
                        images=1000,
                        n_source=100,
                        n_target=100,
                        n_source_test=n,
                        n_target_test=n,
                        ratio_bound=1.0 + shift,
                    )
                )
    return pd.DataFrame(rows)


@pytest.mark.claim("RAT-6")
def test_claims_on_tables_with_known_verdicts():
    """RaT - sm_long decides, per shift: +0.05 (holds at c = 1.5; at c = 0 the shift does not
    hurt the teacher, so that check is inconclusive and outside Holm's family); -0.05 (fails,
    although RaT beats SM at SM's budget by 0.2); a teacher worse than the source-label student
    (premise not met: inconclusive, whatever RaT does); a shift that costs the teacher only
    0.02 (< 0.03: inconclusive)."""
    c0, c15 = sim.claims(_table(0.05))
    assert c0.verdict == "inconclusive" and c0.outcome is True and not c0.premise_met
    worth, hurts = c0.premise
    assert worth.met and worth.value == pytest.approx(0.05)
    assert not hurts.met and hurts.value == pytest.approx(0.0, abs=1e-12)
    assert c15.verdict == "holds" and c15.family == 1 and c15.value == pytest.approx(0.05)
    assert c15.premise[1].met and c15.premise[1].value == pytest.approx(0.1)
    assert "RaT - sm " in c15.detail and "2 df over 3 seeds" in c15.detail
    assert "RaT - sm_ce" in c15.detail and "RaT - rat_eta0" in c15.detail
    _, c15 = sim.claims(_table(-0.05))
    assert c15.verdict == "fails" and c15.value == pytest.approx(-0.05)
    _, c15 = sim.claims(_table(0.05, teacher_minus_source=-0.1))
    assert c15.verdict == "inconclusive" and c15.outcome is True
    assert not c15.premise[0].met and c15.premise[0].value == pytest.approx(-0.1)
    _, c15 = sim.claims(_table(0.05, shift_hurt=0.02))
    assert c15.verdict == "inconclusive" and not c15.premise[1].met
    # a gap of 0.05 measured on 100 test images each: its CI reaches below 0.03
    _, c15 = sim.claims(_table(0.05, shift_hurt=0.05, n=100))
    assert c15.verdict == "inconclusive" and not c15.premise[1].met


def test_differences_are_paired_by_seed():
    """RaT - SM per seed is 0.10, 0.11, 0.12 while the seeds' levels differ by 0.5: the pairs,
    formed by seed whatever the rows' order, cancel the spread (a narrow interval around 0.11)."""
    level = {0: 0.40, 1: 0.70, 2: 0.20}
    rat_minus_sm = {0: 0.10, 1: 0.11, 2: 0.12}
    rows = [
        dict(
            shift=0.0,
            seed=seed,
            method=method,
            target_acc=level[seed] + up,
            source_acc=level[seed],
            epochs=1,
            images=1,
            ratio_bound=1.0,
            n_source_test=10,
            n_target_test=10,
        )
        for seed in (2, 0, 1)
        for method, up in (
            ("sm", 0.0),
            ("rat", rat_minus_sm[seed]),
            ("sm_long", 0.0),
            ("teacher", 0.0),
            ("source", 0.0),
            ("oracle", 0.0),
        )
    ]
    df = pd.DataFrame(rows).sample(frac=1.0, random_state=0)
    est = sim.analyze(df)["paired"]["rat - sm", 0.0]
    assert est.value == pytest.approx(0.11) and est.df == 2
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)
    assert est.ci() == pytest.approx((0.11 - half, 0.11 + half))


def test_resumes_from_the_cache(smoke):
    cfg, cache, df = smoke
    again = sim.run(cfg, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(again, df)


def test_a_shift_too_strong_names_the_split(folder):
    cfg = dataclasses.replace(sim.PRESETS["smoke"], data_root=str(folder), min_per_class=15)
    with pytest.raises(ValueError, match="split 'source'.*class"):
        sim._splits(cfg, 1.5)


def test_missing_data_says_what_to_provide(tmp_path):
    cfg = dataclasses.replace(sim.PRESETS["smoke"], data_root=str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="imagenette"):
        sim.run(cfg, progress=False)


SHARED = os.environ.get("KDTHEORY_DATA")


@pytest.mark.skipif(
    not (SHARED and (Path(SHARED) / "imagenette2-64" / "train").is_dir()),
    reason="the shared 64-px Imagenette copy is not installed here",
)
def test_smoke_preset_on_real_imagenette_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "figs"
    args = [
        "run",
        "imagenette_shift",
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-progress",
    ]
    assert main(args) == 0
    record = json.loads((out / "imagenette_shift-smoke.json").read_text())
    assert record["claim_ids"] == ["RAT-6"] and len(record["claims"]) == 2
    assert all(c["asserted"] is False for c in record["claims"])  # reported, never asserted
    table = pd.read_csv(out / "imagenette_shift-smoke.csv")
    assert set(table.method) == {*sim.METHODS, sim.REFERENCE}
    assert "| RAT-6 |" in capsys.readouterr().out
