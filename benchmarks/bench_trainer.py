#!/usr/bin/env python3
"""What the trainer costs: ``DenseTrainer.fit()`` against a bare hand-written PyTorch loop doing
the same work, and against an equivalent PyTorch Lightning module + Trainer when ``lightning`` is
installed (``pip install -e ".[bench]"``; never a runtime dependency); and the epoch-end
checkpointing alone.

The same work in the three loops: the same model (same seed, same initial weights, the same
speed settings the trainer resolves: channels-last on the CPU), the same batches (the trainer's
seeded epoch order over the same synthetic samples, rendered in the loading process; the
validation set rendered inside the timed run, as ``fit()`` does), the same loss, AdamW, LR
schedule, gradient clipping at ``training.grad_clip`` and precision, and one validation per epoch
over the same fixed set with the same metrics (the skeleton map's and the traced strokes'). The
trainer also writes what it always writes (checkpoints, TensorBoard, JSON logs), and Lightning its
TensorBoard log and last checkpoint: part of what each costs.

Two variants tell per-step from per-epoch cost:

- ``short``: ``--epochs`` epochs of ``--train-size`` samples (default 2 x 512, 16 steps each):
  per-step and per-epoch costs mixed, the figure earlier versions of this benchmark gave;
- ``long``: one epoch of ``--long-size`` samples (default 2048, 64 steps): the per-step cost,
  the epoch end amortised over four times as many steps.

Precision on a noisy machine: every repeat runs the three loops of both variants back to back,
in an order rotated from repeat to repeat, and a ratio is computed *within* each repeat from
those adjacent runs, so a machine that slows down between repeats slows both sides of the ratio
alike; the median of the per-repeat ratios is reported with its interquartile range and range.
A first, uncounted repeat (``--warmup``) takes the imports, the allocator's first growth and the
lazy initialisations.

The epoch-end checkpointing alone (``checkpoint``): a finished quickstart-sized run's real
payload (model, AdamW moments, scheduler, RNG, history) is saved ``--saves`` times by a
``CheckpointManager`` with an improving metric, so that every save writes the top-k entry,
``best.ckpt`` and ``last.ckpt`` and prunes one top-k file: as shipped (one full write, the other
names hard links) and with hard links refused (three full writes, what earlier versions always
did), alternating, plus the time to build the payload. The fsync cost depends on the disk of
``--dir``.

Prints a table and the ratios; asserts nothing.

    python benchmarks/bench_trainer.py [--repeats 9] [--quick] [--config configs/quickstart.yaml]
        [--epochs 2] [--train-size 512] [--long-size 2048] [--val-size 64] [--saves 20]
        [--variants short,long,checkpoint] [--threads N] [--dir DIR] [--no-lightning]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from inktrace import Config, DenseTrainer, InkTraceNet
from inktrace.checkpoint import CheckpointManager
from inktrace.data import SyntheticInk, collate, validation_set
from inktrace.losses import InkLoss
from inktrace.training.batches import epoch_batches
from inktrace.training.hardware import autocast, resolve_speed, to_device
from inktrace.training.optim import WarmupCosine, build_optimizer
from inktrace.training.validation import evaluate

LOOPS = ("bare", "trainer", "lightning")
LOOP_NAMES = {
    "bare": "bare hand-written loop",
    "trainer": "DenseTrainer.fit()",
    "lightning": "Lightning module + Trainer",
}


# ---------------------------------------------------------------------------------- the loops
def make_config(args, folder: Path, epochs: int, train_size: int) -> Config:
    overrides = {
        "training.epochs": epochs,
        "data.train_size": train_size,
        "data.val_size": args.val_size,
        "data.num_workers": 0,
        "curriculum.enabled": False,
        "data.curriculum_stage": 6,
        "checkpoint.save_dir": str(folder / "ck"),
        "logging.log_dir": str(folder / "runs"),
        "logging.progress_bar": False,
        "system.device": args.device,
        "system.num_threads": args.threads,
        **args.extra,
    }
    return Config.from_yaml(args.config, stage="dense", overrides=overrides)


def build_model(cfg: Config, device: torch.device) -> InkTraceNet:
    """The model as the trainer builds it: same seed, same speed settings."""
    torch.manual_seed(cfg.training.seed)
    model = InkTraceNet.from_config(cfg.model).to(device)
    if resolve_speed(cfg, device)["system.channels_last"]:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    return model


def bare_loop(cfg: Config, folder: Path) -> float:
    """The hand-written loop: returns the wall seconds of training + validation."""
    t, d = cfg.training, cfg.data
    device = torch.device(cfg.system.device if cfg.system.device != "auto" else "cpu")
    precision = resolve_speed(cfg, device)["training.precision"]
    model = build_model(cfg, device)
    loss_fn = InkLoss(cfg.loss_weights.to_dict())
    optimizer = build_optimizer(model, t)
    steps = -(-d.train_size // t.batch_size)
    schedule = WarmupCosine.from_config(optimizer, t, steps)
    data = SyntheticInk(d.curriculum_stage, d.train_size, d.img_size, seed=t.seed)
    start = time.perf_counter()
    val = validation_set(d.curriculum_stage, d.val_size, d.img_size, seed=t.seed)  # as fit() does
    for epoch in range(t.epochs):
        data.set_epoch(epoch)
        order = epoch_batches(d.train_size, t.batch_size, t.seed, epoch)
        model.train()
        for batch in DataLoader(data, batch_sampler=order, collate_fn=collate):
            batch = to_device(batch, device)
            with autocast(device, precision):
                loss = loss_fn(model(batch["image"]), batch)["total"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            optimizer.step()
            schedule.step()
        evaluate(model, val, loss_fn, lambda chunk, i: {}, t.batch_size, precision)
    return time.perf_counter() - start


def trainer_run(cfg: Config, folder: Path) -> float:
    trainer = DenseTrainer(cfg, init_from=None, verbose=False)
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start


def lightning_available() -> bool:
    try:
        import lightning  # noqa: F401
    except ImportError:
        return False
    return True


def lightning_run(cfg: Config, folder: Path) -> float:
    import logging

    import lightning as L

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)  # its tips on every fit: not timed work
    t, d = cfg.training, cfg.data
    device = torch.device(cfg.system.device if cfg.system.device != "auto" else "cpu")
    precision = resolve_speed(cfg, device)["training.precision"]  # the others' autocast
    lightning_precision = {"bf16": "bf16-mixed", "fp16": "16-mixed"}.get(precision, "32-true")

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = build_model(cfg, torch.device("cpu"))
            self.loss_fn = InkLoss(cfg.loss_weights.to_dict())
            self.data = SyntheticInk(d.curriculum_stage, d.train_size, d.img_size, seed=t.seed)
            self.val = None  # rendered at the first validation, as fit() does

        def train_dataloader(self):
            self.data.set_epoch(self.current_epoch)
            order = epoch_batches(d.train_size, t.batch_size, t.seed, self.current_epoch)
            return DataLoader(self.data, batch_sampler=order, collate_fn=collate)

        def training_step(self, batch, index):
            loss = self.loss_fn(self.model(batch["image"]), batch)["total"]
            self.log("train/loss", loss)
            return loss

        def val_dataloader(self):  # one item: the whole set, evaluated in chunks as the others
            return DataLoader([0], batch_size=None)

        def validation_step(self, batch, index):
            if self.val is None:
                self.val = validation_set(d.curriculum_stage, d.val_size, d.img_size, seed=t.seed)
            result, _ = evaluate(
                self.model, self.val, self.loss_fn, lambda c, i: {}, t.batch_size, precision
            )
            self.log_dict(result, batch_size=d.val_size)

        def on_before_optimizer_step(self, optimizer):
            # bf16: clipped here, as the other loops do, since Lightning's own gradient_clip_val
            # refuses a fused optimizer under bf16-mixed, though bf16 has no gradient scaling to
            # undo (fp32 and fp16 use gradient_clip_val: under 16-mixed these are still scaled)
            if lightning_precision == "bf16-mixed":
                torch.nn.utils.clip_grad_norm_(self.parameters(), t.grad_clip)

        def configure_optimizers(self):
            optimizer = build_optimizer(self.model, t)
            steps = -(-d.train_size // t.batch_size)
            schedule = WarmupCosine.from_config(optimizer, t, steps)
            lam = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
            lam.step = schedule.step  # the same schedule, stepped by Lightning every step
            return [optimizer], [{"scheduler": lam, "interval": "step"}]

    trainer = L.Trainer(
        max_epochs=t.epochs,
        accelerator="gpu" if device.type == "cuda" else "cpu",
        devices=1,
        precision=lightning_precision,
        gradient_clip_val=None if lightning_precision == "bf16-mixed" else t.grad_clip,
        logger=L.pytorch.loggers.TensorBoardLogger(str(folder / "lightning")),
        default_root_dir=str(folder / "lightning"),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        reload_dataloaders_every_n_epochs=1,
    )
    module = Module()
    with warnings.catch_warnings():  # its advice about small epochs, on every fit
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        trainer.fit(module)
        return time.perf_counter() - start


RUNNERS: dict[str, Callable[[Config, Path], float]] = {
    "bare": bare_loop,
    "trainer": trainer_run,
    "lightning": lightning_run,
}


# ---------------------------------------------------------------------------------- statistics
def spread(values: Sequence[float]) -> tuple[float, float, float, float, float]:
    """(median, first quartile, third quartile, min, max)."""
    v = sorted(values)
    if len(v) == 1:
        return v[0], v[0], v[0], v[0], v[0]
    q1, _, q3 = statistics.quantiles(v, n=4, method="inclusive")
    return statistics.median(v), q1, q3, v[0], v[-1]


def ratio_row(label: str, ratios: Sequence[float]) -> str:
    med, q1, q3, lo, hi = spread(ratios)
    half = (q3 - q1) / 2 / med * 100 if med else float("nan")
    return (
        f"{label:<34} {med:6.3f}  IQR {q1:.3f}-{q3:.3f} (±{half:.1f} %)  "
        f"range {lo:.3f}-{hi:.3f}  n={len(ratios)}"
    )


# ---------------------------------------------------------------------------------- checkpoints
@contextmanager
def hard_links_refused():
    """A file system without hard links, as the manager sees it: every name a full write."""
    real = os.link

    def refused(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "hard links refused (benchmark)")

    os.link = refused  # type: ignore[assignment]
    try:
        yield
    finally:
        os.link = real


def checkpoint_bench(args, folder: Path) -> dict[str, Any]:
    """Milliseconds per epoch end: building the payload, and saving it with links / copies."""
    cfg = make_config(args, folder / "source", 1, args.train_size)
    trainer = DenseTrainer(cfg, init_from=None, verbose=False)
    trainer.fit()  # a real run's state: AdamW moments, history, RNG
    metrics = dict(trainer.state.last_metrics)
    payload_ms = []
    for _ in range(args.saves):
        start = time.perf_counter()
        payload = trainer.checkpoint_payload(metrics, epoch_done=True)
        payload_ms.append((time.perf_counter() - start) * 1000)
    size = len(Path(trainer.manager.last_file()).read_bytes())
    keep = cfg.checkpoint.keep_top_k
    managers = {
        mode: CheckpointManager(folder / f"save-{mode}", keep_top_k=keep)
        for mode in ("links", "copies")
    }
    times: dict[str, list[float]] = {"links": [], "copies": []}
    written = {"links": 0, "copies": 0}
    for epoch in range(args.saves):
        order = ("links", "copies") if epoch % 2 == 0 else ("copies", "links")
        for mode in order:
            value = 1.0 / (epoch + 1)  # always better: top-k entry + best + last every time
            start = time.perf_counter()
            if mode == "copies":
                with hard_links_refused():
                    r = managers[mode].save(payload, epoch, {"val/loss": value})
            else:
                r = managers[mode].save(payload, epoch, {"val/loss": value})
            times[mode].append((time.perf_counter() - start) * 1000)
            written[mode] = len(r["paths"])
    return {
        "payload_ms": payload_ms,
        "times": times,
        "bytes": size,
        "files": written["links"],
        "keep": keep,
    }


# ---------------------------------------------------------------------------------- main
def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):  # not on Windows
        return (float("nan"),) * 3


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--config", default="configs/quickstart.yaml")
    p.add_argument("--epochs", type=int, default=2, help="epochs of the short variant")
    p.add_argument("--train-size", type=int, default=512, help="samples per short epoch")
    p.add_argument("--long-size", type=int, default=2048, help="samples of the long epoch")
    p.add_argument("--val-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=9, help="counted repeats (odd: a clean median)")
    p.add_argument("--warmup", type=int, default=1, help="uncounted repeats first")
    p.add_argument("--saves", type=int, default=20, help="epoch ends of the checkpoint variant")
    p.add_argument("--variants", default="short,long,checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--dir", default=None, help="where the runs write (default: a temp folder)")
    p.add_argument("--no-lightning", action="store_true")
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: a tiny model, 32 px, 1 x 32 and 1 x 64 samples, 2 repeats",
    )
    args = p.parse_args(argv)
    args.extra = {}
    if args.quick:  # the code paths only: figures of no meaning
        args.epochs, args.train_size, args.long_size, args.val_size = 1, 32, 64, 4
        args.repeats, args.warmup, args.saves = min(args.repeats, 2), 0, 4
        args.extra = {"data.img_size": 32, "model.embed_dim": 8, "model.num_layers": 2}
    if args.threads is None:
        args.threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(args.variants) - {"short", "long", "checkpoint"}
    if unknown or args.repeats < 1:
        p.error(f"--variants: short, long, checkpoint (not {', '.join(sorted(unknown))})")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(argv)
    loops = [
        n for n in LOOPS if n != "lightning" or (not args.no_lightning and lightning_available())
    ]
    shapes = {"short": (args.epochs, args.train_size), "long": (1, args.long_size)}
    timed = [v for v in ("short", "long") if v in args.variants]
    load_before = load_average()
    wall = time.perf_counter()
    times: dict[str, dict[str, list[float]]] = {v: {n: [] for n in loops} for v in timed}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for r in range(args.warmup + args.repeats if timed else 0):
            counted = r >= args.warmup
            shift = r % len(loops)
            order = loops[shift:] + loops[:shift]  # rotated: no loop always runs first
            for variant in timed:
                epochs, size = shapes[variant]
                for name in order:
                    folder = Path(tmp) / f"{variant}-{name}-{r}"
                    seconds = RUNNERS[name](make_config(args, folder, epochs, size), folder)
                    if counted:
                        times[variant][name].append(seconds)
            tag = "warm-up" if not counted else f"repeat {r - args.warmup + 1}/{args.repeats}"
            print(f"  {tag} done ({time.perf_counter() - wall:.0f} s)", file=sys.stderr)
        ckpt = checkpoint_bench(args, Path(tmp) / "ckpt") if "checkpoint" in args.variants else None

    cfg = make_config(args, Path("."), args.epochs, args.train_size)
    speed = resolve_speed(cfg, torch.device(args.device if args.device != "auto" else "cpu"))
    print(
        f"{args.config}: embed {cfg.model.embed_dim}, {cfg.model.num_layers} levels, batch "
        f"{cfg.training.batch_size}, {cfg.data.img_size} px, {speed['training.precision']}"
        f"{', channels-last' if speed['system.channels_last'] else ''}; validation "
        f"{args.val_size} per epoch (traced); {args.device}, {args.threads} threads, torch "
        f"{torch.__version__}, Python {platform.python_version()}, {platform.machine()}, "
        f"{os.cpu_count()} cores"
    )
    repeats = f"{args.repeats} repeats after {args.warmup} warm-up; " if timed else ""
    print(
        f"{repeats}load average "
        f"{load_before[0]:.1f} before, {load_average()[0]:.1f} after; "
        f"{time.perf_counter() - wall:.0f} s in all"
    )
    if timed:
        print()
        print(f"{'variant':<22} {'loop':<28} {'median s':>9} {'IQR s':>13} {'samples/s':>10}")
        for variant in timed:
            epochs, size = shapes[variant]
            steps = epochs * -(-size // cfg.training.batch_size)
            label = f"{variant} ({epochs} x {size}, {steps} st)"
            for name in loops:
                med, q1, q3, _, _ = spread(times[variant][name])
                print(
                    f"{label:<22} {LOOP_NAMES[name]:<28} {med:9.2f} {q1:6.2f}-{q3:<6.2f} "
                    f"{epochs * size / med:10.1f}"
                )
        print()
        print("samples/s ratios, one per repeat from its adjacent runs: median, IQR, range")
        for variant in timed:
            t = times[variant]
            bare = [b / tr for b, tr in zip(t["bare"], t["trainer"])]
            print(ratio_row(f"{variant}: trainer / bare loop", bare))
            if "lightning" in t:
                light = [li / tr for li, tr in zip(t["lightning"], t["trainer"])]
                print(ratio_row(f"{variant}: trainer / lightning", light))
            else:
                print(f"{variant}: trainer / lightning: not run (pip install -e '.[bench]')")
        if "long" in times:
            epochs, size = shapes["long"]
            steps = epochs * -(-size // cfg.training.batch_size)
            t = times["long"]
            extra = [(tr - b) / steps * 1000 for b, tr in zip(t["bare"], t["trainer"])]
            med, q1, q3, _, _ = spread(extra)
            print(
                f"long: trainer - bare loop per step: {med:+.1f} ms (IQR {q1:+.1f} to "
                f"{q3:+.1f}), epoch end included"
            )
    if ckpt is not None:
        links, copies = ckpt["times"]["links"], ckpt["times"]["copies"]
        print()
        print(
            f"epoch-end checkpointing: {ckpt['bytes'] / 2**20:.2f} MiB payload, {args.saves} "
            f"saves, each writing {ckpt['files']} names (top-{ckpt['keep']} entry, best, last) "
            "and pruning one; median (IQR) ms"
        )
        for label, values in (
            ("build the payload (state dicts, RNG)", ckpt["payload_ms"]),
            ("save: one full write + hard links", links),
            ("save: every name a full write (before)", copies),
        ):
            med, q1, q3, _, _ = spread(values)
            print(f"  {label:<40} {med:8.1f} ({q1:.1f}-{q3:.1f})")
        print(
            ratio_row("checkpoint: links / copies (time)", [a / b for a, b in zip(links, copies)])
        )


if __name__ == "__main__":
    main()
