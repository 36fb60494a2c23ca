"""The teacher bank: each teacher trained once, cached with its outputs (RAT-6, PD-2, RES-1, NAG-6).

A teacher is determined by its recipe (:class:`TeacherRecipe`: network, training protocol, label
smoothing, test-time flip), the images and labels it is trained on (a subset of the train folder,
given by indices), the val folder it is evaluated on, its seed, and the version of the training
code. :func:`teacher_key` hashes all of them; the bank keeps one folder per key under
``<cache>/teachers/<key>/`` with

* ``params/``: the trained state (Orbax), from which :meth:`BankEntry.network` rebuilds it;
* ``outputs.npz``: logits and penultimate features on **every** train and val image (so a student
  on any split of the folder reads its targets by index), with the recipe's test-time flip;
* ``record.json``: the recipe, the split, the seed, the training curve, train and val accuracy,
  seconds and images per second of the training, and the gap between the targets and the views
  the students see (below).

:func:`get_teacher` returns the cached entry, or trains it (resumable: checkpoints after every
epoch in ``<key>.partial/``, renamed to ``<key>/`` only when complete); a cached teacher is never
retrained, and a changed recipe is a new key.

**Targets and views.** The stored logits are computed once on the un-augmented image (averaged
with its mirror image when the recipe flips at test time); a student sees random crops and flips
of it. The record states the difference: ``view_kl`` is the mean ``KL(softmax(t(x)) ||
softmax(t(view)))`` over the train images, one random view each (the students' augmentation),
and ``view_agreement`` the fraction whose top-1 class is the same.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kdtheory.neural import require
from kdtheory.neural.airnet import AirConfig
from kdtheory.neural.models import NetworkConfig
from kdtheory.neural.train import (
    TrainConfig,
    augment,
    batched_forward,
    enable_compilation_cache,
    init_network,
    train,
)

jax, jnp, optax = require("jax", "jax.numpy", "optax")

__all__ = [
    "TRAINING_CODE_VERSION",
    "TeacherRecipe",
    "RECIPES",
    "BankEntry",
    "teacher_key",
    "get_teacher",
    "list_teachers",
    "bank_folder",
    "teacher_loss",
]

#: bump when a change of the training code changes what a recipe trains (a new key for all)
TRAINING_CODE_VERSION = 1


@dataclass(frozen=True)
class TeacherRecipe:
    """Everything of a teacher but its data and seed.

    Attributes
    ----------
    network : AirConfig or NetworkConfig
        The architecture.
    train : TrainConfig
        Optimizer, schedule, epochs, batch, augmentation.
    resolution : int
        Image side (pixels) the teacher is trained and evaluated at.
    label_smoothing : float
        Smoothing of the one-hot labels; 0 for a teacher whose soft outputs are distilled
        (smoothing erases the inter-class structure KD reads; Mueller et al., 2019).
    flip_tta : bool
        Outputs averaged over the image and its mirror image.
    """

    network: AirConfig | NetworkConfig
    train: TrainConfig
    resolution: int = 64
    label_smoothing: float = 0.0
    flip_tta: bool = True

    def __post_init__(self):
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(
                f"TeacherRecipe: `label_smoothing` must be in [0, 1), got {self.label_smoothing}"
            )
        if (
            isinstance(self.resolution, bool)
            or not isinstance(self.resolution, int)
            or (self.resolution < 4)
        ):
            raise ValueError(
                f"TeacherRecipe: `resolution` must be an int >= 4, got {self.resolution!r}"
            )

    def describe(self) -> dict:
        """The recipe as plain data (the network's class named)."""
        return {
            "network": {"family": type(self.network).__name__, **asdict(self.network)},
            "train": asdict(self.train),
            "resolution": self.resolution,
            "label_smoothing": self.label_smoothing,
            "flip_tta": self.flip_tta,
        }


def _air_recipe(epochs: int, widths=(64, 128, 256), resolution: int = 64) -> TeacherRecipe:
    """The airbench-shaped recipe measured on two CPU cores (``reference/neural.md``): Nesterov
    SGD (momentum 0.9, peak rate 0.2, 20% linear warm-up, linear decay to 0), weight decay
    5e-4, batch 128, mirror-padded 4-pixel translation and flips; no label smoothing."""
    stride = 2 if resolution >= 48 else 1
    return TeacherRecipe(
        network=AirConfig(widths=tuple(widths), patch=4 if stride == 2 else 2, stride=stride),
        train=TrainConfig(
            epochs=epochs,
            batch_size=128,
            learning_rate=0.2,
            weight_decay=5e-4,
            warmup_fraction=0.2,
            pad=max(resolution // 16, 1),
            optimizer="nesterov",
            momentum=0.9,
            schedule="linear",
            pad_mode="reflect",
        ),
        resolution=resolution,
    )


#: the recipes of the studies' presets: ``air64`` the CPU teacher (64 px, 16 epochs; on the
#: whole train folder 0.847 val top-1 with the flip, 14 minutes on two cores), ``tiny`` the smoke
#: tests' (16 px, 1 epoch)
RECIPES = {
    "air64": _air_recipe(16),
    "tiny": _air_recipe(1, widths=(8, 16), resolution=16),
}


def teacher_loss(logits, batch, hparams):
    """Cross-entropy with labels smoothed by ``hparams["smoothing"]``."""
    k = logits.shape[-1]
    onehot = jax.nn.one_hot(batch["labels"], k)
    targets = optax.smooth_labels(onehot, hparams["smoothing"])
    return jnp.mean(optax.softmax_cross_entropy(logits, targets))


def bank_folder(cache_dir: str | os.PathLike[str] | None) -> Path:
    """``<cache_dir>/teachers``; without a cache folder, the user cache's
    (``~/.cache/kdtheory/teachers``)."""
    from kdtheory.io import _user_cache_dir

    base = Path(cache_dir) if cache_dir is not None else _user_cache_dir()
    return base / "teachers"


def _data_hash(*arrays) -> str:
    import joblib

    return joblib.hash([np.ascontiguousarray(a) for a in arrays])


def teacher_key(recipe: TeacherRecipe, train_set, val_set, index, seed: int) -> str:
    """The bank key: a hash of the recipe, the training images and labels, the indices trained
    on, the val images and labels, the seed and :data:`TRAINING_CODE_VERSION`."""
    import joblib

    index = np.asarray(index, np.int64)
    return joblib.hash(
        {
            "recipe": recipe.describe(),
            "train": _data_hash(*train_set),
            "val": _data_hash(*val_set),
            "index": _data_hash(index),
            "seed": int(seed),
            "version": TRAINING_CODE_VERSION,
        }
    )[:16]


@dataclass
class BankEntry:
    """One teacher of the bank: its record, outputs and (rebuilt on demand) network."""

    key: str
    folder: Path
    record: dict
    outputs: dict = field(repr=False, default_factory=dict)
    recipe: TeacherRecipe | None = field(repr=False, default=None)
    cached: bool = True

    @property
    def val_accuracy(self) -> float:
        return float(self.record["val_accuracy"])

    def network(self):
        """The trained network, restored from ``params/``."""
        ocp = require("orbax.checkpoint")
        side = self.recipe.resolution  # any image builds the graph; the state is restored
        blank = np.zeros((1, side, side, 3), np.uint8)
        net = init_network(self.recipe.network, int(self.record["seed"]), images=blank)
        target = {"params": net.params, "rest": net.rest}
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        with ocp.StandardCheckpointer() as ckpt:
            state = ckpt.restore((self.folder / "params").absolute(), abstract)
        return net.replace(state["params"], state["rest"])


def _load(folder: Path, recipe) -> BankEntry:
    record = json.loads((folder / "record.json").read_text())
    with np.load(folder / "outputs.npz") as f:
        outputs = {name: f[name] for name in f.files}
    return BankEntry(folder.name, folder, record, outputs, recipe, cached=True)


def _check_sets(train_set, val_set, index, n_classes):
    (x, y), (xv, yv) = train_set, val_set
    for name, (images, labels) in (("train", (x, y)), ("val", (xv, yv))):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.dtype != np.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(
                f"get_teacher: the {name} set must be uint8 (N, H, W, 3) images with N labels"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise ValueError(f"get_teacher: {name} labels outside 0..{n_classes - 1}")
    index = np.asarray(index)
    if index.ndim != 1 or len(index) == 0 or index.min() < 0 or index.max() >= len(x):
        raise ValueError("get_teacher: `index` must be non-empty indices into the train set")
    if len(np.unique(index)) != len(index):
        raise ValueError("get_teacher: `index` has repeated entries")


def _view_gap(network, images, logits, cfg: TrainConfig, key, batch: int = 512):
    """Mean KL(softmax(stored logits) || softmax(teacher on one random view)) and top-1
    agreement over ``images``."""
    kls, agree = [], []
    for lo in range(0, len(images), batch):
        chunk = images[lo : lo + batch]
        views = np.asarray(
            augment(
                jnp.asarray(chunk), jax.random.fold_in(key, lo), cfg.pad, cfg.flip, cfg.pad_mode
            )
        )
        z = batched_forward(network, views, batch_size=batch)
        p = jax.nn.log_softmax(jnp.asarray(logits[lo : lo + batch]))
        q = jax.nn.log_softmax(jnp.asarray(z))
        kls.append(np.asarray(jnp.sum(jnp.exp(p) * (p - q), axis=1)))
        agree.append(np.argmax(z, 1) == np.argmax(logits[lo : lo + batch], 1))
    return float(np.mean(np.concatenate(kls))), float(np.mean(np.concatenate(agree)))


def get_teacher(
    recipe: TeacherRecipe,
    train_set,
    val_set,
    *,
    index=None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    name: str = "teacher",
) -> BankEntry:
    """The teacher of ``recipe`` trained on ``train_set[index]`` with ``seed``: from the bank,
    or trained now and stored.

    Parameters
    ----------
    recipe : TeacherRecipe
    train_set, val_set : (images, labels)
        The train and val folders at ``recipe.resolution`` (uint8 images, int labels).
    index : array of int, optional
        The train images the teacher learns from (default: all); outputs are stored on all.
    seed : int
        Initialization, data order and augmentation.
    cache_dir : path, optional
        The bank is ``<cache_dir>/teachers`` (default: the user cache folder's).
    progress : bool
        A progress bar over the training epochs.
    name : str
        The bar's label.

    Returns
    -------
    BankEntry
        ``outputs`` holds ``train_logits``, ``train_features``, ``val_logits``,
        ``val_features`` (float32, one row per image of each folder).
    """
    x, y = (np.asarray(a) for a in train_set)
    xv, yv = (np.asarray(a) for a in val_set)
    n_classes = recipe.network.n_classes
    index = np.arange(len(x)) if index is None else np.asarray(index, np.int64)
    _check_sets((x, y), (xv, yv), index, n_classes)
    key = teacher_key(recipe, (x, y), (xv, yv), index, seed)
    bank = bank_folder(cache_dir)
    final = bank / key
    if (final / "record.json").is_file():
        return _load(final, recipe)
    enable_compilation_cache()
    partial = bank / f"{key}.partial"
    partial.mkdir(parents=True, exist_ok=True)
    # seconds and loss curve of the training so far, kept beside the checkpoints: a resumed
    # teacher's record counts the time and epochs of every process that trained it
    clock = partial / "progress.json"
    before = json.loads(clock.read_text()) if clock.is_file() else {"seconds": 0.0, "curve": []}
    start = time.perf_counter()

    def tick(epoch: int, network) -> None:
        seconds = before["seconds"] + time.perf_counter() - start
        curve = before["curve"][: epoch - len(network.history)] + list(network.history)
        clock.write_text(json.dumps({"seconds": seconds, "curve": curve}))

    net = init_network(recipe.network, seed, images=x[index])
    data = {"images": x[index], "labels": y[index].astype(np.int32)}
    net = train(
        net,
        data,
        recipe.train,
        teacher_loss,
        {"smoothing": recipe.label_smoothing},
        jax.random.fold_in(jax.random.key(seed), 1),
        checkpoint_dir=partial / "training",
        progress=progress,
        desc=name,
        on_epoch=tick,
    )
    done = json.loads(clock.read_text()) if clock.is_file() else before
    train_seconds = done["seconds"]
    end_of_training = time.perf_counter()
    n_steps = -(-len(index) // min(recipe.train.batch_size, len(index)))
    images_seen = n_steps * min(recipe.train.batch_size, len(index)) * recipe.train.epochs
    tta = recipe.flip_tta
    train_features, train_logits = batched_forward(net, x, with_features=True, flip_tta=tta)
    val_features, val_logits = batched_forward(net, xv, with_features=True, flip_tta=tta)
    view_kl, view_agreement = _view_gap(
        net, x[index], train_logits[index], recipe.train, jax.random.key(seed)
    )
    ocp = require("orbax.checkpoint")
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(
            (partial / "params").absolute(), {"params": net.params, "rest": net.rest}, force=True
        )
    outputs = {
        "train_logits": train_logits,
        "train_features": train_features,
        "val_logits": val_logits,
        "val_features": val_features,
    }
    np.savez(partial / "outputs.npz", **outputs)
    held_out = np.setdiff1d(np.arange(len(x)), index)
    record = {
        "key": key,
        "recipe": recipe.describe(),
        "seed": int(seed),
        "n_train": int(len(index)),
        "index_hash": _data_hash(index),
        "train_accuracy": float(np.mean(train_logits[index].argmax(1) == y[index])),
        "held_out_train_accuracy": float(np.mean(train_logits[held_out].argmax(1) == y[held_out]))
        if len(held_out)
        else None,
        "val_accuracy": float(np.mean(val_logits.argmax(1) == yv)),
        "curve": [float(v) for v in done["curve"]],
        "train_seconds": train_seconds,
        "total_seconds": train_seconds + time.perf_counter() - end_of_training,
        "images_per_second": images_seen / train_seconds if train_seconds > 0 else None,
        "view_kl": view_kl,
        "view_agreement": view_agreement,
        "backend": jax.default_backend(),
        "version": TRAINING_CODE_VERSION,
    }
    (partial / "record.json").write_text(json.dumps(record, indent=1))
    shutil.rmtree(partial / "training", ignore_errors=True)
    if final.exists():  # another process finished it first
        shutil.rmtree(partial, ignore_errors=True)
    else:
        partial.rename(final)
    entry = _load(final, recipe)
    entry.cached = False
    return entry


def list_teachers(cache_dir: str | os.PathLike[str] | None = None):
    """The bank's teachers: one row per entry (key, network, resolution, epochs, seed, images
    trained on, val accuracy, seconds, images per second), a DataFrame."""
    import pandas as pd

    rows = []
    bank = bank_folder(cache_dir)
    for record_file in sorted(bank.glob("*/record.json")) if bank.is_dir() else []:
        r = json.loads(record_file.read_text())
        net = r["recipe"]["network"]
        rows.append(
            {
                "key": r["key"],
                "network": f"{net['family']} {net.get('widths', net.get('width'))}",
                "resolution": r["recipe"]["resolution"],
                "epochs": r["recipe"]["train"]["epochs"],
                "seed": r["seed"],
                "n_train": r["n_train"],
                "val_accuracy": r["val_accuracy"],
                "train_seconds": r["train_seconds"],
                "images_per_second": r["images_per_second"],
                "backend": r.get("backend"),
            }
        )
    return pd.DataFrame(rows)
