"""Everything a run needs before its first step, built from a :class:`TrainConfig`.

:func:`build_run` takes the steps in order: the config (a resumed run's saved settings), the
network spec (or pretrained weights, whose stored resolution and eval crop apply unless the recipe
sets its own, as in ``eval`` and ``predict``), the data (rank 0 first: caches are created once),
the model, the loaders, the optimization (paper §5.2: optimizer, per-step LR schedule, weight EMA,
label-smoothed loss) and, when resuming, the saved states. The random number generators are seeded
at the start and reseeded per process at the end, so a run is reproducible (on CUDA up to the
convolution algorithms ``cudnn.benchmark`` picks, which may differ in their last bits).

Batches follow torchrun's conventions (timm's and torchvision's ``train.py``): each process
takes ``recipe.batch_size`` images per micro-batch, the global batch is that x processes x
accumulation steps, and the learning rate is ``lr_per_256 x global batch / 256``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.distributed as dist
from torch import nn
from torch.optim import Optimizer
from torch.optim.swa_utils import AveragedModel
from torch.utils.data import DataLoader

from effnet.constants import eval_crop_fraction
from effnet.data.augment import parse_augment
from effnet.data.build import DataBundle, build_datasets
from effnet.models.network import Network
from effnet.models.spec import NetworkSpec
from effnet.train import build, checkpoint
from effnet.train.config import TrainConfig, restore_config
from effnet.train.distributed import DistInfo, barrier
from effnet.train.ema import build_ema, effective_decay
from effnet.train.evaluate import amp_dtype
from effnet.train.loaders import PreloadedLoader, default_workers, eval_loader, train_loader
from effnet.train.optim import build_optimizer, param_groups
from effnet.train.schedule import (
    Scheduler,
    build_plateau,
    build_schedule,
    build_scheduler,
    progress_at,
    ramped,
    resolution_at,
    scaled_lr,
)
from effnet.train.state import CKPT_FORMAT, RunState
from effnet.weights.loading import stored_eval_settings


@dataclass
class Run:
    """A run ready to train: what :func:`build_run` returns.

    ``net`` is what the loop calls (``model`` wrapped in DDP and/or ``torch.compile``);
    ``batch`` is this process's micro-batch, ``global_batch`` the images of one optimizer step
    over all processes; ``resumed`` is the state restored from ``last.ckpt`` (``None`` for a
    new run).
    """

    config: TrainConfig
    info: DistInfo
    spec: NetworkSpec
    out: Path
    bundle: DataBundle
    classes: list[str]
    resolution: int
    eval_crop: float
    model: Network
    net: nn.Module
    amp_dtype: torch.dtype | None
    workers: int
    batch: int
    global_batch: int
    train_loader: DataLoader | PreloadedLoader
    minival_loader: DataLoader | None
    steps_per_epoch: int
    base_lr: float
    optimizer: Optimizer
    scheduler: Scheduler
    ema: AveragedModel | None
    ema_decay: float
    scaler: torch.amp.GradScaler | None
    criterion: nn.Module
    resumed: RunState | None = None

    def regularization(self, epoch: int) -> tuple[float | None, int | None]:
        """Dropout and RandAugment magnitude of ``epoch`` (0-based) under progressive
        regularisation (EfficientNetV2 §4), raised with the image size to the model's dropout
        and the recipe's magnitude; ``None`` where the recipe keeps them fixed."""
        recipe = self.config.recipe
        t = progress_at(epoch, recipe.epochs, recipe.progressive_ramp)
        dropout = recipe.progressive_dropout
        magnitude = recipe.progressive_magnitude
        return (
            None if dropout is None else ramped(dropout, self.model.drop_rate, t),
            None if magnitude is None else round(ramped(magnitude, self.final_magnitude, t)),
        )

    @property
    def final_magnitude(self) -> int:
        """The RandAugment magnitude the recipe names (``rand-mM-...``; 9 by default)."""
        return parse_augment(self.config.recipe.augment).magnitude

    def train_resolution(self, epoch: int) -> int:
        """The train resolution of ``epoch`` (0-based): :attr:`resolution`, or less early on
        with progressive resizing."""
        recipe = self.config.recipe
        return resolution_at(
            epoch, recipe.epochs, self.resolution, recipe.progressive_start, recipe.progressive_ramp
        )

    @property
    def eval_model(self) -> nn.Module:
        """The weights evaluated and kept: the EMA's, else the raw ones."""
        return self.ema.module if self.ema is not None else self.model

    def checkpoint(self, state: RunState) -> dict[str, Any]:
        """The ``last.ckpt`` dict: settings, architecture, every state, and ``state``'s
        fields at the top level (the layout of effnet 0.1, ``"format": 1``)."""
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
            **state.to_dict(),
            "rng": checkpoint.rng_state(),
        }


class _Loaders(NamedTuple):
    workers: int
    batch: int
    global_batch: int
    train: DataLoader | PreloadedLoader
    minival: DataLoader | None
    steps_per_epoch: int


