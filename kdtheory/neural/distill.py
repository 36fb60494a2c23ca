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
    the control with RaT's budget: the ``sm`` student continued for ``rounds`` stages of soft
    matching, each of as many images as one RaT round (``refit_epochs`` on the source images
    and ``student_epochs`` on the target images), to the nearest epoch.
``sm_ce``
    the control that also reads the source labels: the ``sm`` student continued on the source
    and target images together, cross-entropy on the source rows and soft matching on the
    target rows, for as many images as RaT's rounds process.
``rat_eta0``
    the control without the residual step (``eta = 0``): RaT's student stages, each toward the
    student's own logits at the start of the round (no refit is needed, none is trained).
``oracle``
    the student on the target images with their labels (infeasible in practice).

Targets are computed once per stage on the un-augmented images (offline distillation); the step
augments the images and keeps each image's target. A trained teacher can be handed in
(:class:`Teacher`: from the teacher bank, :mod:`kdtheory.neural.bank`), with its logits on the
source and target images; then no method trains or re-predicts it. RaT's rounds record how far
the student moves: the mean total-variation distance between its class probabilities on the
target images before and after each round (``MethodResult.trace``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kdtheory.neural import require
from kdtheory.neural.losses import (
    LOSS_TERMS,
    cross_entropy_loss,
    distillation_loss,
    logit_regression_loss,
    method_hparams,
    sm_ce_loss,
    soft_matching_loss,
)
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
    "Teacher",
    "sm_ce_loss",
    "training_data",
    "images_processed",
    "run_method",
]

#: the methods of the study, in the order of the tables
METHODS = ("teacher", "source", "sm", "sm_long", "sm_ce", "rat", "rat_eta0", "oracle")


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
    continue_lr_factor : float
        Every stage that continues a trained network (``sm_long``'s and ``sm_ce``'s stages,
        RaT's refits and student stages, ``rat_eta0``'s) trains at ``train.learning_rate``
        times this factor, with the same warm-up and decay; a network's first training from
        its initialization (``source``, ``sm``, ``oracle``, the teacher) at the full rate.
        ``1`` restarts each continuation at the full rate; ``0.1`` fine-tunes (RaT's student
        stage is then a proximal step that keeps what the student learned).
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
    continue_lr_factor: float = 1.0

    def __post_init__(self):
        f = self.continue_lr_factor
        if isinstance(f, bool) or not isinstance(f, int | float) or not 0 < f <= 1:
            raise ValueError(f"Protocol: `continue_lr_factor` must be in (0, 1], got {f!r}")

    @property
    def teacher_network(self) -> NetworkConfig:
        return self.student if self.teacher is None else self.teacher


@dataclass
class MethodResult:
    """A trained method: the network, the budget it used (epochs, images processed), its stages
    and, for RaT, one record per round (``trace``)."""

    network: Network
    epochs: int = 0
    images: int = 0
    stages: list = field(default_factory=list)
    trace: list = field(default_factory=list)


@dataclass
class Teacher:
    """A trained teacher handed to :func:`run_method` (from the teacher bank).

    Attributes
    ----------
    network : Network
        RaT's refit starts from it (its head set to zero).
    source_logits, target_logits : ndarray
        Its logits on the source and target images (the bank's, on the un-augmented images).
    epochs, images : int
        Its training budget (the ``teacher`` row of the table).
    source_features : ndarray, optional
        Its penultimate features on the source images (white-box methods, RES-1).
    """

    network: Network | None
    source_logits: np.ndarray
    target_logits: np.ndarray | None = None
    epochs: int = 0
    images: int = 0
    source_features: np.ndarray | None = None


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


