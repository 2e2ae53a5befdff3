"""What a run tells its user, from the main process only: log lines, the progress bar, and
the files ``metrics.jsonl`` (every epoch), ``summary.json`` and ``curves.png`` (at the end).

Files are written with :mod:`effnet.files` (atomic, fsynced): a kill leaves the previous
version, never a torn one.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from effnet.analysis.plots import plot_curves
from effnet.data.folder import read_skip_logs
from effnet.data.preload import PreloadedImages
from effnet.files import write_json, write_text
from effnet.train.distributed import DistInfo
from effnet.train.setup import Run
from effnet.train.state import RunState
from effnet.train.tracking import Tracker

#: What each logger adds to a run's folder.
_LOGGED = {"csv": "metrics.csv", "tensorboard": "tensorboard/"}

OUTPUTS = "classes.json, last.ckpt, metrics.jsonl, summary.json, curves.png"


class ProgressBar:
    """A tqdm bar over an epoch's optimizer steps, with the running loss and accuracy (as
    often as the loop reads them from the device) and the throughput; does nothing when off."""

    def __init__(
        self, *, total: int, initial: int, desc: str, enabled: bool, accuracy: bool = True
    ) -> None:
        self.bar = None
        self.accuracy = accuracy  # off under MixUp / CutMix
        self.loss_acc: dict[str, str] = {}
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=desc,
                leave=False,
                dynamic_ncols=True,
                mininterval=1.0,
                file=sys.stderr,
            )

    def show(self, partial: dict[str, float]) -> None:
        """Show the epoch's running ``partial`` sums (as last read from the device)."""
        if self.bar is None:
            return
        seen = max(partial["seen"], 1)
        self.loss_acc = {"loss": f"{partial['loss'] / seen:.3f}"}
        if self.accuracy:
            self.loss_acc["acc"] = f"{100 * partial['correct'] / seen:.1f}"

    def update(self, images_per_second: float) -> None:
        """One step done: show the throughput (and the sums :meth:`show` was last given)."""
        if self.bar is None:
            return
        self.bar.set_postfix(**self.loss_acc, img_s=f"{images_per_second:.0f}", refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Reporter:
    """Log lines and output files of one run; silent on every process but the main one."""

    def __init__(self, info: DistInfo) -> None:
        self.main = info.is_main
        self._started: float | None = None
        self._estimated = False
        self.tracker: Tracker | None = None

    def log(self, *parts: object) -> None:
        if self.main:
            print(*parts, flush=True)

    def progress_bar(self, run: Run, state: RunState) -> ProgressBar:
        """The bar of the current epoch (with ``progress`` on)."""
        cfg = run.config
        return ProgressBar(
            total=run.steps_per_epoch,
            initial=state.micro_in_epoch // cfg.accum_steps,
            desc=f"epoch {state.epoch + 1}/{cfg.recipe.epochs}",
            enabled=self.main and cfg.progress,
            accuracy=not (cfg.recipe.mixup_alpha or cfg.recipe.cutmix_alpha),
        )

    def started(self, run: Run) -> None:
        """The resume point (if any), the recipe, the model, the data and the run's setup."""
        self._started = time.monotonic()
        if run.resumed is not None:
            self.log(
                f"resumed from {run.out / 'last.ckpt'}: epoch {run.resumed.epoch}, "
                f"step {run.resumed.step}"
            )
        recipe, spec, bundle = run.config.recipe, run.spec, run.bundle
        self.log(recipe.describe())
        n_params = sum(p.numel() for p in run.model.parameters())
        minival = len(bundle.minival) if bundle.minival is not None else 0
        val = len(bundle.val) if bundle.val is not None else 0
        self.log(
            f"model {spec.name} (width {spec.width:.3g}, depth {spec.depth:.3g}, "
            f"{n_params / 1e6:.2f}M params) at {run.resolution}px, {len(run.classes)} classes; "
            f"train {len(bundle.train)} / minival {minival} / val {val} images; "
            f"lr {run.base_lr:.4g}, {run.steps_per_epoch} steps/epoch x {recipe.epochs} epochs, "
            + (f"EMA decay {run.ema_decay:.5g}, " if run.ema is not None else "")
            + f"{run.info.world_size} process(es) on {run.info.device}, "
            + (
                f"train images preloaded ({bundle.train.nbytes / 2**20:.0f} MiB)"
                if isinstance(bundle.train, PreloadedImages)
                else f"{run.workers} loader worker(s)"
            )
            + f", out {run.out}"
        )
        self.log(batch_line(run))
        if self.main:  # the remote runs start with the training
            self.tracker = Tracker(run.config.log, run.out, run.config.to_dict())
        if bundle.skipped:
            self.log(f"skipped {len(bundle.skipped)} unreadable image(s)")

    def epoch(self, run: Run, state: RunState, record: dict[str, Any]) -> None:
        """Rewrite ``metrics.jsonl`` with the history and print the epoch's line."""
        if not self.main:
            return
        write_text(run.out / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in state.history))
        if self.tracker is None:
            self.tracker = Tracker(run.config.log, run.out, run.config.to_dict())
        self.tracker.epoch(state.history)
        mv = record["minival_top1"]
        mv_text = f"minival top1 {mv:.2f}%" if mv is not None else "no minival"
        top1 = record["train_top1"]
        train_text = f"train top1 {top1:.2f}%" if top1 is not None else "train top1 n/a (mixed)"
        self.log(
            f"epoch {state.epoch}/{run.config.recipe.epochs}"
            + (f" at {record['resolution']}px" if record["resolution"] != run.resolution else "")
            + f": loss {record['train_loss']:.4f}, "
            f"{train_text}, {mv_text}, lr {record['lr']:.3g}, "
            f"{record['images_per_second']:.0f} img/s, {record['seconds']:.1f}s"
            + ("  *best" if state.best_epoch == state.epoch else "")
        )
        if not self._estimated and self._started is not None:
            self._estimated = True
            self.log(estimate_line(time.monotonic() - self._started, state.epoch, run))

    def stopped(self, run: Run, state: RunState) -> None:
        """A stop request (Ctrl-C, SIGTERM, a callback) was honoured; how to go on."""
        if self.tracker is not None:
            self.tracker.stopped()
        self.log(
            f"stopped at epoch {state.epoch + 1}, step {state.step}: saved "
            f"{run.out / 'last.ckpt'}; continue with: effnet train --resume --out {run.out}"
        )

    def finished(self, run: Run, state: RunState, summary: dict[str, Any]) -> None:
        """Write ``summary.json`` (once, complete) and ``curves.png``; print where they are."""
        if not self.main:
            return
        write_json(run.out / "summary.json", summary)
        if self.tracker is not None:
            self.tracker.finished(summary)
        skipped = skipped_images(run)
        if skipped:
            write_text(run.out / "skipped.txt", "".join(f"{p}\t{r}\n" for p, r in skipped.items()))
            self.log(f"skipped {len(skipped)} unreadable image(s): listed in skipped.txt")
        title = f"{run.spec.name}, {run.config.recipe.name} recipe"
        plot_curves(state.history, run.out / "curves.png", title=title)
        val = (
            f"val top1 {summary['val_top1']:.2f}% / top5 {summary['val_top5']:.2f}% "
            f"on {summary['val_images']} images"
            if summary["val_top1"] is not None
            else "no val split"
        )
        self.log(
            f"done: {val}; best minival epoch {state.best_epoch}; "
            f"{summary['images_per_second']:.0f} train img/s\n"
            f"outputs in {run.out}/: best.safetensors ("
            + ("EMA " if run.ema is not None else "")
            + f"weights, best on minival), {OUTPUTS}"
            + "".join(f", {f}" for n, f in _LOGGED.items() if n in run.config.log)
        )


