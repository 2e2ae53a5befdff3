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

Every function writes one PNG of a fixed pixel size (``figsize * DPI``) and returns its path.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

    from effnet.cam import ImageCam

DPI = 100
PANEL_INCHES = 2.4  # one CAM panel
CAM_ALPHA = 0.45


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: float = DPI) -> Path:
    """Write ``fig`` as a PNG (creating folders) and close it; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out, dpi=dpi, format="png")
    finally:
        _pyplot().close(fig)
    return out


# ----------------------------------------------------------------------------------- Fig. 7
@dataclass(frozen=True)
class CamColumn:
    """One model's maps over the images of a CAM grid.

    Args:
        label: column title (the model, e.g. ``"depth x4"`` or a file name).
        cams: one :class:`~effnet.cam.ImageCam` per image, in image order.
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
    plt = _pyplot()
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


# ------------------------------------------------------------------------------ Fig. 1 and 5
_UNITS = ((1e9, "billions"), (1e6, "millions"), (1e3, "thousands"))


@dataclass(frozen=True)
class AccuracyPoint:
    """One evaluated model: ``top1`` in %, ``macs`` per image, ``params``; ``family`` groups
    points into one line (``efficientnet`` for B0..B7)."""

    label: str
    model: str
    top1: float
    macs: int
    params: int
    family: str


_TOP1_KEYS = ("top1", "val_top1", "eval_top1", "test_top1", "minival_top1", "best_top1", "acc1")


def _find_top1(data: Mapping[str, Any]) -> float | None:
    for key in _TOP1_KEYS:
        if isinstance(data.get(key), int | float):
            return float(data[key])
    for key in ("eval", "val", "metrics", "result"):
        if isinstance(data.get(key), Mapping) and (found := _find_top1(data[key])) is not None:
            return found
    return None


def _weights_beside(file: Path, data: Mapping[str, Any]) -> Path | None:
    if isinstance(data.get("weights"), str):
        for w in (file.parent / data["weights"], Path(data["weights"])):
            if w.is_file():
                return w
    found = sorted(file.parent.glob("*.safetensors"))
    best = file.parent / "best.safetensors"
    return best if best in found else found[0] if len(found) == 1 else None


def _count(data: Mapping[str, Any], file: Path) -> tuple[str, int, int]:
    """(model name, MACs, params) of the model a run file describes."""
    import torch

    from effnet.model import Network
    from effnet.registry import get_spec
    from effnet.spec import NetworkSpec
    from effnet.summary import summarize

    weights = _weights_beside(file, data)
    res = data.get("resolution")
    if weights is not None:
        from effnet.weights import read_metadata

        meta = read_metadata(weights)
        spec, classes = NetworkSpec.from_json(meta["spec"]), int(meta["num_classes"])
        res = res or meta.get("train_resolution")
    elif isinstance(data.get("model"), str):
        spec = get_spec(data["model"])
        classes = data.get("num_classes") or data.get("classes") or 1000
        classes = classes if isinstance(classes, int) else len(classes)
    else:
        raise ValueError(
            f"{file}: cannot tell which model it is: no 'weights' or 'model' key and no "
            "best.safetensors beside it"
        )
    with torch.device("meta"):
        net = Network(spec, num_classes=classes)
    table = summarize(net, int(res or spec.resolution))
    return spec.name, table.total_macs, table.total_params


def _family(model: str) -> str:
    """``efficientnet_b3`` and ``efficientnet_b0_phi-4`` -> ``efficientnet``."""
    return re.sub(r"_(b\d+|l2)$", "", re.sub(r"_phi[-+]?[\d.]+$", "", model))


