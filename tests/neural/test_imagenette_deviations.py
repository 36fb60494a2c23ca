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
from simulations import imagenette_deviations as sim  # noqa: E402
from simulations._neural import config_tag  # noqa: E402


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
        sim.stage_plan("dark", 4)
    with pytest.raises(ValueError, match="n_student_stages"):
        dataclasses.replace(sim.PRESETS["smoke"], n_student_stages=3)


def test_the_switch_shares_the_label_run_first_half():
    plan = sim.stage_plan("switch_mid", 4)
    assert plan[:2] == sim.stage_plan("label", 4)[:2]
    assert [t for t, _ in plan] == ["ce", "ce", "kd", "kd"]
    # its distillation half continues another network: checkpoints of its own
    names = {n for _, n in plan}
    assert not names & {n for _, n in sim.stage_plan("kd", 4)}
    assert names & {n for _, n in sim.stage_plan("label", 4)} == {"label-1", "label-2"}


def test_presets_keep_one_budget_and_their_sizes():
    for name, cfg in sim.PRESETS.items():
        assert cfg.temperature == 1.0 and cfg.n_student_stages % 2 == 0, name
        assert cfg.student_epochs > cfg.teacher_epochs, name  # the teacher is stopped early
    gpu, cpu = sim.PRESETS["gpu"], sim.PRESETS["cpu"]
    assert gpu.resolution == 64 and gpu.max_train is None and gpu.n_seeds >= 3
    assert cpu.resolution == 24 and cpu.n_seeds >= 3
    assert sim.protocol(gpu).train.epochs == gpu.stage_epochs


def test_main_time_is_the_stage_end_nearest_the_teacher():
    assert sim.main_epochs([1, 2, 3, 4], 2) == 2
    # a tie goes to the earlier stage: round(3 / 2) = 2 (banker's rounding) would pick 4
    assert sim.main_epochs([2, 4, 6, 8], 3) == 2
    assert sim.main_epochs([8, 6, 4, 2], 5) == 4  # in any order
    assert sim.main_epochs([2, 4], 9) == 4 and sim.main_epochs([2, 4], 0) == 2
    with pytest.raises(ValueError, match="no student stage"):
        sim.main_epochs([], 2)
    # the presets' main times (the committed records were made with them)
    main = {
        name: sim.main_epochs(
            [k * cfg.stage_epochs for k in range(1, cfg.n_student_stages + 1)], cfg.teacher_epochs
        )
        for name, cfg in sim.PRESETS.items()
    }
    assert main == {"smoke": 1, "cpu": 2, "gpu": 4}


def _study_table(
    kd_slopes: dict[str, list[float]],
    label_slopes=(1.2, 1.2, 1.2),
    teacher_train_acc: float = 0.6,
) -> pd.DataFrame:
    """A table of 3 seeds and 4 one-epoch stages, teacher ``T = 2`` epochs: ``kd``'s mean slope
    per split and stage (seed offsets -0.01, 0, 0.01), the label control's slope per seed (plus
    the same offsets); final test errors: KD from the full teacher gains (0.10, 0.12, 0.08) over
    labels, its switch 0.8 of that on every seed; KD from the early-stopped teacher loses 0.05,
    its switch gains 0.01."""
    label = np.array([0.50, 0.55, 0.60])
    gain = np.array([0.10, 0.12, 0.08])
    err = {
        "label": label,
        "kd_full": label - gain,
        "switch_full": label - 0.8 * gain,
        "kd": label + 0.05,
        "switch_mid": label - 0.01,
    }
    rows = []
    for seed, offset in enumerate([-0.01, 0.0, 0.01]):
        for method, epochs in (("teacher", 2), ("teacher_full", 4)):
            row = {"seed": seed, "method": method, "stage": 0, "epochs": epochs}
            acc = {"test_acc": 0.6, "train_acc": teacher_train_acc}
            rows.append({**row, "kind": "eval", "images": 100 * epochs, **acc})
        for stage in range(1, 5):
            at = {"seed": seed, "stage": stage, "epochs": stage, "images": 100 * stage}
            for method in sim.STUDENTS:
                acc = 1.0 - err[method][seed]
                rows.append({**at, "kind": "eval", "method": method, "test_acc": acc})
            for split in sim.SPLITS:
                slopes = (("kd", kd_slopes[split][stage - 1]), ("label", label_slopes[seed]))
                for method, slope in slopes:
                    line = {"kind": "slope", "method": method, "split": split}
                    rows.append({**at, **line, "slope": slope + offset})
    return pd.DataFrame(rows)