def estimate_line(first_epoch_s: float, epoch: int, run: Run) -> str:
    """How long the run will take, from the wall time of its first epoch here (training,
    minival and checkpoint); printed once, after that epoch."""
    left = max(0, run.config.recipe.epochs - epoch)
    total_min = (first_epoch_s * (left + 1)) / 60
    return (
        f"estimate: about {max(1, round(total_min))} min on this machine "
        f"({left} more epoch(s) at ~{first_epoch_s:.0f} s each)"
    )


def batch_line(run: Run) -> str:
    """How the global batch is made and the learning rate it scales to (linearly, as the
    official ``main.py`` scales ``base_learning_rate`` by ``train_batch_size / 256``), e.g.
    ``global batch 512 = 64 per process x 8 processes x 1 accum step; lr 0.032 (0.016 x
    512/256)``."""
    cfg, world = run.config, run.info.world_size
    scaled = f"{cfg.recipe.lr_per_256:g} x {run.global_batch}/256"
    how = "--lr" if cfg.lr is not None else scaled
    return (
        f"global batch {run.global_batch} = {run.batch} per process x {world} "
        f"process{'es' if world != 1 else ''} x {cfg.accum_steps} accum "
        f"step{'s' if cfg.accum_steps != 1 else ''}; lr {run.base_lr:.4g} ({how})"
    )


def skipped_images(run: Run) -> dict[str, str]:
    """Every image the run skipped, with why: at indexing (headers), and while loading (the
    ``skipped-rank*.log`` files every process appends to, this run and the runs it resumes)."""
    skipped = dict(run.bundle.skip_reasons) or dict.fromkeys(run.bundle.skipped, "unreadable")
    for path, reason in read_skip_logs(sorted(run.out.glob("skipped-rank*.log"))).items():
        skipped.setdefault(path, reason)
    return skipped


def summarize(
    run: Run, state: RunState, val: dict[str, Any] | None, wall_seconds: float
) -> dict[str, Any]:
    """The contents of ``summary.json``: val accuracy of the minival-best weights (paper
    §5.2), the run's length and throughput, and what was trained."""
    return {
        "val_top1": val["top1"] if val else None,
        "val_top5": val["top5"] if val else None,
        "val_images": val["n"] if val else 0,
        "minival_top1": state.best_top1 if run.minival_loader is not None else None,
        "epochs": state.epoch,
        "best_epoch": state.best_epoch,
        "steps": state.step,
        "images_per_second": (
            state.train_images / state.train_seconds if state.train_seconds else 0.0
        ),
        "train_seconds": state.train_seconds,
        "wall_seconds": wall_seconds,
        "skipped_images": len(skipped_images(run)),
        "skipped_steps": state.skipped_steps,
        "model": run.spec.name,
        "data": str(run.config.data),
        "params": sum(p.numel() for p in run.model.parameters()),
        "resolution": run.resolution,
        "eval_crop": run.eval_crop,
        "classes": len(run.classes),
        "recipe": run.config.recipe.name,
        "processes": run.info.world_size,
    }
