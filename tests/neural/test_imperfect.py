"""Power-divergence KD and residual learning on networks (PD-2, RES-1), and their study."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")
pytest.importorskip("orbax.checkpoint")
Image = pytest.importorskip("PIL.Image")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from _imagenette_folder import write_imagenette  # noqa: E402

from kdtheory.losses import power_divergence_kd_loss  # noqa: E402
from kdtheory.neural import distill, train  # noqa: E402
from kdtheory.neural import imperfect as imp  # noqa: E402
from kdtheory.neural.models import NetworkConfig  # noqa: E402
from kdtheory.simulations import imagenette_imperfect as sim  # noqa: E402

TINY = NetworkConfig(width=4, depth=1, n_stages=2, n_classes=3)  # feature width 8


def _batch(rng, n=8, c=3, d=8):
    return {
        "labels": rng.integers(0, c, n).astype(np.int32),
        "teacher_logits": (3 * rng.standard_normal((n, c))).astype(np.float32),
        "projected": rng.standard_normal((n, d)).astype(np.float32),
        "teacher_wrong": (rng.random(n) < 0.5).astype(np.float32),
    }


def _hp(method, **kw):
    return {k: jnp.float32(v) for k, v in imp.imperfect_hparams(method, **kw).items()}


# --- the power-divergence term (PD-1 limit, PD-2 loss) ------------------------------------------


@pytest.mark.claim("PD-1")
def test_pd_term_is_kd_at_lam_zero_teacher_first():
    rng = np.random.default_rng(0)
    z, b = jnp.asarray(rng.standard_normal((8, 3)), jnp.float32), _batch(rng)
    for lam in (0.0, 1e-6):
        hp = _hp("pd_ts(1/2)", temperature=4.0) | {"pd_lam": jnp.float32(lam)}
        pd = imp.power_divergence_term(z, b, hp)
        kd = distill.soft_matching_loss(z, b, hp)
        assert float(pd) == pytest.approx(float(kd), rel=1e-5)
        g_pd = jax.jit(jax.grad(imp.power_divergence_term))(z, b, hp)
        g_kd = jax.jit(jax.grad(distill.soft_matching_loss))(z, b, hp)
        np.testing.assert_allclose(g_pd, g_kd, rtol=1e-4, atol=1e-7)
    # and not at lam = 2/3: the limit is not an accident of the weights
    hp = _hp("pd_ts(2/3)", temperature=4.0)
    assert abs(float(imp.power_divergence_term(z, b, hp)) - float(kd)) > 1e-3


#: the smoke study's network, batch and padding: the steps compiled here serve its test too
STUDY_NET = NetworkConfig(width=4, depth=1, n_stages=2)


def _one_step(loss, hparams, data, key=0):
    net = train.init_network(STUDY_NET, 3)
    cfg = train.TrainConfig(epochs=1, batch_size=len(data["images"]), pad=1)
    return train.train(net, data, cfg, loss, hparams, key).params


def _step_data(rng, *, white_box: bool, n=64):
    """A batch shaped like the smoke study's: the teacher's data, or the students' data."""
    b = _batch(rng, n=n, c=10, d=8)
    data = {"images": rng.integers(0, 256, (n, 12, 12, 3)).astype(np.uint8), **b}
    if not white_box:
        del data["projected"], data["teacher_wrong"]
        data["targets"] = np.zeros((n, 10), np.float32)
    return data


