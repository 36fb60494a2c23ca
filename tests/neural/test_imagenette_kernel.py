"""Tests of kdtheory.simulations.imagenette_kernel (RAT-1, RAT-2, RAT-4 on image features):
the decision rules on hand-built tables, the scores of one path, and a run on generated images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("PIL")

from _imagenette_folder import write_imagenette  # noqa: E402

from kdtheory.claims import combined_verdict  # noqa: E402
from kdtheory.simulations import imagenette_kernel as ik  # noqa: E402

NS = (100, 200, 400, 800)


def _table(sm_slope: float = 0.0, rat_slope: float = -0.2, teacher_gap: float = 0.2):
    """Risks ``a n^slope`` with a small multiplicative noise per draw, every series and rule."""
    rng = np.random.default_rng(0)
    curves = {  # (method, rule): (level at n = 100, slope)
        ("teacher", "fixed"): (0.6 + teacher_gap, 0.0),
        ("krr", "cv"): (0.6, -0.2),
        ("oracle", "cv"): (0.6, -0.2),
        ("sm", "cv"): (0.6 + teacher_gap, sm_slope),
        ("sm", "schedule"): (0.61 + teacher_gap, sm_slope),
        ("rat", "cv"): (0.6, rat_slope),
        ("rat", "schedule"): (0.62, rat_slope),
    }
    rows = []
    for shift in (0.0, 3.0):
        for n in NS:
            for trial in range(5):
                for (method, rule), (level, slope) in curves.items():
                    risk = level * (n / 100) ** slope * np.exp(0.01 * rng.standard_normal())
                    rows.append(
                        {
                            "experiment": "rate",
                            "shift": shift,
                            "n": n,
                            "n_source": n,
                            "trial": trial,
                            "method": method,
                            "rule": rule,
                            "lam": 0.1,
                            "risk": risk,
                            "acc": 0.5,
                        }
                    )
    for lam in (1e-1, 1e-2, 1e-3):
        for trial in range(5):
            for method in ("krr", "sm", "rat"):
                rel = 0.0 if method == "krr" else lam * np.exp(0.1 * rng.standard_normal()) / 10
                rows.append(
                    {
                        "experiment": "limit",
                        "shift": 0.0,
                        "n": 200,
                        "teacher_lam": lam,
                        "trial": trial,
                        "method": method,
                        "rule": "krr_cv",
                        "lam": 1e-3,
                        "risk": 0.5,
                        "acc": 0.5,
                        "rel_diff_krr": rel,
                    }
                )
    df = pd.DataFrame(rows)
    return df.assign(features="pixels", length_scale=1.0, decay=0.5)


def _verdicts(df) -> dict[str, str]:
    claims = ik.claims(df)
    return {cid: combined_verdict([c for c in claims if c.id == cid]) for cid in ik.CLAIM_IDS}


def test_a_floor_and_a_falling_rat_hold_every_claim():
    assert _verdicts(_table()) == {"RAT-1": "holds", "RAT-2": "holds", "RAT-4": "holds"}


def test_sm_that_falls_fails_rat1_and_rat_that_stays_fails_rat2():
    verdicts = _verdicts(_table(sm_slope=-0.3, rat_slope=0.0))
    assert verdicts["RAT-1"] == "fails" and verdicts["RAT-2"] == "fails"


def test_an_unbiased_teacher_leaves_rat1_inconclusive():
    """Teacher as good as the oracle: the premise fails, RAT-1 is out of scope."""
    df = _table(teacher_gap=0.0)
    teacher, oracle = (df.method == "teacher"), (df.method == "oracle")
    df.loc[teacher, "risk"] = df.loc[oracle, "risk"].to_numpy()  # the oracle's risks, draw by draw
    claims = ik.claims(df)
    rat1 = [c for c in claims if c.id == "RAT-1"]
    assert rat1 and all(c.verdict == "inconclusive" and not c.premise_met for c in rat1)


def test_scores_of_a_path_are_the_one_hot_squared_error_and_the_argmax_accuracy():
    class Path:  # predictions A z with A = [[1, 0], [0, 1], [1, 1]] at three points, one ridge
        def predict(self, z):
            return (np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) @ z)[:, None]

    Y = np.array([[1.0, 0.0], [0.0, 1.0]])  # two training points, classes 0 and 1
    y_eval = np.array([0, 0, 1])
    sc = ik._scores(Path(), Y, y_eval, tune=np.array([0]), judge=np.array([1, 2]))
    # predictions: e_0, e_1, (1, 1): losses 0, 2, 1 and hits True, False, False (argmax 0)
    assert sc["tune"] == pytest.approx([0.0])
    assert sc["risk"] == pytest.approx([1.5])
    assert sc["acc"] == pytest.approx([0.0])


def test_halves_split_the_target_test_images_once():
    tune, judge = ik._halves(101, seed=0)
    assert len(tune) == 50 and len(judge) == 51
    assert np.array_equal(np.sort(np.concatenate([tune, judge])), np.arange(101))
    assert np.array_equal(ik._halves(101, seed=0)[0], tune)


def test_pixel_features_are_block_means():
    images = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    images[0, :8, :8, 0] = 255  # the first 8 x 8 block of the red channel
    f = ik._pixels(images)
    assert f.shape == (1, 192) and f[0, 0] == pytest.approx(1.0) and f[0, 1:].max() == 0.0


def test_a_run_on_generated_images_gives_the_table_the_claims_and_the_figure(tmp_path):
    import matplotlib.pyplot as plt

    def draw(rng, label):  # a smooth image family (fast eigen-decay), brighter by class
        ramp = np.linspace(0, 1, 64)[:, None, None] * rng.uniform(0, 120)
        return 40 + 8 * label + ramp + np.zeros((64, 64, 3))

    folder = write_imagenette(tmp_path / "imagenette", {"train": 30, "val": 16}, draw)
    cfg = dataclasses.replace(
        ik.PRESETS["quick"],
        data_root=str(folder),
        ns=(20, 40),
        n_subsamples=3,
        limit_n=30,
        limit_teacher_lams=(1e-1, 1e-3),
        min_per_class=0,  # tilted on generated images, a class may be missing from a split
    )
    assert folder.is_dir()
    df = ik.run(cfg, cache_dir=tmp_path / "cache", progress=False)
    rate = df[df.experiment == "rate"]
    assert set(rate.method) == set(ik.METHODS)
    assert set(rate[rate.method == "rat"].rule) == {"cv", "schedule"}
    assert rate.groupby(["shift", "n", "method", "rule"]).size().eq(3).all()
    assert (rate.n_source <= rate.n).all() and (rate.n_target <= rate.n).all()
    assert ((rate.acc >= 0) & (rate.acc <= 1)).all() and (rate.risk > 0).all()
    analysis = ik.analyze(df)
    claims = ik.claims(df, analysis)
    assert {c.id for c in claims} == set(ik.CLAIM_IDS)
    fig = ik.plot(df, analysis, claims)
    assert len(fig.axes) >= 4
    plt.close(fig)


def test_the_features_and_the_teacher_are_ready_before_any_worker_starts(monkeypatch):
    """run() builds the data set (training a teacher missing from the bank) in the parent: two
    workers each training it into the same bank folder collided."""
    calls = []

    def dataset(cfg, cache_dir=None):
        calls.append("dataset")
        return {"length_scale": 1.0, "decay": 0.7}

    def run_grid(task, grid, **kwargs):
        calls.append("grid")
        return pd.DataFrame({"experiment": [], "method": []})

    monkeypatch.setattr(ik, "dataset", dataset)
    monkeypatch.setattr(ik, "run_grid", run_grid)
    ik.run(ik.PRESETS["quick"], n_jobs=2, progress=False)
    assert calls[0] == "dataset" and calls.count("grid") == 2