def load_accuracy_point(path: str | os.PathLike[str], label: str | None = None) -> AccuracyPoint:
    """Read one evaluated model from a run folder (its ``summary.json``) or a JSON file
    (``summary.json`` or the output of ``effnet eval --json``).

    * accuracy: the first of ``top1``, ``val_top1``, ``eval_top1``, ``test_top1``,
      ``minival_top1``, ``best_top1``, ``acc1`` (in %), also inside an ``eval`` / ``val`` /
      ``metrics`` object;
    * multiply-adds and parameters: ``macs`` and ``params`` if the file has both; otherwise
      counted (:func:`effnet.summary.summarize`, on the meta device) on the model rebuilt from
      the metadata of its weights (``weights`` in the file, else ``best.safetensors`` or the
      only ``*.safetensors`` beside it: the exact trained architecture and class count), else
      from the registered ``model`` name with ``num_classes`` / ``classes`` classes (default
      1000); at ``resolution`` (else the weights' ``train_resolution``, else the model's).
      So ``effnet eval --json > RUN/eval.json`` (top-1 only) works when saved in the run
      folder;
    * label: ``label``, else ``label`` in the file, else the run folder's name (the file's
      stem for other JSON files); family (one line per family): ``family`` in the file, else
      the model name without its variant (``efficientnet_b3`` -> ``efficientnet``).
    """
    p = Path(path)
    file = p / "summary.json" if p.is_dir() else p
    if not file.is_file():
        raise FileNotFoundError(f"no summary.json in {p}" if p.is_dir() else f"not found: {p}")
    try:
        data = json.loads(file.read_text())
    except ValueError as exc:
        raise ValueError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ValueError(f"{file} does not hold a JSON object")
    top1 = _find_top1(data)
    if top1 is None:
        raise ValueError(f"{file} has no top-1 accuracy (looked for {', '.join(_TOP1_KEYS)})")
    if isinstance(data.get("macs"), int) and isinstance(data.get("params"), int):
        model, macs, params = str(data.get("model", "?")), data["macs"], data["params"]
    else:
        model, macs, params = _count(data, file)
    default = file.parent.name if file.name == "summary.json" else file.stem
    family = data.get("family") if isinstance(data.get("family"), str) else _family(model)
    return AccuracyPoint(label or data.get("label") or default, model, top1, macs, params, family)


def plot_accuracy(
    points: Sequence[AccuracyPoint],
    path: str | os.PathLike[str],
    *,
    x: str = "macs",
    title: str | None = None,
) -> Path:
    """Fig. 5 (``x="macs"``, multiply-adds) or Fig. 1 (``x="params"``, parameters): top-1
    accuracy per model, one line per family, each point labelled. The x unit (billions,
    millions or thousands) follows the largest model; the axis is logarithmic when the models
    span more than a factor of 20."""
    if x not in ("macs", "params"):
        raise ValueError(f"x must be 'macs' or 'params', got {x!r}")
    if not points:
        raise ValueError("plot_accuracy needs at least one point")
    plt = _pyplot()
    largest = max(getattr(q, x) for q in points)
    scale, word = next((s, w) for s, w in _UNITS if largest >= 0.1 * s or s == 1e3)
    unit = f"{'multiply-adds per image' if x == 'macs' else 'parameters'} ({word})"
    fig, ax = plt.subplots(figsize=(7.0, 5.0), dpi=DPI)
    families: dict[str, list[AccuracyPoint]] = {}
    for pt in points:
        families.setdefault(pt.family, []).append(pt)
    for family, pts in families.items():
        pts = sorted(pts, key=lambda q: getattr(q, x))
        xs = [getattr(q, x) / scale for q in pts]
        ax.plot(xs, [q.top1 for q in pts], marker="o", ms=6, label=family)
        for q, xv in zip(pts, xs):
            ax.annotate(
                q.label, (xv, q.top1), textcoords="offset points", xytext=(5, -10), fontsize=8
            )
    values = [getattr(q, x) / scale for q in points]
    if max(values) / max(min(values), 1e-12) > 20:
        ax.set_xscale("log")
    ax.margins(x=0.12, y=0.12)  # room for the point labels
    ax.set_xlabel(unit)
    ax.set_ylabel("top-1 accuracy (%)")
    what = "multiply-adds (Fig. 5)" if x == "macs" else "parameters (Fig. 1)"
    ax.set_title(title or f"Accuracy vs {what}")
    ax.grid(alpha=0.3)
    ax.legend(title="model family")
    fig.tight_layout()
    return save_figure(fig, path)


