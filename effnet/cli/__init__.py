"""The ``effnet`` command line: ``effnet <verb> ...``.

Every verb lives in its own module ``effnet.cli.<verb>`` exposing ``add_parser(subparsers)``
and ``run(args) -> int``. Verb modules import heavy libraries inside ``run`` so that
``effnet --help`` stays fast. Errors meant for the user are raised as :class:`UserError`
(or ``ValueError`` / ``FileNotFoundError`` from the library) and printed as one line.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

VERBS: tuple[str, ...] = (
    "profile",
    "export",
    "cam",
    "plot",
    "summary",
    "scale",
    "search",
    "train",
    "finetune",
    "eval",
    "predict",
)


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="effnet",
        description="EfficientNet and compound scaling (Tan & Le, ICML 2019).",
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        importlib.import_module(f"effnet.cli.{verb}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("effnet: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, FileNotFoundError, KeyError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"effnet {args.verb}: error: {message}", file=sys.stderr)
        return 2
