"""The training loop: the paper's recipe (§5.2) on one process or many (DDP).

Per optimizer step: forward (autocast) -> label-smoothed cross-entropy -> backward (accumulated
over ``accum_steps`` micro-batches, DDP all-reduce on the last) -> optimizer -> EMA update ->
per-step LR schedule. Per epoch: evaluate the EMA weights (the raw ones without an EMA; BN
statistics recomputed first with ``ema_bn_batches``) on minival, keep the best ones
(``best.safetensors``), write ``metrics.jsonl`` and ``last.ckpt``. At the end, the minival-best
weights are evaluated on ``val`` (the paper reports the minival-chosen checkpoint, facts §10).
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from effnet.data.transforms import eval_crop_fraction
from effnet.files import write_json, write_text
from effnet.models.spec import NetworkSpec
from effnet.models.weights import save_weights
from effnet.train import build, checkpoint
from effnet.train.config import TrainConfig, restore_config
from effnet.train.distributed import DistInfo, all_reduce_sum, barrier, broadcast_flag
from effnet.train.ema import build_ema, effective_decay, recalibrate_bn
from effnet.train.evaluate import amp_dtype, autocast, evaluate
from effnet.train.loaders import default_workers, eval_loader, train_loader
from effnet.train.optim import build_optimizer, param_groups
from effnet.train.schedule import build_schedule, build_scheduler, scaled_lr
from effnet.train.signals import StopSignals

CKPT_FORMAT = 1
Callback = Callable[[dict[str, Any]], "bool | None"]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; the run stopped without touching its saved files."""


