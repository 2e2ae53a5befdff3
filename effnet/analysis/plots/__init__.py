"""The paper's pictures for the user's own models and data (matplotlib, Agg backend, PNG).

* :func:`plot_cam_grid`: class activation maps of several models over several images, side by
  side, with the predicted class and probability in each panel (Fig. 7).
* :func:`plot_accuracy`: top-1 accuracy against multiply-adds (Fig. 5) or parameters (Fig. 1)
  for evaluated runs; :func:`load_accuracy_point` reads one run (see its docstring for where
  the model name, multiply-adds and parameters are found).
* :func:`plot_scaling`: multiply-adds and parameters against the compound coefficient φ, with
  the (α·β²·γ²)^φ ≈ 2^φ law of §3.3 (and the official B1..B7 where the base is B0; Fig. 8's
  variants are the single-dimension counterparts).
* :func:`plot_curves`: training curves from ``metrics.jsonl``.
* :func:`plot_profile`: the ``effnet profile`` table as bar charts.
* :func:`plot_search`, :func:`plot_sweep`: a search's accuracy against α, β, γ, and
  single-dimension sweeps against multiply-adds (Fig. 3 and 8).

Every function writes one PNG of a fixed pixel size (``figsize * DPI``) and returns its path.
"""

from effnet.analysis.plots.accuracy import AccuracyPoint, load_accuracy_point, plot_accuracy
from effnet.analysis.plots.cam_grid import (
    CAM_ALPHA,
    PANEL_INCHES,
    CamColumn,
    cam_grid_figsize,
    plot_cam_grid,
)
from effnet.analysis.plots.curves import plot_curves, read_metrics
from effnet.analysis.plots.figure import DPI, pyplot, save_figure
from effnet.analysis.plots.profile import plot_profile
from effnet.analysis.plots.scaling import plot_scaling
from effnet.analysis.plots.search import plot_search, plot_sweep

__all__ = [
    "CAM_ALPHA",
    "DPI",
    "PANEL_INCHES",
    "AccuracyPoint",
    "CamColumn",
    "cam_grid_figsize",
    "load_accuracy_point",
    "plot_accuracy",
    "plot_cam_grid",
    "plot_curves",
    "plot_profile",
    "plot_scaling",
    "plot_search",
    "plot_sweep",
    "pyplot",
    "read_metrics",
    "save_figure",
]