def _nag6(claims):
    return combined_verdict([c for c in claims if c.id == "NAG-6"])


@pytest.mark.claim("NAG-6", "NAG-7")
def test_verdicts_on_a_hand_built_table():
    df = _study_table({"train": [1.6, 1.5, 1.3, 1.1], "test": [1.5, 1.4, 1.25, 1.05]})
    analysis = sim.analyze(df)
    assert analysis["main_epochs"] == analysis["teacher_epochs"] == 2
    claims = sim.claims(df, analysis)
    assert [c.id for c in claims] == ["NAG-6"] * 6 + ["NAG-7"] * 2
    half = stats.t.ppf(0.975, 2) * 0.01 / np.sqrt(3)  # the t-interval of the seed offsets
    above_tr, beyond_tr, above, beyond, shrinks_tr, shrinks, rec_full, rec_early = claims
    # at t = T, test images: 1.4 +- half, above 1; 0.2 above the control's 1.2 on every seed
    assert above.holds and above.statement.startswith("test images, t = T")
    assert above.value == pytest.approx(1.4) and above.ci == pytest.approx((1.4 - half, 1.4 + half))
    assert "control's slope (test, t = T): 1.20 [1.17, 1.23]" in above.detail
    assert (
        beyond.holds and beyond.value == pytest.approx(0.2) and beyond.ci[1] - beyond.ci[0] < 1e-9
    )
    assert [p.met for p in above.premise] == [True, True] and above.premise[1].statement == (
        beyond.statement
    )
    assert above_tr.holds and above_tr.value == pytest.approx(1.5) and beyond_tr.holds
    # |slope - 1| from t = T: 0.5, 0.3, 0.1 (train) and 0.4, 0.25, 0.05 (test); the value is its
    # change from T to 2 T, with the two slopes' standard errors added
    assert shrinks_tr.holds and shrinks_tr.value == pytest.approx(0.1 - 0.5)
    assert shrinks.holds and shrinks.value == pytest.approx(0.05 - 0.4)
    assert shrinks.ci == pytest.approx((-0.35 - 2 * half, -0.35 + 2 * half))
    # Holm's family: the checks whose premises are met, the shrinking ones included
    assert [c.family for c in claims[:6]] == [6] * 6 and shrinks.p_fail > 0.5
    assert _nag6(claims) == "holds"
    # NAG-7: the full teacher's gain 0.1 > 0 and 0.8 of it recovered on every seed: holds; the
    # early-stopped teacher's KD loses 0.05: no gain to recover, inconclusive (premise)
    assert rec_full.holds and rec_full.value == pytest.approx(0.8)
    assert rec_full.ci == pytest.approx((0.8, 0.8))
    assert rec_full.premise[0].met and rec_full.premise[0].value == pytest.approx(0.1)
    assert rec_early.verdict == "inconclusive" and not rec_early.premise_met
    assert rec_early.value == pytest.approx(-0.2)
    assert rec_early.premise[0].value == pytest.approx(-0.05)
    assert combined_verdict([rec_full, rec_early]) == "holds"