class _Optimization(NamedTuple):
    base_lr: float
    optimizer: Optimizer
    scheduler: Scheduler
    ema: AveragedModel | None
    ema_decay: float
    criterion: nn.Module
    scaler: torch.amp.GradScaler | None


def build_run(config: TrainConfig, info: DistInfo) -> Run:
    """Build the run ``config`` asks for on this process (see the module docstring)."""
    cfg, ckpt = _config(config)
    if cfg.sync_bn and info.enabled and info.device.type != "cuda":
        raise ValueError(
            "--sync-bn needs CUDA devices (torch.nn.SyncBatchNorm); leave it out on CPU"
        )
    if info.device.type == "cuda":  # fixed input sizes: let cuDNN time its algorithms once
        torch.backends.cudnn.benchmark = True
    checkpoint.seed_everything(cfg.seed)
    spec, pretrained = _spec(cfg, ckpt)
    stored_res, stored_crop = stored_eval_settings(cfg.init_from) if cfg.init_from else (None, None)
    resolution = int(cfg.recipe.resolution or stored_res or spec.resolution)
    eval_crop = eval_crop_fraction(resolution, cfg.recipe.eval_crop or stored_crop)
    bundle = _data(cfg, info, resolution, eval_crop)
    classes = list(bundle.classes)
    model, head = build.run_model(cfg, spec, len(classes), saved=ckpt, pretrained=pretrained)
    out = _out_dir(cfg, info, model.spec.name)
    out.mkdir(parents=True, exist_ok=True)
    bundle.log_load_skips(out / f"skipped-rank{info.rank}.log")  # decode failures, per process
    model.to(info.device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    dtype = amp_dtype(cfg.amp, info.device)
    loaders = _loaders(cfg, info, bundle)
    opt = _optimization(cfg, model, head, loaders, dtype)
    run = Run(
        config=cfg,
        info=info,
        spec=model.spec,
        out=out,
        bundle=bundle,
        classes=classes,
        resolution=resolution,
        eval_crop=eval_crop,
        model=model,
        net=_wrap(model, cfg, info),
        amp_dtype=dtype,
        workers=loaders.workers,
        batch=loaders.batch,
        global_batch=loaders.global_batch,
        train_loader=loaders.train,
        minival_loader=loaders.minival,
        steps_per_epoch=loaders.steps_per_epoch,
        **opt._asdict(),
    )
    if ckpt is not None:
        run.resumed = _resume(run, ckpt)
    else:  # per-rank dropout and augmentation streams
        checkpoint.seed_everything(cfg.seed + 1000 * info.rank)
    return run


def _config(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any] | None]:
    """``config`` checked, or, when resuming, the saved run's (and its checkpoint)."""
    ckpt = None
    if config.resume:
        if not config.out:
            raise ValueError("--resume needs --out DIR (the run folder holding last.ckpt)")
        ckpt = checkpoint.load_checkpoint(Path(config.out) / "last.ckpt")
        config = restore_config(config, ckpt["config"])
    config.validate()
    return config, ckpt


def _spec(cfg: TrainConfig, ckpt: dict[str, Any] | None) -> tuple[NetworkSpec, Network | None]:
    """The architecture: the checkpoint's, the pretrained weights' (loaded, returned too), or
    the config's model at the recipe's resolution."""
    if ckpt is not None:
        return NetworkSpec.from_json(ckpt["spec"]), None
    if cfg.init_from:
        pretrained = build.load_init(
            cfg.init_from,
            source=cfg.init_source,
            model_name=cfg.model if isinstance(cfg.model, str) else None,
        )
        return pretrained.spec, pretrained
    return build.resolve_spec(cfg.model, cfg.recipe.resolution), None


def _data(cfg: TrainConfig, info: DistInfo, resolution: int, eval_crop: float) -> DataBundle:
    """The data bundle; rank 0 builds it first (the demo set and caches are created once)."""
    if not info.is_main:
        barrier(info)
    if isinstance(cfg.data, str):
        minival: float | int = int(cfg.minival_size) if cfg.minival_size >= 1 else cfg.minival_size
        bundle = build_datasets(
            cfg.data,
            resolution=resolution,
            minival_size=minival,
            augment=cfg.recipe.augment,
            reprob=cfg.recipe.reprob,
            seed=cfg.seed,
            strict=cfg.strict,
            crop_scale=cfg.recipe.crop_scale,
            eval_crop=eval_crop,
            preload_train=cfg.preload,
            progress=cfg.progress and info.is_main,
        )
    else:
        bundle = cfg.data
    if info.is_main:
        barrier(info)
    return bundle


def _out_dir(cfg: TrainConfig, info: DistInfo, name: str) -> Path:
    """The run folder; every process agrees on rank 0's (one timestamp)."""
    out = cfg.run_dir(name)
    if info.enabled:
        holder = [str(out)]
        dist.broadcast_object_list(holder, src=0)
        out = Path(holder[0])
    return out


