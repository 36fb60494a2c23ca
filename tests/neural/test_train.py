"""The shared training step, its checkpoints, the networks and the methods' losses (RAT-6)."""

from __future__ import annotations

import subprocess
import sys

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

from kdtheory.neural import distill, train  # noqa: E402
from kdtheory.neural.models import NetworkConfig  # noqa: E402

TINY = NetworkConfig(width=4, depth=1, n_stages=2, n_classes=3)


def _softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _batch(rng, n=6, c=3):
    return {
        "labels": rng.integers(0, c, n).astype(np.int32),
        "teacher_logits": (3 * rng.standard_normal((n, c))).astype(np.float32),
        "targets": rng.standard_normal((n, c)).astype(np.float32),
    }


# --- losses against numpy references --------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), temperature=st.floats(0.25, 8.0))
def test_losses_match_numpy_references(seed, temperature):
    rng = np.random.default_rng(seed)
    logits = (3 * rng.standard_normal((6, 3))).astype(np.float32)
    batch = _batch(rng)
    hp = {"temperature": jnp.float32(temperature)}
    z = logits.astype(np.float64)
    ce = -np.log(_softmax(z)[np.arange(6), batch["labels"]]).mean()
    p = _softmax(batch["teacher_logits"].astype(np.float64) / temperature)
    q = _softmax(z / temperature)
    kd = temperature**2 * np.sum(p * (np.log(p) - np.log(q)), axis=1).mean()
    mse = 0.5 * np.sum((z - batch["targets"]) ** 2, axis=1).mean()
    # float32 evaluation of O(10)-sized sums: a few ulp of the largest term, relative 1e-5
    for name, expected in (("ce", ce), ("kd", kd), ("mse", mse)):
        got = float(distill.LOSS_TERMS[name](jnp.asarray(logits), batch, hp))
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-5 * max(1.0, temperature**2))
        weights = distill.method_hparams(name, temperature)
        combined = distill.distillation_loss(jnp.asarray(logits), batch, weights)
        assert float(combined) == pytest.approx(got, rel=1e-6, abs=1e-6)


def test_soft_matching_is_zero_iff_student_equals_teacher():
    rng = np.random.default_rng(0)
    batch = _batch(rng)
    hp = {"temperature": jnp.float32(2.0)}
    same = distill.soft_matching_loss(jnp.asarray(batch["teacher_logits"]), batch, hp)
    # adding a constant per row leaves the softmax unchanged
    shifted = jnp.asarray(batch["teacher_logits"] + 5.0)
    assert abs(float(same)) < 1e-6
    assert abs(float(distill.soft_matching_loss(shifted, batch, hp))) < 1e-5
    assert float(distill.soft_matching_loss(jnp.zeros((6, 3)), batch, hp)) > 1e-3


def test_residuals_and_rat_targets():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, 5)
    r = distill.residuals(logits, labels)
    np.testing.assert_allclose(r.sum(axis=1), 0.0, atol=1e-6)  # e_y and softmax both sum to 1
    np.testing.assert_allclose(r, np.eye(4)[labels] - _softmax(logits), atol=1e-6)
    # the residual is minus the gradient of the cross-entropy in the logits
    grad = jax.grad(lambda z: distill.cross_entropy_loss(z, {"labels": labels}, {}) * 5)(
        jnp.asarray(logits, jnp.float32)
    )
    np.testing.assert_allclose(-np.asarray(grad), r, atol=1e-6)
    z = distill.rat_targets(logits, r, 2.0)
    np.testing.assert_allclose(z, logits + 2.0 * r, rtol=1e-6)


def test_method_hparams_and_bad_names():
    hp = distill.method_hparams("kd", 4.0)
    assert hp == {"w_ce": 0.0, "w_kd": 1.0, "w_mse": 0.0, "temperature": 4.0}
    with pytest.raises(ValueError, match="unknown loss term 'kl'"):
        distill.method_hparams("kl")
    with pytest.raises(ValueError, match="temperature"):
        distill.method_hparams("kd", 0.0)
    with pytest.raises(ValueError, match="unknown method 'distil'.*teacher, source, sm"):
        distill.run_method("distil", None, (None, None), (None, None), 0, ".")


# --- networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("resolution", [8, 12, 20])
def test_network_is_resolution_agnostic(resolution):
    net = train.init_network(TINY, 0)
    images = np.zeros((2, resolution, resolution, 3), np.uint8)
    assert train.predict_logits(net, images).shape == (2, 3)
    assert net.module().features(jnp.asarray(images)).shape == (2, TINY.feature_dim)


