"""Distillation from an imperfect teacher on networks: power divergence and residual learning.

Two methods of CLAIMS.md 4 and 5 as pure loss terms of the shared compiled step
(:mod:`kdtheory.neural.train`), beside the ``ce`` and ``kd`` terms of
:mod:`kdtheory.neural.distill`. One loss, :func:`imperfect_loss`, is a weighted sum of the four
terms with every weight and hyper-parameter a float32 entry of ``hparams``, so one compiled step
serves every student method, seed and setting of a network and batch shape.

``pd`` (claim PD-2, CLAIMS.md 4)
    ``T^2 D_lam`` between the tempered teacher ``w = softmax(t / T)`` and student
    ``q = softmax(z / T)`` (:func:`kdtheory.losses.power_divergence_kd_loss`), teacher first
    (``pd_order = 0``) or student first (``pd_order = 1``); ``lam -> 0`` teacher first is ``kd``.
``res`` (claim RES-1, CLAIMS.md 5): residual learning, the classification analog (per image
    instead of per token) of the ICLR 2026 method. The paper's formulas were not available to
    us (reference B); the choices below are ours.

    * Projector ``P(h) = D(E(h))``, ``E: R^{d_T} -> R^{d_A}``, ``D: R^{d_A} -> R^{d_T}``, both
      affine; ``d_A = 64`` by default. Pre-trained (:func:`pretrain_projector`, full-batch
      Adam) on the teacher's penultimate features ``h_T`` of the training images by
      self-reconstruction ``sum ||P(h_T) - h_T||^2 / sum ||h_T||^2`` plus prediction through the
      teacher's frozen head ``CE(head_T(P(h_T)), y)`` with the true labels.
    * The residual ``h_S - beta P(h_T)`` lives in the student's feature space. With ``d_S =
      d_T``, ``P(h_T)`` is used as it is; for a narrower student (``d_A < d_S < d_T``, a real
      compression) the student reads the code ``E(h_T)`` through a trainable linear adapter
      ``U: R^{d_A} -> R^{d_S}`` of its own (:class:`~kdtheory.neural.airnet.AirConfig`
      ``adapter_dim = d_A``), trained with it: the residual is ``h_S - beta U E(h_T)``.
    * ``beta = sqrt(d_S / d_A) * mean_b ||h_S,b|| / mean_b ||P(h_T)_b||`` over the batch (a
      ratio of mean norms), without gradient.
    * Mask: images whose teacher top-1 (of the logits the student is given, corrupted or not)
      is wrong. ``L_res = sum_b m_b CE(head_S(h_S,b - beta P(h_T)_b), y_b) / max(sum_b m_b, 1)``,
      the student's own head; ``L = lambda L_res + (1 - lambda) L_CE`` (``lambda = 0.5``).
    * Ablations: ``beta = 1`` (``res_no_beta``), ``m = 1`` on every image (``res_no_mask``), the
      projector at its random initialization (``res_no_pretrain``); and the paper's plug-in use
      ``kd_res``: ``lambda L_res + (1 - lambda) L_KD``.

Teacher corruption (PD-2 on images, :func:`corrupt_teacher_logits`): on a seeded fraction of the
training images (exactly ``round(fraction n)``) the teacher's logits are replaced by
``margin e_c`` with ``c`` drawn uniformly among the classes other than the true label (``margin
= 10``: with 10 classes, probability ``e^10 / (e^10 + 9) = 0.9996`` on ``c`` at ``T = 1``,
``e^2.5 / (e^2.5 + 9) = 0.575`` at ``T = 4``). The teacher's features are not corrupted; KD, PD
and the mask read the corrupted logits, so a student that reads none of them (``ce``,
``res_no_mask``: :func:`teacher_outputs_read`) is the same network in both settings and is
trained once per seed.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from kdtheory.losses import _pd_sum
from kdtheory.neural import require
from kdtheory.neural.distill import (
    MethodResult,
    Protocol,
    Teacher,
    _check_protocol_data,
    _Runner,
    cross_entropy_loss,
    evaluate,
    soft_matching_loss,
)
from kdtheory.neural.projector import (
    _check_d_a,
    encode,
    init_projector,
    pretrain_projector,
    project,
    projector_loss,
)
from kdtheory.neural.train import Network, batched_forward

jax, jnp, nnx, optax = require("jax", "jax.numpy", "flax.nnx", "optax")

__all__ = [
    "BASE_METHODS",
    "SETTINGS",
    "power_divergence_term",
    "residual_beta",
    "residual_term",
    "imperfect_loss",
    "imperfect_hparams",
    "pd_method",
    "parse_method",
    "teacher_outputs_read",
    "corrupt_teacher_logits",
    "init_projector",
    "encode",
    "project",
    "projector_loss",
    "pretrain_projector",
    "predict_features",
    "ImperfectProtocol",
    "run_imperfect",
    "evaluate",
]

#: methods without a parameter; PD methods are named ``pd_ts(LAM)``/``pd_st(LAM)`` (pd_method)
BASE_METHODS = (
    "teacher",
    "ce",
    "kd",
    "res",
    "res_no_beta",
    "res_no_mask",
    "res_no_pretrain",
    "kd_res",
)
#: the teacher's outputs as given (``clean``) or corrupted on a fraction of the images
SETTINGS = ("clean", "corrupt")
_PD = re.compile(r"^pd_(ts|st)\((-?\d+(?:/\d+)?)\)$")


def power_divergence_term(logits, batch, hparams):
    """Mean ``T^2 D_lam`` (PD-2): ``D_lam(w || q)`` (``pd_order = 0``) or ``D_lam(q || w)`` (1).

    ``log w = log_softmax(t / T)`` straight from ``batch["teacher_logits"]`` and
    ``log q = log_softmax(z / T)``, so both stay finite for any finite logits (a round trip
    through probabilities at ``T = 1`` underflows to 0 beyond a logit gap of about 100, which made
    the student-first term infinite). One divergence is evaluated: by duality
    ``D_lam(q || w) = D_{-1-lam}(w || q)``, teacher first with ``lam_eff = -1 - lam`` when
    ``pd_order = 1`` (:func:`kdtheory.losses.power_divergence_kd_loss`'s formula, whose
    ``_pd_sum`` feeds harmless inputs to the branches it does not use).
    ``hparams``: ``pd_lam``, ``pd_order`` (0 or 1), ``temperature``.
    """
    lam, order, temperature = hparams["pd_lam"], hparams["pd_order"], hparams["temperature"]
    lam_eff = jnp.where(order > 0.5, -1.0 - lam, lam)
    log_w = jax.nn.log_softmax(batch["teacher_logits"] / temperature, axis=-1)
    log_q = jax.nn.log_softmax(logits / temperature, axis=-1)
    d = _pd_sum(jnp, jnp.exp(log_w), log_w, jnp.exp(log_q), log_q, lam_eff, -1)
    return temperature**2 * jnp.mean(d)


def residual_beta(features, projected, d_ratio, adaptive):
    """``beta = sqrt(d_S / d_A) mean||h_S|| / mean||P(h_T)||`` (``adaptive = 1``) or 1 (RES-1).

    No gradient flows through it; ``d_ratio = d_S / d_A``. A zero projection gives a finite
    ``beta`` (the denominator is floored at 1e-12).
    """
    ratio = jnp.mean(jnp.linalg.norm(features, axis=-1)) / jnp.maximum(
        jnp.mean(jnp.linalg.norm(projected, axis=-1)), 1e-12
    )
    beta = jnp.sqrt(d_ratio) * jax.lax.stop_gradient(ratio)
    return adaptive * beta + (1.0 - adaptive)


def residual_term(logits, batch, hparams, *, features, head, adapter=None):
    """``L_res``: CE of the student's head on ``h_S - beta P(h_T)`` over the masked images.

    ``batch``: ``labels``, ``projected`` (``P(h_T)``, width ``d_S``; or, for a student of
    another width than the teacher, the code ``E(h_T)`` of width ``d_A``, brought to ``d_S`` by
    the student's trainable ``adapter``) and ``teacher_wrong`` (0/1); ``hparams``: ``res_beta``
    (1: adaptive beta, 0: beta = 1), ``res_mask`` (1: the teacher-error mask, 0: every image),
    ``d_ratio`` (``d_S / d_A``). See the module docstring.
    """
    projected = batch["projected"]
    if projected.shape[-1] != features.shape[-1]:
        if adapter is None:
            raise ValueError(
                f"projected teacher features of width {projected.shape[-1]} for a student of "
                f"width {features.shape[-1]}: the student needs an adapter (AirConfig.adapter_dim)"
            )
        projected = adapter(projected)
    beta = residual_beta(features, projected, hparams["d_ratio"], hparams["res_beta"])
    residual_logits = head(features - beta * projected).astype(jnp.float32)
    ce = optax.softmax_cross_entropy_with_integer_labels(residual_logits, batch["labels"])
    on = hparams["res_mask"]
    mask = on * batch["teacher_wrong"] + (1.0 - on)
    return jnp.sum(mask * ce) / jnp.maximum(jnp.sum(mask), 1.0)


def imperfect_loss(logits, batch, hparams, *, features, head, adapter=None):
    """``w_ce CE + w_kd KD + w_pd PD + w_res L_res``: every student's loss (PD-2, RES-1).

    The PD term of a method without it (``w_pd = 0``) is evaluated on a uniform teacher at
    ``lam = 0`` (finite value and gradient for any finite student logits), so that ``0 * term``
    cannot turn into NaN whatever the teacher's logits; the other terms are log-softmax based.
    """
    pd_on = hparams["w_pd"] > 0
    pd_batch = {**batch, "teacher_logits": jnp.where(pd_on, batch["teacher_logits"], 0.0)}
    pd_hparams = {**hparams, "pd_lam": jnp.where(pd_on, hparams["pd_lam"], 0.0)}
    return (
        hparams["w_ce"] * cross_entropy_loss(logits, batch, hparams)
        + hparams["w_kd"] * soft_matching_loss(logits, batch, hparams)
        + hparams["w_pd"] * power_divergence_term(logits, pd_batch, pd_hparams)
        + hparams["w_res"]
        * residual_term(logits, batch, hparams, features=features, head=head, adapter=adapter)
    )


imperfect_loss.takes_features = True  # the step passes the features and the head


def pd_method(order: str, lam: float) -> str:
    """The name of a PD method: ``pd_ts(2/3)`` (teacher first) or ``pd_st(2/3)``."""
    if order not in ("ts", "st"):
        raise ValueError(f"order must be 'ts' or 'st', got {order!r}")
    return f"pd_{order}({Fraction(lam).limit_denominator(64)})"


#: the label weight of the "+ce" pipelines (``kd+ce``, ``pd_ts(2/3)+ce``): fixed, not tuned
CE_WEIGHT = 0.5


def parse_method(method: str) -> tuple[str, float | None]:
    """``(base, lam)`` of a method name; ``ValueError`` listing the known names otherwise.

    A KD or PD method followed by ``+ce`` is the pipeline the PD paper plugs into:
    ``CE_WEIGHT`` times cross-entropy plus ``1 - CE_WEIGHT`` times the distillation term.
    """
    if method.endswith("+ce"):
        base, lam = parse_method(method[:-3])
        if base != "kd" and not base.startswith("pd_"):
            raise ValueError(f"`+ce` follows kd or a pd method, got {method!r}")
        return base + "+ce", lam
    if method in BASE_METHODS:
        return method, None
    match = _PD.match(method)
    if match is None:
        raise ValueError(
            f"unknown method {method!r}; choose from {', '.join(BASE_METHODS)}, "
            "pd_ts(LAM), pd_st(LAM) (LAM an integer or a fraction such as 2/3), and kd or a pd "
            "method followed by +ce"
        )
    return f"pd_{match.group(1)}", float(Fraction(match.group(2)))


def imperfect_hparams(
    method: str, *, temperature: float = 4.0, res_lambda: float = 0.5, d_ratio: float = 1.0
) -> dict[str, float]:
    """Weights and hyper-parameters of :func:`imperfect_loss` for a student method."""
    base, lam = parse_method(method)
    if base == "teacher":
        raise ValueError("the teacher is trained by distill's runner, not imperfect_loss")
    if base.endswith("+ce"):
        hp = imperfect_hparams(
            method[:-3], temperature=temperature, res_lambda=res_lambda, d_ratio=d_ratio
        )
        hp["w_kd"] *= 1.0 - CE_WEIGHT
        hp["w_pd"] *= 1.0 - CE_WEIGHT
        hp["w_ce"] = CE_WEIGHT
        return hp
    hp = dict.fromkeys(("w_ce", "w_kd", "w_pd", "w_res", "pd_lam", "pd_order"), 0.0)
    hp.update(temperature=float(temperature), d_ratio=float(d_ratio), res_beta=1.0, res_mask=1.0)
    if base == "ce":
        hp["w_ce"] = 1.0
    elif base == "kd":
        hp["w_kd"] = 1.0
    elif base.startswith("pd_"):
        hp.update(w_pd=1.0, pd_lam=lam, pd_order=float(base == "pd_st"))
    else:  # the residual family
        hp["w_res"] = res_lambda
        hp["w_kd" if base == "kd_res" else "w_ce"] = 1.0 - res_lambda
        hp["res_beta"] = float(base != "res_no_beta")
        hp["res_mask"] = float(base != "res_no_mask")
    return hp


def teacher_outputs_read(method: str) -> frozenset[str]:
    """The teacher's outputs a student method reads: a subset of ``{"logits", "features"}``.

    From its weights in :func:`imperfect_hparams`: the logits for KD, PD and the residual
    mask, the features (through the projector) for every residual method. Only the logits
    depend on the setting, so a method without ``"logits"`` trains one network per seed.
    """
    hp = imperfect_hparams(method)
    reads = set()
    if hp["w_kd"] > 0 or hp["w_pd"] > 0 or (hp["w_res"] > 0 and hp["res_mask"] > 0):
        reads.add("logits")
    if hp["w_res"] > 0:
        reads.add("features")
    return frozenset(reads)


def corrupt_teacher_logits(logits, labels, fraction: float, rng, *, margin: float = 10.0):
    """Replace the teacher's logits on ``round(fraction n)`` images by confident wrong ones.

    Parameters
    ----------
    logits : array (n, k)
    labels : int array (n,)
        True labels; the wrong class ``c`` is uniform among the other ``k - 1``.
    fraction : float in [0, 1]
    rng : numpy.random.Generator
        Chooses the images (without replacement) and the classes.
    margin : float
        The corrupted logits are ``margin e_c``.

    Returns
    -------
    (logits, corrupted) : float32 array (n, k), bool array (n,)
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"`fraction` must be in [0, 1], got {fraction!r}")
    out = np.array(logits, dtype=np.float32)
    n, k = out.shape
    chosen = rng.choice(n, int(round(fraction * n)), replace=False)
    wrong = (np.asarray(labels)[chosen] + rng.integers(1, k, len(chosen))) % k
    out[chosen] = 0.0
    out[chosen, wrong] = margin
    corrupted = np.zeros(n, bool)
    corrupted[chosen] = True
    return out, corrupted


