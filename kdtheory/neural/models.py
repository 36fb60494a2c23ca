"""Small residual CNNs in Flax NNX: the network family of the Imagenette studies (RAT-6).

One family, three knobs: ``width`` (channels of the first stage; stages double it), ``depth``
(residual blocks per stage) and ``n_stages``. The network takes uint8 images of any resolution
(it ends in global average pooling) and returns float32 logits; activations are computed in
``dtype`` (bfloat16 on a GPU, float32 on a CPU, where bfloat16 is slow), parameters are kept in
float32. :meth:`ResNet.features` returns the penultimate features (what white-box methods
project).

Architecture (pre-activation-free "basic block" ResNet, as for CIFAR):
``conv3x3(width) - BN - ReLU``, then ``n_stages`` stages of ``depth`` blocks
``x + BN(conv3x3(ReLU(BN(conv3x3(x)))))`` followed by ReLU (stride 2 and a 1x1 projection on the
shortcut at the first block of every stage but the first), then global average pooling and a
linear head.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdtheory.neural import require

jax, jnp, nnx = require("jax", "jax.numpy", "flax.nnx")

__all__ = ["NetworkConfig", "ResNet", "build_network", "IMAGE_MEAN", "IMAGE_STD"]

#: per-channel mean of ImageNet images on the [0, 1] scale
IMAGE_MEAN = (0.485, 0.456, 0.406)
#: per-channel standard deviation of ImageNet images on the [0, 1] scale
IMAGE_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class NetworkConfig:
    """The shape of one network of the family.

    Attributes
    ----------
    width : int
        Channels of the stem and the first stage; stage ``s`` has ``width * 2**s``.
    depth : int
        Residual blocks per stage.
    n_stages : int
        Number of stages (the feature map is halved between stages).
    n_classes : int
        Output logits.
    """

    width: int = 32
    depth: int = 1
    n_stages: int = 3
    n_classes: int = 10

    def __post_init__(self):
        for name in ("width", "depth", "n_stages", "n_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"NetworkConfig: `{name}` must be an int >= 1, got {value!r}")

    @property
    def feature_dim(self) -> int:
        """Width of the penultimate features."""
        return self.width * 2 ** (self.n_stages - 1)


class Block(nnx.Module):
    """``relu(shortcut(x) + BN(conv(relu(BN(conv(x))))))``."""

    def __init__(self, c_in: int, c_out: int, stride: int, dtype, rngs):
        conv = dict(kernel_size=(3, 3), use_bias=False, dtype=dtype, rngs=rngs)
        norm = dict(momentum=0.9, dtype=dtype, rngs=rngs)
        self.conv1 = nnx.Conv(c_in, c_out, strides=stride, **conv)
        self.bn1 = nnx.BatchNorm(c_out, **norm)
        self.conv2 = nnx.Conv(c_out, c_out, **conv)
        # the last BN of a block starts at zero: each block begins as the identity
        self.bn2 = nnx.BatchNorm(c_out, scale_init=nnx.initializers.zeros, **norm)
        self.has_projection = stride != 1 or c_in != c_out
        if self.has_projection:
            self.project = nnx.Conv(
                c_in,
                c_out,
                kernel_size=(1, 1),
                strides=stride,
                use_bias=False,
                dtype=dtype,
                rngs=rngs,
            )
            self.bn_project = nnx.BatchNorm(c_out, **norm)

    def __call__(self, x):
        y = jax.nn.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = self.bn_project(self.project(x)) if self.has_projection else x
        return jax.nn.relu(y + shortcut)


class ResNet(nnx.Module):
    """A residual CNN of the family (see the module docstring).

    Parameters
    ----------
    config : NetworkConfig
        Width, depth, stages and classes.
    rngs : flax.nnx.Rngs
        Initialization keys.
    dtype : jax dtype, optional
        Activation dtype (``jnp.bfloat16`` on a GPU); parameters are float32 whatever it is.

    Notes
    -----
    Called on uint8 images ``(B, H, W, 3)`` it returns float32 logits ``(B, n_classes)``;
    ``features(images)`` returns float32 penultimate features ``(B, config.feature_dim)``.
    """

    def __init__(self, config: NetworkConfig, *, rngs, dtype=None):
        w = config.width
        self.dtype = dtype
        self.stem = nnx.Conv(3, w, kernel_size=(3, 3), use_bias=False, dtype=dtype, rngs=rngs)
        self.stem_bn = nnx.BatchNorm(w, momentum=0.9, dtype=dtype, rngs=rngs)
        blocks = []
        c_in = w
        for stage in range(config.n_stages):
            c_out = w * 2**stage
            for i in range(config.depth):
                blocks.append(Block(c_in, c_out, 2 if (stage > 0 and i == 0) else 1, dtype, rngs))
                c_in = c_out
        self.blocks = nnx.List(blocks) if hasattr(nnx, "List") else blocks
        self.head = nnx.Linear(c_in, config.n_classes, rngs=rngs)

    def features(self, images):
        """Penultimate features (float32) of uint8 images."""
        mean = jnp.asarray(IMAGE_MEAN, jnp.float32) * 255.0
        std = jnp.asarray(IMAGE_STD, jnp.float32) * 255.0
        x = (images.astype(jnp.float32) - mean) / std
        if self.dtype is not None:
            x = x.astype(self.dtype)
        x = jax.nn.relu(self.stem_bn(self.stem(x)))
        for block in self.blocks:
            x = block(x)
        return jnp.mean(x.astype(jnp.float32), axis=(1, 2))

    def __call__(self, images):
        return self.head(self.features(images))


def build_network(config: NetworkConfig, key, *, dtype=None):
    """:func:`ResNet` from an integer seed or a JAX PRNG key (explicit randomness)."""
    if isinstance(key, int):
        key = jax.random.key(key)
    return ResNet(config, rngs=nnx.Rngs(params=key), dtype=dtype)
