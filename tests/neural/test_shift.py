"""Covariate shift by selection on the image alone (kdtheory.neural.shift; CLAIMS.md 6, RAT-6)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.special import expit

from kdtheory.neural.shift import (
    ShiftSplits,
    covariate_shift_splits,
    image_statistic,
    selection_probabilities,
)

N_CLASSES = 5
SPLITS = ("source", "target", "source_test", "target_test")


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random 8x8 RGB images whose brightness rises with the label (5 classes)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, N_CLASSES, n)
    base = 50.0 + 35.0 * labels + rng.normal(0.0, 25.0, n)
    tint = rng.normal(0.0, 20.0, (n, 1, 1, 3))
    pixels = base[:, None, None, None] + tint + rng.normal(0.0, 15.0, (n, 8, 8, 3))
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8), labels


TRAIN_X, TRAIN_Y = synthetic(2000, 0)
VAL_X, VAL_Y = synthetic(800, 1)


def draw(strength: float, seed: int = 0, **kwargs) -> ShiftSplits:
    kwargs.setdefault("min_per_class", 5)
    return covariate_shift_splits(
        TRAIN_X,
        TRAIN_Y,
        VAL_X,
        VAL_Y,
        strength=strength,
        rng=np.random.default_rng(seed),
        **kwargs,
    )


def tilt_by_hand(score, reference, c, keep):
    """``pi_S``, ``pi_T`` of ``score``, from first principles (independent of the module)."""
    z_ref = (reference - np.median(reference)) / np.std(reference)
    z = (score - np.median(reference)) / np.std(reference)
    a_s = brentq(lambda a: expit(a - c * z_ref).mean() - keep, -200, 200, xtol=1e-14)
    a_t = brentq(lambda a: expit(a + c * z_ref).mean() - keep, -200, 200, xtol=1e-14)
    return expit(a_s - c * z), expit(a_t + c * z)


# --- image_statistic ------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1), n=st.integers(0, 6), h=st.integers(1, 5), w=st.integers(1, 5)
)
def test_image_statistic_matches_direct_reference(seed, n, h, w):
    images = np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)
    x = images.astype(np.float64)
    luma = (0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]) / 255.0
    high, low = x.max(axis=-1), x.min(axis=-1)
    sat = np.where(high > 0, (high - low) / np.where(high > 0, high, 1.0), 0.0)
    bright = image_statistic(images)
    assert bright.dtype == np.float64 and bright.shape == (n,)
    np.testing.assert_allclose(bright, luma.mean(axis=(1, 2)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        image_statistic(images, "saturation"), sat.mean(axis=(1, 2)), rtol=0, atol=1e-12
    )


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), h=st.integers(3, 9), w=st.integers(3, 9))
def test_contrast_and_sharpness_match_direct_references(seed, h, w):
    """Contrast is the luma's standard deviation; sharpness the RMS 4-neighbour Laplacian,
    written here with scipy's convolution; a blur lowers sharpness, an affine change of the
    luma scales both by its gain."""
    from scipy.ndimage import convolve, uniform_filter

    images = np.random.default_rng(seed).integers(0, 256, (3, h, w, 3), dtype=np.uint8)
    luma = images.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255.0
    np.testing.assert_allclose(
        image_statistic(images, "contrast"), luma.std(axis=(1, 2)), rtol=1e-12, atol=1e-15
    )
    kernel = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], float)
    lap = np.stack([convolve(y, kernel)[1:-1, 1:-1] for y in luma])
    np.testing.assert_allclose(
        image_statistic(images, "sharpness"),
        np.sqrt((lap**2).mean(axis=(1, 2))),
        rtol=1e-12,
        atol=1e-15,
    )
    big = np.random.default_rng(seed).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    blurred = uniform_filter(big.astype(float), size=(1, 3, 3, 1)).round().astype(np.uint8)
    assert np.all(image_statistic(blurred, "sharpness") < image_statistic(big, "sharpness"))
    grey = np.full((2, 5, 5, 3), 77, np.uint8)
    np.testing.assert_allclose(image_statistic(grey, "contrast"), 0.0, atol=1e-15)
    np.testing.assert_allclose(image_statistic(grey, "sharpness"), 0.0, atol=1e-15)


def test_image_statistic_chunks_and_invariances():
    # more images than one chunk of 64 x 64 holds; a chunk boundary must not change anything
    images = np.random.default_rng(3).integers(0, 256, (1100, 64, 64, 3), dtype=np.uint8)
    for kind in ("saturation", "contrast", "sharpness"):
        whole = image_statistic(images, kind)
        np.testing.assert_array_equal(whole[1000:], image_statistic(images[1000:], kind))
    # constant images: brightness v / 255 whatever the size; grey has saturation 0
    for v in (0, 1, 128, 255):
        grey = np.full((2, 7, 3, 3), v, dtype=np.uint8)
        np.testing.assert_allclose(image_statistic(grey), v / 255.0, atol=1e-15)
        np.testing.assert_array_equal(image_statistic(grey, "saturation"), 0.0)
    pure_red = np.zeros((1, 4, 4, 3), dtype=np.uint8)
    pure_red[..., 0] = 200
    assert image_statistic(pure_red, "saturation")[0] == 1.0
    np.testing.assert_allclose(image_statistic(pure_red), 0.299 * 200 / 255)


@pytest.mark.parametrize(
    "images, kind, match",
    [
        (np.zeros((2, 4, 4, 3), np.uint8), "blur", "kind must be one of .*brightness"),
        (np.zeros((2, 2, 4, 3), np.uint8), "sharpness", "at least 3 x 3"),
        (np.zeros((2, 4, 4, 3), np.float32), "brightness", "images must be a uint8"),
        (np.zeros((2, 4, 4), np.uint8), "brightness", r"images must have shape \(N, H, W, 3\)"),
        (np.zeros((2, 4, 4, 4), np.uint8), "saturation", "images must have shape"),
        (np.zeros((2, 0, 4, 3), np.uint8), "brightness", "images must have shape"),
    ],
)
def test_image_statistic_rejects_bad_input(images, kind, match):
    with pytest.raises(ValueError, match=match):
        image_statistic(images, kind)


# --- selection_probabilities ----------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    strength=st.floats(0.0, 6.0),
    keep=st.floats(0.02, 0.98),
    n=st.integers(2, 300),
)
def test_intercepts_keep_the_mean_and_tilts_are_monotone(seed, strength, keep, n):
    reference = np.random.default_rng(seed).lognormal(0.0, 1.0, n)
    pi_s, pi_t = selection_probabilities(reference, strength, keep, reference)
    assert abs(pi_s.mean() - keep) < 1e-10 and abs(pi_t.mean() - keep) < 1e-10
    grid = np.linspace(reference.min() - 1.0, reference.max() + 1.0, 50)
    g_s, g_t = selection_probabilities(grid, strength, keep, reference)
    assert np.all(np.diff(g_s) <= 0) and np.all(np.diff(g_t) >= 0)
    if strength > 0.1:
        assert g_s[0] > g_s[-1] and g_t[0] < g_t[-1]
    # the same formula, computed independently of the module
    h_s, h_t = tilt_by_hand(grid, reference, strength, keep)
    np.testing.assert_allclose(g_s, h_s, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(g_t, h_t, rtol=1e-9, atol=1e-12)


def test_zero_strength_is_keep_everywhere():
    reference = np.arange(10.0)
    for score in (reference, np.array([-1e6, 0.0, 1e6])):
        pi_s, pi_t = selection_probabilities(score, 0.0, 0.3, reference)
        np.testing.assert_allclose(pi_s, 0.3, atol=1e-15)
        np.testing.assert_allclose(pi_t, 0.3, atol=1e-15)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strength": -0.5}, "strength"),
        ({"strength": np.inf}, "strength"),
        ({"strength": "strong"}, "strength"),
        ({"keep": 0.0}, "keep"),
        ({"keep": 1.0}, "keep"),
        ({"reference": np.array([])}, "reference"),
        ({"reference": np.ones(5)}, "reference scores are all equal"),
        ({"score": np.array([np.nan])}, "score"),
    ],
)
def test_selection_probabilities_rejects_bad_arguments(kwargs, match):
    args = {"score": np.arange(5.0), "strength": 1.0, "keep": 0.5, "reference": np.arange(5.0)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        selection_probabilities(**args)


# --- covariate_shift_splits -----------------------------------------------------------------


def test_selection_ignores_labels_so_p_y_given_x_is_kept():
    # same images, same seed, permuted labels: the very same indices are drawn
    permuted = np.random.default_rng(9).permutation(TRAIN_Y)
    val_permuted = np.random.default_rng(10).permutation(VAL_Y)
    a = draw(1.5)
    b = covariate_shift_splits(
        TRAIN_X,
        permuted,
        VAL_X,
        val_permuted,
        strength=1.5,
        rng=np.random.default_rng(0),
        min_per_class=0,
    )
    for name in SPLITS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # identical images get identical selection probabilities
    twins = np.concatenate([TRAIN_X[:3], TRAIN_X[:3]])
    pi_s, pi_t = selection_probabilities(image_statistic(twins), 1.5, 0.5, image_statistic(TRAIN_X))
    np.testing.assert_array_equal(pi_s[:3], pi_s[3:])
    np.testing.assert_array_equal(pi_t[:3], pi_t[3:])


def test_splits_are_disjoint_sized_and_reproducible():
    s = draw(1.0)
    assert np.intersect1d(s.source, s.target).size == 0
    for name in SPLITS:
        idx = getattr(s, name)
        assert idx.dtype == np.int64 and np.all(np.diff(idx) > 0)
    n = len(TRAIN_X)
    for idx in (s.source, s.target):  # ~ Binomial-ish around keep * N / 2 = 500
        assert abs(idx.size - 0.5 * n / 2) < 4 * np.sqrt(n / 2 * 0.25) + 40
    again = draw(1.0)
    for name in SPLITS:
        np.testing.assert_array_equal(getattr(s, name), getattr(again, name))
    other = draw(1.0, seed=1)
    assert not np.array_equal(s.source, other.source)
    report = s.report
    assert list(report["split"]) == list(SPLITS)
    assert list(report["size"]) == [getattr(s, name).size for name in SPLITS]
    assert [f"p_{k}" for k in range(N_CLASSES)] == [c for c in report if c.startswith("p_")]
    np.testing.assert_allclose(report[[f"p_{k}" for k in range(N_CLASSES)]].sum(axis=1), 1.0)
    assert set(report["strength"]) == {1.0} and set(report["statistic"]) == {"brightness"}
    row = report.set_index("split")
    assert row.loc["source", "mean_statistic"] < row.loc["target", "mean_statistic"]
    assert row.loc["source_test", "mean_statistic"] < row.loc["target_test", "mean_statistic"]


def test_realized_ratio_bounds_match_an_independent_computation():
    c, keep = 1.2, 0.4
    s = draw(c, keep=keep)
    train, val = image_statistic(TRAIN_X), image_statistic(VAL_X)
    pi_s, pi_t = tilt_by_hand(train, train, c, keep)
    v_s, v_t = tilt_by_hand(val, train, c, keep)
    # the pools, recomputed with the documented draw order
    in_target_pool = np.random.default_rng(0).random(len(train)) < 0.5
    expected = {
        "source": pi_s[~in_target_pool].max() / pi_s[~in_target_pool].mean(),
        "target": pi_t[in_target_pool].max() / pi_t[in_target_pool].mean(),
        "source_test": v_s.max() / v_s.mean(),
        "target_test": v_t.max() / v_t.mean(),
    }
    row = s.report.set_index("split")
    for name, value in expected.items():
        assert row.loc[name, "ratio_bound"] == pytest.approx(value, rel=1e-10)
    assert row.loc["source", "pool_size"] == np.sum(~in_target_pool)
    lr = (pi_t / pi_t.mean()) / (pi_s / pi_s.mean())
    assert s.likelihood_ratio_bound == pytest.approx(lr.max(), rel=1e-10)
    assert s.likelihood_ratio_bound == pytest.approx(lr[np.argmax(train)], rel=1e-10)
    assert s.likelihood_ratio_bound > 2.0
    # the selected indices follow the documented draw order too
    rng = np.random.default_rng(0)
    rng.random(len(train))
    u = rng.random(len(train))
    np.testing.assert_array_equal(s.source, np.flatnonzero(~in_target_pool & (u < pi_s)))
    np.testing.assert_array_equal(s.target, np.flatnonzero(in_target_pool & (u < pi_t)))
    np.testing.assert_array_equal(s.source_test, np.flatnonzero(rng.random(len(val)) < v_s))
    np.testing.assert_array_equal(s.target_test, np.flatnonzero(rng.random(len(val)) < v_t))


def test_empirical_ratio_in_score_bins_follows_the_tilt():
    c = 1.0
    images, labels = synthetic(8000, 5)
    s = covariate_shift_splits(
        images, labels, VAL_X, VAL_Y, strength=c, rng=np.random.default_rng(2), min_per_class=0
    )
    score = image_statistic(images)
    pi_s, pi_t = selection_probabilities(score, c, 0.5, score)
    edges = np.quantile(score, np.linspace(0, 1, 7))
    bins = np.clip(np.searchsorted(edges, score, side="right") - 1, 0, 5)
    n_s = np.bincount(bins[s.source], minlength=6)
    n_t = np.bincount(bins[s.target], minlength=6)
    empirical = np.log((n_t / n_t.sum()) / (n_s / n_s.sum()))
    theory = np.log(
        (np.bincount(bins, pi_t, 6) / pi_t.sum()) / (np.bincount(bins, pi_s, 6) / pi_s.sum())
    )
    se = np.sqrt(1.0 / n_t + 1.0 / n_s)  # Poisson bound on the binomial counts, delta method
    assert np.all(np.abs(empirical - theory) < 4 * se), (empirical, theory, se)
    assert np.all(empirical < np.log(s.likelihood_ratio_bound) + 4 * se)
    assert np.all(np.diff(theory) > 0) and empirical[-1] - empirical[0] > 1.0


def test_zero_strength_has_bound_one_and_matching_class_proportions():
    s = draw(0.0)
    assert s.likelihood_ratio_bound == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(s.report["ratio_bound"], 1.0, atol=1e-12)
    row = s.report.set_index("split")
    for a, b in (("source", "target"), ("source_test", "target_test")):
        p_a = row.loc[a, [f"p_{k}" for k in range(N_CLASSES)]].to_numpy(float)
        p_b = row.loc[b, [f"p_{k}" for k in range(N_CLASSES)]].to_numpy(float)
        pooled = (p_a * row.loc[a, "size"] + p_b * row.loc[b, "size"]) / (
            row.loc[a, "size"] + row.loc[b, "size"]
        )
        se = np.sqrt(pooled * (1 - pooled) * (1 / row.loc[a, "size"] + 1 / row.loc[b, "size"]))
        assert np.all(np.abs(p_a - p_b) < 4 * se)
    # a strong tilt moves the class proportions: the labels follow brightness
    strong = draw(2.0).report.set_index("split")
    assert strong.loc["target", "p_4"] > 3 * strong.loc["source", "p_4"]


def test_too_strong_a_shift_names_the_split_and_the_class():
    with pytest.raises(ValueError, match=r"split 'source' has \d+ images of class \d") as info:
        draw(6.0, min_per_class=20)
    message = str(info.value)
    assert "min_per_class=20" in message and "strength=6.0" in message
    assert "lower `strength`" in message
    # the same draw without the threshold: the named class really is short in that split
    s = draw(6.0, min_per_class=0)
    count, k = (int(v) for v in re.search(r"has (\d+) images of class (\d+)", message).groups())
    assert np.sum(TRAIN_Y[s.source] == k) == count < 20
    assert k >= 3  # a bright class: the source keeps dark images


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strength": -1.0}, "strength"),
        ({"strength": np.nan}, "strength"),
        ({"keep": 1.5}, "keep"),
        ({"statistic": "hue"}, "statistic must be one of"),
        ({"min_per_class": -1}, "min_per_class"),
        ({"min_per_class": 2.5}, "min_per_class"),
        ({"n_classes": 3}, "n_classes"),
        ({"rng": 0}, "rng"),
        ({"train_labels": TRAIN_Y[:-1]}, "train_labels has 1999 entries"),
        ({"val_labels": VAL_Y.astype(float)}, "val_labels must be a 1-d array of integers"),
        ({"train_labels": TRAIN_Y.reshape(-1, 1)}, "train_labels must be a 1-d array"),
        ({"val_labels": -VAL_Y - 1}, "val_labels must be >= 0"),
        ({"train_images": TRAIN_X.astype(np.int16)}, "train_images must be a uint8"),
        ({"val_images": VAL_X[..., :2]}, "val_images must have shape"),
    ],
)
def test_covariate_shift_splits_rejects_bad_arguments(kwargs, match):
    args = {
        "train_images": TRAIN_X,
        "train_labels": TRAIN_Y,
        "val_images": VAL_X,
        "val_labels": VAL_Y,
        "strength": 1.0,
        "rng": np.random.default_rng(0),
    }
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        covariate_shift_splits(**args)


def test_n_classes_adds_empty_classes():
    s = draw(0.5, n_classes=7, min_per_class=0)
    assert list(s.report["p_6"]) == [0.0] * 4
    with pytest.raises(ValueError, match="class 5"):
        draw(0.5, n_classes=7, min_per_class=1)
