"""Training recipes: the paper's (§5.2) and a documented preset for small data and short runs.

A :class:`Recipe` holds every hyper-parameter of the recipe and nothing about the run (paths,
devices, workers). ``--recipe paper|small`` picks one; individual flags override fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from effnet.types import AugmentName, OptimizerName, ScheduleName


@dataclass(frozen=True)
class Recipe:
    """Hyper-parameters of a training recipe.

    Args:
        name: preset name.
        optimizer: ``"rmsprop_tf"`` (paper), ``"adamw"`` or ``"sgd"``.
        lr_per_256: learning rate per 256 images, scaled linearly with the global batch.
        weight_decay: L2 (RMSProp, SGD) or decoupled (AdamW) decay; never on BN params/biases.
        schedule: ``"staircase"`` (paper), ``"cosine"``, or timm's ``"step"`` (the same
            staircase), ``"multistep"``, ``"exponential"``, ``"constant"``, ``"plateau"``
            (x ``decay_rate`` when minival top-1 stalls for more than ``plateau_patience``
            epochs) (:mod:`effnet.train.schedule`).
        warmup_epochs: linear warmup from 0.
        decay_epochs, decay_rate: the staircase: x ``decay_rate`` every ``decay_epochs``.
        label_smoothing: cross-entropy label smoothing.
        ema_decay: EMA of weights, capped for short runs (see :mod:`effnet.train.ema`);
            0 disables the EMA.
        ema_horizon_fraction: the cap: EMA horizon at most this fraction of all steps.
        progressive_start, progressive_ramp: progressive resizing (EfficientNetV2 §4): the
            first epoch trains at ``progressive_start`` x the resolution, growing linearly
            to the full one at ``progressive_ramp`` of the run
            (:func:`effnet.train.schedule.resolution_at`); evaluation is always at the full
            resolution. ``None``: off.
        progressive_dropout, progressive_magnitude: progressive regularisation (EfficientNetV2
            §4, Algorithm 1), raised with the image size: dropout before the classifier and
            the RandAugment magnitude start at these values and rise to the model's dropout
            the magnitude ``augment`` names (9 for ``randaugment``). ``None``: fixed. V2's official
            settings start at dropout 0.1 and magnitude 5.
        ema_bn_batches: before each evaluation, recompute the EMA model's BN statistics from
            this many training batches (:func:`effnet.train.ema.recalibrate_bn`); 0 keeps the
            averaged statistics, as the official code does.
        epochs: run length.
        batch_size: images per process per micro-batch, as ``--batch-size`` in timm's and
            torchvision's ``train.py``; the global batch, which ``lr_per_256`` scales with, is
            ``batch_size x processes x accum_steps`` (one process, no accumulation: the
            same). Checkpoints saved before batch sizes were per process recorded the global
            one, and resume with it (:attr:`effnet.train.config.TrainConfig.batch_per_process`).
        augment: train-time policy passed to the data pipeline
            (:func:`effnet.data.augment.parse_augment`).
        reprob: random-erasing probability (timm's ``--reprob``).
        min_lr: the lowest LR after warmup (timm's ``--min-lr``; not for ``staircase``).
        decay_milestones: epochs at which ``multistep`` multiplies the LR by ``decay_rate``.
        plateau_patience: epochs without a minival gain before ``plateau`` lowers the LR
            (timm's ``--patience-epochs``; torch's ``ReduceLROnPlateau`` ``patience``).
        layer_decay: LR x this per stage from the head down (timm's ``--layer-decay``).
        mixup_alpha, cutmix_alpha: Beta(alpha, alpha) of MixUp and CutMix on train batches
            (timm's ``--mixup`` / ``--cutmix``; 0: off); ``mixup_prob``: the share of batches
            mixed; ``mixup_switch_prob``: with both on, the share of those given CutMix
            (:mod:`effnet.train.mixing`).
        crop_scale: random-area crop range.
        eval_crop: eval centre-crop side / shorter image side; ``None`` = the paper's
            ``res / (res + 32)``. Stored with the weights, so eval / predict / cam use it too.
        resolution: train/eval resolution; ``None`` = the model's own.
        patience: stop after this many epochs without a minival improvement (``None`` = never).
        backbone_lr_scale: backbone LR relative to the head when fine-tuning.
        bn_momentum: BatchNorm momentum (PyTorch convention) set for training; ``None`` keeps
            the model's (TF's 0.99 decay = 0.01 here, ``batch_norm_momentum`` in the official
            ``efficientnet_builder.py``).
    """

    name: str
    optimizer: OptimizerName
    lr_per_256: float
    weight_decay: float
    schedule: ScheduleName
    warmup_epochs: float
    decay_epochs: float
    decay_rate: float
    label_smoothing: float
    ema_decay: float
    ema_horizon_fraction: float
    epochs: int
    batch_size: int
    augment: AugmentName
    crop_scale: tuple[float, float]
    resolution: int | None
    patience: int | None
    backbone_lr_scale: float
    bn_momentum: float | None = None
    drop_path_rate: float | None = None  # None: the variant's (0.2, official drop_connect_rate)
    zero_init_head: bool = False  # start from zero logits (uniform predictions)
    zero_init_residual: bool = False  # residual blocks start as identities (last BN scale 0)
    eval_crop: float | None = None  # None: res / (res + 32), the official eval crop
    ema_bn_batches: int = 0
    progressive_start: float | None = None  # None: every epoch at the full resolution
    progressive_ramp: float = 0.5
    progressive_dropout: float | None = None
    progressive_magnitude: int | None = None
    reprob: float = 0.0
    min_lr: float = 0.0
    decay_milestones: tuple[float, ...] = ()
    layer_decay: float | None = None
    plateau_patience: int = 10  # timm's --patience-epochs default
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    mixup_prob: float = 1.0
    mixup_switch_prob: float = 0.5

    def replace(self, **changes: object) -> Recipe:
        """A copy with the given fields changed; ``None`` values are ignored."""
        names = {f.name for f in fields(self)}
        unknown = set(changes) - names
        if unknown:
            raise ValueError(f"unknown recipe fields: {sorted(unknown)}")
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        """A one-paragraph human-readable summary, printed at the start of a run."""
        floor = f" (min lr {self.min_lr:g})" if self.min_lr else ""
        sched = {
            "staircase": f"staircase x{self.decay_rate} every {self.decay_epochs} epochs",
            "step": f"step x{self.decay_rate} every {self.decay_epochs} epochs{floor}",
            "multistep": f"x{self.decay_rate} at epochs {list(self.decay_milestones)}{floor}",
            "exponential": f"exponential x{self.decay_rate} per epoch{floor}",
            "constant": "constant",
            "plateau": f"x{self.decay_rate} after {self.plateau_patience} epochs without a "
            f"minival gain{floor}",
            "cosine": f"cosine to {self.min_lr:g}" if self.min_lr else "cosine to 0",
        }[self.schedule]
        return (
            f"recipe {self.name}: {self.optimizer} lr {self.lr_per_256:g}/256 images, "
            f"warmup {self.warmup_epochs:g} epochs, {sched}, weight decay {self.weight_decay:g} "
            f"(not on BN/bias), label smoothing {self.label_smoothing:g}, "
            + (
                f"EMA {self.ema_decay:g} (horizon <= {self.ema_horizon_fraction:g} of the run), "
                if self.ema_decay > 0
                else "no EMA, "
            )
            + f"{self.epochs} epochs at "
            f"batch {self.batch_size}, augment {self.augment}, crop scale {self.crop_scale}, "
            f"resolution {self.resolution or 'of the model'}"
            + (f", BN momentum {self.bn_momentum:g}" if self.bn_momentum is not None else "")
            + (f", drop-path {self.drop_path_rate:g}" if self.drop_path_rate is not None else "")
            + (", zero-initialised head" if self.zero_init_head else "")
            + (", residual blocks start as identities" if self.zero_init_residual else "")
            + (f", eval crop {self.eval_crop:g}" if self.eval_crop is not None else "")
            + (
                f", progressive resizing from {self.progressive_start:g}x over "
                f"{self.progressive_ramp:g} of the run"
                if self.progressive_start is not None
                else ""
            )
            + (
                f", dropout rising from {self.progressive_dropout:g}"
                if self.progressive_dropout is not None
                else ""
            )
            + (
                f", RandAugment magnitude rising from {self.progressive_magnitude}"
                if self.progressive_magnitude is not None
                else ""
            )
            + (f", layer LR decay {self.layer_decay:g}" if self.layer_decay is not None else "")
            + (f", random erasing p={self.reprob:g}" if self.reprob else "")
            + (f", mixup {self.mixup_alpha:g}" if self.mixup_alpha else "")
            + (f", cutmix {self.cutmix_alpha:g}" if self.cutmix_alpha else "")
            + (
                f" (on {self.mixup_prob:g} of batches, cutmix share {self.mixup_switch_prob:g})"
                if self.mixup_alpha or self.cutmix_alpha
                else ""
            )
            + (
                f", EMA BN statistics from {self.ema_bn_batches} batches"
                if self.ema_decay > 0 and self.ema_bn_batches
                else ""
            )
        )


PAPER = Recipe(
    name="paper",
    optimizer="rmsprop_tf",  # §5.2: RMSProp, decay 0.9, momentum 0.9, eps 1e-3 (TF semantics)
    lr_per_256=0.016,  # §5.2 / official code: 0.256 at batch 4096
    weight_decay=1e-5,  # §5.2
    schedule="staircase",
    warmup_epochs=5.0,  # official code
    decay_epochs=2.4,  # §5.2: decays by 0.97 every 2.4 epochs
    decay_rate=0.97,
    label_smoothing=0.1,  # official code
    ema_decay=0.9999,  # official code; the paper evaluates the moving average
    ema_horizon_fraction=0.1,
    epochs=350,  # official code, batch 2048 on TPU
    batch_size=256,  # one-machine default; the LR follows the batch linearly
    augment="autoaugment",  # §5.2: AutoAugment
    crop_scale=(0.08, 1.0),  # Inception-style random-area crop
    resolution=None,  # the variant's resolution (224 for B0 ... 600 for B7)
    patience=None,  # the paper picks the minival-best checkpoint; it does not stop early
    backbone_lr_scale=0.1,
)

# Small data, short runs, CPU: a few thousand low-resolution images, a few minutes. Why each
# choice (chosen on the demo set with the default model):
# * AdamW + cosine converges in a few epochs where RMSProp's 5-epoch warmup and 0.97 staircase
#   would have barely started.
# * Residual blocks start as identities (each one's last BN scale at zero, as timm's
#   ``zero_init_last``): the network starts shallow, and a short run learns several epochs'
#   worth faster; it also takes twice the step size, 6e-3 at batch 64 (the global batch, split
#   over the two processes ``effnet train`` starts on a CPU), which without the identity start
#   learned no faster than 3e-3.
# * 35 epochs: with the identity start and this step size the demo's accuracy levels off
#   before the end, and the main job, ``effnet train``, must finish within minutes on two cores.
# * A mild crop (80-100% of the area) and the whole image at eval: the paper's res/(res+32)
#   keeps only the middle 2/3 of a 64-px image, and the demo's shapes can sit near its edges.
# * No progressive resizing: the demo's dot, grid and checker textures vanish at half the
#   resolution.
# * No EMA: with the LR decayed to zero the last weights are already an average, and the
#   averaged BN statistics of a fast-moving network put the EMA at chance early in the run.
# * BN statistics use PyTorch's momentum 0.1: with TF's 0.01 they need hundreds of steps to
#   settle, a whole short run.
SMALL = Recipe(
    name="small",
    optimizer="adamw",
    lr_per_256=0.024,  # 6e-3 at batch 64
    weight_decay=0.05,  # decoupled (AdamW)
    schedule="cosine",
    warmup_epochs=1.0,
    decay_epochs=2.4,
    decay_rate=0.97,
    label_smoothing=0.1,
    ema_decay=0.0,
    ema_horizon_fraction=0.1,
    epochs=35,
    batch_size=64,
    augment="none",  # random-area crop + flip only
    crop_scale=(0.8, 1.0),
    resolution=64,
    patience=None,
    backbone_lr_scale=0.1,
    bn_momentum=0.1,
    drop_path_rate=0.0,  # regularisation slows a short run more than it helps
    # TF's dense init U(±1/sqrt(classes)) gives large initial logits for few classes; a zero
    # head starts from uniform predictions and learns faster in a short run
    zero_init_head=True,
    zero_init_residual=True,
    eval_crop=1.0,
)

# Fine-tuning pretrained weights: the small preset, shorter (pretrained features adapt in a
# few epochs), at the weights' own resolution and eval crop (``None``: stored with effnet
# weights, published with torchvision's and timm's).
FINETUNE = replace(SMALL, name="finetune", epochs=10, resolution=None, eval_crop=None)

RECIPES: dict[str, Recipe] = {r.name: r for r in (PAPER, SMALL, FINETUNE)}


def recipe_defaults(field: str) -> str:
    """``"small 50, paper 350, finetune 10"``: each preset's value of ``field``, for help."""

    def show(value: object) -> str:
        if value is None:
            return "the model's"
        if isinstance(value, tuple):
            return ",".join(f"{v:g}" for v in value)
        return f"{value:g}" if isinstance(value, float) else str(value)

    return ", ".join(f"{name} {show(getattr(r, field))}" for name, r in RECIPES.items())


def get_recipe(name: str) -> Recipe:
    """The preset called ``name`` (``paper``, ``small`` or ``finetune``)."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"unknown recipe {name!r}; choose from {sorted(RECIPES)}") from None