@dataclass
class RunResult:
    """What :func:`train` returns: the output folder, the summary (``None`` when interrupted)
    and the per-epoch history."""

    out: Path
    summary: dict[str, Any] | None
    interrupted: bool
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """One run; use :func:`train`. Holds the model, optimizer, EMA and the run's state."""

    def __init__(self, config: TrainConfig, info: DistInfo, callbacks: Sequence[Callback]) -> None:
        self.config = config
        self.info = info
        self.callbacks = list(callbacks)
        self.history: list[dict[str, Any]] = []
        self.best_top1 = -1.0
        self.best_epoch = 0
        self.stale_epochs = 0
        self.epoch = 0  # epochs completed
        self.micro_in_epoch = 0  # micro-batches done in the current epoch
        self.step = 0  # optimizer steps done
        self.skipped_steps = 0
        self.partial = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        self.train_images = 0.0
        self.train_seconds = 0.0

    # ----------------------------------------------------------------------------- output
    def log(self, *parts: object) -> None:
        if self.info.is_main:
            print(*parts, flush=True)

    def _out_dir(self, name: str) -> Path:
        out = self.config.run_dir(name)
        if self.info.enabled:  # every rank must agree on one timestamped folder
            import torch.distributed as dist

            holder = [str(out)]
            dist.broadcast_object_list(holder, src=0)
            out = Path(holder[0])
        return out

    # ------------------------------------------------------------------------------ setup
    def setup(self) -> None:
        cfg = self.config
        ckpt = None
        if cfg.resume:
            if not cfg.out:
                raise ValueError("--resume needs --out DIR (the run folder holding last.ckpt)")
            ckpt = checkpoint.load_checkpoint(Path(cfg.out) / "last.ckpt")
            cfg = self.config = restore_config(cfg, ckpt["config"])
        cfg.validate()
        recipe = cfg.recipe
        checkpoint.seed_everything(cfg.seed)

        if ckpt is not None:
            spec = NetworkSpec.from_json(ckpt["spec"])
        elif cfg.init_from:
            spec = None
        else:
            spec = build.resolve_spec(cfg.model, recipe.resolution)

        # data (rank 0 first: the demo set and caches are created once)
        init_model = None
        if cfg.init_from and ckpt is None:
            init_model = build.load_init(
                cfg.init_from,
                source=cfg.init_source,
                model_name=cfg.model if isinstance(cfg.model, str) else None,
            )
            spec = init_model.spec  # type: ignore[union-attr]
        self.resolution = int(recipe.resolution or spec.resolution)  # type: ignore[union-attr]
        self.eval_crop = eval_crop_fraction(self.resolution, recipe.eval_crop)
        if not self.info.is_main:
            barrier(self.info)
        self.bundle = self._build_data()
        if self.info.is_main:
            barrier(self.info)
        self.classes = list(self.bundle.classes)
        num_classes = len(self.classes)

        # model
        model, head = build.run_model(cfg, spec, num_classes, saved=ckpt, pretrained=init_model)
        self.spec = model.spec
        self.out = self._out_dir(self.spec.name)
        dev = self.info.device
        model.to(dev)
        if cfg.channels_last:
            model.to(memory_format=torch.channels_last)
        self.model = model
        self.amp_dtype = amp_dtype(cfg.amp, dev)

        # loaders
        self.workers = cfg.workers if cfg.workers is not None else default_workers(dev)
        world = self.info.world_size
        per_proc, rem = divmod(recipe.batch_size, world * cfg.accum_steps)
        if rem or per_proc < 1:
            raise ValueError(
                f"batch size {recipe.batch_size} must be a multiple of processes ({world}) x "
                f"accum steps ({cfg.accum_steps})"
            )
        self.train_loader = train_loader(
            self.bundle.train,
            batch_size=per_proc,
            info=self.info,
            seed=cfg.seed,
            workers=self.workers,
        )
        self.minival_loader = (
            eval_loader(
                self.bundle.minival,
                batch_size=cfg.eval_batch_size,
                info=self.info,
                workers=min(self.workers, 1),
            )
            if self.bundle.minival is not None and len(self.bundle.minival)
            else None
        )
        self.train_loader.sampler.set_epoch(0)  # type: ignore[attr-defined]
        micro = len(self.train_loader)
        self.steps_per_epoch = micro // cfg.accum_steps
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{len(self.bundle.train)} training images are fewer than one step needs "
                f"({recipe.batch_size} per step); lower --batch-size"
            )
        total_steps = self.steps_per_epoch * recipe.epochs

        # optimizer, schedule, EMA, loss (paper §5.2)
        base_lr = cfg.lr if cfg.lr is not None else scaled_lr(recipe.lr_per_256, recipe.batch_size)
        self.base_lr = base_lr
        groups = param_groups(
            model,
            recipe.weight_decay,
            head_params=head,
            backbone_lr_scale=recipe.backbone_lr_scale if head else 1.0,
        )
        self.optimizer = build_optimizer(recipe.optimizer, groups, base_lr)
        schedule = build_schedule(
            recipe.schedule,
            steps_per_epoch=self.steps_per_epoch,
            epochs=recipe.epochs,
            warmup_epochs=recipe.warmup_epochs,
            decay_epochs=recipe.decay_epochs,
            decay_rate=recipe.decay_rate,
        )
        self.scheduler = build_scheduler(self.optimizer, schedule)
        self.ema_decay = (
            effective_decay(recipe.ema_decay, total_steps, recipe.ema_horizon_fraction)
            if recipe.ema_decay > 0
            else 0.0
        )
        self.ema = build_ema(model, self.ema_decay) if self.ema_decay > 0 else None
        self.criterion = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None

        self.net: nn.Module = model
        if self.info.enabled:
            from torch.nn.parallel import DistributedDataParallel as DDP

            self.net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
        if cfg.compile:
            self.net = torch.compile(self.net)  # type: ignore[assignment]

        if ckpt is not None:
            self._load_state(ckpt)
        else:  # per-rank dropout and augmentation streams
            checkpoint.seed_everything(cfg.seed + 1000 * self.info.rank)

        self.log(recipe.describe())
        n_params = sum(p.numel() for p in model.parameters())
        self.log(
            f"model {self.spec.name} (width {self.spec.width:.3g}, depth {self.spec.depth:.3g}, "
            f"{n_params / 1e6:.2f}M params) at {self.resolution}px, {num_classes} classes; "
            f"train {len(self.bundle.train)} / minival "
            f"{len(self.bundle.minival) if self.bundle.minival is not None else 0} / val "
            f"{len(self.bundle.val) if self.bundle.val is not None else 0} images; "
            f"lr {base_lr:.4g}, {self.steps_per_epoch} steps/epoch x {recipe.epochs} epochs, "
            + (f"EMA decay {self.ema_decay:.5g}, " if self.ema is not None else "")
            + f"{world} process(es) on {dev}, {self.workers} loader worker(s), out {self.out}"
        )
        if self.bundle.skipped:
            self.log(f"skipped {len(self.bundle.skipped)} unreadable image(s)")

    def _build_data(self) -> Any:
        cfg = self.config
        if not isinstance(cfg.data, str):
            return cfg.data
        from effnet.data import build_datasets

        minival: float | int = cfg.minival_size
        if minival >= 1:
            minival = int(minival)
        return build_datasets(
            cfg.data,
            resolution=self.resolution,
            minival_size=minival,
            augment=cfg.recipe.augment,
            seed=cfg.seed,
            strict=cfg.strict,
            crop_scale=cfg.recipe.crop_scale,
            eval_crop=self.eval_crop,
        )

    # ------------------------------------------------------------------------ checkpoints
    def _state(self) -> dict[str, Any]:
        return {
            "format": CKPT_FORMAT,
            "config": self.config.to_dict(),
            "spec": self.spec.to_json(),
            "num_classes": self.model.num_classes,
            "padding": self.model.padding,
            "bn_eps": self.model.bn_eps,
            "classes": self.classes,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "micro_in_epoch": self.micro_in_epoch,
            "step": self.step,
            "skipped_steps": self.skipped_steps,
            "partial": dict(self.partial),
            "train_images": self.train_images,
            "train_seconds": self.train_seconds,
            "best_top1": self.best_top1,
            "best_epoch": self.best_epoch,
            "stale_epochs": self.stale_epochs,
            "history": self.history,
            "rng": checkpoint.rng_state(),
        }

    def _load_state(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model"])
        if self.ema is not None and ckpt["ema"] is not None:
            self.ema.load_state_dict(ckpt["ema"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        for key in (
            "epoch",
            "micro_in_epoch",
            "step",
            "skipped_steps",
            "best_epoch",
            "stale_epochs",
        ):
            setattr(self, key, int(ckpt[key]))
        self.best_top1 = float(ckpt["best_top1"])
        self.partial = dict(ckpt["partial"])
        self.train_images = float(ckpt["train_images"])
        self.train_seconds = float(ckpt["train_seconds"])
        self.history = list(ckpt["history"])
        if self.info.world_size == 1:
            checkpoint.set_rng_state(ckpt["rng"])
        else:
            checkpoint.seed_everything(self.config.seed + 1000 * self.info.rank + 7919 * self.step)
        self.log(f"resumed from {self.out / 'last.ckpt'}: epoch {self.epoch}, step {self.step}")

    def save_last(self) -> None:
        if self.info.is_main:
            checkpoint.save_checkpoint(self._state(), self.out / "last.ckpt")

    def _eval_model(self) -> nn.Module:
        return self.ema.module if self.ema is not None else self.model

    def _finite_weights(self) -> bool:
        values = self._eval_model().state_dict().values()
        return all(bool(torch.isfinite(v).all()) for v in values if v.is_floating_point())

    def _save_best(self) -> None:
        if not self.info.is_main:
            return
        best = self._eval_model()
        save_weights(
            best,
            self.out / "best.safetensors",
            metadata={
                "classes": json.dumps(self.classes),
                "train_resolution": str(self.resolution),
                "eval_crop": repr(self.eval_crop),
            },
        )
        write_json(self.out / "classes.json", self.classes)

    # ---------------------------------------------------------------------------- training
    def _nonfinite(self, loss: torch.Tensor) -> str:
        lr = self.optimizer.param_groups[0]["lr"]
        return (
            f"loss is {loss.item()} at epoch {self.epoch + 1}, step {self.step} (lr {lr:.3g}); "
            f"stopped. Saved files in {self.out} are from before it (best.safetensors untouched). "
            "Try a lower --lr, no --amp, or --nan-policy skip"
        )

    def _progress_bar(self) -> Any:
        """A tqdm bar over the epoch's optimizer steps (main process, ``progress`` on)."""
        cfg = self.config
        if not (self.info.is_main and cfg.progress):
            return None
        from tqdm import tqdm

        return tqdm(
            total=self.steps_per_epoch,
            initial=self.micro_in_epoch // cfg.accum_steps,
            desc=f"epoch {self.epoch + 1}/{cfg.recipe.epochs}",
            leave=False,
            dynamic_ncols=True,
            mininterval=1.0,
            file=sys.stderr,
        )

    def _micro_batch(self, x: torch.Tensor, y: torch.Tensor, last_micro: bool) -> bool:
        """Forward and backward one micro-batch (gradients accumulate); returns whether its
        loss was non-finite (then nothing is accumulated and, with ``nan_policy="skip"``, its
        BN statistics are undone)."""
        cfg, info = self.config, self.info
        x = x.to(info.device, non_blocking=True)
        y = y.to(info.device, non_blocking=True)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        sync = (
            contextlib.nullcontext() if last_micro or not info.enabled else self.net.no_sync()  # type: ignore[operator]
        )
        saved_buffers = (
            [b.detach().clone() for b in self.model.buffers()] if cfg.nan_policy == "skip" else None
        )
        with sync:
            with autocast(info.device, self.amp_dtype):
                logits = self.net(x)
            loss = self.criterion(logits.float(), y)
            bad = broadcast_flag(not bool(torch.isfinite(loss)), info)
            if bad:
                if cfg.nan_policy == "stop":
                    raise NonFiniteLossError(self._nonfinite(loss))
                if saved_buffers is not None:  # undo BN statistics of the bad batch
                    with torch.no_grad():
                        for b, old in zip(self.model.buffers(), saved_buffers):
                            b.copy_(old)
                return True
            scaled = loss / cfg.accum_steps
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        n = y.numel()
        self.partial["loss"] += loss.item() * n
        self.partial["correct"] += (logits.argmax(1) == y).sum().item()
        self.partial["seen"] += n
        return False

    def _stop_requested(self, stop: StopSignals) -> bool:
        """A signal or any callback asks to stop (agreed across processes)."""
        want = stop.requested
        progress = {"epoch": self.epoch, "step": self.step, "micro_in_epoch": self.micro_in_epoch}
        for cb in self.callbacks:
            want = bool(cb(progress)) or want
        return broadcast_flag(want, self.info)

    def train_epoch(self, stop: StopSignals) -> bool:
        """Train the rest of the current epoch; returns False when stopped early."""
        cfg, info = self.config, self.info
        accum = cfg.accum_steps
        sampler = self.train_loader.sampler
        sampler.set_epoch(self.epoch, skip_batches=self.micro_in_epoch)  # type: ignore[attr-defined]
        n_micro = self.steps_per_epoch * accum
        self.model.train()
        if cfg.freeze_backbone:
            build.freeze_norm_stats(self.model)
        bar = self._progress_bar()
        step_bad = False
        tic = time.perf_counter()
        images_this_call = 0
        try:
            for x, y in self.train_loader:
                if self.micro_in_epoch >= n_micro:
                    break
                last_micro = (self.micro_in_epoch + 1) % accum == 0
                step_bad = self._micro_batch(x, y, last_micro) or step_bad
                images_this_call += y.numel()
                self.micro_in_epoch += 1
                if not last_micro:
                    continue
                self._optimizer_step(step_bad)
                step_bad = False
                if bar is not None:
                    seen = max(self.partial["seen"], 1)
                    rate = images_this_call * info.world_size / (time.perf_counter() - tic)
                    bar.set_postfix(
                        loss=f"{self.partial['loss'] / seen:.3f}",
                        acc=f"{100 * self.partial['correct'] / seen:.1f}",
                        img_s=f"{rate:.0f}",
                        refresh=False,
                    )
                    bar.update(1)
                if self._stop_requested(stop):
                    return False
        finally:
            dt = time.perf_counter() - tic
            self.partial["seconds"] += dt
            self.train_seconds += dt
            self.train_images += images_this_call * info.world_size
            if bar is not None:
                bar.close()
        return True

    def _optimizer_step(self, bad: bool) -> None:
        if bad:
            self.skipped_steps += 1
            self.optimizer.zero_grad(set_to_none=True)
            self.log(
                f"warning: skipped a step with a non-finite loss "
                f"({self.skipped_steps}/{self.config.max_skipped})"
            )
            if self.skipped_steps > self.config.max_skipped:
                raise NonFiniteLossError(
                    f"{self.skipped_steps} steps had a non-finite loss; stopped. Saved files in "
                    f"{self.out} are from before it. Try a lower --lr"
                )
        else:
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.ema is not None:
                self.ema.update_parameters(self.model)
        self.scheduler.step()
        self.step += 1

    def end_epoch(self) -> bool:
        """Evaluate, keep the best weights, write metrics and ``last.ckpt``; False = stop."""
        cfg, info = self.config, self.info
        loss_sum, correct, seen = all_reduce_sum(
            [self.partial["loss"], self.partial["correct"], self.partial["seen"]], info
        )
        eval_model = self._eval_model()
        if self.ema is not None and cfg.recipe.ema_bn_batches:
            recalibrate_bn(
                eval_model,
                self.train_loader,
                max_batches=cfg.recipe.ema_bn_batches,
                info=info,
                channels_last=cfg.channels_last,
            )
        mv = (
            evaluate(
                eval_model,
                self.minival_loader,
                device=info.device,
                info=info,
                amp_dtype=self.amp_dtype,
                channels_last=cfg.channels_last,
            )
            if self.minival_loader is not None
            else None
        )
        self.epoch += 1
        seconds = self.partial["seconds"]
        record = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": self.optimizer.param_groups[-1]["lr"],
            "train_loss": loss_sum / seen if seen else float("nan"),
            "train_top1": 100.0 * correct / seen if seen else 0.0,
            "minival_top1": mv["top1"] if mv else None,
            "minival_top5": mv["top5"] if mv else None,
            "minival_loss": mv["loss"] if mv else None,
            "seconds": seconds,
            "images_per_second": seen / seconds if seconds else 0.0,
        }
        self.history.append(record)
        score = mv["top1"] if mv else float(self.epoch)  # no minival: keep the latest
        finite = self._finite_weights()
        if not finite:
            self.log("warning: non-finite weights; best.safetensors not updated")
        if score > self.best_top1 and finite:
            self.best_top1, self.best_epoch, self.stale_epochs = score, self.epoch, 0
            self._save_best()
        else:
            self.stale_epochs += 1
        self.micro_in_epoch = 0
        self.partial = {"loss": 0.0, "correct": 0.0, "seen": 0.0, "seconds": 0.0}
        self.save_last()
        if info.is_main:
            text = "".join(json.dumps(r) + "\n" for r in self.history)
            write_text(self.out / "metrics.jsonl", text)
            mv_text = f"minival top1 {mv['top1']:.2f}%" if mv else "no minival"
            self.log(
                f"epoch {self.epoch}/{cfg.recipe.epochs}: loss {record['train_loss']:.4f}, "
                f"train top1 {record['train_top1']:.2f}%, {mv_text}, lr {record['lr']:.3g}, "
                f"{record['images_per_second']:.0f} img/s, {seconds:.1f}s"
                + ("  *best" if self.best_epoch == self.epoch else "")
            )
        patience = cfg.recipe.patience
        if patience is not None and self.stale_epochs >= patience:
            self.log(f"early stop: no minival improvement for {patience} epochs")
            return False
        return True

    def finish(self) -> dict[str, Any]:
        """Evaluate the minival-best weights on val; write summary.json and curves.png."""
        cfg, info = self.config, self.info
        barrier(info)
        from effnet.models.weights import load_weights

        best_path = self.out / "best.safetensors"
        if not best_path.is_file():
            raise NonFiniteLossError(f"no finite weights were ever reached; nothing in {best_path}")
        best = load_weights(best_path).to(info.device)
        val = None
        if self.bundle.val is not None and len(self.bundle.val):
            loader = eval_loader(
                self.bundle.val,
                batch_size=cfg.eval_batch_size,
                info=info,
                workers=min(self.workers, 1),
            )
            val = evaluate(best, loader, device=info.device, info=info, amp_dtype=self.amp_dtype)
        summary = {
            "val_top1": val["top1"] if val else None,
            "val_top5": val["top5"] if val else None,
            "val_images": val["n"] if val else 0,
            "minival_top1": self.best_top1 if self.minival_loader is not None else None,
            "epochs": self.epoch,
            "best_epoch": self.best_epoch,
            "steps": self.step,
            "images_per_second": self.train_images / self.train_seconds
            if self.train_seconds
            else 0.0,
            "train_seconds": self.train_seconds,
            "skipped_images": len(self.bundle.skipped),
            "skipped_steps": self.skipped_steps,
            "model": self.spec.name,
            "params": sum(p.numel() for p in self.model.parameters()),
            "resolution": self.resolution,
            "eval_crop": self.eval_crop,
            "classes": len(self.classes),
            "recipe": cfg.recipe.name,
            "processes": info.world_size,
        }
        if info.is_main:
            write_json(self.out / "summary.json", summary)
            from effnet.analysis.plots import plot_curves

            title = f"{self.spec.name}, {cfg.recipe.name} recipe"
            plot_curves(self.history, self.out / "curves.png", title=title)
        return summary

    def run(self) -> RunResult:
        start = time.perf_counter()
        with StopSignals(announce=self.info.is_main) as stop:
            while self.epoch < self.config.recipe.epochs:
                if not self.train_epoch(stop):
                    self.save_last()
                    self.log(
                        f"stopped at epoch {self.epoch + 1}, step {self.step}: saved "
                        f"{self.out / 'last.ckpt'}; continue with: effnet train --resume "
                        f"--out {self.out}"
                    )
                    return RunResult(self.out, None, True, self.history)
                if not self.end_epoch():
                    break
        summary = self.finish()
        summary["wall_seconds"] = time.perf_counter() - start
        if self.info.is_main:
            write_json(self.out / "summary.json", summary)
            val = (
                f"val top1 {summary['val_top1']:.2f}% / top5 {summary['val_top5']:.2f}% "
                f"on {summary['val_images']} images"
                if summary["val_top1"] is not None
                else "no val split"
            )
            self.log(
                f"done: {val}; best minival epoch {self.best_epoch}; "
                f"{summary['images_per_second']:.0f} train img/s\n"
                f"outputs in {self.out}/: best.safetensors ("
                + ("EMA " if self.ema is not None else "")
                + "weights, best on minival), "
                "classes.json, last.ckpt, metrics.jsonl, summary.json, curves.png"
            )
        return RunResult(self.out, summary, False, self.history)


def train(config: TrainConfig, callbacks: Sequence[Callback] = ()) -> RunResult:
    """Run ``config``: train, select on minival, evaluate on val, write the outputs.

    ``callbacks`` are called after every optimizer step with ``{"epoch", "step",
    "micro_in_epoch"}``; returning True stops the run as Ctrl-C would (checkpoint saved).
    Raises :class:`NonFiniteLossError` on a NaN/Inf loss (``nan_policy="stop"``).
    """
    from effnet.train import distributed

    config.validate()
    info = distributed.setup(config.device)
    try:
        trainer = Trainer(config, info, callbacks)
        trainer.setup()
        return trainer.run()
    finally:
        distributed.cleanup()
