"""Neural networks on Imagenette (CLAIMS.md 6, claim RAT-6): data, shift, models, training, methods.

The submodules need the ``neural`` extra (jax, flax, optax, orbax-checkpoint, pillow):
``pip install 'kdtheory[neural]'``. Importing ``kdtheory`` (or this package) does not import them;
calling a function that needs one without it raises an :class:`ImportError` naming the extra.

* :mod:`kdtheory.neural.data`: :func:`~kdtheory.neural.data.load_imagenette` (any Imagenette
  folder, any resolution, decoded-array cache) and
  :func:`~kdtheory.neural.data.download_imagenette` (the official archive, checksummed).
* :mod:`kdtheory.neural.shift`: covariate shift by selection on the image alone.
* :mod:`kdtheory.neural.models`: small residual CNNs (Flax NNX).
* :mod:`kdtheory.neural.airnet`: the airbench-shaped network of the teachers and students
  (frozen patch whitening; fast on two CPU cores).
* :mod:`kdtheory.neural.train`: one jit-compiled training step for every method, checkpoints.
* :mod:`kdtheory.neural.bank`: the teacher bank: each teacher trained once per recipe, split
  and seed, cached with its logits and features on every image (``kdtheory teachers``).
* :mod:`kdtheory.neural.losses`: the methods' loss terms.
* :mod:`kdtheory.neural.distill`: the methods, and the runs each one needs.
* :mod:`kdtheory.neural.imperfect`: power-divergence KD and residual learning from an imperfect
  teacher (CLAIMS.md 4 and 5, claims PD-2 and RES-1); its projector:
  :mod:`kdtheory.neural.projector`.
"""

from __future__ import annotations

import importlib

__all__ = ["NEURAL_EXTRA", "require"]

#: how to install what the neural module needs
NEURAL_EXTRA = "pip install 'kdtheory[neural]'"


def require(*modules: str):
    """Import ``modules`` (e.g. ``"jax"``, ``"PIL.Image"``) or say which extra provides them.

    Parameters
    ----------
    *modules : str
        Importable module names.

    Returns
    -------
    module or tuple of modules
        The imported module when one name is given, else a tuple in the order given.

    Raises
    ------
    ImportError
        If one is missing; the message names it and the extra to install.
    """
    loaded = []
    for name in modules:
        try:
            loaded.append(importlib.import_module(name))
        except ImportError as err:
            raise ImportError(
                f"kdtheory.neural needs {name.split('.')[0]!r}, which is not installed: "
                f"{NEURAL_EXTRA}"
            ) from err
    return loaded[0] if len(loaded) == 1 else tuple(loaded)
