"""The teacher network (patch whitening, max-pool, head) and the teacher bank (cached once)."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("orbax.checkpoint")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from kdtheory.neural import bank, train  # noqa: E402
from kdtheory.neural.airnet import AirConfig, _standardize, max_pool2, whitening_filters  # noqa: E402

TINY = bank.RECIPES["tiny"]


def _images(rng, n, side=16):
    return rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8)


# --- the network --------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), patch=st.sampled_from([2, 3, 4]), k=st.integers(1, 12))
def test_whitening_filters_whiten_the_top_patch_directions(seed, patch, k):
    """Applied to the patches they were computed from, the filters give outputs whose second
    moment is diag(lambda / (lambda + eps)) for the first k channels (and the same for their
    negatives): the identity up to eps, by construction of an eigen-decomposition."""
    rng = np.random.default_rng(seed)
    images = _images(rng, 6, side=12)
    cfg = AirConfig(widths=(4,), patch=patch, stride=1, whiten_dim=k)
    eps = 5e-4
    w = whitening_filters(images, cfg, eps=eps)
    assert w.shape == (patch, patch, 3, 2 * k)
    np.testing.assert_array_equal(w[..., k:], -w[..., :k])
    out = jax.lax.conv_general_dilated(
        _standardize(images),
        jnp.asarray(w),
        (1, 1),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    flat = np.asarray(out, np.float64).reshape(-1, 2 * k)[:, :k]
    second = flat.T @ flat / len(flat)
    patches = jax.lax.conv_general_dilated_patches(
        _standardize(images),
        (patch, patch),
        (1, 1),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    p = np.asarray(patches, np.float64).reshape(-1, patches.shape[-1])
    lam = np.sort(np.linalg.eigvalsh(p.T @ p / len(p)))[::-1][:k]
    # float32 convolution of float64 eigenvectors: relative error of a float32 dot product
    # float32 convolution: outputs of order one, sums of 3 patch**2 float32 products
    np.testing.assert_allclose(second, np.diag(lam / (lam + eps)), atol=1e-4)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), h=st.integers(2, 9), w=st.integers(2, 9))
def test_max_pool2_equals_reduce_window(seed, h, w):
    x = jnp.asarray(np.random.default_rng(seed).standard_normal((2, h, w, 3)), jnp.float32)
    ref = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
    np.testing.assert_array_equal(np.asarray(max_pool2(x)), np.asarray(ref))


def test_airnet_needs_images_and_gives_logits_and_features():
    rng = np.random.default_rng(0)
    cfg = TINY.network
    with pytest.raises(ValueError, match="images"):
        train.init_network(cfg, 0)
    net = train.init_network(cfg, 0, images=_images(rng, 8))
    h, z = train.batched_forward(net, _images(rng, 5), with_features=True)
    assert h.shape == (5, cfg.feature_dim) and z.shape == (5, cfg.n_classes)
    # the head is linear: flip TTA's logits are the mean of the image's and its mirror's
    x = _images(rng, 5)
    h2, z2 = train.batched_forward(net, x, with_features=True, flip_tta=True)
    both = train.batched_forward(net, x) + train.batched_forward(net, x[:, :, ::-1])
    np.testing.assert_allclose(z2, 0.5 * both, rtol=1e-5, atol=1e-5)  # float32 sums
    assert not np.allclose(z2, train.batched_forward(net, x))  # the mirror is read
    params = [p for p in jax.tree.leaves(net.params)]
    assert not any(p.shape == (cfg.patch, cfg.patch, 3, 2 * cfg.whiten_dim) for p in params)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(widths=()),
        dict(widths=(0,)),
        dict(patch=0),
        dict(whiten_dim=13, patch=2),
        dict(logit_scale=0.0),
        dict(n_classes=True),
    ],
)
def test_air_config_rejects_bad_shapes(kwargs):
    with pytest.raises(ValueError, match="AirConfig"):
        AirConfig(**kwargs)


# --- the bank -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sets():
    rng = np.random.default_rng(1)
    x, xv = _images(rng, 40), _images(rng, 12)
    return (x, rng.integers(0, 10, 40)), (xv, rng.integers(0, 10, 12))


def test_bank_trains_once_and_reads_back(sets, tmp_path, monkeypatch):
    train_set, val_set = sets
    index = np.arange(0, 40, 2)
    entry = bank.get_teacher(TINY, train_set, val_set, index=index, seed=3, cache_dir=tmp_path)
    out = entry.outputs
    assert out["train_logits"].shape == (40, 10) and out["val_logits"].shape == (12, 10)
    assert out["train_features"].shape == (40, TINY.network.feature_dim)
    record = json.loads((entry.folder / "record.json").read_text())
    assert record["n_train"] == 20 and record["seed"] == 3
    assert record["val_accuracy"] == pytest.approx(
        np.mean(out["val_logits"].argmax(1) == val_set[1])
    )
    assert 0 <= record["view_agreement"] <= 1 and record["view_kl"] >= 0
    assert not list(tmp_path.glob("teachers/*.partial"))

    # a cached teacher is never retrained
    def no_training(*args, **kwargs):
        raise AssertionError("a cached teacher was retrained")

    monkeypatch.setattr(bank, "train", no_training)
    again = bank.get_teacher(TINY, train_set, val_set, index=index, seed=3, cache_dir=tmp_path)
    assert again.key == entry.key
    for name, value in out.items():
        np.testing.assert_array_equal(again.outputs[name], value)
    # the stored network gives the stored outputs
    net = again.network()
    z = train.batched_forward(net, val_set[0], flip_tta=TINY.flip_tta)
    np.testing.assert_allclose(z, out["val_logits"], rtol=1e-5, atol=1e-5)
    listing = bank.list_teachers(tmp_path)
    assert list(listing["key"]) == [entry.key]


def test_an_interrupted_teacher_resumes_to_the_same_entry(sets, tmp_path, monkeypatch):
    """Killed in its second epoch, the teacher resumes from its checkpoint on the next call and
    ends with the outputs of an uninterrupted run; its record counts the time of both calls."""
    train_set, val_set = sets
    recipe = replace(TINY, train=replace(TINY.train, epochs=3, batch_size=16))
    whole = bank.get_teacher(recipe, train_set, val_set, seed=1, cache_dir=tmp_path / "a")
    calls = {"n": 0}
    real = train._gather

    def dying(arrays, idx):  # 3 steps per epoch: dies in the second epoch
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(arrays, idx)

    monkeypatch.setattr(train, "_gather", dying)
    with pytest.raises(KeyboardInterrupt):
        bank.get_teacher(recipe, train_set, val_set, seed=1, cache_dir=tmp_path / "b")
    assert list((tmp_path / "b" / "teachers").glob("*.partial"))
    monkeypatch.setattr(train, "_gather", real)
    resumed = bank.get_teacher(recipe, train_set, val_set, seed=1, cache_dir=tmp_path / "b")
    assert resumed.key == whole.key and not resumed.cached
    for name, value in whole.outputs.items():
        np.testing.assert_array_equal(resumed.outputs[name], value)
    # the record holds every epoch's loss, the first from the killed call
    np.testing.assert_allclose(resumed.record["curve"], whole.record["curve"], rtol=1e-6)
    assert resumed.record["train_seconds"] > 0


def test_bank_key_changes_with_everything_that_determines_a_teacher(sets):
    train_set, val_set = sets
    index = np.arange(20)
    base = bank.teacher_key(TINY, train_set, val_set, index, 0)
    other_recipe = replace(TINY, train=replace(TINY.train, epochs=2))
    flipped = (train_set[0], (train_set[1] + 1) % 10)
    assert (
        len(
            {
                base,
                bank.teacher_key(other_recipe, train_set, val_set, index, 0),
                bank.teacher_key(replace(TINY, label_smoothing=0.1), train_set, val_set, index, 0),
                bank.teacher_key(TINY, flipped, val_set, index, 0),
                bank.teacher_key(TINY, train_set, val_set, index[:-1], 0),
                bank.teacher_key(TINY, train_set, val_set, index, 1),
            }
        )
        == 6
    )
    assert bank.teacher_key(TINY, train_set, val_set, index.copy(), 0) == base


@pytest.mark.parametrize(
    "index, match",
    [(np.array([], int), "index"), (np.array([0, 0]), "repeated"), (np.array([99]), "index")],
)
def test_bank_rejects_bad_indices(sets, tmp_path, index, match):
    train_set, val_set = sets
    with pytest.raises(ValueError, match=match):
        bank.get_teacher(TINY, train_set, val_set, index=index, cache_dir=tmp_path)


def test_bank_rejects_labels_outside_the_classes(sets, tmp_path):
    (x, y), val_set = sets
    with pytest.raises(ValueError, match="labels"):
        bank.get_teacher(TINY, (x, y + 10), val_set, cache_dir=tmp_path)


# --- the command line ---------------------------------------------------------------------


def test_kdtheory_teachers_builds_lists_and_refuses(tmp_path, capsys, monkeypatch):
    from _imagenette_folder import write_imagenette

    # --data-root sets $KDTHEORY_DATA for the run: restored after the test
    monkeypatch.setenv("KDTHEORY_DATA", os.environ.get("KDTHEORY_DATA", ""))
    from kdtheory.cli import main

    folder = write_imagenette(
        tmp_path / "imagenette",
        {"train": 40, "val": 24},
        lambda rng, label: rng.uniform(30, 220) + 40 * rng.standard_normal((16, 16, 3)),
    )
    cache = str(tmp_path / "cache")
    assert main(["teachers", "--list", "--cache-dir", cache]) == 0
    assert "is empty" in capsys.readouterr().out
    assert main(["teachers", "rat_separation", "--cache-dir", cache]) == 2
    assert "reads no teachers" in capsys.readouterr().err
    args = [
        "teachers",
        "--preset",
        "smoke",
        "imagenette_shift",
        "--cache-dir",
        cache,
        "--data-root",
        str(folder),
        "--no-progress",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    # the smoke preset's two shift strengths: two teachers, trained now, listed with accuracy
    assert "2 teacher(s), 2 trained now" in out and "val_accuracy" in out
    assert main(args) == 0  # again: read from the bank, nothing trained
    assert "2 teacher(s), 0 trained now" in capsys.readouterr().out
