"""
Your own distillation method on Imagenette (not run here)
=========================================================

Every method of :mod:`kdtheory.neural` trains the same network with the same optimizer, schedule,
augmentation and budget through one jit-compiled step; what differs is a pure loss of the
student's logits, the batch and its hyper-parameters (claim RAT-6). This example needs the
``neural`` extra (``pip install 'kdtheory[neural]'``) and Imagenette (any folder in the standard
layout, found through ``--data-root``, ``$KDTHEORY_DATA/imagenette2-64`` or
``~/.cache/kdtheory``), and trains for minutes on a CPU: the site shows it without running it.
Without the data it prints what is missing and stops.
"""

import sys

from kdtheory.io import data_root

try:
    data_root(require="imagenette2-64")
except FileNotFoundError as err:
    print(err)
    sys.exit(0)

from kdtheory.neural import distill, train  # noqa: E402
from kdtheory.neural.data import load_imagenette  # noqa: E402
from kdtheory.neural.models import NetworkConfig  # noqa: E402

images, labels, classes = load_imagenette(split="train", size=24)  # uint8 (N, 24, 24, 3)
net = train.init_network(NetworkConfig(width=16, depth=1, n_stages=3), 0)
data = distill.training_data(images, labels=labels, n_classes=10)
cfg = train.TrainConfig(epochs=1, batch_size=128)
net = train.train(
    net,
    data,
    cfg,
    distill.distillation_loss,
    distill.method_hparams("ce"),
    0,
    checkpoint_dir="ckpt/ce",  # resumes if killed
)
print("target accuracy:", train.accuracy(net, *load_imagenette(split="val", size=24)[:2]))
