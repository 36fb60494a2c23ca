"""The projector of residual learning (RES-1): ``P(h) = D(E(h))`` through a bottleneck ``d_A``,
pre-trained on a teacher's features (:mod:`kdtheory.neural.imperfect` uses it)."""

from __future__ import annotations

import numpy as np

from kdtheory.neural import require

jax, jnp, optax = require("jax", "jax.numpy", "optax")

__all__ = ["init_projector", "encode", "project", "projector_loss", "pretrain_projector"]


def _check_d_a(d_a, d_t: int) -> None:
    """``ValueError`` naming ``d_A`` unless it is an int in ``[1, d_T]``."""
    if not isinstance(d_a, int) or d_a < 1:
        raise ValueError(f"`d_A` must be an int >= 1, got {d_a!r}")
    if d_a > d_t:
        raise ValueError(
            f"`d_A` = {d_a} is larger than the teacher's feature width {d_t}: the projector "
            "must compress; choose d_A <= the feature width"
        )


def init_projector(key, d_t: int, d_a: int) -> dict:
    """An affine encoder ``R^{d_T} -> R^{d_A}`` and decoder back, LeCun-normal (RES-1).

    Raises ``ValueError`` naming ``d_A`` when ``d_A`` exceeds the feature width ``d_T``.
    """
    _check_d_a(d_a, d_t)
    k_e, k_d = jax.random.split(key)
    return {
        "enc_w": jax.random.normal(k_e, (d_t, d_a)) / np.sqrt(d_t),
        "enc_b": jnp.zeros(d_a),
        "dec_w": jax.random.normal(k_d, (d_a, d_t)) / np.sqrt(d_a),
        "dec_b": jnp.zeros(d_t),
    }


def encode(params: dict, features):
    """The code ``E(h)`` (width ``d_A``)."""
    return features @ params["enc_w"] + params["enc_b"]


def project(params: dict, features):
    """``P(h) = D(E(h))``."""
    return encode(params, features) @ params["dec_w"] + params["dec_b"]


def projector_loss(params: dict, features, labels, head_w, head_b):
    """Self-reconstruction ``sum||P(h) - h||^2 / sum||h||^2`` + ``CE(head_T(P(h)), y)``."""
    recon = project(params, features)
    rel = jnp.sum((recon - features) ** 2) / jnp.maximum(jnp.sum(features**2), 1e-12)
    logits = recon @ head_w + head_b
    return rel + optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


@jax.jit
def _projector_step(params, opt_state, features, labels, head_w, head_b, lr):
    value, grads = jax.value_and_grad(projector_loss)(params, features, labels, head_w, head_b)
    updates, opt_state = optax.scale_by_adam().update(grads, opt_state)
    return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state, value


def pretrain_projector(params, features, labels, head_w, head_b, *, steps=300, lr=1e-2):
    """Full-batch Adam on :func:`projector_loss`; returns ``(params, losses per step)``."""
    features, labels = jnp.asarray(features, jnp.float32), jnp.asarray(labels, jnp.int32)
    opt_state = optax.scale_by_adam().init(params)
    losses = []
    for _ in range(steps):
        params, opt_state, value = _projector_step(
            params, opt_state, features, labels, head_w, head_b, jnp.float32(lr)
        )
        losses.append(value)
    return params, np.asarray(jnp.stack(losses)) if losses else np.zeros(0)
