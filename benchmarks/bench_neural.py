"""Images per second of the neural module's training step, beside the same step in PyTorch.

The networks timed are those the Imagenette studies train at the presets given (``--presets``,
default ``cpu``), read from the studies themselves (:data:`STUDIES`), so the benchmark follows
their changes:

* the **bank teacher**: ``RECIPES[cfg.teacher]`` of :mod:`kdtheory.neural.bank` when the preset
  names one (its network, resolution and :class:`~kdtheory.neural.train.TrainConfig`);
* the **student**: ``protocol(cfg).student`` with ``protocol(cfg).train``, at the teacher
  recipe's resolution (or the preset's ``resolution``); a protocol's own ``teacher`` network too,
  when the preset has no bank recipe.

Only airbench-shaped networks (:class:`~kdtheory.neural.airnet.AirConfig`) are timed; a study
whose preset trains another family (the ResNet of :mod:`kdtheory.neural.models`) is listed as
skipped. A shape shared by several studies or roles is timed once.

For each shape the benchmark times, on 4,096 random uint8 images held on the device:

* **JAX**: the package's own jitted step, exactly :func:`kdtheory.neural.train._train_step` with
  the shape's TrainConfig (gather a batch, random crop of the padded image and flip, forward,
  cross-entropy, backward, optimizer update: for the airbench recipes mirror padding and Nesterov
  SGD with coupled weight decay; bfloat16 activations on a GPU, float32 on a CPU);
* **PyTorch** (when importable): the same network written in PyTorch (frozen whitening
  convolution, the same blocks with GELU, 2 x 2 max-pools and batch norms with a bias only, a
  global max-pool, a head with bias times ``logit_scale``; a residual-learning student's
  ``adapter``, which the cross-entropy step never reads, as a parameter), the same augmentation
  done on the tensor, ``torch.optim.SGD(nesterov=True)`` with the same momentum and weight decay
  (or ``AdamW`` for a TrainConfig with ``optimizer="adamw"``), channels-last, float32 on a CPU
  and bfloat16 autocast on a GPU; eager, and with ``torch.compile`` when ``--torch-compile`` is
  given.

Both networks start from the same weights (the JAX initialization copied into PyTorch); the
script asserts that they have the same number of trained parameters and compute the same logits
on one batch (float32) before timing. Both frameworks run at one constant learning rate
(:data:`LEARNING_RATE`; the rate does not change the work of a step).

It reports images per second and the ratio JAX / PyTorch (above 1: JAX is faster), as a markdown
table (a row as soon as it is measured) and a JSON file (``--out``, rewritten after every shape).
The first :data:`UNTIMED_STEPS` steps are not timed; the compilation time reported apart
(``compile (s)``) is what they took beyond as many steady steps (JAX's jit; PyTorch eager's first
allocations; ``torch.compile``'s compilations). Random images and labels: the work of a step does
not depend on them.

Usage::

    python benchmarks/bench_neural.py                      # cpu preset; JAX, and PyTorch if present
    python benchmarks/bench_neural.py --presets gpu cpu --torch-compile --out results/
    python benchmarks/bench_neural.py --steps 2            # a quick check that everything runs
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# on a GPU, JAX takes its memory as it needs it, leaving PyTorch its share (before JAX loads)
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from kdtheory.neural import train  # noqa: E402
from kdtheory.neural.airnet import AirConfig  # noqa: E402
from kdtheory.neural.bank import RECIPES, teacher_loss  # noqa: E402

#: the studies whose presets name the networks timed (``PRESETS`` and ``protocol(cfg)`` of each)
STUDIES = ("imagenette_shift", "imagenette_imperfect", "imagenette_deviations")
#: random training images per shape (their first :data:`WHITEN_IMAGES` set the whitening)
N_IMAGES = 4096
WHITEN_IMAGES = 512
#: the constant learning rate of both frameworks
LEARNING_RATE = 0.01
#: untimed steps before the timed ones (the first compiles; torch.compile recompiles once the
#: optimizer holds its momentum)
UNTIMED_STEPS = 3


@dataclass
class Shape:
    """One network and training step to time, and who trains it."""

    network: AirConfig
    resolution: int
    train: train.TrainConfig
    used_by: list[str] = field(default_factory=list)

    def key(self):
        t = self.train
        return (
            self.network,
            self.resolution,
            t.batch_size,
            t.pad,
            t.flip,
            t.pad_mode,
            t.optimizer,
            t.momentum,
            t.weight_decay,
        )

    def describe(self) -> str:
        n, t = self.network, self.train
        adapter = getattr(n, "adapter_dim", 0)
        return (
            f"AirNet {'/'.join(map(str, n.widths))}, whiten {n.patch}x{n.patch}/{n.stride}"
            + (f", adapter {adapter}" if adapter else "")
            + f", {self.resolution} px, batch {t.batch_size}"
        )


def _presets_known() -> list[str]:
    names: list[str] = []
    for study in STUDIES:
        try:
            module = importlib.import_module(f"kdtheory.simulations.{study}")
        except Exception:  # noqa: BLE001 - a study being edited must not hide the others
            continue
        names += [p for p in getattr(module, "PRESETS", {}) if p not in names]
    return names


def shapes(preset: str) -> tuple[list[Shape], list[dict]]:
    """The AirNet shapes the studies train at ``preset`` (deduplicated), and the networks
    skipped (with the reason)."""
    found: dict = {}
    skipped: list[dict] = []

    def add(network, resolution, cfg, who):
        if not isinstance(network, AirConfig):
            skipped.append(
                {
                    "preset": preset,
                    "who": who,
                    "reason": f"{type(network).__name__} network, not an AirNet",
                }
            )
            return
        shape = Shape(network, int(resolution), cfg)
        found.setdefault(shape.key(), shape).used_by.append(who)

    for study in STUDIES:
        try:
            module = importlib.import_module(f"kdtheory.simulations.{study}")
        except Exception as error:  # noqa: BLE001
            skipped.append({"preset": preset, "who": study, "reason": f"import failed: {error!r}"})
            continue
        presets = getattr(module, "PRESETS", {})
        if preset not in presets or not hasattr(module, "protocol"):
            continue
        cfg = presets[preset]
        teacher = getattr(cfg, "teacher", None)
        recipe = RECIPES.get(teacher) if isinstance(teacher, str) else None
        if recipe is not None:
            add(recipe.network, recipe.resolution, recipe.train, f"{study} teacher ({teacher})")
            resolution = recipe.resolution
        else:
            resolution = getattr(cfg, "resolution", None)
        proto = module.protocol(cfg)
        if resolution is None:
            skipped.append({"preset": preset, "who": study, "reason": "no resolution found"})
            continue
        own_teacher = getattr(proto, "teacher", None)
        if recipe is None and own_teacher is not None and own_teacher != proto.student:
            add(own_teacher, resolution, proto.train, f"{study} teacher")
        add(proto.student, resolution, proto.train, f"{study} student")
    return list(found.values()), skipped


def _images(resolution: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (N_IMAGES, resolution, resolution, 3), dtype=np.uint8),
        rng.integers(0, 10, N_IMAGES).astype(np.int32),
    )


def _timed(step, steps: int, batch_size: int, sync) -> dict:
    """Run ``step(i)`` for ``i < UNTIMED_STEPS + steps``: the first :data:`UNTIMED_STEPS`
    (compilation, recompilation, allocations) untimed, then ``steps`` timed; ``sync(value)``
    waits for the device. ``compile_s`` is the untimed steps' excess over as many timed ones."""
    start = time.perf_counter()
    value = sync(step(0))
    first_s = time.perf_counter() - start
    for i in range(1, UNTIMED_STEPS):
        value = step(i)
    sync(value)
    untimed_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(UNTIMED_STEPS, UNTIMED_STEPS + steps):
        value = step(i)
    sync(value)
    seconds = time.perf_counter() - start
    return {
        "images_per_s": steps * batch_size / seconds,
        "compile_s": max(untimed_s - UNTIMED_STEPS * seconds / steps, 0.0),
        "first_step_s": first_s,
        "untimed_s": untimed_s,
        "loss": float(value),
    }


