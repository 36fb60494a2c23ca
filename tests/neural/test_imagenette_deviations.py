"""Imagenette self-distillation study (NAG-6, NAG-7): statistics, smoke run, resumption."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("jax")
pytest.importorskip("orbax.checkpoint")
Image = pytest.importorskip("PIL.Image")

import matplotlib.pyplot as plt  # noqa: E402
from _imagenette_folder import run_smoke, write_imagenette  # noqa: E402

from kdtheory.claims import combined_verdict  # noqa: E402
from kdtheory.cli import main  # noqa: E402
from kdtheory.montecarlo import _CACHE_SUFFIX  # noqa: E402
from kdtheory.neural.data import IMAGENETTE_CLASSES  # noqa: E402
from kdtheory.simulations import imagenette_deviations as sim  # noqa: E402
from kdtheory.simulations._neural import config_tag  # noqa: E402


# --------------------------------------------------------------------------- statistics
def _logits_with_top_logit(rng, target: np.ndarray, k: int = 10) -> np.ndarray:
    """Logits whose class 0 is on top with ``logit p[0] = target`` (the others equal)."""
    # p0 / (1 - p0) = e^{z0} / ((k - 1) e^{z1}) with z1 = 0: z0 = target + log(k - 1)
    z = np.zeros((len(target), k))
    z[:, 0] = target + np.log(k - 1)
    return z + rng.normal(size=(len(target), 1))  # a per-row shift changes no probability


def test_class_logit_is_the_logit_of_the_softmax_probability():
    rng = np.random.default_rng(0)
    z = rng.normal(scale=3.0, size=(50, 7))
    c = rng.integers(0, 7, 50)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = np.log(p[np.arange(50), c] / (1 - p[np.arange(50), c]))
    np.testing.assert_allclose(sim.class_logits(z, c), expected, rtol=1e-12, atol=1e-12)
    # the clip of p to [1e-7, 1 - 1e-7] (CLAIMS.md NAG-6) bounds the logit by logit(1 - 1e-7)
    big = np.array([[100.0, 0.0, 0.0], [-100.0, 0.0, 0.0]])
    out = sim.class_logits(big, np.array([0, 0]))
    np.testing.assert_allclose(out, [np.log((1 - 1e-7) / 1e-7), -np.log((1 - 1e-7) / 1e-7)])


@pytest.mark.claim("NAG-6")
def test_noiseless_logits_give_the_slope_exactly():
    rng = np.random.default_rng(1)
    x_true = rng.uniform(-2, 6, 200)
    teacher = _logits_with_top_logit(rng, x_true)
    student = _logits_with_top_logit(rng, 1.7 * x_true - 0.4)
    x, y = sim.top_class_logits(teacher, student)
    np.testing.assert_allclose(x, x_true, atol=1e-10)
    fit = sim.slope_fit(x, y)
    assert fit["slope"] == pytest.approx(1.7, abs=1e-9)
    assert fit["intercept"] == pytest.approx(-0.4, abs=1e-9)
    assert fit["hi"] - fit["lo"] < 1e-8 and fit["n_points"] == 200


def test_slope_interval_covers_the_true_slope_at_its_level():
    """200 noisy draws: the 95% interval covers 1.3 in Binomial(200, 0.95) of them; reject
    outside [181, 199] (probability < 0.3% for a correct interval)."""
    rng = np.random.default_rng(2)
    covered = 0
    for _ in range(200):
        x = rng.uniform(0, 5, 60)
        y = 1.3 * x + 0.2 + rng.normal(scale=0.8, size=60)
        fit = sim.slope_fit(x, y)
        covered += fit["lo"] <= 1.3 <= fit["hi"]
    coverage = stats.binom(200, 0.95)
    assert coverage.cdf(180) + coverage.sf(199) < 0.003  # the test's false-alarm rate
    assert 181 <= covered <= 199


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="teacher and student logits"):
        sim.top_class_logits(np.zeros((0, 10)), np.zeros((0, 10)))
    with pytest.raises(ValueError, match="teacher and student logits"):
        sim.top_class_logits(np.zeros((5, 10)), np.zeros((5, 9)))
    with pytest.raises(ValueError, match="unknown method 'dark'.*teacher, label, kd, switch_mid"):
        sim.schedule("dark", sim.PRESETS["smoke"])
    with pytest.raises(ValueError, match="epochs"):
        dataclasses.replace(sim.PRESETS["smoke"], epochs=1)


def test_the_switch_changes_the_loss_not_the_schedule():
    cfg = dataclasses.replace(sim.PRESETS["cpu"], epochs=8)
    assert cfg.eval_epochs == (2, 4, 8) and cfg.switch_epoch == 4
    switch, label, kd = (sim.schedule(m, cfg) for m in ("switch_mid", "label", "kd"))
    assert [switch(e) == label(e) for e in range(8)] == [True] * 4 + [False] * 4
    assert all(switch(e) == kd(e) for e in range(4, 8))
    assert sim.PRESETS["smoke"].eval_epochs == (1, 2)


def test_within_class_centring_removes_the_spread_between_classes():
    """Two classes whose means lie on a line of slope 3 while each class has slope 0.5: the
    pooled slope mixes them, the within-class slope is exactly 0.5."""
    rng = np.random.default_rng(4)
    x0, x1 = rng.normal(0, 1, 50), rng.normal(5, 1, 50)
    x = np.concatenate([x0, x1])
    y = np.concatenate([0.5 * x0, 15 + 0.5 * (x1 - 5)])
    classes = np.repeat([0, 1], 50)
    xc, yc = sim.within_class(x, y, classes)
    assert sim.slope_fit(xc, yc)["slope"] == pytest.approx(0.5, abs=1e-12)
    assert sim.slope_fit(x, y)["slope"] > 2


def test_presets_keep_one_budget_and_their_sizes():
    for name, cfg in sim.PRESETS.items():
        assert cfg.temperature == 1.0 and cfg.n_seeds >= 2, name
        proto = sim.protocol(cfg)
        assert proto.train.epochs == cfg.epochs, name
        # students are narrower than the teacher: something to transfer
        assert proto.student.feature_dim < proto.teacher_network.feature_dim, name
    gpu, cpu = sim.PRESETS["gpu"], sim.PRESETS["cpu"]
    assert sim.recipe(gpu).resolution == sim.recipe(cpu).resolution == 64
    assert gpu.max_train is None and cpu.max_train is None and cpu.n_seeds >= 5


def test_main_time_is_the_stage_end_nearest_the_teacher():
    assert sim.main_epochs([1, 2, 3, 4], 2) == 2
    # a tie goes to the earlier stage: round(3 / 2) = 2 (banker's rounding) would pick 4
    assert sim.main_epochs([2, 4, 6, 8], 3) == 2
    assert sim.main_epochs([8, 6, 4, 2], 5) == 4  # in any order
    assert sim.main_epochs([2, 4], 9) == 4 and sim.main_epochs([2, 4], 0) == 2
    with pytest.raises(ValueError, match="no student stage"):
        sim.main_epochs([], 2)


def _study_table(
    kd_slopes: dict[str, list[float]],
    label_slopes=(1.2, 1.2, 1.2),
    within_gap: float = 0.1,
    gain=(0.10, 0.12, 0.08),
    recovered: float = 0.8,
) -> pd.DataFrame:
    """A table of 3 seeds evaluated at epochs 1, 2 and 4 (``T = 1``): ``kd``'s mean pooled slope
    per split and time (seed offsets -0.01, 0, 0.01), the label control's slope per seed (plus
    the same offsets); the within-class slopes are the pooled ones minus ``within_gap`` for KD
    and the pooled ones for the control; final test errors: KD gains ``gain`` over labels, the
    switch ``recovered`` of it on every seed. One teacher: the same row for every seed."""
    label = np.array([0.50, 0.55, 0.60])
    gain = np.asarray(gain)
    err = {"label": label, "kd": label - gain, "switch_mid": label - recovered * gain}
    rows = []
    for seed, offset in enumerate([-0.01, 0.0, 0.01]):
        acc = {"test_acc": 0.85, "train_acc": 0.95}
        rows.append(
            {
                "seed": seed,
                "method": "teacher",
                "stage": 0,
                "epochs": 16,
                "kind": "eval",
                "images": 1600,
                **acc,
            }
        )
        for stage, epochs in enumerate((1, 2, 4), 1):
            at = {"seed": seed, "stage": stage, "epochs": epochs, "images": 100 * epochs}
            for method in sim.STUDENTS:
                acc = 1.0 - err[method][seed]
                rows.append({**at, "kind": "eval", "method": method, "test_acc": acc})
            for split in sim.SPLITS:
                slopes = (("kd", kd_slopes[split][stage - 1]), ("label", label_slopes[seed]))
                for method, slope in slopes:
                    line = {"method": method, "split": split}
                    rows.append({**at, **line, "kind": "slope", "slope": slope + offset})
                    gap = within_gap if method == "kd" else 0.0
                    rows.append(
                        {**at, **line, "kind": "slope_within", "slope": slope + offset - gap}
                    )
    return pd.DataFrame(rows)


def _nag6(claims):
    return combined_verdict([c for c in claims if c.id == "NAG-6"])


@pytest.mark.claim("NAG-6", "NAG-7")
def test_verdicts_on_a_hand_built_table():
    df = _study_table({"train": [1.6, 1.3, 1.1], "test": [1.5, 1.25, 1.05]})
    analysis = sim.analyze(df)
    assert analysis["main_epochs"] == analysis["unit"] == 1
    claims = sim.claims(df, analysis)
    assert [c.id for c in claims] == ["NAG-6"] * 8 + ["NAG-7"]
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)  # the t-interval of the seed offsets
    # in the figure's order: above 1 (train, test), pooled and within-class differences, shrink
    above_tr, above, beyond_tr, beyond, within_tr, within, shrinks_tr, shrinks, rec = claims
    # at t = T, test images: 1.5 +- half, above 1; 0.3 above the control's 1.2 on every seed,
    # 0.2 within classes
    assert (
        beyond.holds and beyond.value == pytest.approx(0.3) and beyond.ci[1] - beyond.ci[0] < 1e-9
    )
    assert "pooled" in beyond.statement and "within classes" in within.statement
    assert within.holds and within.value == pytest.approx(0.2)
    assert above.holds and above.statement.startswith("test images, t = T")
    assert above.value == pytest.approx(1.5) and above.ci == pytest.approx((1.5 - half, 1.5 + half))
    assert "control's slope (pooled, test, t = T): 1.20 [1.17, 1.23]" in above.detail
    assert above.premise[0].met and above.premise[0].statement == beyond.statement
    assert above_tr.holds and above_tr.value == pytest.approx(1.6) and beyond_tr.holds
    assert within_tr.holds
    # |slope - 1| from t = T: 0.6, 0.3, 0.1 (train) and 0.5, 0.25, 0.05 (test)
    assert shrinks_tr.holds and shrinks_tr.value == pytest.approx(0.1 - 0.6)
    assert shrinks.holds and shrinks.value == pytest.approx(0.05 - 0.5)
    assert shrinks.ci == pytest.approx((-0.45 - 2 * half, -0.45 + 2 * half))
    assert [c.family for c in claims[:8]] == [8] * 8
    assert _nag6(claims) == "holds"
    # NAG-7: the gain 0.1 > 0 and 0.8 of it recovered on every seed: holds
    assert rec.holds and rec.value == pytest.approx(0.8) and rec.ci == pytest.approx((0.8, 0.8))
    assert rec.premise[0].met and rec.premise[0].value == pytest.approx(0.1)
    # no gain (KD loses 0.05): inconclusive by its premise
    (rec,) = [
        c
        for c in sim.claims(
            _study_table(
                {"train": [1.6, 1.3, 1.1], "test": [1.5, 1.25, 1.05]}, gain=(-0.05, -0.05, -0.05)
            )
        )
        if c.id == "NAG-7"
    ]
    assert rec.verdict == "inconclusive" and not rec.premise_met


@pytest.mark.claim("NAG-6")
def test_nag6_reads_the_slope_against_the_control():
    kd = {"train": [1.6, 1.3, 1.1], "test": [1.5, 1.25, 1.05]}
    # the test slope at t = T (0.95) below the control's 1.2 on every seed: fails; the slope
    # above 1 is then out of scope (premise)
    claims = sim.claims(_study_table({**kd, "test": [0.95, 0.97, 0.99]}))
    beyond, above = claims[3], claims[1]
    assert beyond.verdict == "fails" and beyond.value == pytest.approx(-0.25)
    assert above.verdict == "inconclusive" and not above.premise_met
    assert _nag6(claims) == "fails"
    # a control as steep on average (1.0, 1.9, 1.3 by seed): the differences are undecided and
    # the KD slope above 1 not attributable to distillation: inconclusive
    claims = sim.claims(_study_table(kd, label_slopes=(1.0, 1.9, 1.3)))
    assert [c.verdict for c in claims[:6]] == ["inconclusive"] * 6
    assert not claims[0].premise_met and claims[2].outcome is None
    # within classes the KD slope may lose what the pooled one shows
    claims = sim.claims(_study_table(kd, within_gap=0.4))  # train: 1.6 - 0.4 = the control's
    assert claims[2].holds and claims[4].verdict == "inconclusive"
    assert claims[4].value == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- smoke run
@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A 10-class Imagenette-layout folder of 16-px JPEGs with a class-dependent stripe."""
    return write_imagenette(
        tmp_path_factory.mktemp("imagenette"),
        {"train": 30, "val": 20},
        lambda rng, label: 120 + 50 * rng.standard_normal((16, 16, 3)),
    )


