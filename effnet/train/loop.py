"""The training loop: the paper's recipe (§5.2) on one process or many (DDP).

Per optimizer step: forward (autocast) -> label-smoothed cross-entropy -> backward (accumulated
over ``accum_steps`` micro-batches, DDP all-reduce on the last) -> gradient clipping (if asked)
-> optimizer -> EMA update -> per-step LR schedule. Per epoch: evaluate the EMA weights (the raw
ones without an EMA; BN statistics recomputed first with ``ema_bn_batches``) on minival, keep
the best ones (``best.safetensors``), write ``metrics.jsonl`` and ``last.ckpt``. At the end, the
minival-best weights are evaluated on ``val``: the paper holds a minival out of the training set
to select the model (§5.2), and reports the selected weights.

The host never waits for the device within a step: the loss, the correct count and whether
the loss was finite accumulate on the device (:class:`effnet.train.state.DeviceSums`) and are
read at the end of each epoch, before a stop is saved, and every :data:`READ_EVERY` steps while
a progress bar shows them. A non-finite loss (``nan_policy="stop"``) raises
:class:`NonFiniteLossError` at the first of these reads after it, agreed across processes,
before anything is saved; ``best.safetensors`` and ``last.ckpt`` keep the weights from before
it. ``nan_policy="skip"`` reads one flag per optimizer step, to skip the step exactly as it did
(no update, no EMA, the bad micro-batch's BatchNorm statistics restored). fp16's grad scaler
reads its overflow flag every step too; bf16, the command line's default on CUDA, does not.

The run is built by :func:`effnet.train.setup.build_run`, its progress is a
:class:`effnet.train.state.RunState`, and what it prints and writes besides weights is
:mod:`effnet.train.report`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from effnet.data.transforms import set_randaugment_magnitude
from effnet.files import write_json
from effnet.train import build, checkpoint, distributed
from effnet.train.config import TrainConfig
from effnet.train.distributed import (
    DistInfo,
    all_reduce_sum,
    any_flag_,
    barrier,
    broadcast_flag,
)
from effnet.train.ema import recalibrate_bn
from effnet.train.evaluate import autocast, evaluate
from effnet.train.loaders import PreloadedLoader, eval_loader
from effnet.train.mixing import BatchMixer, batch_mixer
from effnet.train.report import ProgressBar, Reporter, summarize
from effnet.train.schedule import WarmupPlateau
from effnet.train.setup import Run, build_run
from effnet.train.signals import StopSignals
from effnet.train.state import DeviceSums, RunState
from effnet.weights.average import epoch_files
from effnet.weights.io import load_weights, save_weights

Callback = Callable[[dict[str, Any]], "bool | None"]
#: Called with each epoch's ``metrics.jsonl`` record once it is saved; it may raise to end
#: the run there (a search's pruner does).
EpochCallback = Callable[[dict[str, Any]], None]

#: Steps between reads of the running sums while a progress bar shows them (with the bar off,
#: they are read at the end of each epoch only).
READ_EVERY = 20


def _to_host(t: torch.Tensor) -> Any:
    """Every value the loop reads from the device goes through here: the host waits for the
    device at these points only."""
    return t.tolist()


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
    """One run; use :func:`train`. :meth:`setup` builds it (``parts``: a
    :class:`~effnet.train.setup.Run`), :meth:`run` trains it; ``state`` is its progress."""

    def __init__(
        self,
        config: TrainConfig,
        info: DistInfo,
        callbacks: Sequence[Callback] = (),
        epoch_callbacks: Sequence[EpochCallback] = (),
    ) -> None:
        self.config = config
        self.info = info
        self.callbacks = list(callbacks)
        self.epoch_callbacks = list(epoch_callbacks)
        self.report = Reporter(info)
        self.state = RunState()
        self.parts: Run
        self.sums: DeviceSums | None = None  # the epoch's sums on the device, while training
        self._step_lrs: dict[int, float] = {}  # step -> LR, since the last read
        self._step_bad: torch.Tensor | None = None  # nan_policy="skip": this step had one
        self._train_resolution = 0  # this epoch's (progressive resizing)
        self._regularization: dict[str, Any] = {}  # this epoch's (progressive regularisation)
        self.mixer: BatchMixer | None = None  # MixUp / CutMix of train batches

    def setup(self) -> None:
        """Build the run (a resumed one continues its saved state) and describe it."""
        self.parts = build_run(self.config, self.info)
        self.config = self.parts.config
        self.mixer = batch_mixer(self.config.recipe, len(self.parts.classes))
        if self.parts.resumed is not None:
            self.state = self.parts.resumed
        self.report.started(self.parts)

    # ------------------------------------------------------------------------ saved files
    def save_last(self) -> None:
        """Write ``last.ckpt`` (main process)."""
        if self.info.is_main:
            ckpt = self.parts.checkpoint(self.state)
            checkpoint.save_checkpoint(ckpt, self.parts.out / "last.ckpt")

    def _finite_weights(self) -> bool:
        values = self.parts.eval_model.state_dict().values()
        flags = [torch.isfinite(v).all() for v in values if v.is_floating_point()]
        return not flags or bool(_to_host(torch.stack(flags).all()))

    def _weights_metadata(self) -> dict[str, str]:
        """What eval / predict need beside the weights: classes, resolution, eval crop."""
        r = self.parts
        return {
            "classes": json.dumps(r.classes),
            "train_resolution": str(r.resolution),
            "eval_crop": repr(r.eval_crop),
        }

    def _save_best(self) -> None:
        """``best.safetensors`` (with what eval / predict need) and ``classes.json``."""
        r = self.parts
        if not self.info.is_main:
            return
        save_weights(r.eval_model, r.out / "best.safetensors", metadata=self._weights_metadata())  # type: ignore[arg-type]
        write_json(r.out / "classes.json", r.classes)

    def _save_epoch(self) -> None:
        """``epoch-<N>.safetensors`` of the last ``keep_last`` epochs (for ``effnet average``)."""
        r, keep = self.parts, self.config.keep_last
        if not keep or not self.info.is_main:
            return
        path = r.out / f"epoch-{self.state.epoch}.safetensors"
        save_weights(r.eval_model, path, metadata=self._weights_metadata())  # type: ignore[arg-type]
        for old in epoch_files(r.out)[:-keep]:
            old.unlink(missing_ok=True)

    # --------------------------------------------------------------------------- training
    def _nonfinite(self, loss: float | None, step: int) -> str:
        if loss is None:  # this process's losses were finite
            where = f"loss is non-finite on another process at epoch {self.state.epoch + 1}"
        else:
            lr = self._step_lrs.get(step, self.parts.optimizer.param_groups[0]["lr"])
            where = f"loss is {loss} at epoch {self.state.epoch + 1}, step {step} (lr {lr:.3g})"
        return (
            f"{where}; stopped. Saved files in {self.parts.out} are from before it "
            "(best.safetensors untouched). Try a lower --lr, --amp none, or --nan-policy skip"
        )

    def _read(self, bar: ProgressBar | None = None) -> None:
        """Bring the device's running sums to ``state.partial`` (one wait for the device) and
        show them; a non-finite loss on any process stops the run (``nan_policy="stop"``)."""
        st, sums, accum = self.state, self.sums, self.config.accum_steps
        if sums is None:
            return
        agreed = None
        if self.info.enabled:  # every process raises, or none
            agreed = any_flag_(sums.sums[3].clone(), self.info)
        values = _to_host(sums.values(agreed))
        loss, correct, seen, mine, anywhere, first_loss, first_index = values
        st.partial.update(loss=loss, correct=correct, seen=seen)
        if anywhere and self.config.nan_policy == "stop":
            step = st.step - st.micro_in_epoch // accum + int(first_index) // accum
            raise NonFiniteLossError(self._nonfinite(first_loss if mine else None, step))
        self._step_lrs.clear()
        if bar is not None:
            bar.show(st.partial)

    def _micro_batch(self, x: torch.Tensor, y: torch.Tensor, last_micro: bool) -> None:
        """Forward and backward one micro-batch (gradients accumulate) and count it on the
        device. A non-finite loss is not counted; with ``nan_policy="skip"`` it marks the step
        to be skipped and its BN statistics are undone (without reading it)."""
        r, cfg, info = self.parts, self.config, self.info
        assert self.sums is not None
        x = x.to(info.device, non_blocking=True)
        y = y.to(info.device, non_blocking=True)
        res = self._train_resolution
        if x.shape[-1] != res or x.shape[-2] != res:  # progressive resizing, per-image loaders
            x = F.interpolate(x, size=(res, res), mode="bilinear", antialias=True)
        if self.mixer is not None:
            x, y = self.mixer(x, y)
        if cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        sync = contextlib.nullcontext() if last_micro or not info.enabled else r.net.no_sync()  # type: ignore[operator]
        skip = cfg.nan_policy == "skip"
        saved_buffers = [b.detach().clone() for b in r.model.buffers()] if skip else []
        with sync:
            with autocast(info.device, r.amp_dtype):
                logits = r.net(x)
            loss = r.criterion(logits.float(), y)
            finite = self.sums.add(loss, logits, y)
            scaled = loss / cfg.accum_steps
            (r.scaler.scale(scaled) if r.scaler else scaled).backward()
        if skip:  # after the backward, which reads the BN statistics the forward used
            with torch.no_grad():  # undo BN statistics of a bad batch
                for b, old in zip(r.model.buffers(), saved_buffers):
                    b.copy_(torch.where(finite, b, old))
            bad = ~finite
            self._step_bad = bad if self._step_bad is None else self._step_bad | bad

    def _stop_requested(self, stop: StopSignals) -> bool:
        """A signal or any callback asks to stop (agreed across processes)."""
        want = stop.requested
        st = self.state
        progress = {"epoch": st.epoch, "step": st.step, "micro_in_epoch": st.micro_in_epoch}
        for cb in self.callbacks:
            want = bool(cb(progress)) or want
        return broadcast_flag(want, self.info)

    def train_epoch(self, stop: StopSignals) -> bool:
        """Train the rest of the current epoch; returns False when stopped early."""
        r, st, accum = self.parts, self.state, self.config.accum_steps
        r.train_loader.sampler.set_epoch(st.epoch, skip_batches=st.micro_in_epoch)  # type: ignore[attr-defined]
        self._train_resolution = r.train_resolution(st.epoch)
        self._regularization = self._apply_regularization(st.epoch)
        if isinstance(r.train_loader, PreloadedLoader):  # crops at that size directly
            r.train_loader.resolution = self._train_resolution
        n_micro = r.steps_per_epoch * accum
        r.model.train()
        if self.config.freeze_backbone:
            build.freeze_norm_stats(r.model)
        self.sums = DeviceSums(st.partial, st.micro_in_epoch, self.info.device)
        self._step_lrs.clear()
        bar = self.report.progress_bar(r, st)
        read_every = READ_EVERY if self.config.progress else 0  # the same on every process
        images = 0  # seen by this process in this call
        tic = time.perf_counter()
        try:
            for x, y in r.train_loader:
                if st.micro_in_epoch >= n_micro:
                    break
                last_micro = (st.micro_in_epoch + 1) % accum == 0
                self._micro_batch(x, y, last_micro)
                images += y.numel()
                st.micro_in_epoch += 1
                if not last_micro:
                    continue
                self._optimizer_step()
                if read_every and st.step % read_every == 0:
                    self._read(bar)
                elapsed = time.perf_counter() - tic
                bar.update(images * self.info.world_size / elapsed)
                if self._stop_requested(stop):
                    self._read()  # a non-finite loss raises here: nothing is saved
                    return False
            self._read()
        finally:
            st.add_time(time.perf_counter() - tic, images * self.info.world_size)
            bar.close()
            self.sums = None
        return True

    def _skip_this_step(self) -> bool:
        """``nan_policy="skip"``: whether a micro-batch of this step had a non-finite loss on
        any process (the one read per step this policy needs)."""
        if self._step_bad is None:
            return False
        flag = any_flag_(self._step_bad.to(torch.float32), self.info)
        self._step_bad = None
        return bool(_to_host(flag))

    def _optimizer_step(self) -> None:
        r, st, cfg = self.parts, self.state, self.config
        self._step_lrs[st.step] = r.optimizer.param_groups[0]["lr"]
        if self._skip_this_step():
            st.skipped_steps += 1
            r.optimizer.zero_grad(set_to_none=True)
            limit = cfg.max_skipped
            self.report.log(
                f"warning: skipped a step with a non-finite loss ({st.skipped_steps}/{limit})"
            )
            if st.skipped_steps > limit:
                raise NonFiniteLossError(
                    f"{st.skipped_steps} steps had a non-finite loss; stopped. Saved files in "
                    f"{r.out} are from before it. Try a lower --lr"
                )
        else:
            if cfg.clip_grad is not None:
                if r.scaler is not None:
                    r.scaler.unscale_(r.optimizer)
                torch.nn.utils.clip_grad_norm_(r.model.parameters(), cfg.clip_grad)
            if r.scaler is not None:
                r.scaler.step(r.optimizer)
                r.scaler.update()
            else:
                r.optimizer.step()
            r.optimizer.zero_grad(set_to_none=True)
            if r.ema is not None:
                r.ema.update_parameters(r.model)
        r.scheduler.step()
        st.step += 1

    # ------------------------------------------------------------------------- evaluation
    def _evaluate_minival(self) -> dict[str, Any] | None:
        """The kept weights on minival (EMA BN statistics recomputed first if asked)."""
        r, cfg, info = self.parts, self.config, self.info
        if r.ema is not None and cfg.recipe.ema_bn_batches:
            recalibrate_bn(
                r.eval_model,
                r.train_loader,
                max_batches=cfg.recipe.ema_bn_batches,
                info=info,
                channels_last=cfg.channels_last,
            )
        if r.minival_loader is None:
            return None
        return evaluate(
            r.eval_model,
            r.minival_loader,
            device=info.device,
            info=info,
            amp_dtype=r.amp_dtype,
            channels_last=cfg.channels_last,
        )

    def _apply_regularization(self, epoch: int) -> dict[str, Any]:
        """Set this epoch's dropout and RandAugment magnitude (progressive regularisation);
        returns those set, for ``metrics.jsonl``."""
        r = self.parts
        dropout, magnitude = r.regularization(epoch)
        applied: dict[str, Any] = {}
        if dropout is not None:
            r.model.dropout.p = dropout
            applied["dropout"] = dropout
        if magnitude is not None:
            dataset = getattr(r.train_loader, "dataset", None)
            if not set_randaugment_magnitude(dataset, magnitude):
                raise ValueError(
                    "progressive_magnitude raises RandAugment's magnitude: train with "
                    "augment randaugment (--augment randaugment)"
                )
            applied["randaugment_magnitude"] = magnitude
        return applied

    def _epoch_record(self, sums: list[float], mv: dict[str, Any] | None) -> dict[str, Any]:
        """The ``metrics.jsonl`` line of the epoch just completed (``sums``: its loss, correct
        and seen summed over processes)."""
        st = self.state
        loss_sum, correct, seen = sums
        seconds = st.partial["seconds"]
        return {
            "epoch": st.epoch,
            "step": st.step,
            "resolution": self._train_resolution,
            **self._regularization,
            "lr": self.parts.optimizer.param_groups[-1]["lr"],
            "train_loss": loss_sum / seen if seen else float("nan"),
            # under MixUp / CutMix no single label is right: not reported
            "train_top1": None if self.mixer else (100.0 * correct / seen if seen else 0.0),
            "minival_top1": mv["top1"] if mv else None,
            "minival_top5": mv["top5"] if mv else None,
            "minival_loss": mv["loss"] if mv else None,
            "seconds": seconds,
            "images_per_second": seen / seconds if seconds else 0.0,
        }

    def end_epoch(self) -> bool:
        """Evaluate, keep the best weights, write metrics and ``last.ckpt``; False = stop."""
        st = self.state
        sums = all_reduce_sum([st.partial[k] for k in ("loss", "correct", "seen")], self.info)
        mv = self._evaluate_minival()
        st.epoch += 1
        record = self._epoch_record(sums, mv)  # with the LR this epoch trained at
        st.history.append(record)
        if isinstance(self.parts.scheduler, WarmupPlateau) and mv is not None:
            self.parts.scheduler.epoch_end(mv["top1"])  # the same all-reduced value everywhere
        finite = self._finite_weights()
        if not finite:
            self.report.log("warning: non-finite weights; best.safetensors not updated")
        if st.update_best(mv["top1"] if mv else float(st.epoch), finite):  # no minival: latest
            self._save_best()
        if finite:
            self._save_epoch()
        st.next_epoch()
        self.save_last()
        self.report.epoch(self.parts, st, record)
        for cb in self.epoch_callbacks:  # after last.ckpt: an exception here loses nothing
            cb(record)
        patience = self.config.recipe.patience
        if patience is not None and st.stale_epochs >= patience:
            self.report.log(f"early stop: no minival improvement for {patience} epochs")
            return False
        return True

    def _evaluate_best(self) -> dict[str, Any] | None:
        """The minival-best weights (``best.safetensors``) on val, if there is a val split."""
        r, info = self.parts, self.info
        barrier(info)
        best_path = r.out / "best.safetensors"
        if not best_path.is_file():
            raise NonFiniteLossError(f"no finite weights were ever reached; nothing in {best_path}")
        best = load_weights(best_path).to(info.device)
        if r.bundle.val is None or not len(r.bundle.val):
            return None
        loader = eval_loader(
            r.bundle.val, batch_size=self.config.eval_batch_size, info=info, workers=r.workers
        )
        return evaluate(best, loader, device=info.device, info=info, amp_dtype=r.amp_dtype)

    # -------------------------------------------------------------------------------- run
    def run(self) -> RunResult:
        """Train to the recipe's epochs (or a stop), then evaluate and write the summary."""
        r, st = self.parts, self.state
        start = time.perf_counter()
        with StopSignals(announce=self.info.is_main) as stop:
            while st.epoch < self.config.recipe.epochs:
                if not self.train_epoch(stop):
                    self.save_last()
                    self.report.stopped(r, st)
                    return RunResult(r.out, None, True, st.history)
                if not self.end_epoch():
                    break
        val = self._evaluate_best()
        summary = summarize(r, st, val, wall_seconds=time.perf_counter() - start)
        self.report.finished(r, st, summary)
        return RunResult(r.out, summary, False, st.history)


def train(
    config: TrainConfig,
    callbacks: Sequence[Callback] = (),
    epoch_callbacks: Sequence[EpochCallback] = (),
) -> RunResult:
    """Run ``config``: train, select on minival, evaluate on val, write the outputs.

    ``callbacks`` are called after every optimizer step with ``{"epoch", "step",
    "micro_in_epoch"}``; returning True stops the run as Ctrl-C would (checkpoint saved).
    ``epoch_callbacks`` get each epoch's ``metrics.jsonl`` record after ``last.ckpt`` is
    written; an exception they raise ends the run and propagates.
    Raises :class:`NonFiniteLossError` on a NaN/Inf loss (``nan_policy="stop"``).
    """
    config.validate()
    info = distributed.setup(config.device)
    try:
        trainer = Trainer(config, info, callbacks, epoch_callbacks)
        trainer.setup()
        return trainer.run()
    finally:
        distributed.cleanup()