def _n_params(tree) -> int:
    import jax

    return int(sum(np.size(leaf) for leaf in jax.tree.leaves(tree)))


def bench_jax(shape: Shape, steps: int, images, labels) -> tuple[dict, train.Network]:
    """Images per second of :func:`kdtheory.neural.train._train_step` (cross-entropy),
    compilation timed apart (:func:`_timed`); and the network (its initial state)."""
    import jax
    import jax.numpy as jnp

    cfg = shape.train
    net = train.init_network(shape.network, 0, images=images[:WHITEN_IMAGES])
    tx, step = train._train_step(net.graphdef, teacher_loss, cfg)
    data = {"images": jax.device_put(images), "labels": jax.device_put(labels)}
    hp = {"smoothing": jnp.float32(0.0)}
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, N_IMAGES, cfg.batch_size) for _ in range(UNTIMED_STEPS + steps)]
    state = [net.params, net.rest, tx.init(net.params)]
    lr = jnp.float32(LEARNING_RATE)
    key = jax.random.key(0)

    def one(i):
        batch = train._gather(data, batches[i])
        params, rest, opt, loss = step(*state, batch, jax.random.fold_in(key, i), hp, lr)
        state[:] = [params, rest, opt]
        return loss

    timing = _timed(one, steps, cfg.batch_size, jax.block_until_ready)
    result = {
        "framework": "jax",
        "device": str(jax.devices()[0].platform),
        "params": _n_params(net.params),
        **timing,
    }
    return result, net


