"""The ``effnet`` command line: ``effnet <verb> ...``.

Every verb lives in its own module ``effnet.cli.<verb>`` exposing ``add_parser(subparsers)``
and ``run(args) -> int``. Verb modules import heavy libraries inside ``run`` so that
``effnet --help`` stays fast. Errors meant for the user are raised as :class:`UserError`
(or ``ValueError`` / ``OSError`` from the library) and printed as one line, exit status 2;
a bad option is one line too (also status 2). Anything else is a bug: one line naming it, exit
status 1, and the traceback with ``EFFNET_TRACEBACK=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from effnet.cli.config_file import CONFIG_VERBS, load_settings

VERBS: tuple[str, ...] = (
    "list",
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
    "push",
    "average",
    "data",
)


class UserError(Exception):
    """An error caused by the user's input; printed without a traceback."""


#: Verbs whose module is not named after them (``list`` is a builtin).
_MODULES = {"list": "listing"}


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block) pointing at its own
    help, and whose help shows the defaults; sub-parsers too."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        from effnet.cli.options import HelpFormatter

        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _version() -> str:
    """The installed package's version, read without importing torch."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("effnet")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="effnet",
        description="EfficientNet and compound scaling (Tan & Le, ICML 2019).",
    )
    parser.add_argument(
        "--version", action="version", version=f"effnet {_version()}", help="print the version"
    )
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        importlib.import_module(f"effnet.cli.{_MODULES.get(verb, verb)}").add_parser(sub)
    for verb_parser in sub.choices.values():
        verb_parser.set_defaults(verb_parser=verb_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(words)
    if getattr(args, "config", None) and args.verb in CONFIG_VERBS and not unknown:
        try:  # the file's options, then the command line's over them
            given = load_settings(args.config, args.verb_parser)
        except UserError as exc:
            print(f"effnet {args.verb}: error: {exc}", file=sys.stderr)
            return 2
        verb_words = words[words.index(args.verb) + 1 :]
        args, unknown = args.verb_parser.parse_known_args(verb_words, namespace=given)
        args.verb = args.verb_parser.prog.split()[-1]
    if unknown:  # refused by the verb's parser, so the message points at the verb's help
        args.verb_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.argv = words  # for verbs that start processes
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("effnet: interrupted", file=sys.stderr)
        return 130
    except (UserError, ValueError, OSError, KeyError, RuntimeError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"effnet {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, unless asked for the traceback
        if os.environ.get("EFFNET_TRACEBACK"):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(
            f"effnet {args.verb}: internal error: {type(exc).__name__}: {first} "
            "(run with EFFNET_TRACEBACK=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 1
