"""The loss terms of the distillation methods: pure functions ``loss(logits, batch, hparams)``
(RAT-6; :mod:`kdtheory.neural.distill` names the methods built from them).

Hyper-parameters (weights, temperature) are arrays, so one compiled step serves every method.
"""

from __future__ import annotations

import numpy as np

from kdtheory.neural import require

jax, jnp, optax = require("jax", "jax.numpy", "optax")

__all__ = [
    "LOSS_TERMS",
    "cross_entropy_loss",
    "soft_matching_loss",
    "sm_ce_loss",
    "logit_regression_loss",
    "distillation_loss",
    "method_hparams",
]


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


def sm_ce_loss(logits, batch, hparams):
    """Cross-entropy on the rows with ``batch["source"] = 1``, soft matching
    (:func:`soft_matching_loss`) on the others, averaged over the batch."""
    temperature = hparams["temperature"]
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, batch["labels"])
    log_q = jax.nn.log_softmax(logits / temperature)
    log_p = jax.nn.log_softmax(batch["teacher_logits"] / temperature)
    kd = temperature**2 * jnp.sum(jnp.exp(log_p) * (log_p - log_q), axis=-1)
    source = batch["source"]
    return jnp.mean(source * ce + (1.0 - source) * kd)


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
