"""``--config FILE`` for ``train``, ``finetune`` and ``search``: a YAML mapping of the verb's
options (``batch_size`` or ``batch-size``), which the command line overrides; unknown keys are
refused with their names. Every training run writes its own as ``config.yaml``, so
``effnet train --config runs/X/config.yaml --out runs/Y`` repeats it.

timm's ``args.yaml`` (written beside its runs by its ``train.py``) is read too: the keys effnet
has map onto its options (:data:`TIMM_KEYS`), and the others are named in one warning.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from effnet.types import ScheduleName, choices

CONFIG_VERBS = ("train", "finetune", "search")
CONFIG_FILE = "config.yaml"
#: Options a config file does not carry: where a run goes and how it is started.
_NOT_SETTINGS = {"help", "config", "out", "resume", "argv", "verb", "verb_parser", "run"}
#: timm's ``train.py`` argument -> effnet's option (``args.yaml``).
TIMM_KEYS = {
    "model": "model",
    "batch_size": "batch_size",
    "epochs": "epochs",
    "opt": "optimizer",
    "lr": "lr",
    "weight_decay": "weight_decay",
    "warmup_epochs": "warmup_epochs",
    "smoothing": "label_smoothing",
    "mixup": "mixup",
    "cutmix": "cutmix",
    "mixup_prob": "mixup_prob",
    "mixup_switch_prob": "mixup_switch_prob",
    "reprob": "reprob",
    "aa": "augment",
    "drop": "drop_rate",
    "drop_path": "drop_path_rate",
    "seed": "seed",
    "workers": "workers",
    "channels_last": "channels_last",
    "img_size": "resolution",
    "sched": "sched",
    "min_lr": "min_lr",
    "decay_epochs": "decay_epochs",
    "decay_rate": "decay_rate",
    "decay_milestones": "decay_milestones",
    "layer_decay": "layer_decay",
    "patience_epochs": "patience_epochs",
}
_TIMM_ONLY = {"opt", "sched", "smoothing", "aa", "model_ema", "amp_dtype"}
_TIMM_OPTIMIZERS = {
    "adamw": "adamw",
    "rmsproptf": "rmsprop_tf",
    "sgd": "sgd",
    "momentum": "sgd",
    "radam": "radam",
    "nadam": "nadam",
    "adafactor": "adafactor",
}


def config_path(argv: Sequence[str]) -> str | None:
    """The ``--config`` file named in ``argv`` (``--config F`` or ``--config=F``)."""
    for i, word in enumerate(argv):
        if word == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if word.startswith("--config="):
            return word.split("=", 1)[1]
    return None


def add_config_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file of this command's options (a run's config.yaml, or timm's args.yaml); "
        "the command line overrides it",
    )


def _read(path: str) -> dict[str, Any]:
    import yaml

    from effnet.cli import UserError

    file = Path(path)
    if not file.is_file():
        raise UserError(f"--config {path}: no such file")
    try:
        values = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"--config {path}: not YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(values, dict):
        raise UserError(f"--config {path}: expected a mapping of option names to values")
    return values


def _from_timm(values: dict[str, Any]) -> dict[str, Any]:
    """timm's ``args.yaml`` as effnet's options; one warning names what is left out."""
    out: dict[str, Any] = {}
    ignored = []
    for key, value in values.items():
        if key in TIMM_KEYS and value is not None:
            if key == "opt":
                if str(value).lower() not in _TIMM_OPTIMIZERS:
                    ignored.append(f"opt={value}")
                    continue
                value = _TIMM_OPTIMIZERS[str(value).lower()]
            if key == "sched" and value not in choices(ScheduleName):
                ignored.append(f"sched={value}")
                continue
            if key == "img_size" and not isinstance(value, int):
                ignored.append(f"img_size={value}")
                continue
            out[TIMM_KEYS[key]] = value
        elif key == "model_ema":
            if value:
                out["ema_decay"] = values.get("model_ema_decay", 0.9998)
        elif key == "amp":
            out["amp"] = (
                ("fp16" if values.get("amp_dtype") == "float16" else "bf16") if value else "none"
            )
        elif key not in ("model_ema_decay", "amp_dtype") and value not in (None, False, "", 0):
            ignored.append(f"{key}={value}")
    if ignored:
        print(
            f"effnet: timm's args.yaml: not carried over (effnet has no such option or value): "
            f"{', '.join(ignored)}",
            file=sys.stderr,
        )
    return out


def load_settings(path: str, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The options of ``path`` as a namespace for ``parser`` (the verb's), each converted and
    checked as the command line would be."""
    from effnet.cli import UserError

    values = _read(path)
    if _TIMM_ONLY & set(values):
        values = _from_timm(values)
    actions = {a.dest: a for a in parser._actions if a.dest not in _NOT_SETTINGS}
    settings: dict[str, Any] = {}
    unknown = []
    for key, value in values.items():
        dest = str(key).replace("-", "_")
        action = actions.get(dest)
        if action is None:
            unknown.append(str(key))
            continue
        try:
            settings[dest] = _convert(action, value)
        except (argparse.ArgumentTypeError, TypeError, ValueError) as exc:
            raise UserError(f"--config {path}: {key}: {exc}") from None
    if unknown:
        raise UserError(
            f"--config {path}: unknown option(s) for effnet {parser.prog.split()[-1]}: "
            f"{', '.join(unknown)}"
        )
    return argparse.Namespace(**settings)


def _convert(action: argparse.Action, value: Any) -> Any:
    if isinstance(value, str) and action.type is not None and callable(action.type):
        value = action.type(value)
    elif isinstance(value, list) and not isinstance(action, argparse._AppendAction):
        value = tuple(value)
    if action.choices is not None and value is not None and value not in action.choices:
        raise ValueError(f"{value!r} is not one of {', '.join(map(str, action.choices))}")
    return value


def settings_of(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """The options a run used, as ``--config`` reads them back (unset ones left out)."""
    out: dict[str, Any] = {}
    for action in parser._actions:
        dest = action.dest
        if dest in _NOT_SETTINGS or dest == argparse.SUPPRESS or not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        if value is None or action.help == argparse.SUPPRESS:
            continue
        out[dest] = list(value) if isinstance(value, tuple) else value
    return out


def write_settings(args: argparse.Namespace, parser: argparse.ArgumentParser, folder: Path) -> Path:
    """``folder/config.yaml``: the run's options (:func:`settings_of`)."""
    import yaml

    from effnet.files import write_text

    return write_text(folder / CONFIG_FILE, yaml.safe_dump(settings_of(args, parser)))