def predict_features(network: Network, images, *, batch_size: int = 512):
    """``(features, logits)`` of uint8 images in evaluation mode, one fixed batch shape."""
    return batched_forward(network, images, batch_size=batch_size, with_features=True)


def _head(network: Network):
    head = network.module().head
    scale = getattr(head, "scale", 1.0)  # AirNet's head scales its logits
    return jnp.asarray(head.kernel[...]) * scale, jnp.asarray(head.bias[...]) * scale


@dataclass(frozen=True)
class ImperfectProtocol(Protocol):
    """:class:`~kdtheory.neural.distill.Protocol` plus the knobs of this study (stated, not tuned).

    ``train.epochs`` is every student's budget, ``teacher_epochs`` the early-stopped teacher's;
    ``temperature`` serves KD and PD. ``d_a``, ``res_lambda``, ``pretrain_steps`` and
    ``pretrain_lr``: residual learning (RES-1); ``corrupt_fraction`` and ``corrupt_margin``: the
    corrupted setting (PD-2).
    """

    d_a: int = 64
    res_lambda: float = 0.5
    pretrain_steps: int = 300
    pretrain_lr: float = 1e-2
    corrupt_fraction: float = 0.3
    corrupt_margin: float = 10.0


class _ImperfectRunner(_Runner):
    """distill's runner (teacher, stages, checkpoints) plus this study's teacher outputs."""

    def teacher_outputs(self, features, logits, setting: str) -> dict:
        """The teacher's features and logits on the training images as the students read them
        (the logits corrupted in the ``corrupt`` setting), and its error mask."""
        labels = self.source[1]
        corrupted = np.zeros(len(labels), bool)
        if setting == "corrupt":
            seed = int(jax.random.randint(self._key("corrupt"), (), 0, 2**31 - 1))
            logits, corrupted = corrupt_teacher_logits(
                logits,
                labels,
                self.p.corrupt_fraction,
                np.random.default_rng(seed),
                margin=self.p.corrupt_margin,
            )
        wrong = np.argmax(logits, axis=1) != np.asarray(labels)
        return {"features": features, "logits": logits, "wrong": wrong, "corrupted": corrupted}

    def _key(self, name: str):
        return jax.random.fold_in(self.keys["teacher"], zlib.crc32(name.encode()))

    @property
    def uses_adapter(self) -> bool:
        """A student narrower than the teacher reads ``E(h_T)`` through its adapter."""
        return self.p.student.feature_dim != self.p.teacher_network.feature_dim

    def projected(self, teacher: Network, features, pretrained: bool):
        """``P(h_T)`` (same widths) or the code ``E(h_T)`` (a narrower student)."""
        params = init_projector(self._key("projector"), features.shape[1], self.p.d_a)
        if pretrained:
            params, _ = pretrain_projector(
                params,
                features,
                self.source[1],
                *_head(teacher),
                steps=self.p.pretrain_steps,
                lr=self.p.pretrain_lr,
            )
        mapping = encode if self.uses_adapter else project
        return np.asarray(mapping(params, jnp.asarray(features)), np.float32)

    def student(
        self, method: str, setting: str, teacher: Network, out: dict | None
    ) -> MethodResult:
        """Train a student; ``out``: :meth:`teacher_outputs`, or None when the method reads
        none of them. What the method does not read (:func:`teacher_outputs_read`) is zeros, and
        a method that does not read the logits has one stage for both settings."""
        base, _ = parse_method(method)
        reads = teacher_outputs_read(method)
        images, labels = self.source
        n = len(images)
        d = self.p.d_a if self.uses_adapter else self.p.student.feature_dim
        projected = np.zeros((n, d), np.float32)
        if "logits" not in reads:
            zeros = {"logits": np.zeros((n, self.n_classes), np.float32), "wrong": np.zeros(n)}
            out = {**(out or {}), **zeros}
        if "features" in reads:
            projected = self.projected(teacher, out["features"], base != "res_no_pretrain")
        data = {
            "images": np.asarray(images),
            "labels": np.asarray(labels, np.int32),
            "teacher_logits": np.asarray(out["logits"], np.float32),
            "projected": projected,
            "teacher_wrong": np.asarray(out["wrong"], np.float32),
        }
        hp = imperfect_hparams(
            method,
            temperature=self.p.temperature,
            res_lambda=self.p.res_lambda,
            d_ratio=self.p.student.feature_dim / self.p.d_a,
        )
        name = f"{setting}-{method}" if "logits" in reads else method
        stage = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        net = self.init_student()
        return self.stage(
            stage, net, data, self.p.train.epochs, hp, loss=imperfect_loss, order="students"
        )