# --------------------------------------------------------------------------- PyTorch
def _torch_network(torch, config: AirConfig, filters):
    """:class:`kdtheory.neural.airnet.AirNet` in PyTorch (NCHW modules, run channels-last)."""
    nn, F = torch.nn, torch.nn.functional
    from kdtheory.neural.models import IMAGE_MEAN, IMAGE_STD

    def bias_only_bn(c):
        # BatchNorm with its scale fixed at 1 (flax use_scale=False); flax momentum 0.9 = 0.1 here
        bn = nn.BatchNorm2d(c, eps=1e-5, momentum=0.1, affine=True)
        bn.weight.requires_grad_(False)
        return bn

    class Block(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            self.bn1 = bias_only_bn(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = bias_only_bn(c_out)

        def forward(self, x):
            x = F.gelu(self.bn1(F.max_pool2d(self.conv1(x), 2)), approximate="tanh")
            return F.gelu(self.bn2(self.conv2(x)), approximate="tanh")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1) * 255.0)
            self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1) * 255.0)
            k = 2 * config.whiten_dim
            self.whiten = nn.Conv2d(3, k, config.patch, stride=config.stride, bias=False)
            whiten = np.array(np.transpose(filters, (3, 2, 0, 1)), np.float32)  # OIHW, a copy
            self.whiten.weight.data.copy_(torch.from_numpy(whiten))
            self.whiten.weight.requires_grad_(False)  # frozen, never trained
            blocks, c_in = [], k
            for width in config.widths:
                blocks.append(Block(c_in, width))
                c_in = width
            self.blocks = nn.Sequential(*blocks)
            self.head = nn.Linear(c_in, config.n_classes, bias=True)
            self.logit_scale = float(config.logit_scale)
            adapter_dim = getattr(config, "adapter_dim", 0)
            # a residual-learning student's adapter (R^{d_A} -> features): a trained parameter
            # that a cross-entropy step never reads, as in JAX
            self.adapter = nn.Linear(adapter_dim, c_in) if adapter_dim else None

        def forward(self, images):  # uint8 (B, 3, H, W)
            x = images.float().sub(self.mean).div(self.std)
            x = x.contiguous(memory_format=torch.channels_last)
            x = self.blocks(F.gelu(self.whiten(x), approximate="tanh"))
            return self.head(x.amax(dim=(2, 3))) * self.logit_scale

    return Net()


def _copy_jax_weights(torch, model, net: train.Network) -> None:
    """The JAX network's parameters (and whitening) into the PyTorch one."""
    jax_model = net.module(train=True)

    def put(target, value, perm=None):
        value = np.asarray(value, np.float32)
        value = np.array(value if perm is None else np.transpose(value, perm))  # writable copy
        target.data.copy_(torch.from_numpy(value))

    put(model.whiten.weight, jax_model.whiten[...], (3, 2, 0, 1))
    for block, jb in zip(model.blocks, jax_model.blocks, strict=True):
        put(block.conv1.weight, jb.conv1.kernel[...], (3, 2, 0, 1))
        put(block.conv2.weight, jb.conv2.kernel[...], (3, 2, 0, 1))
        put(block.bn1.bias, jb.bn1.bias[...])
        put(block.bn2.bias, jb.bn2.bias[...])
    put(model.head.weight, jax_model.head.kernel[...], (1, 0))
    put(model.head.bias, jax_model.head.bias[...])
    if model.adapter is not None:
        put(model.adapter.weight, jax_model.adapter.kernel[...], (1, 0))
        put(model.adapter.bias, jax_model.adapter.bias[...])


