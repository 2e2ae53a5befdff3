"""Fig. 1 and 5: top-1 accuracy against parameters or multiply-adds for evaluated runs."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effnet.analysis.cost import model_cost
from effnet.analysis.plots.figure import DPI, pyplot, save_figure
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.weights.io import read_metadata

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
    weights = _weights_beside(file, data)
    res = data.get("resolution")
    if weights is not None:
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
    cost = model_cost(spec, int(res or spec.resolution), num_classes=classes)
    return spec.name, cost.macs, cost.params


def _family(model: str) -> str:
    """``efficientnet_b3`` and ``efficientnet_b0_phi-4`` -> ``efficientnet``;
    ``efficientnet_lite2`` -> ``efficientnet_lite``."""
    name = re.sub(r"_phi[-+]?[\d.]+$", "", model)
    return re.sub(r"_(b\d+|l2)$|(?<=_lite)\d+$", "", name)


def load_accuracy_point(path: str | os.PathLike[str], label: str | None = None) -> AccuracyPoint:
    """Read one evaluated model from a run folder (its ``summary.json``) or a JSON file
    (``summary.json`` or the output of ``effnet eval --json``).

    * accuracy: the first of ``top1``, ``val_top1``, ``eval_top1``, ``test_top1``,
      ``minival_top1``, ``best_top1``, ``acc1`` (in %), also inside an ``eval`` / ``val`` /
      ``metrics`` object;
    * multiply-adds and parameters: ``macs`` and ``params`` if the file has both; otherwise
      counted (:func:`effnet.analysis.cost.model_cost`, on the meta device) on the model
      rebuilt from the metadata of its weights (``weights`` in the file, else
      ``best.safetensors`` or the only ``*.safetensors`` beside it: the exact trained
      architecture and class count), else
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
    plt = pyplot()
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
