"""What a training run is asked to do: the recipe plus everything about the run itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from effnet.train.recipe import SMALL, Recipe


@dataclass
class TrainConfig:
    """A training run.

    Args:
        data: ``"demo"``, a folder (``train/<class>/...`` [+ ``val/``]), a CIFAR folder, or a
            ready :class:`effnet.data.DataBundle`.
        out: output folder (default ``runs/<model>-<timestamp>``).
        model: a registered name, a :class:`effnet.NetworkSpec`, or ``None`` for the default
            small compound-scaled-down EfficientNet (see :mod:`effnet.train.build`).
        recipe: the hyper-parameters (:data:`effnet.train.recipe.SMALL` by default).
        lr: absolute learning rate overriding ``recipe.lr_per_256 * batch / 256``.
        seed: seeds Python, NumPy and torch, the data split and the data order.
        workers: DataLoader worker processes (persistent; pinned memory on GPU); ``None``:
            :func:`effnet.train.loaders.default_workers` for the device.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        amp: ``None``, ``"bf16"`` or ``"fp16"`` (fp16 on CUDA only, with a grad scaler).
        channels_last, compile: memory format and ``torch.compile``.
        accum_steps: micro-batches per optimizer step (``recipe.batch_size`` is the total).
        minival_size: fraction (< 1) or count of train images held out for model selection.
        resume: continue from ``out/last.ckpt``.
        init_from, init_source: start from pretrained weights (a new head if needed).
        freeze_backbone: train only the head (backbone BN statistics frozen too).
        nan_policy: ``"stop"`` (default) or ``"skip"`` a step whose loss is NaN/Inf
            (the run still stops after ``max_skipped`` such steps).
        strict: unreadable images are an error instead of being skipped.
        drop_rate, drop_path_rate: override the variant's dropout / stochastic depth.
        eval_batch_size: batch size for minival/val evaluation.
        progress: show tqdm progress bars.
    """

    data: Any = "demo"
    out: str | None = None
    model: Any = None
    recipe: Recipe = SMALL
    lr: float | None = None
    seed: int = 0
    workers: int | None = None
    device: str | None = None
    amp: str | None = None
    channels_last: bool = False
    compile: bool = False
    accum_steps: int = 1
    minival_size: float = 0.1
    resume: bool = False
    init_from: str | None = None
    init_source: str = "effnet"
    freeze_backbone: bool = False
    nan_policy: str = "stop"
    max_skipped: int = 10
    strict: bool = False
    drop_rate: float | None = None
    drop_path_rate: float | None = None
    eval_batch_size: int = 128
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        """Raise ``ValueError`` for settings that cannot work, before any work is done."""
        r = self.recipe
        if r.batch_size < 1:
            raise ValueError(f"batch size must be >= 1, got {r.batch_size}")
        if r.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {r.epochs}")
        if self.accum_steps < 1:
            raise ValueError(f"accum steps must be >= 1, got {self.accum_steps}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"learning rate must be > 0, got {self.lr}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.minival_size < 0:
            raise ValueError(f"minival size must be >= 0, got {self.minival_size}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ValueError(f"--amp must be bf16 or fp16, got {self.amp!r}")
        if self.nan_policy not in ("stop", "skip"):
            raise ValueError(f"nan policy must be stop or skip, got {self.nan_policy!r}")
        if r.resolution is not None and r.resolution < 8:
            raise ValueError(f"resolution must be >= 8, got {r.resolution}")
        if r.warmup_epochs < 0 or r.weight_decay < 0:
            raise ValueError(
                f"warmup epochs and weight decay must be >= 0, got {r.warmup_epochs}, "
                f"{r.weight_decay}"
            )
        if r.ema_bn_batches < 0:
            raise ValueError(f"EMA BN batches must be >= 0, got {r.ema_bn_batches}")
        if r.eval_crop is not None and not 0 < r.eval_crop <= 1:
            raise ValueError(f"eval crop must be in (0, 1], got {r.eval_crop}")
        if r.patience is not None and r.patience < 1:
            raise ValueError(f"patience must be >= 1, got {r.patience}")

    def run_dir(self, model_name: str) -> Path:
        """``out``, or ``runs/<model>-<YYYYmmdd-HHMMSS>``."""
        if self.out:
            return Path(self.out)
        return Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the checkpoint (a custom dataset / spec is recorded by name)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["recipe"] = self.recipe.to_dict()
        d["data"] = self.data if isinstance(self.data, str) else "<in-memory DataBundle>"
        d["model"] = (
            self.model
            if isinstance(self.model, str | None)
            else getattr(self.model, "name", str(self.model))
        )
        return d


def restore_config(config: TrainConfig, saved: dict[str, Any]) -> TrainConfig:
    """The settings of a saved run (``saved``: its ``TrainConfig.to_dict()``), keeping this
    invocation's runtime-only ones (output, workers, device, compile, progress, data path)."""
    recipe_d = dict(saved["recipe"])
    recipe_d["crop_scale"] = tuple(recipe_d["crop_scale"])
    recipe = Recipe(**recipe_d)
    if "epochs" in config.extra:  # the user asked to extend (or shorten) the run
        recipe = recipe.replace(epochs=int(config.extra["epochs"]))
    keep = {"out", "resume", "workers", "device", "compile", "progress", "extra", "data"}
    values = {k: v for k, v in saved.items() if k not in keep and k not in ("recipe", "model")}
    merged = TrainConfig(**{**config.__dict__, **values, "recipe": recipe})
    if (
        isinstance(saved.get("data"), str)
        and isinstance(config.data, str)
        and config.data in ("demo", saved["data"])
    ):
        merged.data = saved["data"]
    return merged