def check_same_network(torch, shape: Shape, net: train.Network, images) -> float:
    """Max |logit difference| / max |logit| of the two networks (same weights, training mode,
    float32 on the CPU for PyTorch and at full precision for JAX) on 16 images; asserts it is
    below 1e-3."""
    import jax
    import jax.numpy as jnp

    batch = images[:16]
    filters = np.asarray(net.rest["whiten"][...])
    model = _torch_network(torch, shape.network, filters)
    _copy_jax_weights(torch, model, net)
    model.train()
    with torch.no_grad():
        theirs = model(torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()).numpy()
    check_net = train.init_network(shape.network, 0, dtype=jnp.float32, images=batch)
    jax_model = train.Network(
        shape.network, check_net.graphdef, check_net.eval_graphdef, net.params, net.rest
    ).module(train=True)
    with jax.default_matmul_precision("highest"):
        ours = np.asarray(jax_model(jnp.asarray(batch)))
    err = float(np.max(np.abs(ours - theirs)) / max(np.max(np.abs(ours)), 1e-12))
    assert err < 1e-3, f"the PyTorch network differs from the JAX one: relative error {err:.2e}"
    return err


def bench_torch(
    shape: Shape, steps: int, compile_model: bool, images, labels, net: train.Network
) -> dict | None:
    """The same step in PyTorch (uint8 data on the device, augmentation there), or None."""
    try:
        import torch
    except ImportError:
        return None
    F = torch.nn.functional
    cfg, res = shape.train, shape.resolution
    device = "cuda" if torch.cuda.is_available() else "cpu"
    data = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).contiguous()
    targets = torch.from_numpy(labels.astype(np.int64)).to(device)
    model = _torch_network(torch, shape.network, np.asarray(net.rest["whiten"][...]))
    _copy_jax_weights(torch, model, net)
    model = model.to(device).to(memory_format=torch.channels_last).train()
    trained = [p for p in model.parameters() if p.requires_grad]
    if cfg.optimizer == "nesterov":  # optax: add_decayed_weights, trace(nesterov), -lr
        opt = torch.optim.SGD(
            trained,
            lr=LEARNING_RATE,
            momentum=cfg.momentum,
            nesterov=True,
            weight_decay=cfg.weight_decay,
        )
    else:  # optax: scale_by_adam, add_decayed_weights, -lr: decoupled weight decay
        opt = torch.optim.AdamW(trained, lr=LEARNING_RATE, weight_decay=cfg.weight_decay)
    pad, batch = cfg.pad, cfg.batch_size
    mode = "reflect" if cfg.pad_mode == "reflect" else "constant"
    rows = torch.arange(res, device=device)

    def augment(x):  # uint8 (B, 3, H, W): random crop of the padded image, and flip
        if pad > 0:
            # reflect padding is not implemented for uint8: pad the float copy (exact integers)
            x = F.pad(x.float(), (pad, pad, pad, pad), mode=mode)
            off = torch.randint(0, 2 * pad + 1, (x.shape[0], 2), device=device)
            r = (off[:, 0:1] + rows)[:, None, :, None].expand(-1, 3, -1, x.shape[3])
            x = torch.gather(x, 2, r)
            c = (off[:, 1:2] + rows)[:, None, None, :].expand(-1, 3, res, -1)
            x = torch.gather(x, 3, c)
        if cfg.flip:
            flip = torch.rand(x.shape[0], device=device) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(3), x)
        return x

    def step(idx):
        x = augment(data[idx])
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = F.cross_entropy(model(x).float(), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    if compile_model:
        step = torch.compile(step)
    rng = np.random.default_rng(1)
    batches = [
        torch.from_numpy(rng.integers(0, N_IMAGES, batch)).to(device)
        for _ in range(UNTIMED_STEPS + steps)
    ]

    def sync(loss):
        if device == "cuda":
            torch.cuda.synchronize()
        return loss

    timing = _timed(lambda i: step(batches[i]).detach(), steps, batch, sync)
    return {
        "framework": "pytorch" + (" (torch.compile)" if compile_model else " (eager)"),
        "device": device,
        "params": int(sum(p.numel() for p in trained)),
        **timing,
    }


# --------------------------------------------------------------------------- report
def environment() -> dict:
    import jax

    env = {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "load_avg": [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None,
    }
    try:
        import torch

        env.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    except ImportError:
        env.update(torch=None)
    return env


TABLE_HEADER = (
    "| preset | network | trained by | framework | device | params | images/s | JAX / this "
    "| compile (s) |\n|---|---|---|---|---|---|---|---|---|"
)


def _row(r: dict) -> str:
    return (
        f"| {r['preset']} | {r['network']} | {'; '.join(r['used_by'])} | {r['framework']} | "
        f"{r['device']} | {r['params']:,} | {r['images_per_s']:,.0f} | "
        f"{r['ratio_jax_over_this']:.2f} | {r['compile_s']:.1f} |"
    )


def main(argv=None) -> dict:
    known = _presets_known()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--presets", nargs="+", default=["cpu"], choices=known, help="study presets (default: cpu)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps (default: 20 on a CPU, 200 on a GPU)"
    )
    parser.add_argument("--torch-compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--out", default=None, help="folder for bench_neural.json")
    args = parser.parse_args(argv)
    import jax

    train.enable_compilation_cache()
    env = environment()
    print("  ".join(f"{k} {v}" for k, v in env.items()), flush=True)
    notes = []
    if env["torch"] is None:
        notes.append(
            "PyTorch is not importable: JAX only (optional: install the CPU build of PyTorch to "
            "compare)"
        )
        print(notes[-1], flush=True)
    on_gpu = jax.default_backend() != "cpu"
    steps = args.steps or (200 if on_gpu else 20)
    report = {"environment": env, "steps": steps, "results": [], "skipped": [], "notes": notes}

    def save():
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            (Path(args.out) / "bench_neural.json").write_text(json.dumps(report, indent=2))

    print(f"{steps} timed steps per row\n\n{TABLE_HEADER}", flush=True)
    for preset in args.presets:
        todo, skipped = shapes(preset)
        report["skipped"] += skipped
        notes += [f"skipped ({preset}): {s['who']}: {s['reason']}" for s in skipped]
        if not todo:
            notes.append(f"no AirNet shape at preset {preset}")
        for shape in todo:
            images, labels = _images(shape.resolution)
            jax_row, net = bench_jax(shape, steps, images, labels)
            rows = [jax_row]
            if env["torch"] is not None:
                import torch

                err = check_same_network(torch, shape, net, images)
                jax_row["logits_rel_diff_vs_torch"] = err
                for compiled in (False, True) if args.torch_compile else (False,):
                    rows.append(bench_torch(shape, steps, compiled, images, labels, net))
                    assert rows[-1]["params"] == jax_row["params"], (
                        f"trained parameters: PyTorch {rows[-1]['params']:,}, "
                        f"JAX {jax_row['params']:,}"
                    )
                notes.append(
                    f"{preset}, {shape.describe()}: same network in both frameworks: "
                    f"{jax_row['params']:,} trained parameters each, logits on one batch equal "
                    f"to {err:.1e} (relative)"
                )
            for r in rows:
                r.update(
                    preset=preset,
                    network=shape.describe(),
                    config={
                        "widths": list(shape.network.widths),
                        "patch": shape.network.patch,
                        "stride": shape.network.stride,
                        "whiten_dim": shape.network.whiten_dim,
                        "adapter_dim": getattr(shape.network, "adapter_dim", 0),
                        "resolution": shape.resolution,
                        "batch_size": shape.train.batch_size,
                        "pad": shape.train.pad,
                        "pad_mode": shape.train.pad_mode,
                        "optimizer": shape.train.optimizer,
                        "momentum": shape.train.momentum,
                        "weight_decay": shape.train.weight_decay,
                    },
                    used_by=shape.used_by,
                    ratio_jax_over_this=jax_row["images_per_s"] / r["images_per_s"],
                )
                # row by row, so that a long run (or one stopped by a time limit) keeps them
                print(_row(r), flush=True)
            report["results"] += rows
            save()
    print("\n" + "\n".join(notes), flush=True)
    save()
    return report


if __name__ == "__main__":
    main()
