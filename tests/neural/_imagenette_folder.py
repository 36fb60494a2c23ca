"""A small generated folder in the Imagenette layout, and a study's smoke run on it, for the
studies' end-to-end tests."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image

from kdtheory.neural.data import IMAGENETTE_CLASSES


def write_imagenette(root: Path, counts: dict[str, int], draw) -> Path:
    """``root/<split>/<wnid>/<i>.JPEG`` for each split and count, 10 classes; ``draw(rng, label)``
    returns one image's float pixels (clipped to [0, 255]). The generator is seeded (0), and
    every image carries a class-dependent stripe so that the classes can be learned."""
    rng = np.random.default_rng(0)
    for split, n in counts.items():
        for label, wnid in enumerate(IMAGENETTE_CLASSES):
            (root / split / wnid).mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(draw(rng, label), 0, 255)
                pixels[: 2 + label % 8, :, label % 3] = 255
                Image.fromarray(pixels.astype(np.uint8)).save(
                    root / split / wnid / f"{i}.JPEG", quality=95
                )
    return root


def run_smoke(study, folder: Path, cache: Path):
    """``study``'s smoke preset on the images under ``folder``, cached under ``cache``:
    ``(config, cache, table)``."""
    cfg = dataclasses.replace(study.PRESETS["smoke"], data_root=str(folder))
    return cfg, cache, study.run(cfg, cache_dir=cache, progress=False)
