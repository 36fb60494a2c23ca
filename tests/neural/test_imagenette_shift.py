"""The Imagenette shift study (RAT-6) end to end at its smoke preset."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("jax")
pytest.importorskip("orbax.checkpoint")
Image = pytest.importorskip("PIL.Image")

import matplotlib.pyplot as plt  # noqa: E402
from _imagenette_folder import run_smoke, write_imagenette  # noqa: E402

from kdtheory.cli import main  # noqa: E402
from simulations import imagenette_shift as sim  # noqa: E402


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
    # the budgets the table states: RaT and its control process the same number of epochs
    budget = main.groupby("method")[["epochs", "images"]].max()
    extra = cfg.rounds * (cfg.refit_epochs + cfg.student_epochs)
    assert budget.loc["rat", "epochs"] == budget.loc["sm_long", "epochs"] == cfg.epochs + extra
    assert budget.loc["sm", "epochs"] == cfg.epochs
    assert budget.loc["teacher", "epochs"] == cfg.teacher_epochs


def test_smoke_analysis_claims_and_figure(smoke):
    _, _, df = smoke
    analysis = sim.analyze(df)
    claims = sim.claims(df, analysis)
    assert {c.id for c in claims} == {"RAT-6"} and len(claims) == 2
    for c in claims:  # the verdict follows from the interval, whatever it is
        assert c.holds == (c.ci[0] > 0)
        assert c.ci[0] <= c.value <= c.ci[1]
    table = sim.result_table(analysis)
    assert set(table.method) == set(sim.METHODS)
    fig = sim.plot(df, analysis, claims)
    try:
        assert len(fig.axes) == 3 and all(ax.get_xlabel() for ax in fig.axes)
    finally:
        plt.close(fig)


def test_paired_difference_is_paired_by_seed():
    df = pd.DataFrame(
        {
            "shift": [0.0] * 6,
            "seed": [0, 0, 1, 1, 2, 2],
            "method": ["rat", "sm"] * 3,
            "target_acc": [0.50, 0.40, 0.81, 0.70, 0.32, 0.20],
        }
    )
    d = sim.paired_difference(df, "rat", "sm").iloc[0]
    assert d["mean"] == pytest.approx(0.11) and d["count"] == 3
    # the seed-to-seed spread cancels in the pairs: a narrow interval around 0.11
    assert 0.08 < d.lo < 0.11 < d.hi < 0.14


def test_resumes_from_the_cache(smoke):
    cfg, cache, df = smoke
    again = sim.run(cfg, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(again, df)


def test_a_shift_too_strong_names_the_split(folder):
    cfg = dataclasses.replace(sim.PRESETS["smoke"], data_root=str(folder), min_per_class=15)
    with pytest.raises(ValueError, match="split 'source'.*class"):
        sim._splits(cfg, 1.5, 0)


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
