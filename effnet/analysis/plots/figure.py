"""Figure plumbing shared by every chart: the Agg backend, the DPI, atomic PNG writes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from effnet.files import atomic_write

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 100


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float = DPI) -> Path:
    """Write ``fig`` as a PNG (creating folders; atomically: a kill leaves the old file or the
    new one) and close it; returns the path."""
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        pyplot().close(fig)
