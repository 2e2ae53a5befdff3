"""argparse ``type=`` validators shared by the verbs: a bad number or path is refused while the
command line is parsed, as one line naming the option, before any work is done.

Each function takes the raw text and returns the parsed value or raises
``argparse.ArgumentTypeError`` (argparse prefixes the option name).
"""

from __future__ import annotations

import argparse
import math

#: Compound-scaling exponents accepted on the command line. B7 is about φ = 6.7 (the released
#: table rounds it); φ beyond ±16 builds networks of hundreds of blocks at thousands of pixels
#: (or below B0's smallest widths), which no command can usefully summarise, plot or train.
PHI_RANGE: tuple[float, float] = (-16.0, 16.0)


def _number(text: str, kind: type) -> float:
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def finite_float(text: str) -> float:
    """Any finite number (no ``nan`` / ``inf``)."""
    return float(_number(text, float))


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (batch sizes, epochs, counts, threads)."""
    value = int(_number(text, int))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (e.g. a class count where 0 means 'no classifier')."""
    value = int(_number(text, int))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def resolution(text: str) -> int:
    """An input resolution in pixels, at least 8 (the smallest a spec accepts)."""
    value = int(_number(text, int))
    if value < 8:
        raise argparse.ArgumentTypeError(f"must be at least 8 pixels, got {text!r}")
    return value


EVAL_CROP_HELP = (
    "eval centre-crop fraction of the shorter side (default: the one stored with the weights, "
    "else the paper's res/(res+32))"
)


def crop_fraction(text: str) -> float:
    """An eval crop fraction in (0, 1] (side of the centre crop / shorter image side)."""
    value = finite_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text!r}")
    return value


def phi(text: str) -> float:
    """A compound-scaling exponent φ: finite, within :data:`PHI_RANGE` (negative scales down)."""
    value = finite_float(text)
    lo, hi = PHI_RANGE
    if not lo <= value <= hi:
        raise argparse.ArgumentTypeError(f"phi must be in [{lo:g}, {hi:g}], got {text!r}")
    return value


MAX_PHIS = 1000  # values one --phis may expand to


def phis(text: str) -> list[float]:
    """Compound-scaling exponents: a comma list ``0,1.5,-2`` or an inclusive range ``0:7``,
    ``-2:2:0.5`` (start:stop[:step]); ``0..7`` is read as ``0:7``. Each within ``PHI_RANGE``."""
    spec = text.replace("..", ":")
    try:
        if ":" in spec:
            parts = [float(p) for p in spec.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            start, stop, step = (*parts, 1.0) if len(parts) == 2 else parts
            if step <= 0:
                raise ValueError
            n = int(round((stop - start) / step))
            if n > MAX_PHIS:
                raise argparse.ArgumentTypeError(f"{text!r} gives over {MAX_PHIS} values")
            values = [round(start + i * step, 10) for i in range(n + 1)]
        else:
            values = [float(p) for p in spec.split(",") if p.strip()]
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(
            f"expected a comma list (0,1,2) or a range (0:7 or -2:2:0.5), got {text!r}"
        ) from None
    lo, hi = PHI_RANGE
    if not values or not all(math.isfinite(v) and lo <= v <= hi for v in values):
        raise argparse.ArgumentTypeError(f"needs values in [{lo:g}, {hi:g}], got {text!r}")
    return values
