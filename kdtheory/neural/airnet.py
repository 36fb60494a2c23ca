"""A fast convolutional network for two CPU cores: the teacher family of the Imagenette studies.

The shape follows airbench (Jordan, 2024, arXiv 2404.00498), the fastest published CIFAR-10
recipe, as measured on a two-core CPU (``reference/neural.md``):

``frozen patch whitening (2k channels) - GELU``, then one block per width
``conv3x3 - max-pool 2 - BN - GELU - conv3x3 - BN - GELU``, a global max-pool and a linear head
whose logits are scaled by ``logit_scale``.

* **Patch whitening.** The first layer is a convolution over ``patch x patch`` patches with stride
  ``stride``, fixed before training (never trained): its filters are the top ``k`` eigenvectors of
  the second-moment matrix of the training patches, each scaled by ``1/sqrt(eigenvalue + eps)``,
  and their negatives (``2k`` channels). At 64 px a 4 x 4 stride-2 whitening halves the image at
  no cost, so the rest of the network runs at the cost of a 32 px one.
* **Batch norm with a bias only** (its scale is fixed at 1), as airbench.
* **Max-pool as the maximum of four strided slices**: on XLA:CPU its gradient is several times
  faster than that of ``lax.reduce_window``.

The network takes uint8 images ``(B, H, W, 3)``, standardizes them with ImageNet's mean and
standard deviation, and returns float32 logits; :meth:`AirNet.features` returns the penultimate
features (the global max-pool, ``widths[-1]`` of them). The whitening filters are computed from
training images by :func:`whitening_filters`; a network is built with them
(:func:`kdtheory.neural.train.init_network` ``images=``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kdtheory.neural import require
from kdtheory.neural.models import IMAGE_MEAN, IMAGE_STD

jax, jnp, nnx = require("jax", "jax.numpy", "flax.nnx")

__all__ = ["AirConfig", "AirNet", "ScaledHead", "Whitening", "whitening_filters", "max_pool2"]


@dataclass(frozen=True)
class AirConfig:
    """The shape of one network of the family.

    Attributes
    ----------
    widths : tuple of int
        Channels of the blocks (each block halves the feature map).
    patch : int
        Side of the whitening patches.
    stride : int
        Stride of the whitening convolution (2 at 64 px: the rest runs at 32 px's cost).
    whiten_dim : int
        Eigenvectors kept, ``k`` (the layer has ``2k`` channels); at most ``3 * patch**2``.
    logit_scale : float
        Multiplies the head's output (airbench's 1/8).
    n_classes : int
        Output logits.
    adapter_dim : int
        0, or ``d_A``: the network gets a trainable linear ``adapter`` from ``R^{d_A}`` to its
        feature space, read only by residual learning (RES-1) to bring a teacher's compressed
        features into a student of another width.
    """

    widths: tuple[int, ...] = (64, 128, 256)
    patch: int = 4
    stride: int = 2
    whiten_dim: int = 12
    logit_scale: float = 0.125
    n_classes: int = 10
    adapter_dim: int = 0

    def __post_init__(self):
        widths = tuple(self.widths)
        if not widths or any(
            isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths
        ):
            raise ValueError(f"AirConfig: `widths` must be ints >= 1, got {self.widths!r}")
        object.__setattr__(self, "widths", widths)
        for name in ("patch", "stride", "whiten_dim", "n_classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AirConfig: `{name}` must be an int >= 1, got {value!r}")
        if (
            isinstance(self.adapter_dim, bool)
            or not isinstance(self.adapter_dim, int)
            or (self.adapter_dim < 0)
        ):
            raise ValueError(
                f"AirConfig: `adapter_dim` must be an int >= 0, got {self.adapter_dim!r}"
            )
        if self.whiten_dim > 3 * self.patch**2:
            raise ValueError(
                f"AirConfig: `whiten_dim` ({self.whiten_dim}) exceeds the patch dimension "
                f"3 * patch**2 = {3 * self.patch**2}"
            )
        if not (self.logit_scale > 0 and np.isfinite(self.logit_scale)):
            raise ValueError(f"AirConfig: `logit_scale` must be > 0, got {self.logit_scale}")

    @property
    def feature_dim(self) -> int:
        """Width of the penultimate features."""
        return self.widths[-1]


class Whitening(nnx.Variable):
    """The frozen whitening filters: state of the network, never a trained parameter."""


def _standardize(images):
    mean = jnp.asarray(IMAGE_MEAN, jnp.float32) * 255.0
    std = jnp.asarray(IMAGE_STD, jnp.float32) * 255.0
    return (jnp.asarray(images).astype(jnp.float32) - mean) / std


def whitening_filters(images, config: AirConfig, *, eps: float = 5e-4, max_images: int = 5000):
    """The frozen first layer: ``2k`` filters ``(patch, patch, 3, 2k)`` whitening the patches.

    Parameters
    ----------
    images : array of uint8, shape (N, H, W, 3)
        Training images (the first ``max_images`` are used: deterministic).
    config : AirConfig
    eps : float
        Added to the eigenvalues before the inverse square root.
    max_images : int
        Cap on the images read.

    Returns
    -------
    ndarray of float32
        HWIO filters: the top ``whiten_dim`` eigenvectors of the patches' second-moment matrix,
        scaled by ``1/sqrt(eigenvalue + eps)``, then their negatives.
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError("whitening_filters: `images` must be uint8 of shape (N, H, W, 3), N >= 1")
    p, s = config.patch, config.stride
    if min(images.shape[1:3]) < p:
        raise ValueError(f"whitening_filters: images smaller than the {p} x {p} patch")
    moment, count = np.zeros((3 * p * p, 3 * p * p)), 0
    for lo in range(0, min(len(images), max_images), 256):  # chunks bound the memory
        patches = jax.lax.conv_general_dilated_patches(
            _standardize(images[lo : min(lo + 256, max_images)]),
            (p, p),
            (s, s),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )  # (n, H', W', 3 p p), features ordered (channel, row, column)
        flat = np.asarray(patches, np.float64).reshape(-1, patches.shape[-1])
        moment += flat.T @ flat
        count += len(flat)
    values, vectors = np.linalg.eigh(moment / count)
    order = np.argsort(values)[::-1][: config.whiten_dim]
    scaled = vectors[:, order] / np.sqrt(values[order] + eps)  # (3 p p, k)
    # (channel, row, column) -> HWIO
    hwio = scaled.reshape(3, p, p, -1).transpose(1, 2, 0, 3)
    return np.concatenate([hwio, -hwio], axis=-1).astype(np.float32)