def images_processed(n: int, cfg: TrainConfig, epochs: int) -> int:
    """Images a training on ``n`` images processes in ``epochs`` epochs: each epoch a whole
    number of batches (the last one wrapped around), the budget the tables state."""
    batch = min(cfg.batch_size, n)
    return -(-n // batch) * batch * epochs


class _Runner:
    """Trains the stages of one (split, seed), each checkpointed under ``workdir/<stage>``."""

    def __init__(self, protocol, source, target, key, workdir, progress, teacher=None):
        self.p, self.source, self.target = protocol, source, target
        self.given_teacher = teacher
        self.keys = dict(
            zip(("teacher", "student", "order"), jax.random.split(key, 3), strict=True)
        )
        self.workdir, self.progress = Path(workdir), progress
        self.n_classes = protocol.student.n_classes

    def stage(
        self, name, network, data, epochs, hparams, loss=None, order=None, continuing=False
    ) -> MethodResult:
        """Train one checkpointed stage; ``loss`` defaults to :func:`distillation_loss`, the
        data order's key to the stage's ``name`` (stages given one ``order`` share it); a
        ``continuing`` stage trains at the protocol's ``continue_lr_factor`` times the rate."""
        lr = self.p.train.learning_rate * (self.p.continue_lr_factor if continuing else 1.0)
        cfg = TrainConfig(**{**self.p.train.__dict__, "epochs": epochs, "learning_rate": lr})
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
        return MethodResult(trained, epochs, images_processed(n, cfg, epochs), [name])

    def init_student(self) -> Network:
        """The student's initial network (every method of a seed starts from it; an AirNet
        whitens with the source images)."""
        return init_network(self.p.student, self.keys["student"], images=self.source[0])

    def teacher(self, name: str = "teacher", epochs: int | None = None) -> MethodResult:
        """The teacher network from its key, trained on the source labels as stage ``name``
        for ``epochs`` (default: the protocol's ``teacher_epochs``)."""
        net = init_network(self.p.teacher_network, self.keys["teacher"], images=self.source[0])
        images, labels = self.source
        return self.stage(
            name,
            net,
            training_data(images, labels=labels, n_classes=self.n_classes),
            self.p.teacher_epochs if epochs is None else epochs,
            method_hparams("ce"),
        )

    def labelled(self, name, images, labels) -> MethodResult:
        net = self.init_student()
        return self.stage(
            name,
            net,
            training_data(images, labels=labels, n_classes=self.n_classes),
            self.p.train.epochs,
            method_hparams("ce"),
        )

    def soft_matching(self, target_logits) -> MethodResult:
        images = self.target[0]
        data = training_data(images, n_classes=self.n_classes, teacher_logits=target_logits)
        return self.stage(
            "sm",
            self.init_student(),
            data,
            self.p.train.epochs,
            method_hparams("kd", self.p.temperature),
        )

    def sm_ce(self, source_logits, target_logits, start: MethodResult) -> MethodResult:
        """``sm`` continued on the source (cross-entropy) and target (soft matching) images for
        about as many images as RaT's rounds process."""
        (src, labels), tgt = self.source, self.target[0]
        n_s, n_t = len(src), len(tgt)
        rat_images = self.p.rounds * (self.p.refit_epochs * n_s + self.p.student_epochs * n_t)
        epochs = max(1, round(rat_images / (n_s + n_t)))
        data = training_data(
            np.concatenate([src, tgt]),
            n_classes=self.n_classes,
            labels=np.concatenate([labels, np.zeros(n_t, np.int32)]),
            teacher_logits=np.concatenate([source_logits, target_logits]),
        )
        data["source"] = np.concatenate([np.ones(n_s), np.zeros(n_t)]).astype(np.float32)
        hp = method_hparams("kd", self.p.temperature)
        trained = self.stage("sm_ce", start.network, data, epochs, hp, sm_ce_loss, continuing=True)
        return _chain(start, trained)

    def sm_long(self, target_logits, start: MethodResult) -> MethodResult:
        """``sm`` continued for ``rounds`` stages, each of as many target images as one RaT
        round processes (its refit on the source images and its student stage), to the
        nearest epoch."""
        images = self.target[0]
        data = training_data(images, n_classes=self.n_classes, teacher_logits=target_logits)
        n_s, n_t = len(self.source[0]), len(images)
        per_round = self.p.refit_epochs * n_s + self.p.student_epochs * n_t
        epochs = max(1, round(per_round / n_t))
        result = start
        for k in range(1, self.p.rounds + 1):
            nxt = self.stage(
                f"sm_long-{k}",
                result.network,
                data,
                epochs,
                method_hparams("kd", self.p.temperature),
                continuing=True,
            )
            result = _chain(result, nxt)
        return result

    def rat(self, teacher: Network | None, start: MethodResult, eta=None) -> MethodResult:
        """RaT's rounds from ``start``; with ``eta = 0`` (the control) no refit is trained and
        each round moves the student toward its own logits."""
        (src_images, src_labels), tgt_images = self.source, self.target[0]
        eta = self.p.eta if eta is None else float(eta)
        prefix = "rat" if eta == self.p.eta else f"rat_eta{eta:g}"
        result = start
        before = predict_logits(result.network, tgt_images)
        for k in range(1, self.p.rounds + 1):
            fit_logits, fit = np.zeros_like(before), None
            if eta != 0:
                r = residuals(predict_logits(result.network, src_images), src_labels)
                fit = self.stage(
                    f"{prefix}-refit-{k}",
                    _zero_head(teacher),
                    training_data(src_images, n_classes=self.n_classes, targets=r),
                    self.p.refit_epochs,
                    method_hparams("mse"),
                    continuing=True,
                )
                fit_logits = predict_logits(fit.network, tgt_images)
            step = self.stage(
                f"{prefix}-student-{k}",
                result.network,
                training_data(
                    tgt_images,
                    n_classes=self.n_classes,
                    targets=rat_targets(before, fit_logits, eta),
                ),
                self.p.student_epochs,
                method_hparams("mse"),
                continuing=True,
            )
            trace = result.trace
            result = _chain(result, fit) if fit is not None else result
            result = _chain(result, step)
            after = predict_logits(result.network, tgt_images)
            change = 0.5 * np.abs(_softmax(after) - _softmax(before)).sum(axis=1).mean()
            result.trace = [*trace, {"round": k, "change": float(change)}]
            before = after
        return result


def _chain(first: MethodResult, second: MethodResult) -> MethodResult:
    return MethodResult(
        second.network,
        first.epochs + second.epochs,
        first.images + second.images,
        first.stages + second.stages,
        first.trace + second.trace,
    )


def _softmax(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


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
    teacher: Teacher | None = None,
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
    teacher : Teacher, optional
        A trained teacher (from the bank) and its logits on the source and target images;
        without it the teacher is trained here (``protocol.teacher_epochs``, stage
        ``teacher``).

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
    if teacher is None:
        trained = runner.teacher()
        if method == "teacher":
            return trained, trained
        net = trained.network
        source_logits = predict_logits(net, source[0]) if method == "sm_ce" else None
        target_logits = None if method in ("source", "oracle") else predict_logits(net, target[0])
    else:
        trained = MethodResult(teacher.network, teacher.epochs, teacher.images, ["bank"])
        if method == "teacher":
            return trained, trained
        net, source_logits, target_logits = (
            teacher.network,
            teacher.source_logits,
            teacher.target_logits,
        )
    if method == "source":
        return runner.labelled("source", *source), trained
    if method == "oracle":
        return runner.labelled("oracle", *target), trained
    sm = runner.soft_matching(target_logits)
    if method == "sm":
        return sm, trained
    if method == "sm_long":
        return runner.sm_long(target_logits, sm), trained
    if method == "sm_ce":
        return runner.sm_ce(source_logits, target_logits, sm), trained
    if method == "rat_eta0":
        return runner.rat(None, sm, eta=0.0), trained
    return runner.rat(net, sm), trained


def evaluate(network: Network, sets: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> dict:
    """Top-1 accuracy on each named ``(images, labels)`` set: ``{name + "_acc": value}``."""
    return {
        f"{name}_acc": accuracy(network, images, labels) for name, (images, labels) in sets.items()
    }