@pytest.fixture(scope="module")
def smoke(folder, tmp_path_factory):
    return run_smoke(sim, folder, tmp_path_factory.mktemp("cache"))


def test_smoke_table(smoke):
    cfg, _, df = smoke
    ev = df[df.kind == "eval"]
    assert set(ev.method) == set(sim.METHODS)
    # one row per evaluation and seed for each student, the teacher once per seed
    n_eval = len(cfg.eval_epochs)
    assert len(ev) == cfg.n_seeds * (1 + len(sim.STUDENTS) * n_eval)
    assert ev.test_acc.between(0, 1).all() and ev.train_acc.between(0, 1).all()
    # one teacher from the bank: its row repeats over the seeds
    assert ev[ev.method == "teacher"].test_acc.nunique() == 1
    # the same budget for every student, stated in the table
    budget = ev.groupby("method")[["epochs", "images"]].max()
    assert (budget.loc[list(sim.STUDENTS), "epochs"] == cfg.epochs).all()
    assert budget.loc[list(sim.STUDENTS), "images"].nunique() == 1
    assert budget.loc["teacher", "epochs"] == sim.recipe(cfg).train.epochs
    # one schedule: the switch's label half is the label run's trajectory
    first = ev[ev.epochs <= cfg.switch_epoch].pivot_table(
        index=["seed", "epochs"], columns="method", values="test_acc"
    )
    np.testing.assert_array_equal(first["switch_mid"], first["label"])
    sl = df[df.kind == "slope"]
    assert len(sl) == cfg.n_seeds * len(sim.STUDENTS) * n_eval * 2
    # every line is fitted on every evaluated image of its split (300 train, 200 test here)
    n_images = {"train": cfg.max_train, "test": cfg.max_test}
    assert (sl.n_points == sl.split.map(n_images)).all()
    assert np.isfinite(sl[["slope", "lo", "hi"]].to_numpy()).all()
    assert len(df[df.kind == "slope_within"]) == len(sl)
    # the scatter: the kd student at t = T and at the end
    points = df[df.kind == "point"]
    assert set(points.method) == {"kd"}
    assert set(points.epochs) == {cfg.eval_epochs[0], cfg.epochs}
    per_stage = sum(min(cfg.n_scatter, n) for n in n_images.values())
    assert len(points) == cfg.n_seeds * 2 * per_stage  # two times per seed


