"""What a training run is asked to do: the recipe plus everything about the run itself."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from effnet.train.recipe import SMALL, Recipe
from effnet.types import AmpMode, DeviceName, NanPolicy, Source, check_choice


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
        lr: absolute learning rate overriding ``recipe.lr_per_256 * global batch / 256``.
        seed: seeds Python, NumPy and torch, the data split and the data order.
        workers: DataLoader worker processes (persistent; pinned memory on GPU); ``None``:
            :func:`effnet.train.loaders.default_workers` for the device.
        device: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
        amp: ``"bf16"``, ``"fp16"`` (CUDA only, with a grad scaler; its overflow check reads
            the device once per step) or off: ``None`` (on resume: the saved run's) or
            ``False`` (off, on resume too). The command line defaults to bf16 on CUDA.
        channels_last, compile: memory format and ``torch.compile``.
        accum_steps: micro-batches per optimizer step.
        batch_per_process: ``recipe.batch_size`` is the batch of one process per
            micro-batch, as in timm's and torchvision's ``train.py``: the global batch is
            ``batch_size x processes x accum_steps``, and the learning rate scales with it
            (:meth:`batches`). ``False``: ``recipe.batch_size`` is the global batch, split
            over processes and micro-batches, as checkpoints written before this field
            existed recorded it (:func:`saved_config` reads them so).
        sync_bn: BatchNorm statistics over all processes (:class:`torch.nn.SyncBatchNorm`), as
            the official code's ``TpuBatchNormalization`` averages them across TPU replicas
            (``utils.py``); CUDA only, nothing to do on one process.
        clip_grad: clip the global gradient norm to this before each optimizer step
            (after unscaling, with fp16); ``None``: no clipping.
        minival_size: fraction (< 1) or count of train images held out for model selection.
        resume: continue from ``out/last.ckpt`` with the saved run's settings; the runtime
            ones (:data:`RUNTIME_FIELDS`) are this config's (see :func:`restore_config`).
        init_from, init_source: start from pretrained weights (a new head if needed).
        freeze_backbone: train only the head (backbone BN statistics frozen too).
        nan_policy: ``"stop"`` (default) or ``"skip"`` a step whose loss is NaN/Inf
            (the run still stops after ``max_skipped`` such steps).
        strict: unreadable images are an error instead of being skipped.
        drop_rate, drop_path_rate: override the variant's dropout / stochastic depth.
        eval_batch_size: batch size for minival/val evaluation.
        progress: show tqdm progress bars.
        resume_epochs: with ``resume``: train to this many epochs in total instead of the
            saved run's (extend or shorten it).
        preload: with the ``augment="none"`` policy, decode the train split once into memory
            and crop and flip a batch at a time (:mod:`effnet.data.preload`), when it fits
            (2 GiB). Off by default: the small recipe was tuned with per-image decoding.
        log: experiment loggers (:mod:`effnet.train.tracking`): ``csv`` (``metrics.csv``),
            ``tensorboard``; ``()``: none beyond ``metrics.jsonl``.
        keep_last: also keep the weights of the last this many epochs
            (``epoch-<N>.safetensors``, for ``effnet average``); 0: none.
    """

    data: Any = "demo"
    out: str | None = None
    model: Any = None
    recipe: Recipe = SMALL
    lr: float | None = None
    seed: int = 0
    workers: int | None = None
    device: DeviceName | None = None
    amp: AmpMode | Literal[False] | None = None
    channels_last: bool = False
    compile: bool = False
    accum_steps: int = 1
    batch_per_process: bool = True
    sync_bn: bool = False
    clip_grad: float | None = None
    minival_size: float = 0.1
    resume: bool = False
    init_from: str | None = None
    init_source: Source = "effnet"
    freeze_backbone: bool = False
    nan_policy: NanPolicy = "stop"
    max_skipped: int = 10
    strict: bool = False
    drop_rate: float | None = None
    drop_path_rate: float | None = None
    eval_batch_size: int = 128
    progress: bool = True
    resume_epochs: int | None = None
    preload: bool = False
    keep_last: int = 0
    log: tuple[str, ...] = ("csv",)

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
        from effnet.train.tracking import check_loggers

        check_loggers(self.log)
        if self.keep_last < 0:
            raise ValueError(f"keep_last must be >= 0, got {self.keep_last}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        if self.minival_size < 0:
            raise ValueError(f"minival size must be >= 0, got {self.minival_size}")
        if self.clip_grad is not None and not 0 < self.clip_grad < float("inf"):
            raise ValueError(f"gradient clipping norm must be > 0, got {self.clip_grad}")
        if self.amp is not None and self.amp is not False:
            check_choice(AmpMode, self.amp, "amp")
        if self.device is not None:
            check_choice(DeviceName, self.device, "device")
        check_choice(NanPolicy, self.nan_policy, "nan policy")
        check_choice(Source, self.init_source, "init source")
        if self.resume_epochs is not None:
            if not self.resume:
                raise ValueError("resume_epochs applies only when resuming (resume=True)")
            if self.resume_epochs < 1:
                raise ValueError(f"epochs must be >= 1, got {self.resume_epochs}")
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
        from effnet.data.augment import parse_augment

        parse_augment(r.augment)  # an unknown policy: one clear line
        if r.progressive_magnitude is not None and parse_augment(r.augment).kind != "randaugment":
            raise ValueError(
                "a progressive RandAugment magnitude needs augment randaugment "
                f"(--augment randaugment), not {r.augment}"
            )
        if r.progressive_dropout is not None and not 0 <= r.progressive_dropout < 1:
            raise ValueError(f"progressive dropout must be in [0, 1), got {r.progressive_dropout}")
        for name in ("reprob", "mixup_prob", "mixup_switch_prob"):
            if not 0 <= getattr(r, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(r, name)}")
        if r.min_lr < 0 or (r.layer_decay is not None and not 0 < r.layer_decay <= 1):
            raise ValueError(
                f"min lr must be >= 0 and layer decay in (0, 1], got {r.min_lr}, {r.layer_decay}"
            )
        if r.schedule == "plateau" and self.minival_size == 0:
            raise ValueError(
                "the plateau schedule follows minival top-1: it needs a minival "
                "(--minival-size > 0)"
            )
        if r.schedule == "plateau" and not (0 < r.decay_rate < 1 and r.plateau_patience >= 0):
            raise ValueError(
                "the plateau schedule needs a factor 0 < --decay-rate < 1 and "
                f"--patience-epochs >= 0, got {r.decay_rate}, {r.plateau_patience}"
            )
        if r.schedule == "multistep" and not r.decay_milestones:
            raise ValueError("the multistep schedule needs decay milestones (--decay-milestones)")
        if r.mixup_alpha < 0 or r.cutmix_alpha < 0:
            raise ValueError(
                f"mixup / cutmix alpha must be >= 0, got {r.mixup_alpha}, {r.cutmix_alpha}"
            )

    def batches(self, world_size: int) -> tuple[int, int]:
        """``(per process, global)``: the batch each process computes per micro-batch, and
        the images per optimizer step over all processes (which the learning rate follows
        linearly, as in the official ``main.py``). Raises ``ValueError`` when a global
        ``batch_size`` (``batch_per_process=False``) does not split evenly."""
        batch, accum = self.recipe.batch_size, self.accum_steps
        if self.batch_per_process:
            return batch, batch * world_size * accum
        per_process, rem = divmod(batch, world_size * accum)
        if rem or per_process < 1:
            raise ValueError(
                f"batch size {batch} (the global batch of a run saved before batch sizes "
                f"were per process) must be a multiple of processes ({world_size}) x "
                f"accum steps ({accum})"
            )
        return per_process, batch

    def run_dir(self, model_name: str) -> Path:
        """``out``, or ``runs/<model>-<YYYYmmdd-HHMMSS>``."""
        if self.out:
            return Path(self.out)
        return Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values for the checkpoint (a custom dataset / spec is recorded by name)."""
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["recipe"] = self.recipe.to_dict()
        d["data"] = self.data if isinstance(self.data, str) else IN_MEMORY
        d["model"] = (
            self.model
            if isinstance(self.model, str | None)
            else getattr(self.model, "name", str(self.model))
        )
        return d


#: Settings of the invocation, not of the run: when resuming, the caller's values apply (for
#: those in :data:`KEPT_UNLESS_GIVEN`, only when given; otherwise the saved run's).
RUNTIME_FIELDS = frozenset(
    {
        "data",
        "out",
        "resume",
        "workers",
        "device",
        "amp",
        "channels_last",
        "compile",
        "progress",
        "eval_batch_size",
        "strict",
        "resume_epochs",
        "keep_last",
        "log",
    }
)
#: Runtime settings that change what a run computes or tolerates: a resumed run keeps its
#: saved value unless the caller gives another (resuming a bf16 run stays bf16).
KEPT_UNLESS_GIVEN = frozenset({"amp", "eval_batch_size", "strict"})
IN_MEMORY = "<in-memory DataBundle>"  # what to_dict records for a DataBundle


def saved_config(saved: Mapping[str, Any]) -> TrainConfig:
    """The :class:`TrainConfig` a checkpoint recorded (``saved``: its ``to_dict()``); keys
    this version does not know (0.1's ``extra``) are ignored. A config without
    ``batch_per_process`` was saved when ``recipe.batch_size`` was the global batch: it reads
    as ``batch_per_process=False``, so the run resumes with the batches it had."""
    names = {f.name for f in fields(TrainConfig)}
    values = {k: v for k, v in saved.items() if k in names and k != "recipe"}
    values.setdefault("batch_per_process", False)
    recipe_d = dict(saved["recipe"])
    recipe_d["crop_scale"] = tuple(recipe_d["crop_scale"])
    if "decay_milestones" in recipe_d:
        recipe_d["decay_milestones"] = tuple(recipe_d["decay_milestones"])
    return TrainConfig(**values, recipe=Recipe(**recipe_d))


def _default(name: str) -> Any:
    f = next(f for f in fields(TrainConfig) if f.name == name)
    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


def _model_name(model: Any) -> str | None:
    """A model setting by name (a registered name, or a :class:`NetworkSpec`'s ``name``)."""
    if model is None or isinstance(model, str):
        return model
    return getattr(model, "name", str(model))


def _conflicts(given: TrainConfig, saved: TrainConfig) -> list[str]:
    """``"name (saved X, given Y)"`` for each run setting the caller set (away from its
    default) to something other than the saved run's."""
    out = []
    for f in fields(TrainConfig):
        name = f.name
        if name in RUNTIME_FIELDS or name == "recipe":
            continue
        mine, theirs, default = getattr(given, name), getattr(saved, name), _default(name)
        if name == "model":
            mine, theirs, default = _model_name(mine), _model_name(theirs), None
        if mine != default and mine != theirs:
            out.append(f"{name} (saved {theirs!r}, given {mine!r})")
    base = _default("recipe")
    for f in fields(Recipe):
        if f.name == "epochs":  # resume_epochs says how long a resumed run goes on
            continue
        mine, theirs = getattr(given.recipe, f.name), getattr(saved.recipe, f.name)
        if mine != getattr(base, f.name) and mine != theirs:
            out.append(f"recipe.{f.name} (saved {theirs!r}, given {mine!r})")
    return out


def restore_config(config: TrainConfig, saved: Mapping[str, Any]) -> TrainConfig:
    """The config that resumes a saved run (``saved``: its ``TrainConfig.to_dict()``).

    Runtime settings (:data:`RUNTIME_FIELDS`) are ``config``'s (``amp``, ``eval_batch_size``
    and ``strict`` only when given: :data:`KEPT_UNLESS_GIVEN`), the data path the saved one
    unless ``config`` names another, and ``resume_epochs`` replaces the saved epochs. Every
    other setting is the saved run's: one that ``config`` sets to a non-default value other
    than the saved one is refused with a ``ValueError`` naming it, never silently replaced.
    """
    old = saved_config(saved)
    conflicts = _conflicts(config, old)
    if conflicts:
        raise ValueError(
            f"--resume continues the run in {config.out} with its saved settings, but these "
            f"were given other values: {', '.join(conflicts)}; leave them out to resume, or "
            "start a new run with another --out to change them"
        )
    runtime = {
        name: getattr(config, name)
        for name in RUNTIME_FIELDS
        if name not in KEPT_UNLESS_GIVEN or getattr(config, name) != _default(name)
    }
    merged = TrainConfig(**{**old.__dict__, **runtime})
    if config.data == _default("data") and isinstance(old.data, str):
        if old.data == IN_MEMORY:
            raise ValueError(
                f"the run in {config.out} trained on an in-memory DataBundle; pass it as data "
                "to resume"
            )
        merged.data = old.data
    if config.resume_epochs is not None:
        merged.recipe = merged.recipe.replace(epochs=config.resume_epochs)
    return merged