def test_bad_configs_name_the_argument():
    with pytest.raises(ValueError, match="`width`"):
        NetworkConfig(width=0)
    with pytest.raises(ValueError, match="`epochs`"):
        train.TrainConfig(epochs=0)
    with pytest.raises(ValueError, match="`learning_rate`"):
        train.TrainConfig(epochs=1, learning_rate=float("nan"))
    net = train.init_network(TINY, 0)
    with pytest.raises(ValueError, match="uint8"):
        train.predict_logits(net, np.zeros((2, 8, 8, 3), np.float32))
    data = distill.training_data(np.zeros((4, 8, 8, 3), np.uint8), n_classes=3)
    data["labels"] = data["labels"][:3]
    with pytest.raises(ValueError, match="`data\\['labels'\\]` has 3 rows"):
        train.train(
            net,
            data,
            train.TrainConfig(epochs=1),
            distill.distillation_loss,
            distill.method_hparams("ce"),
            0,
        )


def test_predictions_do_not_depend_on_the_batching():
    """Evaluation pads the last batch; in eval mode each image's logits are its own."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (13, 8, 8, 3), dtype=np.uint8)
    net = train.init_network(TINY, 1)
    full = train.predict_logits(net, images, batch_size=16)
    chunked = train.predict_logits(net, images, batch_size=5)
    np.testing.assert_allclose(chunked, full, rtol=1e-5, atol=1e-6)
    # the same pass with the penultimate features: the same logits, and head(features) = logits
    h, z = train.batched_forward(net, images, batch_size=5, with_features=True)
    assert h.shape == (13, TINY.feature_dim)
    np.testing.assert_array_equal(z, chunked)
    head = net.module().head
    np.testing.assert_allclose(
        h @ np.asarray(head.kernel[...]) + np.asarray(head.bias[...]), z, rtol=1e-5, atol=1e-5
    )
    h0, z0 = train.batched_forward(net, images[:0], with_features=True)
    assert h0.shape == (0, TINY.feature_dim) and z0.shape == (0, TINY.n_classes)


def test_augmentation_keeps_shapes_and_pixels():
    rng = np.random.default_rng(0)
    images = jnp.asarray(rng.integers(1, 256, (4, 6, 6, 3), dtype=np.uint8))
    out = train.augment(images, jax.random.key(0), pad=0, flip=True)
    for a, b in zip(np.asarray(images), np.asarray(out), strict=True):  # flipped or not
        assert np.array_equal(a, b) or np.array_equal(a[:, ::-1], b)
    cropped = np.asarray(train.augment(images, jax.random.key(1), pad=2, flip=False))
    assert cropped.shape == images.shape and cropped.dtype == np.uint8


# --- training ---------------------------------------------------------------------------------


def _data(n=16, res=8, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, res, res, 3), dtype=np.uint8)
    return distill.training_data(images, labels=rng.integers(0, 3, n), n_classes=3)


def _loss_on(net, data):
    model = net.module(train=True)
    logits = model(jnp.asarray(data["images"])).astype(jnp.float32)
    batch = {k: jnp.asarray(v) for k, v in data.items()}
    return float(distill.distillation_loss(logits, batch, distill.method_hparams("ce")))


def test_one_training_step_lowers_the_loss():
    data = _data()
    cfg = train.TrainConfig(
        epochs=1, batch_size=16, learning_rate=1e-2, warmup_fraction=0.0, pad=0, flip=False
    )
    net = train.init_network(TINY, 0)
    before = _loss_on(net, data)
    after_net = train.train(
        net, data, cfg, distill.distillation_loss, distill.method_hparams("ce"), 0
    )
    assert len(after_net.history) == 1
    assert _loss_on(after_net, data) < before


def test_killed_and_resumed_run_ends_with_the_same_parameters(tmp_path, monkeypatch):
    data = _data(n=24)
    cfg = train.TrainConfig(epochs=3, batch_size=8)
    args = (data, cfg, distill.distillation_loss, distill.method_hparams("ce"), 7)
    reference = train.train(train.init_network(TINY, 0), *args)

    calls = {"n": 0}
    real_gather = train._gather

    def dying_gather(arrays, idx):  # the process "dies" in the middle of the second epoch
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_gather(arrays, idx)

    monkeypatch.setattr(train, "_gather", dying_gather)
    with pytest.raises(KeyboardInterrupt):
        train.train(train.init_network(TINY, 0), *args, checkpoint_dir=tmp_path / "ck")
    monkeypatch.setattr(train, "_gather", real_gather)
    resumed = train.train(train.init_network(TINY, 0), *args, checkpoint_dir=tmp_path / "ck")
    assert len(resumed.history) == 2  # epochs 2 and 3 ran after the restart
    for a, b in zip(
        jax.tree.leaves(reference.params), jax.tree.leaves(resumed.params), strict=True
    ):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    for a, b in zip(jax.tree.leaves(reference.rest), jax.tree.leaves(resumed.rest), strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # a finished run is loaded, not retrained
    again = train.train(train.init_network(TINY, 0), *args, checkpoint_dir=tmp_path / "ck")
    assert len(again.history) == 0
    assert all(
        np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(
            jax.tree.leaves(again.params), jax.tree.leaves(reference.params), strict=True
        )
    )


def test_a_hyper_parameter_schedule_equals_the_runs_it_chains():
    """Labels for epoch 0 then KD for epoch 1 under one two-epoch schedule equals two calls of
    one epoch each whose learning rates are the halves of that schedule: the schedule of
    hyper-parameters changes the loss, nothing else; on_epoch sees every epoch."""
    data = _data(n=16)
    rng = np.random.default_rng(3)
    data["teacher_logits"] = rng.standard_normal((16, 3)).astype(np.float32)
    cfg = train.TrainConfig(
        epochs=2,
        batch_size=8,
        warmup_fraction=0.0,
        schedule="linear",
        optimizer="nesterov",
        learning_rate=0.05,
        pad=1,
        pad_mode="reflect",
    )
    ce, kd = distill.method_hparams("ce"), distill.method_hparams("kd", 2.0)
    seen = []
    net = train.train(
        train.init_network(TINY, 0),
        data,
        cfg,
        distill.distillation_loss,
        lambda epoch: ce if epoch == 0 else kd,
        5,
        on_epoch=lambda e, n: seen.append((e, len(n.history))),
    )
    assert seen == [(1, 1), (2, 2)]
    constant = train.train(train.init_network(TINY, 0), data, cfg, distill.distillation_loss, ce, 5)
    assert net.history[0] == constant.history[0]  # the first epoch is the same run
    assert net.history[1] != constant.history[1]  # the second reads the teacher


def test_nesterov_linear_schedule_and_mirror_padding():
    cfg = train.TrainConfig(epochs=1, learning_rate=0.2, warmup_fraction=0.2, schedule="linear")
    rates = train.learning_rates(cfg, 10)
    np.testing.assert_allclose(
        rates,
        0.2 * np.array([0.5, 1, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]),
        rtol=1e-6,
    )
    images = jnp.asarray(np.random.default_rng(0).integers(1, 256, (3, 5, 5, 3), np.uint8))
    out = np.asarray(
        train.augment(images, jax.random.key(2), pad=2, flip=False, pad_mode="reflect")
    )
    assert (out > 0).all()  # mirror padding: no zero pixels enter the crop
    for bad in (
        dict(optimizer="sgd"),
        dict(schedule="step"),
        dict(pad_mode="edge"),
        dict(momentum=1.0),
    ):
        with pytest.raises(ValueError, match="TrainConfig"):
            train.TrainConfig(epochs=1, **bad)


def test_learning_rate_schedule():
    cfg = train.TrainConfig(epochs=1, learning_rate=0.1, warmup_fraction=0.2)
    rates = train.learning_rates(cfg, 100)
    assert rates[0] == 0.0 and rates.max() == pytest.approx(0.1) and rates[-1] < 1e-3
    assert np.argmax(rates) == 20


def _source_and_target(seed: int, n_source: int, n_target: int):
    """Random 8 x 8 labelled source and target splits of three classes."""
    rng = np.random.default_rng(seed)
    return tuple(
        (rng.integers(0, 256, (n, 8, 8, 3), dtype=np.uint8), rng.integers(0, 3, n))
        for n in (n_source, n_target)
    )


def _two_rounds(train_cfg, **extra):
    """A tiny protocol: a 1-epoch teacher and two RaT rounds of one epoch per stage."""
    return distill.Protocol(
        student=TINY,
        train=train_cfg,
        teacher_epochs=1,
        rounds=2,
        refit_epochs=1,
        student_epochs=1,
        **extra,
    )


def test_methods_share_the_teacher_and_report_their_budget(tmp_path):
    src, tgt = _source_and_target(0, 20, 16)
    proto = _two_rounds(train.TrainConfig(epochs=2, batch_size=8, pad=1))
    out = {m: distill.run_method(m, proto, src, tgt, 3, tmp_path) for m in distill.METHODS}
    teacher = out["teacher"][0]
    for m, (_, t) in out.items():  # every method saw the same (checkpointed) teacher
        for a, b in zip(
            jax.tree.leaves(t.network.params), jax.tree.leaves(teacher.network.params), strict=True
        ):
            assert np.array_equal(np.asarray(a), np.asarray(b)), m
    budget = {m: (r.epochs, r.images) for m, (r, _) in out.items()}
    assert budget["teacher"] == (1, 24)  # 20 images in 3 batches of 8
    assert budget["sm"] == (2, 32) and budget["oracle"] == (2, 32)
    # RaT: sm, then per round a refit (source, 1 epoch) and a student stage (target, 1 epoch)
    assert budget["rat"] == (2 + 2 * 2, 32 + 2 * (24 + 16))
    assert budget["sm_long"] == (2 + 2 * 2, 32 + 2 * 32)
    assert out["rat"][0].stages == [
        "sm",
        "rat-refit-1",
        "rat-student-1",
        "rat-refit-2",
        "rat-student-2",
    ]


@pytest.mark.parametrize("method", ["rat", "rat_eta0", "sm_long", "sm_ce"])
def test_continuation_stages_train_at_the_protocols_reduced_rate(tmp_path, monkeypatch, method):
    src, tgt = _source_and_target(2, 12, 8)
    rates = {}
    real = distill.train

    def spy(network, data, cfg, *args, desc=None, **kwargs):
        rates[desc] = cfg.learning_rate
        return real(network, data, cfg, *args, desc=desc, **kwargs)

    monkeypatch.setattr(distill, "train", spy)
    train_cfg = train.TrainConfig(epochs=1, batch_size=8, learning_rate=0.3)
    proto = _two_rounds(train_cfg, continue_lr_factor=0.1)
    result, _ = distill.run_method(method, proto, src, tgt, 0, tmp_path)
    assert rates["teacher"] == rates["sm"] == 0.3  # first trainings from an initialization
    later = [s for s in result.stages if s != "sm"]
    assert later and all(rates[s] == pytest.approx(0.03) for s in later)


@pytest.mark.parametrize("factor", [0.0, -0.1, 1.5, float("nan"), True, "0.1"])
def test_protocol_rejects_a_continuation_factor_outside_0_1(factor):
    with pytest.raises(ValueError, match="continue_lr_factor"):
        distill.Protocol(
            student=TINY,
            train=train.TrainConfig(epochs=1),
            teacher_epochs=1,
            continue_lr_factor=factor,
        )


@pytest.mark.parametrize(
    ("source_labels", "target_images", "student", "match"),
    [
        (np.array([0, 1, 3, 0]), None, TINY, "source labels must be integers in \\[0, 3\\)"),
        (np.array([0, 1, -1, 0]), None, TINY, "source labels"),
        (np.array([0.0, 1.0, 2.0, 0.0]), None, TINY, "source labels"),
        (np.array([0, 1]), None, TINY, r"source labels must have shape \(4,\)"),
        (np.array([0, 1, 2, 0]), np.zeros((4, 8, 8), np.uint8), TINY, "target images"),
        (np.array([0, 1, 2, 0]), None, NetworkConfig(width=4, depth=1, n_classes=4), None),
    ],
)
def test_run_method_rejects_data_it_cannot_train_on(
    tmp_path, source_labels, target_images, student, match
):
    rng = np.random.default_rng(1)
    src = (rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8), source_labels)
    tgt_images = rng.integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    tgt = (tgt_images if target_images is None else target_images, np.array([0, 1, 2, 0]))
    proto = distill.Protocol(
        student=student, train=train.TrainConfig(epochs=1, batch_size=4), teacher_epochs=1
    )
    if match is None:  # a teacher with 10 classes against a 4-class student
        proto = distill.Protocol(
            student=student,
            teacher=NetworkConfig(width=4, depth=1, n_classes=10),
            train=train.TrainConfig(epochs=1, batch_size=4),
            teacher_epochs=1,
        )
        match = "teacher and student disagree"
    with pytest.raises(ValueError, match=match):
        distill.run_method("sm", proto, src, tgt, 0, tmp_path)
    assert not any(tmp_path.iterdir())  # nothing trained before the check


def test_core_package_imports_without_jax():
    code = (
        "import sys\n"
        "for name in ('jax', 'flax', 'optax', 'orbax'): sys.modules[name] = None\n"
        "import kdtheory, kdtheory.cli, kdtheory.neural, kdtheory.neural.shift\n"
        "import kdtheory.simulations.imagenette_shift\n"
        "try:\n"
        "    import kdtheory.neural.train\n"
        "except ImportError as err:\n"
        "    print(err)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'kdtheory[neural]'" in out.stdout