# --------------------------------------------------------------------------------- 2^φ law
@dataclass(frozen=True)
class ScalingRow:
    """One compound-scaled model: φ, its resolution, multiply-adds and parameters."""

    phi: float
    resolution: int
    macs: int
    params: int


def scaling_rows(
    base: str, phis: Sequence[float], *, alpha: float = 1.2, beta: float = 1.1, gamma: float = 1.15
) -> list[ScalingRow]:
    """Count ``compound(base, φ)`` for each φ (on the meta device: a second or two each)."""
    from effnet.scaling import compound
    from effnet.summary import summarize

    rows = []
    for phi in phis:
        spec = compound(base, phi, alpha=alpha, beta=beta, gamma=gamma)
        table = summarize(spec)
        rows.append(ScalingRow(phi, spec.resolution, table.total_macs, table.total_params))
    return rows


def plot_scaling(
    rows: Sequence[ScalingRow],
    path: str | os.PathLike[str],
    *,
    base: str = "efficientnet_b0",
    alpha: float = 1.2,
    beta: float = 1.1,
    gamma: float = 1.15,
    official: Sequence[tuple[str, int, int, int]] = (),
) -> Path:
    """Multiply-adds (log2 axis) and parameters against φ for ``compound(base, φ)``, with the
    ideal (α·β²·γ²)^φ growth and the paper's 2^φ rule of thumb (§3.3) drawn from φ = 0.
    ``official``: (name, φ, MACs, params) of published variants to mark (B1..B7 for B0)."""
    if not rows:
        raise ValueError("plot_scaling needs at least one φ")
    plt = _pyplot()
    rows = sorted(rows, key=lambda r: r.phi)
    phis = np.array([r.phi for r in rows], dtype=float)
    ref = min(rows, key=lambda r: abs(r.phi))
    step = alpha * beta**2 * gamma**2
    fig, (ax_m, ax_p) = plt.subplots(1, 2, figsize=(11.0, 4.5), dpi=DPI)
    grid = np.linspace(phis.min(), phis.max(), 50)
    ax_m.plot(phis, [r.macs / 1e9 for r in rows], "o-", label=f"compound({base}, φ), counted")
    ax_m.plot(
        grid, ref.macs / 1e9 * step ** (grid - ref.phi), "--", label=f"(α·β²·γ²)^φ = {step:.3f}^φ"
    )
    ax_m.plot(grid, ref.macs / 1e9 * 2.0 ** (grid - ref.phi), ":", color="gray", label="2^φ")
    ax_p.plot(phis, [r.params / 1e6 for r in rows], "o-", label=f"compound({base}, φ), counted")
    for r in rows:
        ax_m.annotate(
            f"{r.resolution}px",
            (r.phi, r.macs / 1e9),
            textcoords="offset points",
            xytext=(-10, 7),
            fontsize=7,
        )
    if official:
        ax_m.plot(
            [o[1] for o in official],
            [o[2] / 1e9 for o in official],
            "s",
            mfc="none",
            color="C3",
            label="official variants",
        )
        ax_p.plot(
            [o[1] for o in official],
            [o[3] / 1e6 for o in official],
            "s",
            mfc="none",
            color="C3",
            label="official variants",
        )
        for name, phi, macs, _ in official:
            ax_m.annotate(
                name.split("_")[-1].upper(),
                (phi, macs / 1e9),
                textcoords="offset points",
                xytext=(6, -10),
                fontsize=7,
                color="C3",
            )
    ax_m.set_yscale("log", base=2)
    ax_m.set_ylabel("multiply-adds per image (billions, log2 scale)")
    ax_m.set_title(f"Multiply-adds vs φ (α={alpha}, β={beta}, γ={gamma})")
    ax_p.set_ylabel("parameters (millions)")
    ax_p.set_title("Parameters vs φ")
    for ax in (ax_m, ax_p):
        ax.set_xlabel("compound coefficient φ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- curves
def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of ``metrics.jsonl`` (a run folder or the file); blank lines are skipped."""
    p = Path(path)
    file = p / "metrics.jsonl" if p.is_dir() else p
    if not file.is_file():
        raise FileNotFoundError(f"no metrics.jsonl in {p}" if p.is_dir() else f"not found: {p}")
    records = []
    for n, line in enumerate(file.read_text().splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError:
                raise ValueError(f"{file}:{n} is not valid JSON") from None
    if not records:
        raise ValueError(f"{file} has no records")
    return records


def _series(records: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(r[key]) if isinstance(r.get(key), int | float) else math.nan for r in records]


def plot_curves(
    records: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], *, title: str = ""
) -> Path:
    """Training curves: every ``*loss*`` key, every ``*top1*`` / ``*top5*`` key (%), and
    ``lr``, against ``epoch`` (else ``step``, else the record index)."""
    if not records:
        raise ValueError("plot_curves needs at least one record")
    plt = _pyplot()
    xkey = next((k for k in ("epoch", "step") if k in records[0]), None)
    xs = _series(records, xkey) if xkey else list(range(1, len(records) + 1))
    keys = sorted({k for r in records for k, v in r.items() if isinstance(v, int | float)})
    panels = [
        ("loss", "cross-entropy loss", [k for k in keys if "loss" in k]),
        ("accuracy", "accuracy (%)", [k for k in keys if "top1" in k or "top5" in k]),
        ("learning rate", "learning rate", [k for k in keys if k == "lr"]),
    ]
    panels = [p for p in panels if p[2]]
    if not panels:
        raise ValueError("no loss, accuracy or lr values in the records")
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.4 * len(panels), 3.8), dpi=DPI, squeeze=False
    )
    for ax, (name, ylabel, ks) in zip(axes[0], panels):
        for k in ks:
            ax.plot(xs, _series(records, k), marker=".", label=k)
        ax.set_title(name)
        ax.set_xlabel(xkey or "record")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


# ------------------------------------------------------------------------------ profile
def plot_profile(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """The ``effnet profile`` table as bars per model: parameters (M), multiply-adds (B) and,
    when measured, batch-1 latency (ms)."""
    if not rows:
        raise ValueError("plot_profile needs at least one row")
    plt = _pyplot()
    metrics = [
        ("params", 1e6, "parameters (millions)"),
        ("macs", 1e9, "multiply-adds per image (billions)"),
        ("latency_ms", 1.0, "batch-1 latency (ms)"),
    ]
    metrics = [m for m in metrics if any(isinstance(r.get(m[0]), int | float) for r in rows)]
    labels = [
        f"{r['model']}\n{r['resolution']}px" if "resolution" in r else str(r["model"]) for r in rows
    ]
    panel = max(3.5, 1.5 + 0.6 * len(rows))
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(panel * len(metrics), 4.2), dpi=DPI, squeeze=False
    )
    for k, (ax, (key, scale, ylabel)) in enumerate(zip(axes[0], metrics)):
        vals = [float(r[key]) / scale if isinstance(r.get(key), int | float) else 0.0 for r in rows]
        bars = ax.bar(range(len(rows)), vals, color=f"C{k}", label=ylabel.split(" (")[0])
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_ylim(0, 1.25 * max(max(vals), 1e-12))  # room for the labels and the legend
        ax.set_xticks(range(len(rows)), labels, rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("model, input resolution")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    names = [ylabel.split(" (")[0] for _, _, ylabel in metrics]
    fig.suptitle(f"effnet profile: {', '.join(names)} per model")
    fig.tight_layout()
    return save_figure(fig, path)
