"""Distillation methods on networks: pure loss terms, and the runs each method needs (RAT-6).

Every method trains the same network family with the same :class:`~kdtheory.neural.train.
TrainConfig` through the same compiled step; a method is a choice of weights on three pure loss
terms (:data:`LOSS_TERMS`) and the auxiliary targets they read:

* ``ce``: cross-entropy with the labels, ``-log softmax(z)_y``;
* ``kd``: soft matching, ``T^2 KL(softmax(t / T) || softmax(z / T))`` with the teacher's logits
  ``t`` on the same image (Hinton et al.'s scaling, so the gradient size does not depend on
  ``T``);
* ``mse``: regression of the logits on a target vector, ``(1/2) ||z - target||^2``.

The methods of the Imagenette shift study (CLAIMS.md 6), for a source split ``S`` (labelled) and a
target split ``T`` (images only):

``teacher``
    trained on the source labels for ``teacher_epochs`` only: biased by early stopping.
``source``
    the student network on the source labels (``epochs``): no teacher.
``sm``
    soft matching: the student on the target images toward the teacher's softmax at temperature
    ``T`` (``epochs``), no labels.
``rat``
    Residual-as-Teacher, from the ``sm`` student, ``rounds`` rounds of: residuals
    ``r = e_y - softmax(f(x))`` on the source images; a teacher-architecture network (the trained
    teacher with its head set to zero, so that it starts at ``r_hat = 0``) fitted to them by
    squared loss (``refit_epochs``); the student continued on the target images toward
    ``f(x_t) + eta r_hat(x_t)`` in logit space by squared loss (``student_epochs``).
``sm_long``
    the control with RaT's budget: the ``sm`` student continued for ``rounds`` stages of
    ``refit_epochs + student_epochs`` epochs of soft matching.
``oracle``
    the student on the target images with their labels (infeasible in practice).

Targets are computed once per stage on the un-augmented images (offline distillation); the step
augments the images and keeps each image's target.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kdtheory.neural import require
from kdtheory.neural.models import NetworkConfig
from kdtheory.neural.train import (
    Network,
    TrainConfig,
    accuracy,
    init_network,
    predict_logits,
    train,
)

jax, jnp, optax = require("jax", "jax.numpy", "optax")

__all__ = [
    "LOSS_TERMS",
    "METHODS",
    "cross_entropy_loss",
    "soft_matching_loss",
    "logit_regression_loss",
    "distillation_loss",
    "method_hparams",
    "residuals",
    "rat_targets",
    "Protocol",
    "training_data",
    "run_method",
]

#: the methods of the study, in the order of the tables
METHODS = ("teacher", "source", "sm", "sm_long", "rat", "oracle")


def cross_entropy_loss(logits, batch, hparams):
    """Mean cross-entropy ``-log softmax(z)_y`` with ``batch["labels"]``."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"]).mean()


def soft_matching_loss(logits, batch, hparams):
    """Mean ``T^2 KL(softmax(t/T) || softmax(z/T))``, ``t = batch["teacher_logits"]``."""
    temperature = hparams["temperature"]
    log_q = jax.nn.log_softmax(logits / temperature)
    log_p = jax.nn.log_softmax(batch["teacher_logits"] / temperature)
    kl = jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
    return temperature**2 * kl.mean()


def logit_regression_loss(logits, batch, hparams):
    """Mean ``(1/2) ||z - target||^2`` with ``batch["targets"]`` (squared loss on logits)."""
    return 0.5 * jnp.sum((logits - batch["targets"]) ** 2, axis=-1).mean()


#: loss term name -> pure function ``(logits, batch, hparams) -> scalar``
LOSS_TERMS = {
    "ce": cross_entropy_loss,
    "kd": soft_matching_loss,
    "mse": logit_regression_loss,
}


def distillation_loss(logits, batch, hparams):
    """``sum_term hparams["w_" + term] * term(logits, batch, hparams)``: every method's loss.

    The weights are arrays, so one compiled step serves every method.
    """
    return sum(
        hparams[f"w_{name}"] * term(logits, batch, hparams) for name, term in LOSS_TERMS.items()
    )