@pytest.mark.claim("NAG-6")
def test_nag6_reads_the_slope_against_the_control_and_the_teacher():
    kd = {"train": [1.6, 1.5, 1.3, 1.1], "test": [1.5, 1.4, 1.25, 1.05]}
    # the test slope at t = T (0.95) below the control's 1.2 on every seed: fails; the slope
    # above 1 is then out of scope (premise), and |slope - 1| 0.05, 0.03, 0.01 with overlapping
    # intervals at T and 2 T is undecided
    claims = sim.claims(_study_table({**kd, "test": [1.0, 0.95, 0.97, 0.99]}))
    above, beyond, shrinks = claims[2], claims[3], claims[5]
    assert beyond.verdict == "fails" and beyond.value == pytest.approx(-0.25)
    assert above.verdict == "inconclusive" and not above.premise_met
    assert shrinks.verdict == "inconclusive" and shrinks.premise_met
    assert _nag6(claims) == "fails"
    # a control as steep on average (1.0, 1.9, 1.3 by seed): the difference is undecided and the
    # KD slope above 1 not attributable to distillation: inconclusive
    claims = sim.claims(_study_table(kd, label_slopes=(1.0, 1.9, 1.3)))
    assert [c.verdict for c in claims[:4]] == ["inconclusive"] * 4
    assert not claims[0].premise_met and claims[1].premise_met and claims[1].outcome is None
    assert _nag6(claims) == "inconclusive"
    # a teacher that fits its training labels is not early-stopped: every NAG-6 check is out of
    # scope
    claims = sim.claims(_study_table(kd, teacher_train_acc=1.0))
    assert all(not c.premise_met for c in claims if c.id == "NAG-6")
    assert _nag6(claims) == "inconclusive"


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
    # one row per student stage and seed, each of the two teachers once per seed
    assert len(ev) == cfg.n_seeds * (2 + len(sim.STUDENTS) * cfg.n_student_stages)
    assert ev.test_acc.between(0, 1).all() and ev.train_acc.between(0, 1).all()
    # the same budget for every student, stated in the table
    budget = ev.groupby("method")[["epochs", "images"]].max()
    assert (budget.loc[list(sim.STUDENTS), "epochs"] == cfg.student_epochs).all()
    assert budget.loc[list(sim.STUDENTS), "images"].nunique() == 1
    assert budget.loc["teacher", "epochs"] == cfg.teacher_epochs
    assert budget.loc["teacher_full", "epochs"] == cfg.nag7_teacher_epochs == cfg.student_epochs
    # the switch's label half is the label run itself (shared checkpoints)
    first = ev[ev.stage == 1].pivot_table(index="seed", columns="method", values="test_acc")
    np.testing.assert_array_equal(first["switch_mid"], first["label"])
    np.testing.assert_array_equal(first["switch_full"], first["label"])
    sl = df[df.kind == "slope"]
    assert len(sl) == cfg.n_seeds * len(sim.STUDENTS) * cfg.n_student_stages * 2
    # every line is fitted on every evaluated image of its split (300 train, 200 test here)
    n_images = {"train": cfg.max_train, "test": cfg.max_test}
    assert (sl.n_points == sl.split.map(n_images)).all()
    assert np.isfinite(sl[["slope", "lo", "hi"]].to_numpy()).all()
    # the scatter: the kd student at t = T (the stage analyze calls main) and at the end
    points = df[df.kind == "point"]
    assert set(points.method) == {"kd"}
    assert set(points.epochs) == {sim.analyze(df)["main_epochs"], cfg.student_epochs}
    per_stage = sum(min(cfg.n_scatter, n) for n in n_images.values())
    assert len(points) == cfg.n_seeds * 2 * per_stage  # two stages per seed


def test_smoke_analysis_claims_and_figure(smoke):
    _, _, df = smoke
    analysis = sim.analyze(df)
    claims = sim.claims(df, analysis)
    assert [c.id for c in claims] == ["NAG-6"] * 6 + ["NAG-7"] * 2
    assert "R_kd_full" in claims[6].statement and "R_kd)" in claims[7].statement
    # the numbers, recomputed from the table: NAG-7's recovered fractions from the final test
    # accuracies (paired by seed), NAG-6's shrinking change from the KD student's slopes
    ev = df[df.kind == "eval"]
    final = ev[ev.stage == ev.stage.max()].set_index(["method", "seed"]).test_acc
    err = {m: 1.0 - final.loc[m] for m in sim.STUDENTS}
    for claim, (kd, switch) in zip(
        claims[6:], (("kd_full", "switch_full"), ("kd", "switch_mid")), strict=True
    ):
        ratio = (err["label"] - err[switch]).mean() / (err["label"] - err[kd]).mean()
        assert claim.value == pytest.approx(ratio, rel=1e-9, nan_ok=True)
        assert claim.premise[0].value == pytest.approx((err["label"] - err[kd]).mean())
    sl = df[(df.kind == "slope") & (df.method == "kd")]
    mean = sl.groupby(["split", "epochs"]).slope.mean()
    main, end = analysis["main_epochs"], sl.epochs.max()
    for claim, split in zip(claims[4:6], sim.SPLITS, strict=True):
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
    stages = cache / sim.NAME / config_tag(cfg) / "seed1"
    shutil.rmtree(stages / f"kd-{cfg.n_student_stages}")  # killed in the last stage
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
