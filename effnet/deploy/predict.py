"""Classify image files with a loaded model: the top classes and their probabilities.

:func:`predict` takes files, folders (searched recursively for the extensions torchvision's
``ImageFolder`` reads) and globs, decodes them in a ``DataLoader`` (worker processes when
asked), runs the model batch by batch on any device (optionally under autocast) and yields one
result per image in input order. A file that cannot be read is a result with an ``"error"``,
not the end of the run.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision.datasets.folder import IMG_EXTENSIONS

from effnet.data.image import load_image
from effnet.data.preprocess import create_transform


def find_images(inputs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The image files ``inputs`` name: files as given, folders searched recursively (sorted),
    globs expanded (``**`` recursive). An input that names nothing is ``FileNotFoundError``."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file() and p.name.lower().endswith(IMG_EXTENSIONS)
            )
        elif glob.has_magic(str(item)):
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True))
            if not matches:
                raise FileNotFoundError(f"no file matches {item}")
            found.extend(m for m in matches if m.is_file())
        else:
            raise FileNotFoundError(f"image not found: {item}")
    return found


class _Images(Dataset):
    """``(tensor, index, error)`` per file; an unreadable file gives a blank tensor and its
    error, so one broken file does not stop a batch."""

    def __init__(self, paths: list[Path], transform: Any, resolution: int) -> None:
        self.paths, self.transform, self.resolution = paths, transform, resolution

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, str]:
        try:
            return self.transform(load_image(self.paths[i])), i, ""
        except (OSError, ValueError) as exc:
            return torch.zeros(3, self.resolution, self.resolution), i, f"cannot read image: {exc}"


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.inference_mode()
def predict(
    model: nn.Module,
    inputs: Sequence[str | os.PathLike[str]],
    *,
    classes: Sequence[str] | None = None,
    topk: int = 5,
    batch_size: int = 64,
    workers: int = 0,
    device: str | torch.device | None = None,
    amp: str | None = None,
    resolution: int | None = None,
    crop: float | None = None,
    progress: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield ``{"image", "top": [{"class", "index", "probability"}, ...]}`` (or ``{"image",
    "error"}``) for every image of ``inputs`` (files, folders, globs), in order.

    Images go through the model's eval transform (:func:`effnet.create_transform`: its data
    config; ``resolution`` / ``crop`` override it). ``classes`` default to the model's
    (``model.pretrained_cfg["classes"]``), else ``"0".."n-1"``. ``amp``: ``"bf16"`` or
    ``"fp16"`` autocast. ``device``: default CUDA when available.
    """
    if topk < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    paths = find_images(inputs)
    if not paths:
        raise FileNotFoundError(f"no image files in {', '.join(map(str, inputs))}")
    cfg = getattr(model, "pretrained_cfg", None)
    if resolution is None:
        resolution = int(cfg["input_size"][-1]) if cfg is not None else model.spec.resolution  # type: ignore[union-attr]
    names = list(classes or (cfg.get("classes") if cfg is not None else None) or [])
    transform = create_transform(model, resolution=resolution, crop=crop)
    run_on = _device(device)
    model.eval().to(run_on)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, None: None}[amp]
    loader = DataLoader(
        _Images(paths, transform, resolution),
        batch_size=batch_size,
        num_workers=workers,
        pin_memory=run_on.type == "cuda",
    )
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(paths), unit="img", desc="predict", leave=False)
    for x, index, errors in loader:
        with torch.autocast(run_on.type, dtype=dtype, enabled=dtype is not None):
            probs = model(x.to(run_on, non_blocking=True)).float().softmax(1)
        values, indices = probs.topk(min(topk, probs.shape[1]), dim=1)
        for i, error, v_row, i_row in zip(
            index.tolist(), errors, values.tolist(), indices.tolist()
        ):
            if error:
                yield {"image": str(paths[i]), "error": error}
                continue
            top = [
                {"class": names[c] if c < len(names) else str(c), "index": c, "probability": v}
                for v, c in zip(v_row, i_row)
            ]
            yield {"image": str(paths[i]), "top": top}
        if bar is not None:
            bar.update(len(index))
    if bar is not None:
        bar.close()
