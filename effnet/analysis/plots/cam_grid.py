"""Fig. 7: class activation maps of several models over several images."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from effnet.analysis.plots.figure import DPI, pyplot, save_figure

if TYPE_CHECKING:
    from PIL import Image

    from effnet.analysis.cam import ImageCam


PANEL_INCHES = 2.4  # one CAM panel
CAM_ALPHA = 0.45


@dataclass(frozen=True)
class CamColumn:
    """One model's maps over the images of a CAM grid.

    Args:
        label: column title (the model, e.g. ``"depth x4"`` or a file name).
        cams: one :class:`~effnet.analysis.cam.ImageCam` per image, in image order.
        class_names: names of the model's classes (default ``"class N"``).
    """

    label: str
    cams: Sequence[ImageCam]
    class_names: Sequence[str] | None = None

    def name(self, index: int) -> str:
        names = self.class_names
        return names[index] if names and 0 <= index < len(names) else f"class {index}"


def cam_grid_figsize(n_images: int, n_models: int) -> tuple[float, float]:
    """Figure size in inches of :func:`plot_cam_grid` (one row per image; the original
    image, then one column per model, then a colour bar)."""
    return (PANEL_INCHES * (n_models + 1) + 0.9, PANEL_INCHES * n_images + 0.9)


def plot_cam_grid(
    images: Sequence[Image.Image],
    columns: Sequence[CamColumn],
    path: str | os.PathLike[str],
    *,
    image_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Path:
    """Fig. 7: each row an image, each column a model; the map over the image in each panel,
    titled with the predicted class and its probability. The dashed square is the eval crop:
    the part of the image the model saw (the map is blank outside it)."""
    if not images or not columns:
        raise ValueError("plot_cam_grid needs at least one image and one model")
    if any(len(c.cams) != len(images) for c in columns):
        raise ValueError("every column needs one map per image")
    plt = pyplot()
    from matplotlib.patches import Rectangle

    n_rows, n_cols = len(images), len(columns) + 1
    fig = plt.figure(figsize=cam_grid_figsize(n_rows, len(columns)), dpi=DPI)
    grid = fig.add_gridspec(
        n_rows,
        n_cols + 1,
        width_ratios=[1] * n_cols + [0.08],
        left=0.02,
        right=1 - 0.75 / fig.get_figwidth(),
        top=1 - 0.85 / fig.get_figheight(),
        bottom=0.02,
        wspace=0.08,
        hspace=0.32,
    )
    shown = None
    for i, img in enumerate(images):
        ax = fig.add_subplot(grid[i, 0])
        ax.imshow(img)
        label = image_labels[i] if image_labels else f"image {i + 1}"
        ax.set_title(f"{label}\n{img.width}x{img.height} px", fontsize=8)
        ax.axis("off")
        for j, column in enumerate(columns, start=1):
            cam = column.cams[i]
            ax = fig.add_subplot(grid[i, j])
            ax.imshow(img)
            left, top, right, bottom = cam.box
            inside = np.zeros(cam.heatmap.shape, dtype=bool)
            inside[top:bottom, left:right] = True
            shown = ax.imshow(
                np.ma.masked_where(~inside, cam.heatmap),
                cmap="jet",
                alpha=CAM_ALPHA,
                vmin=0.0,
                vmax=1.0,
                interpolation="bilinear",
            )
            ax.add_patch(
                Rectangle(
                    (left - 0.5, top - 0.5),
                    right - left,
                    bottom - top,
                    fill=False,
                    ls="--",
                    lw=0.8,
                    ec="white",
                )
            )
            text = f"{column.name(cam.predicted)} {cam.probability:.0%}"
            if cam.target != cam.predicted:
                text += f"\nmap of {column.name(cam.target)} ({cam.target_probability:.0%})"
            ax.set_title(f"{column.label}\n{text}" if i == 0 else text, fontsize=8)
            ax.axis("off")
    bar = fig.colorbar(shown, cax=fig.add_subplot(grid[:, -1]))
    bar.set_label("class activation (normalised, 0-1)", fontsize=8)
    method = {"cam": "CAM", "gradcam": "Grad-CAM"}.get(columns[0].cams[0].method, "")
    fig.suptitle(
        title or f"Class activation maps ({method}); predicted class and probability", fontsize=10
    )
    return save_figure(fig, path)
