"""The options every verb spells the same way, defined once.

Weights: a file (``--weights FILE``, in the layout ``--source``) or published weights
(``--pretrained [LIB[.TAG]]``, or ``--model NAME.TAG``), ``--model`` naming the architecture.
Runtime: ``-b/--batch-size``, ``--device``, ``--amp``, ``--workers``. Inputs: positional, with
a flag spelling accepted too. Old spellings stay as hidden aliases that print one deprecation
line. Nothing here imports torch, so ``effnet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from effnet.types import AmpMode, DeviceName, Source, choices

#: ``--amp none``: no mixed precision.
AMP_OFF = "none"

PRETRAINED_HELP = (
    "published ImageNet weights of --model: alone, the tag in --model NAME.TAG or the model's "
    "default; else a library (torchvision, timm), a tag (ra_in1k, tv_in1k, ...) or LIB.TAG "
    "(effnet list --pretrained lists them); or any Hugging Face Hub repository in timm's or "
    "effnet's format, hf-hub:ORG/NAME[@REVISION] (no --model needed); from the download "
    "cache (fetched once if missing), with their published preprocessing"
)


class HelpFormatter(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless the help already says its default
    or there is none to show (``None``, ``False``)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or not action.option_strings or default is None:
            return text
        if default is argparse.SUPPRESS or (action.nargs == 0 and default is False):
            return text
        if isinstance(action, argparse.BooleanOptionalAction):
            return f"{text} (default: {'on' if default else 'off'})"
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


class RawDescriptionHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """:class:`HelpFormatter` that keeps the description's and epilog's line breaks."""


class DeprecatedAlias(argparse.Action):
    """An old spelling: stores into the new option's ``dest`` and says so on stderr."""

    def __init__(self, option_strings: Sequence[str], dest: str, *, new: str, **kwargs: Any):
        self.new = new
        kwargs.setdefault("help", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        print(f"effnet: {option_string} is deprecated; use {self.new}", file=sys.stderr)
        if isinstance(getattr(namespace, self.dest, None), list) and isinstance(values, list):
            values = [*getattr(namespace, self.dest), *values]
        setattr(namespace, self.dest, values)


def deprecated(p: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs: Any) -> None:
    """Accept ``old`` as a hidden alias of ``new`` (same ``dest``), with a deprecation line."""
    p.add_argument(old, dest=dest, action=DeprecatedAlias, new=new, **kwargs)


def add_weights_options(
    p: argparse.ArgumentParser,
    *,
    many: bool = False,
    weights_help: str | None = None,
    model_help: str | None = None,
) -> None:
    """``--weights`` (repeatable with ``many``), ``--pretrained``, ``--model``, ``--source``;
    at most one of ``--weights`` / ``--pretrained`` unless ``many``."""
    group: Any = p if many else p.add_mutually_exclusive_group()
    group.add_argument(
        "--weights",
        action="append" if many else "store",
        default=None,
        metavar="FILE",
        help=weights_help
        or (
            "weights file (repeat for models side by side; --source gives the layout)"
            if many
            else "best.safetensors or another weights file (--source gives the layout)"
        ),
    )
    group.add_argument(
        "--pretrained",
        nargs="?",
        const=True,
        default=None,
        metavar="LIB[.TAG]",
        help=PRETRAINED_HELP,
    )
    p.add_argument(
        "--model",
        default=None,
        metavar="NAME[.TAG]",
        help=model_help
        or "model name (effnet list): required with --pretrained and for non-effnet --source, "
        "checked against effnet weights; NAME.TAG names published weights",
    )
    p.add_argument(
        "--source",
        choices=choices(Source),
        default="effnet",
        help="layout of --weights files",
    )


def names_published(model: str | None) -> bool:
    """Whether ``--model`` names published weights: ``NAME.TAG`` or ``hf-hub:ORG/NAME``."""
    if model is None or model.endswith(".json"):  # a spec file
        return False
    return "." in model or model.startswith("hf-hub:")


def pretrained_label(args: argparse.Namespace) -> str:
    """How ``--pretrained`` weights are named in output."""
    if args.pretrained in (None, True):
        return str(args.model)
    return f"{args.model} ({args.pretrained})"


def weights_label(args: argparse.Namespace, weights: str | None = None) -> str:
    """How the weights are named in output: the file, or the published model."""
    return weights if weights is not None else pretrained_label(args)


def add_runtime_options(
    p: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    batch_size: int | None,
    batch_help: str = "images per batch",
) -> None:
    """``-b/--batch-size``, ``--workers``, ``--device``, ``--amp``: the same in every verb."""
    from effnet.cli import validate

    p.add_argument(
        "-b",
        "--batch-size",
        type=validate.positive_int,
        default=batch_size,
        help=batch_help,
    )
    p.add_argument(
        "--workers",
        type=validate.nonnegative_int,
        default=None,
        help="DataLoader worker processes per process (default from the cores each process "
        "has: on GPU all but one, at most 16; on CPU 0 up to 2 cores, else a quarter, at most 4)",
    )
    p.add_argument(
        "--device",
        choices=choices(DeviceName),
        default=None,
        help="default: cuda when available, else cpu",
    )
    p.add_argument(
        "--amp",
        nargs="?",
        const="bf16",
        choices=(*choices(AmpMode), AMP_OFF),
        default=None,
        help="mixed precision: bf16 (--amp alone), fp16 (CUDA only) or none; default bf16 on "
        "CUDA, none on CPU",
    )


def amp_mode(amp: str | None, device: str | None) -> str | None:
    """``--amp`` as a mode: ``None`` (off), ``"bf16"`` or ``"fp16"``; unset: bf16 on CUDA."""
    if amp == AMP_OFF:
        return None
    if amp is None:
        from effnet.train.distributed import wants_cuda

        return "bf16" if wants_cuda(device) else None
    return amp


def add_inputs(
    p: argparse.ArgumentParser, dest: str, *, flag: str, metavar: str, help: str, many: bool
) -> None:
    """Positional inputs (``dest``) with the flag spelling ``flag`` accepted too."""
    p.add_argument(dest, nargs="*" if many else "?", metavar=metavar, help=help)
    p.add_argument(
        flag,
        dest=f"{dest}_flag",
        nargs="+" if many else None,
        action="extend" if many else "store",
        metavar=metavar,
        help=argparse.SUPPRESS,
    )


def inputs(args: argparse.Namespace, dest: str, *, flag: str) -> Any:
    """The inputs given positionally or by ``flag`` (a list for many, else one value)."""
    from effnet.cli import UserError

    positional, flagged = getattr(args, dest), getattr(args, f"{dest}_flag")
    if isinstance(positional, list):
        found = [*positional, *(flagged or [])]
        if not found:
            raise UserError(f"give at least one {dest.upper().rstrip('S')} (or {flag})")
        return found
    if positional is not None and flagged is not None and positional != flagged:
        raise UserError(f"give {dest.upper()} once, positionally or as {flag}")
    found = positional if positional is not None else flagged
    if found is None:
        raise UserError(f"give {dest.upper()} (positionally or as {flag})")
    return found
