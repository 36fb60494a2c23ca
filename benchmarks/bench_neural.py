"""Images per second of the neural module's training step, beside the same step in PyTorch.

For the network of each ``imagenette_shift`` preset (``cpu``: 24 px, width 16; ``gpu``: 64 px,
width 32, two blocks per stage), the benchmark times the shared jitted step of
:mod:`kdtheory.neural.train` (gather a batch from the uint8 images held on the device, random
crop and flip, forward, cross-entropy, backward, AdamW) and, when PyTorch is importable, the same
network, loss, optimizer and augmentation written in PyTorch on the same device (eager, and with
``torch.compile`` when ``--torch-compile`` is given), in one run. It reports images per second and
the ratio JAX / PyTorch (above 1: JAX is faster), as a markdown table and a JSON file.

Usage::

    python benchmarks/bench_neural.py            # both presets; JAX, and PyTorch if present
    python benchmarks/bench_neural.py --presets gpu --torch-compile --out results/

Compilation is excluded from the rates and reported separately (seconds of the first step).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from kdtheory.neural import distill, train
from simulations.imagenette_shift import PRESETS, protocol

N_IMAGES = 4096


def _images(resolution: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (N_IMAGES, resolution, resolution, 3), dtype=np.uint8),
        rng.integers(0, 10, N_IMAGES).astype(np.int32),
    )


def bench_jax(preset: str, steps: int) -> dict:
    """Images per second of the shared training step (cross-entropy), compilation excluded."""
    import jax

    cfg = PRESETS[preset]
    proto = protocol(cfg)
    images, labels = _images(cfg.resolution)
    net = train.init_network(proto.student, 0)
    tx, step = train._train_step(net.graphdef, distill.distillation_loss, proto.train)
    data = {
        k: jax.device_put(v)
        for k, v in distill.training_data(
            images, labels=labels, n_classes=proto.student.n_classes
        ).items()
    }
    hp = {k: jax.numpy.float32(v) for k, v in distill.method_hparams("ce").items()}
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, N_IMAGES, proto.train.batch_size) for _ in range(steps + 1)]
    params, rest, opt = net.params, net.rest, tx.init(net.params)
    lr = jax.numpy.float32(1e-3)
    key = jax.random.key(0)

    def one(i, params, rest, opt):
        batch = train._gather(data, batches[i])
        return step(params, rest, opt, batch, jax.random.fold_in(key, i), hp, lr)

    start = time.perf_counter()
    params, rest, opt, loss = one(0, params, rest, opt)
    jax.block_until_ready(loss)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(1, steps + 1):
        params, rest, opt, loss = one(i, params, rest, opt)
    jax.block_until_ready(loss)
    seconds = time.perf_counter() - start
    return {
        "framework": "jax",
        "device": str(jax.devices()[0].platform),
        "images_per_s": steps * proto.train.batch_size / seconds,
        "compile_s": compile_s,
        "loss": float(loss),
    }


def _torch_network(torch, cfg):
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out, momentum=0.1)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out, momentum=0.1)
            nn.init.zeros_(self.bn2.weight)
            self.project = None
            if stride != 1 or c_in != c_out:
                self.project = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
                )

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            return torch.relu(y + (x if self.project is None else self.project(x)))

    layers = [nn.Conv2d(3, cfg.width, 3, 1, 1, bias=False), nn.BatchNorm2d(cfg.width), nn.ReLU()]
    c_in = cfg.width
    for stage in range(cfg.n_stages):
        c_out = cfg.width * 2**stage
        for i in range(cfg.depth):
            layers.append(Block(c_in, c_out, 2 if (stage > 0 and i == 0) else 1))
            c_in = c_out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, 10)]
    return nn.Sequential(*layers)


def bench_torch(preset: str, steps: int, compile_model: bool) -> dict | None:
    """The same step in PyTorch (uint8 data on the device, augmentation there), or None."""
    try:
        import torch
    except ImportError:
        return None
    cfg = PRESETS[preset]
    proto = protocol(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    images, labels = _images(cfg.resolution)
    data = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).contiguous()
    targets = torch.from_numpy(labels.astype(np.int64)).to(device)
    model = _torch_network(torch, cfg).to(device).to(memory_format=torch.channels_last)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=proto.train.weight_decay)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255
    pad, batch, res = proto.train.pad, proto.train.batch_size, cfg.resolution
    rows = torch.arange(res, device=device)

    def augment(x):
        x = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        off = torch.randint(0, 2 * pad + 1, (x.shape[0], 2), device=device)
        r = (off[:, 0:1] + rows)[:, None, :, None].expand(-1, 3, -1, x.shape[3])
        x = torch.gather(x, 2, r)
        c = (off[:, 1:2] + rows)[:, None, None, :].expand(-1, 3, res, -1)
        x = torch.gather(x, 3, c)
        flip = torch.rand(x.shape[0], device=device) < 0.5
        return torch.where(flip[:, None, None, None], x.flip(3), x)

    def step(idx):
        x = (
            augment(data[idx])
            .float()
            .sub(mean)
            .div(std)
            .contiguous(memory_format=torch.channels_last)
        )
        with torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda"):
            loss = torch.nn.functional.cross_entropy(model(x).float(), targets[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss

    if compile_model:
        step = torch.compile(step)
    rng = np.random.default_rng(1)
    batches = [
        torch.from_numpy(rng.integers(0, N_IMAGES, batch)).to(device) for _ in range(steps + 3)
    ]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    start = time.perf_counter()
    for i in range(3):  # warm-up (and compilation)
        loss = step(batches[i])
    sync()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(3, steps + 3):
        loss = step(batches[i])
    sync()
    seconds = time.perf_counter() - start
    return {
        "framework": "pytorch" + (" (torch.compile)" if compile_model else " (eager)"),
        "device": device,
        "images_per_s": steps * batch / seconds,
        "compile_s": compile_s,
        "loss": loss.item(),
    }


def _print_table(results: list[dict]) -> None:
    print("| preset | network | framework | device | images/s | JAX / this | first step (s) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['preset']} | {r['network']} | {r['framework']} | {r['device']} | "
            f"{r['images_per_s']:,.0f} | {r['ratio_jax_over_this']:.2f} | {r['compile_s']:.1f} |",
            flush=True,
        )


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "gpu"], choices=["cpu", "gpu"])
    parser.add_argument(
        "--steps", type=int, default=None, help="timed steps (default: 20 on a CPU, 200 on a GPU)"
    )
    parser.add_argument("--torch-compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--out", default=None, help="folder for bench_neural.json")
    args = parser.parse_args(argv)
    import jax

    train.enable_compilation_cache()
    on_gpu = jax.default_backend() != "cpu"
    steps = args.steps or (200 if on_gpu else 20)
    results = []
    for preset in args.presets:
        cfg = PRESETS[preset]
        shape = f"{cfg.resolution} px, width {cfg.width}, depth {cfg.depth}, batch {cfg.batch_size}"
        rows = [bench_jax(preset, steps)]
        for compiled in (False, True) if args.torch_compile else (False,):
            r = bench_torch(preset, steps, compiled)
            if r is not None:
                rows.append(r)
        for r in rows:
            r.update(
                preset=preset,
                network=shape,
                ratio_jax_over_this=rows[0]["images_per_s"] / r["images_per_s"],
            )
        results += rows
        _print_table(results)  # after every preset, so that a long run shows what it has
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "bench_neural.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
