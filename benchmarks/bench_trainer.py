#!/usr/bin/env python3
"""What the trainer costs: samples/s of ``DenseTrainer.fit()`` against a bare hand-written PyTorch
loop doing the same work, and against an equivalent PyTorch Lightning module + Trainer when
``lightning`` is installed (``pip install -e ".[bench]"``; never a runtime dependency).

The same work in all three: the same model (same seed, same initial weights), the same batches
(the trainer's seeded epoch order over the same synthetic samples, rendered in the loading
process; the validation set rendered inside the timed run, as ``fit()`` does), the same loss,
AdamW, LR schedule, gradient clipping at ``training.grad_clip`` and precision, and one validation
per epoch over the same fixed set with the same metrics (the skeleton map's and the traced
strokes'). The trainer also writes what it always writes
(checkpoints, TensorBoard, JSON logs), and Lightning writes its TensorBoard log and last
checkpoint: part of what each costs. Runs alternate (bare, trainer, lightning, bare, ...) and the
best of ``--repeats`` counts, so a noisy machine slows all of them alike. Prints figures and
ratios; asserts nothing.

    python benchmarks/bench_trainer.py [--config configs/quickstart.yaml] [--epochs 2]
        [--train-size 512] [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from inktrace import Config, DenseTrainer, InkTraceNet
from inktrace.data import SyntheticInk, collate, validation_set
from inktrace.losses import InkLoss
from inktrace.training.batches import epoch_batches
from inktrace.training.hardware import autocast, resolve_precision, to_device
from inktrace.training.optim import WarmupCosine, build_optimizer
from inktrace.training.validation import evaluate


def make_config(args, folder: Path) -> Config:
    overrides = {
        "training.epochs": args.epochs,
        "data.train_size": args.train_size,
        "data.val_size": args.val_size,
        "data.num_workers": 0,
        "curriculum.enabled": False,
        "data.curriculum_stage": 6,
        "checkpoint.save_dir": str(folder / "ck"),
        "logging.log_dir": str(folder / "runs"),
        "logging.progress_bar": False,
        "system.device": args.device,
    }
    return Config.from_yaml(args.config, stage="dense", overrides=overrides)


def bare_loop(cfg: Config) -> float:
    """The hand-written loop: returns the wall seconds of training + validation."""
    t, d = cfg.training, cfg.data
    device = torch.device(cfg.system.device if cfg.system.device != "auto" else "cpu")
    precision = resolve_precision(t.precision, device)
    torch.manual_seed(t.seed)
    model = InkTraceNet.from_config(cfg.model).to(device)
    loss_fn = InkLoss(cfg.loss_weights)
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


def trainer_run(cfg: Config) -> float:
    trainer = DenseTrainer(cfg, init_from=None, verbose=False)
    start = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - start


def lightning_run(cfg: Config, folder: Path) -> float | None:
    try:
        import lightning as L
    except ImportError:
        return None
    t, d = cfg.training, cfg.data

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(t.seed)
            self.model = InkTraceNet.from_config(cfg.model)
            self.loss_fn = InkLoss(cfg.loss_weights)
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
                self.model, self.val, self.loss_fn, lambda c, i: {}, t.batch_size, "fp32"
            )
            self.log_dict(result, batch_size=d.val_size)

        def configure_optimizers(self):
            optimizer = build_optimizer(self.model, t)
            steps = -(-d.train_size // t.batch_size)
            schedule = WarmupCosine.from_config(optimizer, t, steps)
            lam = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
            lam.step = schedule.step  # the same schedule, stepped by Lightning every step
            return [optimizer], [{"scheduler": lam, "interval": "step"}]

    trainer = L.Trainer(
        max_epochs=t.epochs,
        accelerator="gpu" if cfg.system.device.startswith("cuda") else "cpu",
        devices=1,
        precision="32-true",
        gradient_clip_val=t.grad_clip,
        logger=L.pytorch.loggers.TensorBoardLogger(str(folder / "lightning")),
        default_root_dir=str(folder / "lightning"),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        reload_dataloaders_every_n_epochs=1,
    )
    module = Module()
    start = time.perf_counter()
    trainer.fit(module)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/quickstart.yaml")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--train-size", type=int, default=512)
    p.add_argument("--val-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-lightning", action="store_true")
    args = p.parse_args()
    samples = args.epochs * args.train_size
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for name in ("bare", "trainer", "lightning"):
                folder = Path(tmp) / f"{name}{r}"
                cfg = make_config(args, folder)
                if name == "bare":
                    seconds = bare_loop(cfg)
                elif name == "trainer":
                    seconds = trainer_run(cfg)
                else:
                    seconds = None if args.no_lightning else lightning_run(cfg, folder)
                if seconds is not None:
                    best[name] = min(best.get(name, float("inf")), seconds)
    cfg = make_config(args, Path("."))
    print(
        f"{args.config}: embed {cfg.model.embed_dim}, {cfg.model.num_layers} levels, batch "
        f"{cfg.training.batch_size}, {args.epochs} epochs x {args.train_size} samples + "
        f"{args.val_size} validation; {args.device}, {torch.get_num_threads()} threads, torch "
        f"{torch.__version__}, {platform.machine()}; best of {args.repeats}"
    )
    for name, seconds in best.items():
        print(f"{name:<10} {seconds:7.2f} s  {samples / seconds:8.1f} samples/s")
    if "trainer" in best:
        print(f"trainer / bare loop: {best['bare'] / best['trainer']:.3f} (samples/s ratio)")
        if "lightning" in best:
            print(f"trainer / lightning: {best['lightning'] / best['trainer']:.3f}")
        else:
            print("lightning: not installed (pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