def _check(protocol: ImperfectProtocol, train_set, method: str, setting: str) -> None:
    parse_method(method)
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; choose from {', '.join(SETTINGS)}")
    d_s, d_t = protocol.student.feature_dim, protocol.teacher_network.feature_dim
    _check_d_a(protocol.d_a, d_t)
    adapter = getattr(protocol.student, "adapter_dim", 0)
    reads_features = method != "teacher" and "features" in teacher_outputs_read(method)
    if reads_features and d_s != d_t and adapter != protocol.d_a:
        raise ValueError(
            f"residual learning with d_S = {d_s} != d_T = {d_t} needs a student with an adapter "
            f"from d_A = {protocol.d_a} (AirConfig(adapter_dim={protocol.d_a})), got {adapter}"
        )
    _check_protocol_data(protocol, train_set, train_set)


def run_imperfect(
    method: str,
    protocol: ImperfectProtocol,
    train_set: tuple[np.ndarray, np.ndarray],
    key,
    workdir: str | Path,
    *,
    setting: str = "clean",
    progress: bool = False,
    teacher: Teacher | None = None,
) -> tuple[MethodResult, MethodResult, dict]:
    """Train one method of the imperfect-teacher study in one setting (PD-2, RES-1).

    Parameters
    ----------
    method : str
        One of :data:`BASE_METHODS` or ``pd_ts(LAM)`` / ``pd_st(LAM)`` (:func:`pd_method`).
    protocol : ImperfectProtocol
    train_set : (images, labels)
        The labelled training images (uint8); teacher and students train on all of them.
    key : jax PRNG key or int
        The seed's key: teacher, student initialization, projector, corruption and the data
        order derive from it. Every student method of a seed starts from the same network and
        sees the same data order (the stages share the order key ``"student"``).
    workdir : str or Path
        Checkpoints of every stage; the teacher and the methods that do not read the
        teacher's logits (``ce``, ``res_no_mask``) are trained once per seed.
    setting : {"clean", "corrupt"}
    progress : bool
    teacher : kdtheory.neural.distill.Teacher, optional
        A trained teacher (from the bank) with its logits and features on the training images
        (``source_logits``, ``source_features``); without it the teacher is trained here.

    Returns
    -------
    (result, teacher, info) : MethodResult, MethodResult, dict
        ``info``: the fraction of images with corrupted teacher outputs and with a wrong
        teacher top-1 (the residual mask), as the student saw them; NaN for a method that
        reads no teacher output (``ce``: the teacher is not run over the images).

    Raises
    ------
    ValueError
        Unknown method (the message lists the known names) or setting, ``d_A`` larger than the
        feature width, different teacher and student feature widths for a residual method, bad
        labels or images.
    """
    _check(protocol, train_set, method, setting)
    key = jax.random.key(key) if isinstance(key, int) else key
    runner = _ImperfectRunner(protocol, train_set, train_set, key, workdir, progress)
    if teacher is None:
        trained = runner.teacher()
        net = trained.network
    else:
        net = teacher.network
        trained = MethodResult(net, teacher.epochs, teacher.images, ["bank"])
    if method != "teacher" and not teacher_outputs_read(method):  # ce: no teacher pass
        info = {"corrupted_fraction": float("nan"), "mask_fraction": float("nan")}
        return runner.student(method, setting, net, None), trained, info
    if teacher is None:
        features, logits = predict_features(net, train_set[0])
    else:
        features, logits = teacher.source_features, teacher.source_logits
    out = runner.teacher_outputs(features, logits, setting)
    info = {
        "corrupted_fraction": float(out["corrupted"].mean()),
        "mask_fraction": float(out["wrong"].mean()),
    }
    if method == "teacher":
        return trained, trained, info
    return runner.student(method, setting, net, out), trained, info
