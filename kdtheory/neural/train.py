"""One jit-compiled training step for every method; checkpoints, progress, evaluation (RAT-6).

A method is a pure loss function ``loss(logits, batch, hparams) -> scalar`` (see
:mod:`kdtheory.neural.distill`); a loss with the attribute ``takes_features = True`` is called
as ``loss(logits, batch, hparams, features=h, head=head)`` with the network's penultimate
features ``h`` and its linear head (white-box methods, :mod:`kdtheory.neural.imperfect`,
RES-1). Everything else is shared: the network, the optimizer (AdamW,
linear warm-up then cosine decay), the augmentation (random crop with zero padding and a
horizontal flip, per image, inside the step), the batch shape and the budget. The method's
hyper-parameters are float32 arrays, so one compiled step serves every method and seed of a
network and batch shape.

Shapes of the loop (docs/architecture.md, "The neural module"):

* the data live on the device as uint8 images plus per-image auxiliary arrays (labels, teacher
  logits, regression targets); an epoch visits a permutation, wrapped around to a whole number of
  fixed-size batches, so the last batch never has another shape;
* the network is split once into a graph definition and its state (parameters and batch
  statistics); the step is a pure :func:`jax.jit` function of the state (google/flax#4459);
* randomness is explicit: epoch ``e`` uses ``fold_in(key, e)`` for its permutation and
  augmentation, so a run resumed from the checkpoint of epoch ``e`` retraces the uninterrupted run
  exactly;
* with a ``checkpoint_dir``, the state is saved with Orbax after every epoch and a rerun resumes
  from the latest one;
* activations are bfloat16 on a GPU and float32 on a CPU (:func:`activation_dtype`); parameters,
  logits and losses are float32.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kdtheory.neural import require
from kdtheory.neural.models import NetworkConfig, build_network

jax, jnp, nnx, optax = require("jax", "jax.numpy", "flax.nnx", "optax")

__all__ = [
    "TrainConfig",
    "Network",
    "init_network",
    "activation_dtype",
    "enable_compilation_cache",
    "augment",
    "learning_rates",
    "train",
    "predict_logits",
    "batched_forward",
    "accuracy",
]

Loss = Callable[..., "jax.Array"]


@dataclass(frozen=True)
class TrainConfig:
    """The training protocol shared by every method.

    Attributes
    ----------
    epochs : int
        Passes over the training images (each a whole number of batches).
    batch_size : int
        Images per step; a set smaller than one batch is trained with batches of its size.
    learning_rate : float
        Peak AdamW learning rate.
    weight_decay : float
        Decoupled weight decay of AdamW.
    warmup_fraction : float
        Fraction of the steps with a linear warm-up from 0; cosine decay to 0 after it.
    pad : int
        Padding (pixels) of the random crop; 0 disables the crop.
    flip : bool
        Random horizontal flips.
    optimizer : {"adamw", "nesterov"}
        AdamW (decoupled weight decay), or SGD with Nesterov momentum and coupled weight decay
        (the airbench recipe of the teachers).
    momentum : float
        Nesterov's momentum (unused by AdamW).
    schedule : {"cosine", "linear"}
        After the warm-up: cosine or linear decay to 0.
    pad_mode : {"constant", "reflect"}
        Zero or mirror padding of the random crop.
    """

    epochs: int
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.15
    pad: int = 4
    flip: bool = True
    optimizer: str = "adamw"
    momentum: float = 0.9
    schedule: str = "cosine"
    pad_mode: str = "constant"

    def __post_init__(self):
        for name, allowed in (
            ("optimizer", ("adamw", "nesterov")),
            ("schedule", ("cosine", "linear")),
            ("pad_mode", ("constant", "reflect")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"TrainConfig: `{name}` must be one of {allowed}, got {getattr(self, name)!r}"
                )
        if not 0 <= self.momentum < 1:
            raise ValueError(f"TrainConfig: `momentum` must be in [0, 1), got {self.momentum}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"TrainConfig: `{name}` must be an int >= 1, got {value!r}")
        if not (self.learning_rate > 0 and np.isfinite(self.learning_rate)):
            raise ValueError(f"TrainConfig: `learning_rate` must be > 0, got {self.learning_rate}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError("TrainConfig: `warmup_fraction` must be in [0, 1)")
        if self.pad < 0:
            raise ValueError(f"TrainConfig: `pad` must be >= 0, got {self.pad}")


@dataclass
class Network:
    """A network split once: graph definitions (train and eval mode) and its state.

    Attributes
    ----------
    config : NetworkConfig
    graphdef, eval_graphdef : flax.nnx.GraphDef
        The network in training mode (batch statistics of the batch) and in evaluation mode
        (running averages).
    params : flax.nnx.State
        Trainable parameters (float32).
    rest : flax.nnx.State
        Everything else (batch-norm running statistics).
    """

    config: NetworkConfig
    graphdef: object
    eval_graphdef: object
    params: object
    rest: object
    history: list = field(default_factory=list)

    def replace(self, params, rest) -> Network:
        """The same network with another state (the graph definitions are shared)."""
        return Network(self.config, self.graphdef, self.eval_graphdef, params, rest, self.history)

    def module(self, *, train: bool = False):
        """The network as a Flax module (a copy), in evaluation mode unless ``train``."""
        graphdef = self.graphdef if train else self.eval_graphdef
        return nnx.merge(graphdef, self.params, self.rest, copy=True)


def activation_dtype():
    """bfloat16 on a GPU or TPU, float32 on a CPU (where bfloat16 is slow)."""
    return jnp.float32 if jax.default_backend() == "cpu" else jnp.bfloat16


def enable_compilation_cache(path: str | Path | None = None) -> Path:
    """Turn on JAX's persistent compilation cache (default ``~/.cache/kdtheory/jax``).

    Repeated runs then load compiled steps instead of compiling them again.
    """
    from kdtheory.io import _user_cache_dir

    folder = Path(path) if path is not None else _user_cache_dir() / "jax"
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    return folder


def init_network(config, key, *, dtype=None, images=None) -> Network:
    """A freshly initialized network of a family, split for the functional step.

    Parameters
    ----------
    config : NetworkConfig or kdtheory.neural.airnet.AirConfig
        A residual network, or an airbench-shaped one.
    key : int or jax PRNG key
        Initialization seed or key.
    dtype : jax dtype, optional
        Activation dtype; default :func:`activation_dtype`.
    images : array of uint8, optional
        Training images; an :class:`~kdtheory.neural.airnet.AirConfig` network needs them for
        its frozen whitening layer (:func:`~kdtheory.neural.airnet.whitening_filters`).

    Raises
    ------
    ValueError
        An AirNet without ``images``.
    """
    from kdtheory.neural.airnet import AirConfig, AirNet, whitening_filters

    dtype = activation_dtype() if dtype is None else dtype
    if isinstance(config, AirConfig):
        if images is None:
            raise ValueError("init_network: an AirConfig network needs `images` (its whitening)")
        key = jax.random.key(key) if isinstance(key, int) else key
        filters = whitening_filters(images, config)
        model = AirNet(config, filters, rngs=nnx.Rngs(params=key), dtype=dtype)
    else:
        model = build_network(config, key, dtype=dtype)
    model.train()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    model.eval()
    eval_graphdef, _, _ = nnx.split(model, nnx.Param, ...)
    return Network(config, graphdef, eval_graphdef, params, rest)


def augment(images, key, pad: int, flip: bool, pad_mode: str = "constant"):
    """Random crop (padding ``pad``, zeros or mirrored) and horizontal flip, per image; uint8 in,
    uint8 out."""
    n, h, w, _ = images.shape
    k_crop, k_flip = jax.random.split(key)
    if pad > 0:
        padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode=pad_mode)
        offsets = jax.random.randint(k_crop, (n, 2), 0, 2 * pad + 1)

        def crop(image, offset):
            return jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, 3))

        images = jax.vmap(crop)(padded, offsets)
    if flip:
        mirror = jax.random.bernoulli(k_flip, 0.5, (n,))
        images = jnp.where(mirror[:, None, None, None], images[:, :, ::-1, :], images)
    return images


def learning_rates(cfg: TrainConfig, total_steps: int) -> np.ndarray:
    """The learning rate of every step: linear warm-up from 0, then cosine (or linear) decay to
    0."""
    warmup = int(round(cfg.warmup_fraction * total_steps))
    if cfg.schedule == "linear":
        steps = np.arange(total_steps, dtype=np.float64)
        up = (steps + 1) / max(warmup, 1)
        down = (total_steps - steps) / max(total_steps - warmup, 1)
        rate = cfg.learning_rate * np.clip(np.where(steps < warmup, up, down), 0.0, 1.0)
        return rate.astype(np.float32)
    if warmup == 0:
        schedule = optax.cosine_decay_schedule(cfg.learning_rate, max(total_steps, 1))
    else:
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, cfg.learning_rate, warmup, max(total_steps, warmup + 1), end_value=0.0
        )
    return np.asarray(schedule(np.arange(total_steps)), dtype=np.float32)


_STEPS: dict = {}


def _train_step(graphdef, loss: Loss, cfg: TrainConfig):
    """The jitted step of one (network graph, loss, protocol); built once and memoized.

    AdamW as optax composes it (``scale_by_adam``, ``add_decayed_weights``, then the learning
    rate), or Nesterov SGD (``add_decayed_weights``, ``trace(nesterov=True)``, then the learning
    rate), with the learning rate an argument: the step does not depend on the schedule's length.
    """
    cache_key = (
        graphdef,
        loss,
        cfg.pad,
        cfg.flip,
        cfg.pad_mode,
        cfg.weight_decay,
        cfg.optimizer,
        cfg.momentum,
    )
    if cache_key in _STEPS:
        return _STEPS[cache_key]
    if cfg.optimizer == "nesterov":
        tx = optax.chain(
            optax.add_decayed_weights(cfg.weight_decay),
            optax.trace(decay=cfg.momentum, nesterov=True),
        )
    else:
        tx = optax.chain(optax.scale_by_adam(), optax.add_decayed_weights(cfg.weight_decay))

    def objective(params, rest, images, batch, hparams):
        model = nnx.merge(graphdef, params, rest, copy=True)
        if getattr(loss, "takes_features", False):  # white-box losses (RES-1): features, head
            features = model.features(images)
            logits = model.head(features).astype(jnp.float32)
            adapter = getattr(model, "adapter", None)  # AirNet's d_A -> d_S map (RES-1)
            value = loss(
                logits, batch, hparams, features=features, head=model.head, adapter=adapter
            )
        else:
            value = loss(model(images).astype(jnp.float32), batch, hparams)
        return value, nnx.state(model, nnx.Not(nnx.Param))

    @jax.jit
    def step(params, rest, opt_state, batch, key, hparams, learning_rate):
        images = augment(batch["images"], key, cfg.pad, cfg.flip, cfg.pad_mode)
        (value, rest), grads = jax.value_and_grad(objective, has_aux=True)(
            params, rest, images, batch, hparams
        )
        updates, opt_state = tx.update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: -learning_rate * u, updates)
        return optax.apply_updates(params, updates), rest, opt_state, value

    _STEPS[cache_key] = (tx, step)
    return tx, step


@jax.jit
def _gather(arrays, idx):
    return {name: value[idx] for name, value in arrays.items()}


def _epoch_indices(key, n: int, n_steps: int, batch: int) -> np.ndarray:
    """A permutation of ``n`` wrapped around to ``n_steps * batch`` indices, as (steps, batch)."""
    perm = np.asarray(jax.random.permutation(key, n))
    reps = -(-n_steps * batch // n)
    return np.tile(perm, reps)[: n_steps * batch].reshape(n_steps, batch)


def _checkpointer(directory: Path):
    ocp = require("orbax.checkpoint")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, create=True, enable_async_checkpointing=True
    )
    return ocp, ocp.CheckpointManager(directory.absolute(), options=options)


def train(
    network: Network,
    data: Mapping[str, np.ndarray],
    cfg: TrainConfig,
    loss: Loss,
    hparams: Mapping[str, float],
    key,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
    desc: str | None = None,
    on_epoch: Callable | None = None,
) -> Network:
    """Train ``network`` on ``data`` with ``loss`` for ``cfg.epochs`` epochs.

    Parameters
    ----------
    network : Network
        Initial state (fresh from :func:`init_network`, or a trained network to continue).
    data : mapping of str to array
        ``"images"``: uint8 ``(N, H, W, 3)``; every other entry is an auxiliary array with ``N``
        rows (labels, teacher logits, regression targets) handed to ``loss`` batch by batch.
    cfg : TrainConfig
        The shared protocol.
    loss : callable
        ``loss(logits, batch, hparams) -> scalar``, a pure function (module level, so that the
        compiled step is reused); with ``loss.takes_features`` true it also receives
        ``adapter=`` (the network's ``adapter`` module, or None) and
        ``features=`` (penultimate features, float32) and ``head=`` (the linear head).
    hparams : mapping of str to float, or callable
        The method's hyper-parameters, passed to the step as float32 arrays; or a function of
        the epoch (0-based) returning them, a schedule under one learning-rate schedule (e.g.
        labels first, then a teacher): arrays of the same shapes, so the step compiles once.
    key : jax PRNG key or int
        Randomness of the permutations and augmentations.
    checkpoint_dir : str or Path, optional
        Orbax checkpoints, one per epoch; a rerun with the same folder resumes from the latest
        and ends with the same parameters as an uninterrupted run.
    progress : bool
        A tqdm bar over epochs.
    desc : str, optional
        Its label.
    on_epoch : callable, optional
        ``on_epoch(epochs_done, network)`` after each epoch run here, before its checkpoint
        is saved (so an evaluation it stores is redone, not lost, when a run is killed).

    Returns
    -------
    Network
        The trained network; ``history`` gains one mean training loss per epoch run here.
    """
    from tqdm.auto import tqdm

    images = data["images"]
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError("`data['images']` must be uint8 of shape (N, H, W, 3)")
    n = images.shape[0]
    for name, value in data.items():
        if len(value) != n:
            raise ValueError(f"`data[{name!r}]` has {len(value)} rows, `images` {n}")
    batch = min(cfg.batch_size, n)
    n_steps = -(-n // batch)
    tx, step = _train_step(network.graphdef, loss, cfg)
    rates = jnp.asarray(learning_rates(cfg, n_steps * cfg.epochs))
    key = jax.random.key(key) if isinstance(key, int) else key
    device_data = {name: jnp.asarray(value) for name, value in data.items()}

    def hp_at(epoch: int) -> dict:
        values = hparams(epoch) if callable(hparams) else hparams
        return {name: jnp.asarray(value, jnp.float32) for name, value in values.items()}

    params, rest = network.params, network.rest
    opt_state = tx.init(params)
    start, manager = 0, None
    if checkpoint_dir is not None:
        ocp, manager = _checkpointer(Path(checkpoint_dir))
        latest = manager.latest_step()
        if latest is not None:
            target = {"params": params, "rest": rest, "opt": opt_state}
            abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
            state = manager.restore(latest, args=ocp.args.StandardRestore(abstract))
            params, rest, opt_state = state["params"], state["rest"], state["opt"]
            start = int(latest)
    history = list(network.history)
    bar = tqdm(range(start, cfg.epochs), desc=desc, disable=not progress, leave=False)
    try:
        for epoch in bar:
            epoch_key = jax.random.fold_in(key, epoch)
            hp = hp_at(epoch)
            perm_key, aug_key = jax.random.split(epoch_key)
            order = _epoch_indices(perm_key, n, n_steps, batch)
            losses = []
            for i in range(n_steps):
                params, rest, opt_state, value = step(
                    params,
                    rest,
                    opt_state,
                    _gather(device_data, order[i]),
                    jax.random.fold_in(aug_key, i),
                    hp,
                    rates[epoch * n_steps + i],
                )
                losses.append(value)
            history.append(float(jnp.mean(jnp.stack(losses))))
            bar.set_postfix(loss=f"{history[-1]:.4f}")
            if on_epoch is not None:
                trained = network.replace(params, rest)
                trained.history = list(history)
                on_epoch(epoch + 1, trained)
            if manager is not None:
                state = {"params": params, "rest": rest, "opt": opt_state}
                manager.save(epoch + 1, args=ocp.args.StandardSave(state))
    finally:  # a save in flight is finished even when the run is interrupted
        if manager is not None:
            manager.wait_until_finished()
            manager.close()
    trained = network.replace(params, rest)
    trained.history = history
    return trained


_FORWARD: dict = {}


def _forward(graphdef, with_features: bool, flip_tta: bool = False):
    """The jitted evaluation-mode forward pass of one network graph (memoized): logits, or
    ``(features, logits)``; with ``flip_tta`` the features are the mean over the image and its
    mirror (and the logits the head's output on them: the mean logits, the head being linear)."""
    key = (graphdef, with_features, flip_tta)
    if key not in _FORWARD:

        @jax.jit
        def forward(params, rest, x):
            model = nnx.merge(graphdef, params, rest, copy=True)
            h = model.features(x)
            if flip_tta:
                h = 0.5 * (h + model.features(x[:, :, ::-1, :]))
            logits = model.head(h).astype(jnp.float32)
            return (h, logits) if with_features else logits

        _FORWARD[key] = forward
    return _FORWARD[key]


def batched_forward(
    network: Network, images, *, batch_size: int = 512, with_features=False, flip_tta=False
):
    """Evaluation-mode outputs of uint8 images, in batches of one fixed shape.

    The last batch is padded with zeros and the padding dropped, so the forward pass compiles
    once per network and batch size whatever the number of images. With ``flip_tta``, the
    features (and so the logits) are averaged over each image and its mirror image.

    Returns
    -------
    ndarray of shape (N, n_classes), or (features, logits) with ``with_features``
        Float32 logits (and penultimate features).
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError("`images` must be uint8 of shape (N, H, W, 3)")
    n = images.shape[0]
    forward = _forward(network.eval_graphdef, with_features, flip_tta)
    batch = min(batch_size, max(n, 1))
    out = []
    for lo in range(0, n, batch):
        chunk = images[lo : lo + batch]
        if len(chunk) < batch:
            chunk = np.concatenate(
                [chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)]
            )
        result = forward(network.params, network.rest, jnp.asarray(chunk))
        out.append(tuple(np.asarray(r) for r in result) if with_features else np.asarray(result))
    if not with_features:
        return (
            np.concatenate(out)[:n] if out else np.zeros((0, network.config.n_classes), np.float32)
        )
    if not out:
        width = network.config.feature_dim
        return np.zeros((0, width), np.float32), np.zeros((0, network.config.n_classes), np.float32)
    return tuple(np.concatenate(parts)[:n] for parts in zip(*out, strict=True))


def predict_logits(network: Network, images: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Float32 logits of uint8 images in evaluation mode, with one fixed batch shape
    (:func:`batched_forward`)."""
    return batched_forward(network, images, batch_size=batch_size)


def accuracy(network: Network, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of ``network`` on ``images``."""
    logits = predict_logits(network, images)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))