def max_pool2(x):
    """2 x 2 max-pool with stride 2 (NHWC; an odd last row or column is dropped) as the maximum
    of four strided slices: the same values as ``lax.reduce_window``, a faster gradient on a
    CPU."""
    h, w = (x.shape[1] // 2) * 2, (x.shape[2] // 2) * 2
    x = x[:, :h, :w]
    return jnp.maximum(
        jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]),
        jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]),
    )


class _Block(nnx.Module):
    def __init__(self, c_in: int, c_out: int, dtype, rngs):
        conv = dict(kernel_size=(3, 3), use_bias=False, dtype=dtype, rngs=rngs)
        norm = dict(use_scale=False, momentum=0.9, dtype=dtype, rngs=rngs)
        self.conv1 = nnx.Conv(c_in, c_out, **conv)
        self.bn1 = nnx.BatchNorm(c_out, **norm)
        self.conv2 = nnx.Conv(c_out, c_out, **conv)
        self.bn2 = nnx.BatchNorm(c_out, **norm)

    def __call__(self, x):
        x = jax.nn.gelu(self.bn1(max_pool2(self.conv1(x))))
        return jax.nn.gelu(self.bn2(self.conv2(x)))


class ScaledHead(nnx.Module):
    """The linear head ``(x @ kernel + bias) * scale``, the bias starting at 0 (white-box methods
    read ``kernel``, ``bias`` and ``scale``)."""

    def __init__(self, c_in: int, n_classes: int, scale: float, rngs):
        init = nnx.initializers.lecun_normal()
        self.kernel = nnx.Param(init(rngs.params(), (c_in, n_classes), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((n_classes,), jnp.float32))
        self.scale = float(scale)

    def __call__(self, x):
        return (x @ self.kernel[...] + self.bias[...]) * self.scale


class AirNet(nnx.Module):
    """A network of the family (see the module docstring).

    Parameters
    ----------
    config : AirConfig
    filters : array of float32, shape (patch, patch, 3, 2 * whiten_dim)
        The whitening filters (:func:`whitening_filters`).
    rngs : flax.nnx.Rngs
    dtype : jax dtype, optional
        Activation dtype; parameters are float32.
    """

    def __init__(self, config: AirConfig, filters, *, rngs, dtype=None):
        filters = np.asarray(filters, np.float32)
        expected = (config.patch, config.patch, 3, 2 * config.whiten_dim)
        if filters.shape != expected:
            raise ValueError(f"AirNet: whitening filters of shape {filters.shape}, need {expected}")
        self.config, self.dtype = config, dtype
        self.whiten = Whitening(jnp.asarray(filters))
        blocks, c_in = [], 2 * config.whiten_dim
        for width in config.widths:
            blocks.append(_Block(c_in, width, dtype, rngs))
            c_in = width
        self.blocks = nnx.List(blocks) if hasattr(nnx, "List") else blocks
        self.head = ScaledHead(c_in, config.n_classes, config.logit_scale, rngs)
        if config.adapter_dim:
            self.adapter = nnx.Linear(config.adapter_dim, c_in, rngs=rngs)

    def features(self, images):
        """Penultimate features (float32): the global max-pool of the last block."""
        x = _standardize(images)
        s = self.config.stride
        w = jax.lax.stop_gradient(self.whiten[...])
        x = jax.lax.conv_general_dilated(
            x, w, (s, s), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        if self.dtype is not None:
            x = x.astype(self.dtype)
        x = jax.nn.gelu(x)
        for block in self.blocks:
            x = block(x)
        return jnp.max(x.astype(jnp.float32), axis=(1, 2))

    def __call__(self, images):
        return self.head(self.features(images))