def test_smoke_analysis_claims_and_figure(smoke):
    _, _, df = smoke
    analysis = sim.analyze(df)
    claims = sim.claims(df, analysis)
    assert [c.id for c in claims] == ["NAG-6"] * 8 + ["NAG-7"]
    # the numbers, recomputed from the table: NAG-7's recovered fraction from the final test
    # accuracies (paired by seed), NAG-6's shrinking change from the KD student's slopes
    ev = df[df.kind == "eval"]
    final = ev[ev.stage == ev.stage.max()].set_index(["method", "seed"]).test_acc
    err = {m: 1.0 - final.loc[m] for m in sim.STUDENTS}
    ratio = (err["label"] - err["switch_mid"]).mean() / (err["label"] - err["kd"]).mean()
    assert claims[-1].value == pytest.approx(ratio, rel=1e-9, nan_ok=True)
    assert claims[-1].premise[0].value == pytest.approx((err["label"] - err["kd"]).mean())
    sl = df[(df.kind == "slope") & (df.method == "kd")]
    mean = sl.groupby(["split", "epochs"]).slope.mean()
    main, end = analysis["main_epochs"], sl.epochs.max()
    for claim, split in zip(claims[6:8], sim.SPLITS, strict=True):
        change = abs(mean[split, end] - 1.0) - abs(mean[split, main] - 1.0)
        assert "strictly decreases" in claim.statement
        assert claim.value == pytest.approx(change, rel=1e-9, abs=1e-12)
    table = sim.result_table(analysis)
    assert list(table.method) == list(sim.METHODS)
    assert {"test_error", "epochs", "images"} <= set(table.columns)
    fig = sim.plot(df, analysis, claims)
    try:
        assert len([ax for ax in fig.axes if ax.get_title()]) == 6
    finally:
        plt.close(fig)