def test_pd_step_equals_kd_step_at_lam_zero():
    """One training step (features path of the step) with PD at lam = 0 is KD's step."""
    data = _step_data(np.random.default_rng(1), white_box=False)
    kd = _one_step(distill.distillation_loss, distill.method_hparams("kd", 4.0), data)
    data = _step_data(np.random.default_rng(1), white_box=True)
    hp = imp.imperfect_hparams("pd_ts(1)", temperature=4.0) | {"pd_lam": 0.0}
    pd = _one_step(imp.imperfect_loss, hp, data)
    for a, b in zip(jax.tree.leaves(kd), jax.tree.leaves(pd), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # a different loss moves the parameters elsewhere (the comparison can fail)
    other = _one_step(imp.imperfect_loss, imp.imperfect_hparams("pd_ts(2/3)"), data)
    assert (
        max(
            float(jnp.abs(a - b).max())
            for a, b in zip(jax.tree.leaves(kd), jax.tree.leaves(other), strict=True)
        )
        > 1e-5
    )


def test_ce_through_the_features_path_is_the_old_ce_step():
    old = _one_step(
        distill.distillation_loss,
        distill.method_hparams("ce"),
        _step_data(np.random.default_rng(2), white_box=False),
    )
    new = _one_step(
        imp.imperfect_loss,
        imp.imperfect_hparams("ce"),
        _step_data(np.random.default_rng(2), white_box=True),
    )
    for a, b in zip(jax.tree.leaves(old), jax.tree.leaves(new), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_order_switch_selects_the_argument_order():
    rng = np.random.default_rng(3)
    z, b = jnp.asarray(rng.standard_normal((8, 3)), jnp.float32), _batch(rng)
    p = jax.nn.softmax(b["teacher_logits"])
    for order, name in ((0.0, "teacher_student"), (1.0, "student_teacher")):
        hp = _hp("pd_ts(2/3)") | {"pd_order": jnp.float32(order)}
        want = power_divergence_kd_loss(z, p, 2 / 3, temperature=4.0, order=name).mean()
        assert float(imp.power_divergence_term(z, b, hp)) == pytest.approx(float(want), rel=1e-5)
    ts, st = (float(imp.power_divergence_term(z, b, _hp(m))) for m in ("pd_ts(2/3)", "pd_st(2/3)"))
    assert abs(ts - st) > 1e-3
    # lam = -1/2 is self-dual: both orders give one loss
    ts, st = (
        float(imp.power_divergence_term(z, b, _hp(m))) for m in ("pd_ts(-1/2)", "pd_st(-1/2)")
    )
    assert ts == pytest.approx(st, rel=1e-5)
    assert imp.imperfect_hparams("pd_st(2/3)")["pd_order"] == 1.0


def _old_pd_term(logits, batch, hparams):
    """The former PD term: both orders from T = 1 probabilities, mixed by ``pd_order``."""
    p = jax.nn.softmax(batch["teacher_logits"], axis=-1)
    lam, order, temperature = hparams["pd_lam"], hparams["pd_order"], hparams["temperature"]
    first = power_divergence_kd_loss(logits, p, lam, temperature=temperature)
    second = power_divergence_kd_loss(
        logits, p, lam, temperature=temperature, order="student_teacher"
    )
    return jnp.mean((1.0 - order) * first + order * second)


ALL_STUDENTS = (
    *(m for m in imp.BASE_METHODS if m != "teacher"),
    *(imp.pd_method(o, lam) for o in ("ts", "st") for lam in (-1.5, -0.5, -0.25, 0.0, 2 / 3, 1.0)),
)


def test_a_very_confident_teacher_leaves_every_loss_and_gradient_finite():
    """A teacher logit gap of 120 (its T = 1 probabilities underflow to 0) gave NaN for every
    method through ``0 * inf`` in the unused PD term; now every loss and gradient is finite."""
    rng = np.random.default_rng(9)
    b = _batch(rng, c=10)
    b["teacher_logits"] = np.zeros((8, 10), np.float32)
    b["teacher_logits"][np.arange(8), rng.integers(0, 10, 8)] = 120.0
    z = jnp.asarray(2 * rng.standard_normal((8, 10)), jnp.float32)
    h = jnp.asarray(rng.standard_normal((8, 8)), jnp.float32)
    _, head = _head(c=10)

    def loss(z, hp):
        return imp.imperfect_loss(z, b, hp, features=h, head=head)

    value_and_grad = jax.jit(jax.value_and_grad(loss))
    for method in ALL_STUDENTS:
        value, grad = value_and_grad(z, _hp(method))
        assert np.isfinite(float(value)), method
        assert np.all(np.isfinite(np.asarray(grad))), method
    # the former term is not finite here, even for kd (w_pd = 0): the check can fail
    for method in ("kd", "pd_ts(2/3)", "pd_st(2/3)"):
        assert not np.isfinite(float(_old_pd_term(z, b, _hp(method)))), method


def test_pd_term_equals_the_former_two_order_mixture_where_it_was_finite():
    """One divergence by duality, from the logits, equals the former mixture of both orders
    from T = 1 probabilities on a moderate teacher (logit gaps up to about 20), within the
    tolerances of the tests above (float32 rounding of both log-softmaxes)."""
    rng = np.random.default_rng(10)
    z = jnp.asarray(2 * rng.standard_normal((8, 10)), jnp.float32)
    b = _batch(rng, c=10) | {
        "teacher_logits": (5 * rng.standard_normal((8, 10))).astype(np.float32)
    }
    new_grad = jax.jit(jax.grad(imp.power_divergence_term))
    old_grad = jax.jit(jax.grad(_old_pd_term))
    for method in ALL_STUDENTS:
        hp = _hp(method)
        if float(hp["w_pd"]) == 0:
            continue
        old = float(_old_pd_term(z, b, hp))
        assert np.isfinite(old)
        assert float(imp.power_divergence_term(z, b, hp)) == pytest.approx(old, rel=1e-5), method
        np.testing.assert_allclose(
            new_grad(z, b, hp), old_grad(z, b, hp), rtol=1e-4, atol=1e-7, err_msg=method
        )


# --- corruption of the teacher's outputs (PD-2 on images) ---------------------------------------


def test_corruption_is_seeded_and_hits_the_fraction():
    rng = np.random.default_rng(4)
    logits, labels = rng.standard_normal((101, 10)), rng.integers(0, 10, 101)
    a, ca = imp.corrupt_teacher_logits(logits, labels, 0.3, np.random.default_rng(7))
    b, cb = imp.corrupt_teacher_logits(logits, labels, 0.3, np.random.default_rng(7))
    c, cc = imp.corrupt_teacher_logits(logits, labels, 0.3, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(ca, cc)
    assert ca.sum() == round(0.3 * 101) == cc.sum()
    np.testing.assert_array_equal(a[~ca], logits[~ca].astype(np.float32))
    top = a[ca].argmax(axis=1)
    assert np.all(top != labels[ca]) and np.all(a[ca].max(axis=1) == 10.0)
    assert np.all(np.sort(a[ca], axis=1)[:, -2] == 0.0)
    with pytest.raises(ValueError, match="fraction"):
        imp.corrupt_teacher_logits(logits, labels, 1.5, np.random.default_rng(0))


# --- residual learning (RES-1) ------------------------------------------------------------------


def _head(d=8, c=3, seed=5):
    w = jax.random.normal(jax.random.key(seed), (d, c))
    return w, lambda h: h @ w


def test_beta_formula_and_its_ablation():
    rng = np.random.default_rng(6)
    h, p = rng.standard_normal((8, 16)) * 3, rng.standard_normal((8, 16))
    want = np.sqrt(16 / 4) * np.linalg.norm(h, axis=1).mean() / np.linalg.norm(p, axis=1).mean()
    got = imp.residual_beta(jnp.asarray(h), jnp.asarray(p), 16 / 4, 1.0)
    assert float(got) == pytest.approx(want, rel=1e-5)
    assert float(imp.residual_beta(jnp.asarray(h), jnp.asarray(p), 4.0, 0.0)) == 1.0
    # a zero projection (methods without a teacher) keeps beta finite
    assert np.isfinite(float(imp.residual_beta(jnp.asarray(h), jnp.zeros((8, 16)), 4.0, 1.0)))


def test_residual_term_reads_only_masked_images():
    rng = np.random.default_rng(7)
    b = _batch(rng)
    h = jnp.asarray(rng.standard_normal((8, 8)), jnp.float32)
    w, head = _head()
    hp = _hp("res", d_ratio=2.0)
    value = imp.residual_term(None, b, hp, features=h, head=head)
    beta = float(imp.residual_beta(h, b["projected"], 2.0, 1.0))
    z = np.asarray((h - beta * b["projected"]) @ w, np.float64)
    ce = -(z[np.arange(8), b["labels"]] - np.log(np.exp(z).sum(axis=1)))
    m = b["teacher_wrong"]
    assert float(value) == pytest.approx((m * ce).sum() / m.sum(), rel=1e-5)
    # changing an unmasked image's label leaves L_res unchanged; a masked one's changes it
    free, held = np.flatnonzero(m == 0)[0], np.flatnonzero(m == 1)[0]
    for i, same in ((free, True), (held, False)):
        c = dict(b, labels=b["labels"].copy())
        c["labels"][i] = (c["labels"][i] + 1) % 3
        moved = float(imp.residual_term(None, c, hp, features=h, head=head))
        assert (moved == pytest.approx(float(value), rel=1e-6)) == same
    # without the mask every image counts
    off = imp.residual_term(None, b, _hp("res_no_mask", d_ratio=2.0), features=h, head=head)
    assert float(off) == pytest.approx(ce.mean(), rel=1e-5)


def test_ablation_switches_change_exactly_what_they_say():
    res = imp.imperfect_hparams("res")
    changed = {
        m: {k for k in res if imp.imperfect_hparams(m)[k] != res[k]}
        for m in ("res_no_beta", "res_no_mask", "res_no_pretrain", "kd_res", "ce")
    }
    assert changed["res_no_beta"] == {"res_beta"}
    assert changed["res_no_mask"] == {"res_mask"}
    assert changed["res_no_pretrain"] == set()  # it differs in the projector, not the loss
    assert changed["kd_res"] == {"w_ce", "w_kd"}
    assert res["w_res"] == 0.5 and res["w_ce"] == 0.5
    assert changed["ce"] == {"w_ce", "w_res"}


def test_projector_pretraining_reduces_its_loss():
    rng = np.random.default_rng(8)
    feats = np.abs(rng.standard_normal((200, 16))).astype(np.float32)
    labels = rng.integers(0, 3, 200)
    w, _ = _head(d=16)
    params = imp.init_projector(jax.random.key(0), 16, 4)
    before = float(imp.projector_loss(params, feats, labels, w, jnp.zeros(3)))
    trained, losses = imp.pretrain_projector(params, feats, labels, w, jnp.zeros(3), steps=60)
    after = float(imp.projector_loss(trained, feats, labels, w, jnp.zeros(3)))
    assert after < 0.8 * before and losses[-1] < losses[0]


# --- bad input ----------------------------------------------------------------------------------


def test_d_a_larger_than_the_feature_width_is_named():
    with pytest.raises(ValueError, match="d_A.*16.*feature width 8"):
        imp.init_projector(jax.random.key(0), 8, 16)
    proto = imp.ImperfectProtocol(
        student=TINY, train=train.TrainConfig(epochs=1), teacher_epochs=1, d_a=16
    )
    images = np.zeros((6, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="d_A"):
        imp.run_imperfect("res", proto, (images, np.zeros(6, int)), 0, "/nonexistent")


def test_a_narrower_student_needs_an_adapter_for_the_residual_methods():
    wide = NetworkConfig(width=8, depth=1, n_stages=2, n_classes=3)  # feature width 16
    proto = imp.ImperfectProtocol(
        student=TINY, teacher=wide, train=train.TrainConfig(epochs=1), teacher_epochs=1, d_a=4
    )
    data = (np.zeros((6, 8, 8, 3), np.uint8), np.zeros(6, int))
    for method in ("res", "res_no_beta", "res_no_mask", "res_no_pretrain", "kd_res"):
        with pytest.raises(ValueError, match="d_S = 8 != d_T = 16 needs a student with an adap"):
            imp.run_imperfect(method, proto, data, 0, "/nonexistent")
    for method in ("teacher", "ce", "kd", "pd_st(2/3)", "kd+ce"):
        imp._check(proto, data, method, "corrupt")  # no error
    from kdtheory.neural.airnet import AirConfig

    narrow = AirConfig(widths=(4, 8), patch=2, stride=1, n_classes=3, adapter_dim=4)
    teacher = AirConfig(widths=(8, 16), patch=2, stride=1, n_classes=3)
    proto = dataclasses.replace(proto, student=narrow, teacher=teacher)
    imp._check(proto, data, "res", "clean")  # d_A = 4 < d_S = 8 < d_T = 16 with the adapter


def test_residual_term_reads_the_code_through_the_adapter():
    """For a narrower student the batch holds E(h_T) (width d_A): the term equals the one
    computed with the adapter's output given directly as the projected features."""
    rng = np.random.default_rng(0)
    from flax import nnx

    adapter = nnx.Linear(4, 8, rngs=nnx.Rngs(0))
    head = nnx.Linear(8, 3, rngs=nnx.Rngs(1))
    features = jnp.asarray(rng.standard_normal((5, 8)), jnp.float32)
    code = jnp.asarray(rng.standard_normal((5, 4)), jnp.float32)
    batch = {"labels": jnp.asarray([0, 1, 2, 0, 1]), "teacher_wrong": jnp.ones(5)}
    hp = imp.imperfect_hparams("res", d_ratio=2.0)
    via = imp.residual_term(
        None, {**batch, "projected": code}, hp, features=features, head=head, adapter=adapter
    )
    direct = imp.residual_term(
        None, {**batch, "projected": adapter(code)}, hp, features=features, head=head
    )
    np.testing.assert_allclose(float(via), float(direct), rtol=1e-6)
    with pytest.raises(ValueError, match="needs an adapter"):
        imp.residual_term(None, {**batch, "projected": code}, hp, features=features, head=head)


def test_ce_pipelines_mix_the_weights():
    hp = imp.imperfect_hparams("pd_st(2/3)+ce", temperature=4.0)
    assert hp["w_ce"] == imp.CE_WEIGHT and hp["w_pd"] == 1 - imp.CE_WEIGHT
    assert hp["pd_order"] == 1.0 and hp["pd_lam"] == pytest.approx(2 / 3)
    hp = imp.imperfect_hparams("kd+ce")
    assert hp["w_ce"] == hp["w_kd"] == 0.5 and hp["w_pd"] == hp["w_res"] == 0
    with pytest.raises(ValueError, match=r"\+ce"):
        imp.parse_method("res+ce")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_imagenette(
        tmp_path_factory.mktemp("imagenette"),
        {"train": 8, "val": 4},
        lambda rng, label: 120 + 40 * rng.standard_normal((12, 12, 3)),
    )


@pytest.mark.claim("PD-2", "RES-1")
def test_smoke_study_end_to_end(folder, tmp_path):
    few = ("teacher", "ce", "kd", "pd_ts(-1/4)", "pd_st(2/3)", "res", "res_no_mask")
    cfg = dataclasses.replace(
        sim.PRESETS["smoke"],
        lams=(-0.25, 2 / 3),
        methods=few,
        data_root=str(folder),
    )
    df = sim.run(cfg, cache_dir=tmp_path, progress=False)
    assert sim.methods(cfg) == few
    assert len(df) == len(sim.SETTINGS) * cfg.n_seeds * len(few)
    assert df.test_acc.between(0, 1).all()
    # ce reads no teacher output: the teacher is not run for it, its info is NaN
    ce_rows = df.method == "ce"
    assert df[ce_rows][["corrupted_fraction", "mask_fraction"]].isna().all().all()
    read = df[~ce_rows]
    assert read[["corrupted_fraction", "mask_fraction"]].notna().all().all()
    corrupt = read[read.setting == "corrupt"]
    assert np.allclose(corrupt.corrupted_fraction, cfg.corrupt_fraction)
    assert (read[read.setting == "clean"].corrupted_fraction == 0).all()
    # ce and res_no_mask do not read the teacher's logits: one stage, one network, both settings
    for m in ("ce", "res_no_mask"):
        acc = df[df.method == m].pivot_table(index="seed", columns="setting", values="test_acc")
        np.testing.assert_array_equal(acc["clean"], acc["corrupt"])
    stages = {d.name for d in tmp_path.rglob("*") if d.is_dir()}
    assert {"ce", "res_no_mask", "clean-res", "corrupt-res"} <= stages
    assert not stages & {f"{s}-{m}" for s in sim.SETTINGS for m in ("ce", "res_no_mask")}
    # one budget for every student
    students = df[df.method != "teacher"]
    assert students.epochs.nunique() == 1 and students.images.nunique() == 1
    analysis = sim.analyze(df)
    table = sim.result_table(analysis)
    assert list(table.columns) == [
        "method",
        "clean_acc",
        "clean_vs_kd",
        "corrupt_acc",
        "corrupt_vs_kd",
        "epochs",
        "images",
    ]
    assert list(table.method) == list(few)
    # the feature widths of the compression premise: d_A = 4 < d_S = 8 < d_T = 16
    assert set(df.d_a) == {4} and set(df.d_s) == {8} and set(df.d_t) == {16}
    # one teacher from the bank, shared by the seeds: its row repeats
    assert df[df.method == "teacher"].test_acc.nunique() == 1
    claims = sim.claims(df, analysis)
    # PD-2: the paper's lam student first and the negative lam teacher first (pd_ts(2/3) is not
    # among these methods); RES-1: res against ce, kd and res_no_mask in each setting
    assert [c.id for c in claims] == ["PD-2"] * 2 + ["RES-1"] * 6
    res = [c for c in claims if c.id == "RES-1"]
    assert all("d_A = 4, d_S = 8, d_T = 16" in c.premise[2].statement for c in res)
    assert all(c.premise[2].met for c in res)
    fig = sim.plot(df, analysis, claims)
    try:
        assert len(fig.axes) == 3 and all(ax.get_xlabel() for ax in fig.axes)
    finally:
        plt.close(fig)


NOISE = np.array([0.01, -0.01, 0.0])
#: clean-teacher accuracy above label training (ce), per method, with a per-seed jitter
CLEAN = {
    "teacher": (0.2, [0.0, 0.0, 0.0]),
    "ce": (0.0, [0.0, 0.0, 0.0]),
    "kd": (0.05, [0.0, 0.005, -0.005]),
    "res": (0.08, [0.0, 0.004, 0.008]),
}
#: residual ablations relative to res
ABLATIONS = {
    "res_no_beta": (-0.02, [0.001, -0.001, 0.0]),
    "res_no_mask": (0.03, [0.001, -0.001, 0.0]),
    "res_no_pretrain": (0.0, [0.02, -0.02, 0.001]),
}
#: accuracy lost with the corrupted teacher, per method reading the teacher's logits
DROP = {
    "kd": (0.2, [0.0, 0.01, -0.01]),
    "pd_st(2/3)": (0.05, [0.0, 0.01, -0.005]),
    "pd_ts(2/3)": (0.3, [0.0, 0.01, -0.01]),
    "pd_ts(-1/4)": (0.2, [0.02, -0.02, 0.01]),
}


def _known_table(widths=(64, 128, 256), mask=(0.3, 0.7), teacher=0.2, kd=0.05):
    """A hand-built study table, 3 seeds; ``ce`` and ``teacher`` are one network in both
    settings; the residual methods and the ablations read the teacher's mask only, so they are
    equal in both settings here (the mask premise decides the corrupt setting)."""
    clean = {"teacher": (teacher, CLEAN["teacher"][1]), "kd": (kd, CLEAN["kd"][1])}
    rows = []
    for seed in range(3):
        acc = {m: 0.5 + NOISE[seed] + d + j[seed] for m, (d, j) in (CLEAN | clean).items()}
        acc |= {m: acc["res"] + d + j[seed] for m, (d, j) in ABLATIONS.items()}
        acc |= {m: acc["kd"] for m in DROP if m != "kd"}
        for setting, frac in zip(sim.SETTINGS, mask, strict=True):
            now = dict(acc)
            if setting == "corrupt":
                now |= {m: acc[m] - d - j[seed] for m, (d, j) in DROP.items()}
            for method, a in now.items():
                rows.append(
                    dict(
                        setting=setting,
                        seed=seed,
                        method=method,
                        test_acc=a,
                        epochs=1,
                        images=64,
                        n_train=64,
                        n_test=32,
                        mask_fraction=frac,
                        corrupted_fraction=0.3 * (setting == "corrupt"),
                    )
                )
    df = pd.DataFrame(rows)
    if widths is not None:
        df = df.assign(d_a=widths[0], d_s=widths[1], d_t=widths[2])
    return df


@pytest.mark.claim("PD-2", "RES-1")
def test_two_workers_train_a_shared_stage_once_and_before_its_readers(folder, tmp_path):
    cfg = dataclasses.replace(
        sim.PRESETS["smoke"], methods=("teacher", "ce", "kd"), data_root=str(folder)
    )
    assert [m for m in sim.methods(cfg) if sim._shared({"setting": "clean", "method": m})] == ["ce"]
    assert not any(sim._shared({"setting": "corrupt", "method": m}) for m in sim.methods(cfg))
    df = sim.run(cfg, n_jobs=2, cache_dir=tmp_path, progress=False)
    assert len(df) == len(sim.SETTINGS) * cfg.n_seeds * 3
    acc = df[df.method == "ce"].pivot_table(index="seed", columns="setting", values="test_acc")
    np.testing.assert_array_equal(acc["clean"], acc["corrupt"])
    # one checkpoint folder of ce per seed: the corrupt setting read the clean one
    assert len([d for d in tmp_path.rglob("ce") if d.is_dir()]) == cfg.n_seeds


def test_claims_on_a_table_with_known_verdicts():
    """Hand-made accuracies over 3 seeds, every premise met except the mask in the corrupt
    setting (the teacher errs on 70% of the images there). PD-2: pd_st(2/3) drops 0.05 where KD
    drops 0.2 (gain 0.15: holds), pd_ts(2/3) drops 0.3 (gain -0.1: fails), pd_ts(-1/4) as KD up
    to noise (undecided). RES-1, clean teacher: res beats ce, kd and res_no_beta (holds), loses
    to res_no_mask by 0.03 (fails), ties res_no_pretrain up to noise (undecided); corrupt
    teacher: the same numbers, inconclusive (premise), outside Holm's family."""
    out = sim.claims(_known_table())
    pd2 = {c.statement.split(" ")[0]: c for c in out if c.id == "PD-2"}
    assert list(pd2) == ["pd_ts(2/3)", "pd_st(2/3)", "pd_ts(-1/4)"]
    assert [c.verdict for c in pd2.values()] == ["fails", "holds", "inconclusive"]
    assert pd2["pd_st(2/3)"].value == pytest.approx(0.15 - 0.005 / 3, abs=1e-9)
    assert pd2["pd_ts(2/3)"].value == pytest.approx(-0.1, abs=1e-9)
    assert all(c.premise_met and c.family == 3 and len(c.premise) == 2 for c in pd2.values())
    kd_ce, hurts = pd2["pd_st(2/3)"].premise
    assert kd_ce.value == pytest.approx(0.05, abs=1e-9) and hurts.value == pytest.approx(0.2)
    res = [c for c in out if c.id == "RES-1"]
    assert len(res) == 10
    clean, corrupt = res[:5], res[5:]
    assert [c.statement.split(" res - ")[1].split(",")[0] for c in clean] == list(sim.RES_RIVALS)
    assert [c.verdict for c in clean] == ["holds", "holds", "holds", "fails", "inconclusive"]
    assert all(c.premise_met and c.family == 5 for c in clean)
    assert clean[0].value == pytest.approx(0.084, abs=1e-9)
    assert clean[3].value == pytest.approx(-0.03, abs=1e-9)
    assert all(c.verdict == "inconclusive" and not c.premise_met for c in corrupt)
    assert corrupt[1].value == pytest.approx(clean[1].value + 0.2)  # KD loses 0.2 there
    keep = [0, 2, 3, 4]
    assert [corrupt[i].value for i in keep] == pytest.approx([clean[i].value for i in keep])
    good, errs, compression = corrupt[0].premise
    assert good.met and good.value == pytest.approx(0.2, abs=1e-9)
    assert not errs.met and errs.value == pytest.approx(0.7) and "(corrupt)" in errs.statement
    assert compression.met and clean[0].premise[1].met
    assert all("(3 seeds" in c.statement and "2 df" in c.detail for c in out)


@pytest.mark.claim("PD-2", "RES-1")
@pytest.mark.parametrize(
    ("kwargs", "unmet"),
    [
        ({"widths": (64, 128, 128)}, "compression"),  # the teacher is the student's network
        ({"widths": (128, 128, 256)}, "compression"),  # d_A = d_S: no bottleneck
        ({"widths": None}, "compression"),  # widths not recorded: not established
        ({"teacher": -0.01}, "teacher"),  # a teacher worse than label training
        ({"kd": -0.01}, "kd"),  # KD does not beat the labels with the clean teacher
    ],
)
def test_unmet_premises_make_the_checks_inconclusive(kwargs, unmet):
    out = sim.claims(_known_table(**kwargs))
    pd2 = [c for c in out if c.id == "PD-2"]
    res = [c for c in out if c.id == "RES-1"]
    assert all(c.verdict == "inconclusive" for c in res) == (unmet != "kd")
    assert all(c.verdict == "inconclusive" for c in pd2) == (unmet == "kd")
    if unmet == "compression":
        p = res[0].premise[2]
        assert not p.met and p.value is None
        assert ("not recorded" in p.statement) == (kwargs["widths"] is None)


@pytest.mark.claim("PD-2")
def test_a_study_without_the_residual_student_has_no_res1_checks():
    """Without ``res`` among the methods, RES-1 has nothing to check: the claims are PD-2's alone
    (the same as with it), and the figure's RES-1 panel stays empty."""
    full = _known_table()
    df = full[~full.method.isin(sim.RESIDUAL)]
    analysis = sim.analyze(df)
    assert analysis["res_diffs"].empty
    out = sim.claims(df, analysis)
    assert [c.id for c in out] == ["PD-2"] * 3
    with_res = [c for c in sim.claims(full) if c.id == "PD-2"]
    assert [c.to_dict() for c in out] == [c.to_dict() for c in with_res]
    fig = sim.plot(df, analysis, out)
    try:
        assert len(fig.axes) == 3
    finally:
        plt.close(fig)


def test_residual_methods_on_the_clean_teacher_only():
    """The cpu preset's layout: the residual family runs with the clean teacher only. RES-1 is
    then checked in the clean setting alone, with the same numbers as in the full table; PD-2
    is unchanged; the table and figure leave the missing cells empty."""
    full = _known_table(mask=(0.3, 0.3))
    df = full[~((full.setting == "corrupt") & full.method.isin(sim.RESIDUAL))]
    analysis = sim.analyze(df)
    out = sim.claims(df, analysis)
    res = [c for c in out if c.id == "RES-1"]
    assert res and all(c.statement.startswith("(clean teacher)") for c in res)
    res_full = [c for c in sim.claims(full) if c.id == "RES-1" and "(clean" in c.statement]
    assert [(c.value, c.ci) for c in res] == [(c.value, c.ci) for c in res_full]
    pd2 = [c.value for c in out if c.id == "PD-2"]
    assert [c.value for c in sim.claims(full) if c.id == "PD-2"] == pd2
    table = sim.result_table(analysis).set_index("method")
    assert table.loc["res", "corrupt_acc"] == "" and table.loc["res", "clean_acc"] != ""
    plt.close(sim.plot(df, analysis, out))


def test_every_method_of_the_presets_and_unknown_names():
    cpu = sim.methods(sim.PRESETS["cpu"])
    assert len(cpu) == 3 + 2 + 3 + 4 and {"pd_ts(2/3)", "pd_st(2/3)"} <= set(cpu)
    assert {"kd+ce", "pd_ts(2/3)+ce", "pd_st(2/3)+ce"} <= set(cpu)
    gpu = sim.methods(sim.PRESETS["gpu"])
    assert len(gpu) == 3 + 6 + 3 + 5 and "kd_res" in gpu
    # the cpu preset runs the corrupted teacher for PD-2's methods only
    corrupt = set(sim.PRESETS["cpu"].corrupt_methods)
    assert {"kd", "pd_ts(2/3)", "pd_st(2/3)+ce"} <= corrupt and not corrupt & {"res", "res_no_beta"}
    bad = dataclasses.replace(sim.PRESETS["smoke"], methods=("kd", "dkd"))
    with pytest.raises(ValueError, match="unknown method 'dkd'.*res_no_beta"):
        sim.methods(bad)


def test_gpu_and_cpu_presets_are_consistent():
    for name in ("cpu", "gpu"):
        cfg = sim.PRESETS[name]
        proto = sim.protocol(cfg)
        # a real compression: d_A < d_S < d_T, the student reading the code through an adapter
        assert proto.d_a == 64 < proto.student.feature_dim < proto.teacher_network.feature_dim
        assert proto.student.adapter_dim == 64
        assert 2 / 3 in cfg.lams and cfg.n_seeds >= 5
        assert proto.temperature == 4.0 and proto.corrupt_fraction == 0.3
        assert sim.recipe(cfg).resolution == 64 and cfg.max_train is None
    assert sim.PRESETS["cpu"].lams == (2 / 3,) and len(sim.PRESETS["gpu"].lams) == 3
