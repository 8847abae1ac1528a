#!/usr/bin/env python3
"""Model throughput: forward + backward (+ optimizer step) samples/s at 64x64.

Presets: ``default`` (configs/default.yaml: embed_dim 128, 4 levels) and ``cpu``
(configs/quickstart.yaml: embed_dim 16, 3 levels). On the CPU in fp32 with all threads, with and
without channels_last; on a GPU, when present, in fp32, and fp16 / bf16 autocast with
channels_last. The loss is the real one on a
rendered synthetic batch (stage 6). Prints a table; asserts nothing (compare figures of one run).

    python benchmarks/bench_model.py [--presets default cpu] [--batch-size 32] [--steps 5]
    python benchmarks/bench_model.py --presets cpu --compile    # torch.compile on the CPU too
"""

from __future__ import annotations

import argparse
import time

import torch

from inktrace.data import SyntheticInk
from inktrace.losses import InkLoss
from inktrace.model import InkTraceNet

PRESETS = {"default": dict(embed_dim=128, num_layers=4), "cpu": dict(embed_dim=16, num_layers=3)}


def measure(
    model: InkTraceNet,
    batch: dict,
    steps: int,
    device: str,
    precision: str,
    channels_last: bool,
    compiled: bool = False,
) -> float:
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    loss_fn = InkLoss()
    batch = {k: v.to(device) for k, v in batch.items()}
    image = (
        batch["image"].contiguous(memory_format=torch.channels_last)
        if channels_last
        else batch["image"]
    )
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler(device, enabled=precision == "fp16")
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(forward(image), batch)["total"]
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    t = time.perf_counter()
    for _ in range(2):  # warm-up (cudnn autotuning, allocator; compiling)
        step()
    sync()
    if compiled:
        print(f"  compiling and 2 warm-up steps: {time.perf_counter() - t:.1f} s", flush=True)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return steps * image.shape[0] / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", choices=sorted(PRESETS), default=["cpu", "default"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--gpu-batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--img-size", type=int, default=64)
    p.add_argument(
        "--compile", action="store_true", help="also torch.compile the CPU fp32 channels-last row"
    )
    args = p.parse_args()

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, "
        f"{args.img_size}x{args.img_size}"
    )
    print(
        f"{'preset':<8} {'params':>10} {'device':<6} {'precision':<18} "
        f"{'batch':>5} {'samples/s':>10}"
    )
    rows = [
        ("cpu", "fp32", False, args.batch_size, False),
        ("cpu", "fp32", True, args.batch_size, False),
    ]
    if args.compile:
        rows.append(("cpu", "fp32", True, args.batch_size, True))
    if torch.cuda.is_available():
        bf16 = torch.cuda.is_bf16_supported()
        rows += [
            ("cuda", "fp32", False, args.gpu_batch_size, False),
            ("cuda", "fp16", True, args.gpu_batch_size, False),
        ]
        rows += [("cuda", "bf16", True, args.gpu_batch_size, False)] if bf16 else []
    for preset in args.presets:
        for device, precision, cl, bs, compiled in rows:
            batch = SyntheticInk(6, bs, args.img_size, seed=0).render(range(bs))
            batch = {k: v for k, v in batch.items() if k not in ("points", "num_points", "index")}
            torch.manual_seed(0)
            model = InkTraceNet(**PRESETS[preset])
            rate = measure(model, batch, args.steps, device, precision, cl, compiled)
            tag = precision + ("+cl" if cl else "") + ("+compile" if compiled else "")
            print(
                f"{preset:<8} {model.get_num_params():>10,} {device:<6} {tag:<18} "
                f"{bs:>5} {rate:>10.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