def _loaders(cfg: TrainConfig, info: DistInfo, bundle: DataBundle) -> _Loaders:
    """Training loader (:meth:`TrainConfig.batches` per micro-batch) and the minival one,
    both with the run's workers."""
    workers = cfg.workers if cfg.workers is not None else default_workers(info.device)
    batch, global_batch = cfg.batches(info.world_size)
    train = train_loader(
        bundle.train,
        batch_size=batch,
        info=info,
        seed=cfg.seed,
        workers=workers,
        # workers made anew each epoch take the epoch's RandAugment magnitude with them
        persistent=cfg.recipe.progressive_magnitude is None,
    )
    minival = None
    if bundle.minival is not None and len(bundle.minival):
        minival = eval_loader(
            bundle.minival, batch_size=cfg.eval_batch_size, info=info, workers=workers
        )
    train.sampler.set_epoch(0)  # type: ignore[attr-defined]
    steps = len(train) // cfg.accum_steps
    if steps < 1:
        raise ValueError(
            f"{len(bundle.train)} training images are fewer than one step needs "
            f"({global_batch} per step: {batch} per process x {info.world_size} process(es) "
            f"x {cfg.accum_steps} accum step(s)); lower --batch-size"
        )
    return _Loaders(workers, batch, global_batch, train, minival, steps)


def _optimization(
    cfg: TrainConfig,
    model: Network,
    head: set[int] | None,
    loaders: _Loaders,
    dtype: torch.dtype | None,
) -> _Optimization:
    """Optimizer, per-step LR schedule, weight EMA, loss and fp16 scaler (paper §5.2); the LR
    scales with the global batch."""
    recipe, steps_per_epoch = cfg.recipe, loaders.steps_per_epoch
    base_lr = cfg.lr
    if base_lr is None:
        base_lr = scaled_lr(recipe.lr_per_256, loaders.global_batch)
    groups = param_groups(
        model,
        recipe.weight_decay,
        head_params=head,
        backbone_lr_scale=recipe.backbone_lr_scale if head else 1.0,
        layer_decay=recipe.layer_decay,
    )
    optimizer = build_optimizer(recipe.optimizer, groups, base_lr)
    schedule = build_schedule(
        recipe.schedule,
        steps_per_epoch=steps_per_epoch,
        epochs=recipe.epochs,
        warmup_epochs=recipe.warmup_epochs,
        decay_epochs=recipe.decay_epochs,
        decay_rate=recipe.decay_rate,
        milestones=recipe.decay_milestones,
        floor=recipe.min_lr / base_lr,
    )
    if recipe.schedule == "plateau":
        if loaders.minival is None:
            raise ValueError(
                "the plateau schedule follows minival top-1, and this run has no minival "
                "images: raise --minival-size or pick another --sched"
            )
        scheduler: Scheduler = build_plateau(
            optimizer,
            steps_per_epoch=steps_per_epoch,
            warmup_epochs=recipe.warmup_epochs,
            factor=recipe.decay_rate,
            patience=recipe.plateau_patience,
            floor=recipe.min_lr / base_lr,
        )
    else:
        scheduler = build_scheduler(optimizer, schedule)
    total_steps = steps_per_epoch * recipe.epochs
    ema_decay = 0.0
    if recipe.ema_decay > 0:
        ema_decay = effective_decay(recipe.ema_decay, total_steps, recipe.ema_horizon_fraction)
    return _Optimization(
        base_lr=base_lr,
        optimizer=optimizer,
        scheduler=scheduler,
        ema=build_ema(model, ema_decay) if ema_decay > 0 else None,
        ema_decay=ema_decay,
        criterion=nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing),
        scaler=torch.amp.GradScaler("cuda") if dtype == torch.float16 else None,
    )


def _wrap(model: nn.Module, cfg: TrainConfig, info: DistInfo) -> nn.Module:
    """``model`` in DDP (several processes; its BatchNorms made :class:`nn.SyncBatchNorm` in
    place with ``sync_bn``, after the EMA copied them) and ``torch.compile`` (if asked)."""
    net = model
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        if cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            net = model
        dev = info.device
        net = DDP(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)  # type: ignore[assignment]
    return net


def _resume(run: Run, ckpt: dict[str, Any]) -> RunState:
    """Load the saved states into ``run``'s objects and the RNGs; the saved progress."""
    run.model.load_state_dict(ckpt["model"])
    if run.ema is not None and ckpt["ema"] is not None:
        run.ema.load_state_dict(ckpt["ema"])
    run.optimizer.load_state_dict(ckpt["optimizer"])
    run.scheduler.load_state_dict(ckpt["scheduler"])
    if run.scaler is not None and ckpt.get("scaler"):
        run.scaler.load_state_dict(ckpt["scaler"])
    state = RunState.from_dict(ckpt)
    if run.info.world_size == 1:
        checkpoint.set_rng_state(ckpt["rng"])
    else:  # the saved RNG state is rank 0's: derive a fresh stream per process and step
        checkpoint.seed_everything(run.config.seed + 1000 * run.info.rank + 7919 * state.step)
    return state