def test_resumes_from_checkpoints_to_the_same_table(smoke):
    cfg, cache, df = smoke
    for entry in cache.glob(f"*{_CACHE_SUFFIX}"):  # forget the finished tasks
        entry.unlink()
    run = cache / sim.NAME / config_tag(cfg) / "seed1" / "kd"
    last = max(int(p.name) for p in run.iterdir() if p.name.isdigit())
    shutil.rmtree(run / str(last))  # its checkpoint lost: the run is redone
    again = sim.run(cfg, cache_dir=cache, progress=False)
    pd.testing.assert_frame_equal(
        again.drop(columns="seconds", errors="ignore"), df.drop(columns="seconds", errors="ignore")
    )


def test_empty_image_set_and_unknown_preset(folder, tmp_path, capsys):
    cfg = dataclasses.replace(sim.PRESETS["smoke"], data_root=str(folder), max_test=0)
    with pytest.raises(ValueError, match="'val' split has no images"):
        sim.run(cfg, cache_dir=tmp_path / "cache", progress=False)
    assert not (tmp_path / "cache").exists()  # refused before anything was trained
    empty = tmp_path / "empty"
    for split in ("train", "val"):
        (empty / split / next(iter(IMAGENETTE_CLASSES))).mkdir(parents=True)
    cfg = dataclasses.replace(sim.PRESETS["smoke"], data_root=str(empty))
    with pytest.raises((ValueError, FileNotFoundError), match="(?i)image"):
        sim.run(cfg, progress=False)
    assert main(["run", sim.NAME, "--preset", "nope", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and all(p in err for p in ("smoke", "cpu", "gpu"))