def method_hparams(term: str, temperature: float = 1.0) -> dict[str, float]:
    """Weights selecting one loss term (``"ce"``, ``"kd"`` or ``"mse"``) and the temperature."""
    if term not in LOSS_TERMS:
        raise ValueError(f"unknown loss term {term!r}; choose from {sorted(LOSS_TERMS)}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"`temperature` must be finite and > 0, got {temperature!r}")
    return {
        **{f"w_{name}": float(name == term) for name in LOSS_TERMS},
        "temperature": float(temperature),
    }


def residuals(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RaT's residuals ``e_y - softmax(z)``: the negative gradient of cross-entropy in ``z``."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    onehot = np.eye(logits.shape[1])[np.asarray(labels)]
    return (onehot - probs).astype(np.float32)


def rat_targets(student_logits: np.ndarray, residual_fit: np.ndarray, eta: float) -> np.ndarray:
    """RaT's student targets ``f(x_t) + eta r_hat(x_t)`` in logit space (CLAIMS.md 6)."""
    return (np.asarray(student_logits) + eta * np.asarray(residual_fit)).astype(np.float32)


@dataclass(frozen=True)
class Protocol:
    """What every method of the study shares, and RaT's few knobs (stated, not tuned).

    Attributes
    ----------
    student, teacher : NetworkConfig
        The networks (the teacher is biased by early stopping, not by its shape).
    train : TrainConfig
        The shared optimizer, schedule, augmentation and batch; ``train.epochs`` is the budget
        of ``source``, ``sm`` and ``oracle``.
    teacher_epochs : int
        The teacher's (early-stopped) budget.
    rounds : int
        RaT's outer rounds ``K`` (and ``sm_long``'s extra stages).
    refit_epochs, student_epochs : int
        Per round: epochs of the residual refit on the source images and of the student on the
        target images.
    eta : float
        RaT's step in logit space.
    temperature : float
        Soft matching's temperature.
    """

    student: NetworkConfig
    train: TrainConfig
    teacher_epochs: int
    rounds: int = 2
    refit_epochs: int = 2
    student_epochs: int = 2
    eta: float = 1.0
    temperature: float = 4.0
    teacher: NetworkConfig | None = None

    @property
    def teacher_network(self) -> NetworkConfig:
        return self.student if self.teacher is None else self.teacher


@dataclass
class MethodResult:
    """A trained method: the network, and the budget it used (epochs, images processed)."""

    network: Network
    epochs: int = 0
    images: int = 0
    stages: list = field(default_factory=list)


def training_data(images, *, n_classes, labels=None, teacher_logits=None, targets=None):
    """The arrays of one training run; entries a method does not read are zeros."""
    n = len(images)
    zeros = np.zeros((n, n_classes), np.float32)
    return {
        "images": np.asarray(images),
        "labels": np.zeros(n, np.int32) if labels is None else np.asarray(labels, np.int32),
        "teacher_logits": zeros
        if teacher_logits is None
        else np.asarray(teacher_logits, np.float32),
        "targets": zeros if targets is None else np.asarray(targets, np.float32),
    }


def _images_processed(n: int, cfg: TrainConfig, epochs: int) -> int:
    batch = min(cfg.batch_size, n)
    return -(-n // batch) * batch * epochs


class _Runner:
    """Trains the stages of one (split, seed), each checkpointed under ``workdir/<stage>``."""

    def __init__(self, protocol, source, target, key, workdir, progress):
        self.p, self.source, self.target = protocol, source, target
        self.keys = dict(
            zip(("teacher", "student", "order"), jax.random.split(key, 3), strict=True)
        )
        self.workdir, self.progress = Path(workdir), progress
        self.n_classes = protocol.student.n_classes

    def stage(self, name, network, data, epochs, hparams, loss=None, order=None) -> MethodResult:
        """Train one checkpointed stage; ``loss`` defaults to :func:`distillation_loss`, the
        data order's key to the stage's ``name`` (stages given one ``order`` share it)."""
        cfg = TrainConfig(**{**self.p.train.__dict__, "epochs": epochs})
        trained = train(
            network,
            data,
            cfg,
            distillation_loss if loss is None else loss,
            hparams,
            jax.random.fold_in(self.keys["order"], zlib.crc32((order or name).encode())),
            checkpoint_dir=self.workdir / name,
            progress=self.progress,
            desc=name,
        )
        n = len(data["images"])
        return MethodResult(trained, epochs, _images_processed(n, cfg, epochs), [name])

    def teacher(self, name: str = "teacher", epochs: int | None = None) -> MethodResult:
        """The teacher network from its key, trained on the source labels as stage ``name``
        for ``epochs`` (default: the protocol's ``teacher_epochs``)."""
        net = init_network(self.p.teacher_network, self.keys["teacher"])
        images, labels = self.source
        return self.stage(
            name,
            net,
            training_data(images, labels=labels, n_classes=self.n_classes),
            self.p.teacher_epochs if epochs is None else epochs,
            method_hparams("ce"),
        )

    def labelled(self, name, images, labels) -> MethodResult:
        net = init_network(self.p.student, self.keys["student"])
        return self.stage(
            name,
            net,
            training_data(images, labels=labels, n_classes=self.n_classes),
            self.p.train.epochs,
            method_hparams("ce"),
        )

    def soft_matching(self, teacher: Network) -> MethodResult:
        images = self.target[0]
        data = training_data(
            images, n_classes=self.n_classes, teacher_logits=predict_logits(teacher, images)
        )
        net = init_network(self.p.student, self.keys["student"])
        return self.stage(
            "sm", net, data, self.p.train.epochs, method_hparams("kd", self.p.temperature)
        )

    def sm_long(self, teacher: Network, start: MethodResult) -> MethodResult:
        images = self.target[0]
        data = training_data(
            images, n_classes=self.n_classes, teacher_logits=predict_logits(teacher, images)
        )
        result = start
        for k in range(1, self.p.rounds + 1):
            nxt = self.stage(
                f"sm_long-{k}",
                result.network,
                data,
                self.p.refit_epochs + self.p.student_epochs,
                method_hparams("kd", self.p.temperature),
            )
            result = _chain(result, nxt)
        return result

    def rat(self, teacher: Network, start: MethodResult) -> MethodResult:
        (src_images, src_labels), tgt_images = self.source, self.target[0]
        result = start
        for k in range(1, self.p.rounds + 1):
            r = residuals(predict_logits(result.network, src_images), src_labels)
            refit = _zero_head(teacher)
            fit = self.stage(
                f"rat-refit-{k}",
                refit,
                training_data(src_images, n_classes=self.n_classes, targets=r),
                self.p.refit_epochs,
                method_hparams("mse"),
            )
            z = rat_targets(
                predict_logits(result.network, tgt_images),
                predict_logits(fit.network, tgt_images),
                self.p.eta,
            )
            step = self.stage(
                f"rat-student-{k}",
                result.network,
                training_data(tgt_images, n_classes=self.n_classes, targets=z),
                self.p.student_epochs,
                method_hparams("mse"),
            )
            result = _chain(_chain(result, fit), step)
        return result


def _chain(first: MethodResult, second: MethodResult) -> MethodResult:
    return MethodResult(
        second.network,
        first.epochs + second.epochs,
        first.images + second.images,
        first.stages + second.stages,
    )


def _zero_head(network: Network) -> Network:
    """A copy of ``network`` whose linear head is zero (it predicts 0 until trained)."""
    params = jax.tree_util.tree_map_with_path(
        lambda path, x: jnp.zeros_like(x) if "head" in jax.tree_util.keystr(path) else x,
        network.params,
    )
    return network.replace(params, network.rest)


def _check_protocol_data(protocol: Protocol, source, target) -> None:
    """Clear errors for data the networks cannot be trained on."""
    k = protocol.student.n_classes
    if protocol.teacher_network.n_classes != k:
        raise ValueError(
            f"teacher and student disagree on the number of classes "
            f"({protocol.teacher_network.n_classes} vs {k})"
        )
    for name, split in (("source", source), ("target", target)):
        images, labels = split
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(
                f"{name} images must be a non-empty (n, H, W, C) array, got {images.shape}"
            )
        if labels.shape != (len(images),):
            raise ValueError(f"{name} labels must have shape ({len(images)},), got {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= k:
            raise ValueError(f"{name} labels must be integers in [0, {k}) for n_classes={k}")


def run_method(
    method: str,
    protocol: Protocol,
    source: tuple[np.ndarray, np.ndarray],
    target: tuple[np.ndarray, np.ndarray],
    key,
    workdir: str | Path,
    *,
    progress: bool = False,
) -> tuple[MethodResult, MethodResult]:
    """Train one method of the study (and what it needs), checkpointing every stage.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    protocol : Protocol
    source : (images, labels)
        The labelled source split (uint8 images).
    target : (images, labels)
        The target split; its labels are read by ``oracle`` only.
    key : jax PRNG key or int
        The seed's key: the teacher, the student initialization and the data order derive from
        it, so every method of a seed shares the teacher and the student's initialization.
    workdir : str or Path
        Checkpoints of every stage, ``workdir/<stage>``; stages shared by several methods (the
        teacher, ``sm``) are trained once and loaded afterwards, and a killed run resumes.
    progress : bool
        tqdm bars per stage.

    Returns
    -------
    (result, teacher) : MethodResult, MethodResult
        The method's network and budget, and the teacher's.

    Raises
    ------
    ValueError
        For an unknown method (the message lists the known ones), labels outside
        ``[0, n_classes)`` or not integers, images that are not ``(n, H, W, C)``, and a teacher
        and student with different numbers of classes.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    _check_protocol_data(protocol, source, target)
    key = jax.random.key(key) if isinstance(key, int) else key
    runner = _Runner(protocol, source, target, key, workdir, progress)
    teacher = runner.teacher()
    if method == "teacher":
        return teacher, teacher
    if method == "source":
        return runner.labelled("source", *source), teacher
    if method == "oracle":
        return runner.labelled("oracle", *target), teacher
    sm = runner.soft_matching(teacher.network)
    if method == "sm":
        return sm, teacher
    if method == "sm_long":
        return runner.sm_long(teacher.network, sm), teacher
    return runner.rat(teacher.network, sm), teacher


def evaluate(network: Network, sets: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Top-1 accuracy on each named ``(images, labels)`` set: ``{name + "_acc": value}``."""
    return {
        f"{name}_acc": accuracy(network, images, labels) for name, (images, labels) in sets.items()
    }
