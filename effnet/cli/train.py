"""``effnet train``: train an EfficientNet with the paper's recipe (§5.2) or the small preset.

With no arguments: the built-in demo data, a compound-scaled-down B0 (φ = -4) at 64 px and the
``small`` preset. ``torchrun --nproc_per_node N -m effnet train ...`` runs data-parallel, with
the conventions of timm's and torchvision's ``train.py``: ``--batch-size`` per process,
``--sync-bn``, ``--clip-grad``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from effnet.cli import validate
from effnet.cli.config_file import add_config_option
from effnet.cli.options import (
    AMP_OFF,
    add_runtime_options,
    add_weights_options,
    deprecated,
    names_published,
)
from effnet.train.recipe import RECIPES, recipe_defaults
from effnet.types import NanPolicy, OptimizerName, ScheduleName, choices


def _from_recipe(field: str) -> str:
    return f"default: the recipe's ({recipe_defaults(field)})"


def _crop_scale(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LO,HI (e.g. 0.08,1), got {text!r}") from None
    if not 0 < lo <= hi <= 1:
        raise argparse.ArgumentTypeError(f"need 0 < LO <= HI <= 1, got {text!r}")
    return lo, hi


def _progressive(text: str) -> tuple[float, float | None]:
    """``off`` or ``START[,RAMP]`` (fractions; ``off`` is start 1: every epoch at full size)."""
    if text == "off":
        return 1.0, None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2) or not 0 < values[0] <= 1 or not 0 < values[-1] <= 1:
        raise argparse.ArgumentTypeError(
            f"expected off or START[,RAMP], fractions in (0, 1] (e.g. 0.5,0.6), got {text!r}"
        )
    return values[0], values[1] if len(values) == 2 else None


def _probability(text: str) -> float:
    """A probability in [0, 1]."""
    value = validate.finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text!r}")
    return value


def _loggers(text: str) -> tuple[str, ...]:
    """``csv,tensorboard,mlflow,wandb`` (any of them) or ``none``."""
    return () if text == "none" else tuple(n.strip() for n in text.split(",") if n.strip())


def _milestones(text: str) -> tuple[float, ...]:
    """``E1,E2,...``: increasing epochs."""
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or any(b <= a for a, b in zip(values, values[1:])) or values[0] <= 0:
        raise argparse.ArgumentTypeError(f"expected increasing epochs E1,E2,..., got {text!r}")
    return values


def _alpha(text: str) -> float:
    """A Beta-distribution parameter >= 0 (0: off)."""
    value = validate.finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _rate(text: str) -> float:
    """A probability-like rate in [0, 1) (dropout, drop-path, label smoothing)."""
    value = validate.finite_float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text!r}")
    return value


def _model(name: str | None, phi: float | None) -> Any:
    """``--model`` / ``--phi`` as a registered name, a spec, or ``None`` (the default)."""
    from effnet.train import build

    model: Any = name
    if name is not None and name.endswith(".json"):
        model = build.read_spec_file(name)
    if phi is not None:
        model = build.scaled_spec(model if model is not None else build.DEFAULT_BASE, phi)
    return model


def add_train_args(p: argparse.ArgumentParser, *, finetune: bool = False) -> None:
    """The options shared by ``train`` and ``finetune``."""
    add_config_option(p)
    p.add_argument(
        "--data",
        default="demo",
        help="'demo', a folder with train/<class>/ [+ val/], or CIFAR",
    )
    if finetune:
        add_weights_options(
            p,
            weights_help="weights to start from: best.safetensors or another library's file "
            "(--source gives the layout); or --pretrained",
        )
        deprecated(p, "--from", "--weights", "weights")
    else:
        add_weights_options(
            p,
            weights_help="start from these weights (a new head if the class count differs; "
            "--source gives the layout)",
            model_help="registered model name (effnet list) or a spec .json file "
            "(NetworkSpec.to_json()); default: B0 compound-scaled down, phi=-4",
        )
        deprecated(p, "--init-from", "--weights", "weights")
        p.add_argument(
            "--phi",
            type=validate.phi,
            default=None,
            help="compound-scale --model (default B0) by phi: depth 1.2^phi, width 1.1^phi, "
            "resolution 1.15^phi (a recipe with a fixed resolution keeps its own)",
        )
    p.add_argument(
        "--recipe",
        choices=tuple(RECIPES),
        default=None,
        help="hyper-parameter preset; every recipe override below defaults to it (default: "
        + ("finetune" if finetune else "small")
        + "; with --resume the saved run's)",
    )
    p.add_argument("--out", default=None, help="output folder (default: runs/<model>-<time>)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/last.ckpt with the saved run's settings (runtime flags such as "
        "--workers, --device, --amp apply; others that differ from the saved ones are refused)",
    )
    g = p.add_argument_group("recipe overrides")
    g.add_argument(
        "--epochs",
        type=validate.positive_int,
        default=None,
        help="epochs to train (with --resume: the total to train to, extending or shortening "
        f"the saved run); {_from_recipe('epochs')}",
    )
    g.add_argument(
        "--lr",
        type=float,
        default=None,
        help="absolute learning rate (default: the recipe's per-256 LR x global batch/256: "
        f"{recipe_defaults('lr_per_256')})",
    )
    g.add_argument(
        "--optimizer",
        "--opt",
        choices=choices(OptimizerName),
        default=None,
        help=_from_recipe("optimizer"),
    )
    g.add_argument(
        "--sched",
        choices=choices(ScheduleName),
        default=None,
        help="LR schedule after the warmup (step is the staircase; plateau follows minival "
        "top-1; timm's names); " + _from_recipe("schedule"),
    )
    g.add_argument(
        "--min-lr",
        type=validate.nonnegative_float,
        default=None,
        help="the lowest LR after the warmup (not for staircase); default: 0",
    )
    g.add_argument(
        "--decay-epochs",
        type=validate.positive_float,
        default=None,
        help="step / staircase period in epochs; " + _from_recipe("decay_epochs"),
    )
    g.add_argument(
        "--decay-rate",
        type=_probability,
        default=None,
        help="LR factor of each step / milestone / epoch (exponential) / plateau "
        "(timm's default for plateau: 0.1); " + _from_recipe("decay_rate"),
    )
    g.add_argument(
        "--patience-epochs",
        type=validate.nonnegative_int,
        default=None,
        metavar="N",
        help="plateau: lower the LR by --decay-rate once minival top-1 has not improved for "
        "more than N epochs (torch's ReduceLROnPlateau; timm's --patience-epochs); default: 10",
    )
    g.add_argument(
        "--decay-milestones",
        type=_milestones,
        default=None,
        metavar="E1,E2,...",
        help="epochs at which multistep multiplies the LR by --decay-rate",
    )
    g.add_argument(
        "--layer-decay",
        type=_probability,
        default=None,
        metavar="F",
        help="LR x F per stage from the head down (timm's --layer-decay); default: off",
    )
    g.add_argument(
        "--weight-decay",
        type=validate.nonnegative_float,
        default=None,
        help=_from_recipe("weight_decay"),
    )
    g.add_argument(
        "--warmup-epochs",
        type=validate.nonnegative_float,
        default=None,
        help=_from_recipe("warmup_epochs"),
    )
    g.add_argument(
        "--label-smoothing", type=_rate, default=None, help=_from_recipe("label_smoothing")
    )
    g.add_argument(
        "--ema-decay",
        type=_rate,
        default=None,
        help=f"0 disables the EMA; {_from_recipe('ema_decay')}",
    )
    g.add_argument(
        "--ema-bn-batches",
        type=validate.nonnegative_int,
        default=None,
        help="recompute the EMA's BN statistics from N train batches before each evaluation; "
        + _from_recipe("ema_bn_batches"),
    )
    g.add_argument(
        "--augment",
        default=None,
        metavar="POLICY",
        help="none, autoaugment, randaugment (rand-mM-nN, e.g. rand-m9-n2), trivialaugment or "
        "augmix (augmix-mM-wW-dD); timm's --aa spellings; " + _from_recipe("augment"),
    )
    g.add_argument(
        "--reprob",
        type=_probability,
        default=None,
        help="random-erasing probability (torchvision's RandomErasing); default: 0",
    )
    g.add_argument(
        "--mixup",
        type=_alpha,
        default=None,
        metavar="ALPHA",
        help="MixUp of train batches with Beta(ALPHA, ALPHA) (torchvision's v2.MixUp; "
        "train top-1 is then not reported); default: 0, off",
    )
    g.add_argument(
        "--cutmix",
        type=_alpha,
        default=None,
        metavar="ALPHA",
        help="CutMix of train batches (torchvision's v2.CutMix); default: 0, off",
    )
    g.add_argument(
        "--mixup-prob",
        type=_probability,
        default=None,
        metavar="P",
        help="share of batches mixed when --mixup / --cutmix are on; default: 1",
    )
    g.add_argument(
        "--mixup-switch-prob",
        type=_probability,
        default=None,
        metavar="P",
        help="with both on, share of mixed batches given CutMix; default: 0.5",
    )
    g.add_argument(
        "--crop-scale",
        type=_crop_scale,
        default=None,
        metavar="LO,HI",
        help="random-area crop range; " + _from_recipe("crop_scale"),
    )
    g.add_argument(
        "--resolution",
        type=validate.resolution,
        default=None,
        help=_from_recipe("resolution"),
    )
    g.add_argument(
        "--eval-crop",
        type=validate.crop_fraction,
        default=None,
        help="minival/val centre-crop fraction (stored with the weights); "
        + _from_recipe("eval_crop")
        + ", the model's: res/(res+32) as the paper",
    )
    g.add_argument(
        "--patience",
        type=validate.positive_int,
        default=None,
        help="early-stopping patience in epochs (default: never stop early)",
    )
    g.add_argument(
        "--progressive",
        type=_progressive,
        default=None,
        metavar="off|START[,RAMP]",
        help="progressive resizing: train the first epoch at START x the resolution, growing "
        "to the full one at RAMP of the run (evaluation always at full size); default: off",
    )
    g.add_argument(
        "--progressive-dropout",
        type=_rate,
        default=None,
        metavar="START",
        help="progressive regularisation (EfficientNetV2 §4): dropout starts at START and "
        "rises with the image size to the model's (V2's official start: 0.1); default: fixed",
    )
    g.add_argument(
        "--progressive-magnitude",
        type=validate.positive_int,
        default=None,
        metavar="START",
        help="with --augment randaugment: its magnitude starts at START and rises with the "
        "image size to 9 (V2's official start: 5); default: fixed",
    )
    g.add_argument(
        "--drop-rate",
        type=_rate,
        default=None,
        help="dropout before the classifier (default: the model's, the official table's)",
    )
    g.add_argument(
        "--drop-path-rate",
        type=_rate,
        default=None,
        help="stochastic depth; " + _from_recipe("drop_path_rate"),
    )
    r = p.add_argument_group("run")
    r.add_argument(
        "--seed", type=validate.nonnegative_int, default=0, help="seed of the split, init and order"
    )
    add_runtime_options(
        r,
        batch_size=None,
        batch_help="batch size per process, as in timm's and torchvision's train.py; the global "
        "batch is this x processes x --accum-steps (printed at the start); "
        + _from_recipe("batch_size")
        + ", split over the processes --procs starts",
    )
    r.add_argument(
        "--procs",
        type=validate.positive_int,
        default=None,
        metavar="N",
        help="training processes to start on this machine, joined by DDP as torchrun joins "
        "them, each with cores/N threads (default: 2 on a CPU with 2 or more cores, where two "
        "1-thread processes train small networks faster than one; else 1; under torchrun "
        "the processes it started)",
    )
    r.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="channels-last memory format (faster on CPU and on GPU)",
    )
    r.add_argument(
        "--preload",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="decode a small train split once into memory and crop it a batch at a time "
        "(with --augment none, up to 2 GiB of images; default: off, per-image PIL crops)",
    )
    r.add_argument("--compile", action="store_true", help="torch.compile the model")
    r.add_argument(
        "--log",
        type=_loggers,
        default=("csv",),
        metavar="LIST",
        help="experiment loggers, comma-separated: csv (metrics.csv), tensorboard "
        "(OUT/tensorboard; pip install effnet[tensorboard]), mlflow (to MLFLOW_TRACKING_URI, "
        "experiment MLFLOW_EXPERIMENT_NAME or effnet; effnet[mlflow]), wandb (WANDB_MODE, "
        "WANDB_PROJECT or effnet; effnet[wandb]); none for metrics.jsonl alone (default: csv)",
    )
    r.add_argument(
        "--keep-last",
        type=validate.nonnegative_int,
        default=0,
        metavar="K",
        help="keep the weights of the last K epochs (epoch-N.safetensors) for effnet average",
    )
    r.add_argument(
        "--accum-steps",
        type=validate.positive_int,
        default=1,
        help="gradient accumulation: micro-batches per optimizer step",
    )
    r.add_argument(
        "--sync-bn",
        action="store_true",
        help="BatchNorm statistics over all processes (torch.nn.SyncBatchNorm, CUDA only); "
        "a no-op with one process",
    )
    r.add_argument(
        "--clip-grad",
        type=validate.positive_float,
        default=None,
        metavar="NORM",
        help="clip the global gradient norm to NORM before each optimizer step",
    )
    r.add_argument(
        "--minival-size",
        type=validate.nonnegative_float,
        default=0.1,
        help="fraction (<1) or count of train images held out",
    )
    r.add_argument(
        "--nan-policy",
        choices=choices(NanPolicy),
        default="stop",
        help="on a NaN/Inf loss: stop (keeping the last good checkpoint) or skip the batch",
    )
    r.add_argument("--strict", action="store_true", help="unreadable images are an error")
    r.add_argument("--no-progress", action="store_true", help="no progress bars")


def _recipe(args: argparse.Namespace, *, finetune: bool) -> Any:
    """The recipe the flags ask for. With ``--resume`` the base is ``TrainConfig``'s default
    (the saved run's recipe applies: only flags given explicitly are checked against it), and
    ``--epochs`` goes to ``resume_epochs`` instead."""
    import dataclasses

    from effnet.train.config import TrainConfig
    from effnet.train.recipe import get_recipe

    if args.resume and args.recipe is None:
        recipe = TrainConfig.recipe
    else:
        recipe = get_recipe(args.recipe or ("finetune" if finetune else "small"))
        if finetune and not args.resume:  # the weights' own geometry unless given
            recipe = dataclasses.replace(
                recipe, eval_crop=None, resolution=None, progressive_start=None
            )
    start, ramp = args.progressive or (None, None)
    return recipe.replace(
        progressive_start=start,
        progressive_ramp=ramp,
        epochs=None if args.resume else args.epochs,
        batch_size=args.batch_size,
        optimizer=args.optimizer,
        weight_decay=args.weight_decay,
        warmup_epochs=args.warmup_epochs,
        label_smoothing=args.label_smoothing,
        ema_decay=args.ema_decay,
        ema_bn_batches=args.ema_bn_batches,
        augment=args.augment,
        progressive_dropout=args.progressive_dropout,
        reprob=args.reprob,
        schedule=args.sched,
        min_lr=args.min_lr,
        decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate,
        decay_milestones=args.decay_milestones,
        layer_decay=args.layer_decay,
        plateau_patience=args.patience_epochs,
        mixup_alpha=args.mixup,
        cutmix_alpha=args.cutmix,
        mixup_prob=args.mixup_prob,
        mixup_switch_prob=args.mixup_switch_prob,
        progressive_magnitude=args.progressive_magnitude,
        crop_scale=args.crop_scale,
        resolution=args.resolution,
        eval_crop=args.eval_crop,
        patience=args.patience,
    )


def config_from_args(args: argparse.Namespace, *, finetune: bool = False) -> Any:
    """A :class:`~effnet.train.config.TrainConfig` from parsed arguments.

    With ``--resume``, ``--epochs`` is the total to train to (``resume_epochs``); every other
    flag either applies (runtime settings) or, if it differs from the saved run's, is refused
    (see :func:`effnet.train.config.restore_config`).
    """
    from effnet.train.config import TrainConfig
    from effnet.train.distributed import wants_cuda

    amp: Any = args.amp
    if amp is None and not args.resume:  # a resumed run keeps its saved precision
        amp = "bf16" if wants_cuda(args.device) else None
    elif amp == AMP_OFF:
        amp = False  # off, also over a resumed run's bf16
    return TrainConfig(
        data=args.data,
        out=args.out,
        model=args.model if finetune else _model(args.model, args.phi),
        recipe=_recipe(args, finetune=finetune),
        lr=args.lr,
        seed=args.seed,
        workers=args.workers,
        device=args.device,
        amp=amp,
        channels_last=args.channels_last,
        preload=args.preload,
        keep_last=args.keep_last,
        log=args.log,
        compile=args.compile,
        accum_steps=args.accum_steps,
        sync_bn=args.sync_bn,
        clip_grad=args.clip_grad,
        minival_size=args.minival_size,
        resume=args.resume,
        init_from=args.weights,
        init_source=args.source,
        freeze_backbone=getattr(args, "freeze_backbone", False),
        nan_policy=args.nan_policy,
        strict=args.strict,
        drop_rate=args.drop_rate,
        drop_path_rate=args.drop_path_rate,
        progress=not args.no_progress,
        resume_epochs=args.epochs if args.resume else None,
    )


def init_weights(args: argparse.Namespace) -> None:
    """``--pretrained`` (or ``--model NAME.TAG``): the published file (from its library's
    cache, fetched if missing) as ``--weights`` in its layout, ``--model`` without the tag;
    a Hub repository (``hf-hub:ORG/NAME``) as an effnet file."""
    from effnet.cli import UserError
    from effnet.weights.fetch import published_file
    from effnet.weights.hub import hub_weights_file, is_hub_name
    from effnet.weights.tags import resolve, split_tag

    tagged = names_published(args.model)
    if not args.pretrained and not (tagged and args.weights is None):
        return
    if args.source != "effnet":
        raise UserError("--pretrained sets the layout itself; leave out --source")
    hub = next((n for n in (args.pretrained, args.model) if is_hub_name(n)), None)
    if hub is not None:  # the repository's model as an effnet file; it names the architecture
        args.weights, args.model = str(hub_weights_file(hub)), None
        return
    if args.model is None or args.model.endswith(".json"):
        raise UserError("--pretrained needs --model NAME (a registered name, or NAME.TAG)")
    published = resolve(args.model, True if args.pretrained is None else args.pretrained)
    path, layout = published_file(published)
    args.weights, args.source, args.model = str(path), layout, split_tag(args.model)[0]


def launch_processes(args: argparse.Namespace, *, finetune: bool = False) -> int | None:
    """Start ``--procs`` processes running this command (the recipe's batch split over them
    unless ``-b`` is given) and return their exit status; ``None`` when this process trains.
    Flags are checked and published weights fetched once, before any process starts."""
    from effnet.cli import UserError
    from effnet.data.build import check_data
    from effnet.train.launch import auto_processes, launch, launched
    from effnet.train.loaders import available_cores

    processes = args.procs or auto_processes(args.device)
    if processes == 1 or launched():
        return None
    config = config_from_args(args, finetune=finetune)
    config.validate()  # once, here, rather than in every process
    if not args.resume:
        check_data(config.data)
    argv = list(args.argv)
    if args.batch_size is None and not args.resume:
        batch = config.recipe.batch_size
        if batch % processes:
            raise UserError(
                f"the recipe's batch {batch} does not split over {processes} processes; "
                "give -b (per process) or --procs"
            )
        argv += ["--batch-size", str(batch // processes)]
    threads = os.environ.get("OMP_NUM_THREADS") or max(1, available_cores() // processes)
    print(
        f"{processes} processes of {threads} thread(s), joined by DDP (--procs 1: one process)",
        flush=True,
    )
    return launch(argv, processes)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model (default: the demo data and a small EfficientNet)",
        description="Train with the paper's recipe (--recipe paper: RMSProp TF, LR 0.016/256, "
        "5-epoch warmup, x0.97 every 2.4 epochs, wd 1e-5, label smoothing 0.1, EMA 0.9999) or "
        "the small-data preset (--recipe small). Outputs in --out: metrics.jsonl, last.ckpt, "
        "best.safetensors, classes.json, summary.json, curves.png.",
    )
    add_train_args(p)
    p.set_defaults(run=run)


def train_and_record(args: argparse.Namespace, config: Any, given: argparse.Namespace) -> int:
    """Train ``config``; the first process writes the run's options (``given``: as the
    command gave them) to ``OUT/config.yaml``. Exit status 130 when interrupted."""
    from effnet.cli import UserError
    from effnet.cli.config_file import write_settings
    from effnet.train.loop import train

    try:
        result = train(config)
        if os.environ.get("RANK", "0") == "0":
            write_settings(given, args.verb_parser, result.out)
    except OSError as exc:  # e.g. a full disk while saving: the previous files are intact
        if isinstance(exc, FileNotFoundError):
            raise
        raise UserError(str(exc)) from None
    return 130 if result.interrupted else 0


def run(args: argparse.Namespace) -> int:
    given = argparse.Namespace(**vars(args))  # before --pretrained is resolved to a file
    init_weights(args)
    status = launch_processes(args)
    if status is not None:
        return status
    return train_and_record(args, config_from_args(args), given)
