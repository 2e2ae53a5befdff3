"""Inference helpers for ``effnet eval`` / ``effnet predict``: load weights and class names,
build an evaluation dataset from a folder, and rank classes for images."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset


def stored_eval_settings(weights: str | os.PathLike[str]) -> tuple[int | None, float | None]:
    """``(resolution, eval crop fraction)`` a training run stored with its weights
    (``train_resolution`` / ``eval_crop`` metadata); ``None`` for what is not recorded."""
    try:
        from effnet.weights import read_metadata

        meta = read_metadata(weights)
    except (ValueError, FileNotFoundError):
        return None, None
    res, crop = meta.get("train_resolution"), meta.get("eval_crop")
    return (int(res) if res else None), (float(crop) if crop else None)


def load_model(
    weights: str | os.PathLike[str], *, model: str | None = None, source: str = "effnet"
) -> tuple[nn.Module, list[str]]:
    """The model and class names for ``weights`` (eval mode). Classes default to ``"0".."n-1"``."""
    import effnet
    from effnet.class_names import read_class_names

    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    if source == "effnet" and path.suffix == ".safetensors":
        net = effnet.create_model(model, weights=path) if model else _load(path)
    else:
        if model is None:
            raise ValueError(f"--model is required for {source} weights ({path})")
        net = effnet.load_pretrained(model, path, source=source)  # type: ignore[arg-type]
    net.eval()
    classes = read_class_names(path) or [str(i) for i in range(net.num_classes)]  # type: ignore[arg-type]
    if len(classes) != net.num_classes:
        raise ValueError(
            f"{len(classes)} class names stored with {path}, but the model has "
            f"{net.num_classes} outputs"
        )
    return net, classes


def load_for_eval(
    weights: str | os.PathLike[str],
    *,
    model: str | None = None,
    source: str = "effnet",
    resolution: int | None = None,
    crop: float | None = None,
) -> tuple[nn.Module, list[str], int, float | None]:
    """:func:`load_model` plus the eval geometry: ``(model, classes, resolution, crop)``, where
    the given ``resolution`` / ``crop`` win over those stored with the weights, and the
    resolution falls back to the model's own."""
    net, classes = load_model(weights, model=model, source=source)
    stored_res, stored_crop = stored_eval_settings(weights)
    res = resolution or stored_res or int(net.spec.resolution)  # type: ignore[union-attr]
    return net, classes, res, crop or stored_crop


def _load(path: Path) -> nn.Module:
    from effnet.weights import load_weights

    return load_weights(path)


class _Relabelled(Dataset):
    """A dataset whose labels are mapped through ``mapping``."""

    def __init__(self, inner: Dataset, mapping: list[int]) -> None:
        self.inner, self.mapping = inner, mapping

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.inner[i]
        return x, self.mapping[y]


def eval_dataset(
    data: str | os.PathLike[str],
    resolution: int,
    model_classes: list[str],
    *,
    crop: float | None = None,
    strict: bool = False,
) -> tuple[Dataset, list[str]]:
    """An eval-transformed dataset for ``data`` with labels in the model's class order.

    ``data``: ``"demo"`` (its val split), a folder of class folders, a dataset root whose
    ``val/`` is used, or a CIFAR folder (its test set); ``crop``: the eval crop fraction
    (default the paper's). Returns ``(dataset, skipped paths)``.
    """
    from effnet.data import demo_root, eval_transform
    from effnet.data.cifar import CifarDataset, find_cifar, read_cifar
    from effnet.data.folder import ImageFolderDataset, find_classes, index_folder

    transform = eval_transform(resolution, crop)
    root = demo_root() / "val" if str(data) == "demo" else Path(data).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    skipped: list[str] = []
    if (root / "val").is_dir():
        root = root / "val"
    layout = find_cifar(root)
    if layout is not None:
        classes, _, (xt, yt) = read_cifar(layout)
        dataset: Dataset = CifarDataset(xt, yt, classes, transform)
    else:
        classes = find_classes(root)
        if not classes:
            raise ValueError(f"{root} has no class folders (expected DIR/<class>/*.jpg)")
        samples, skipped = index_folder(root, classes, strict=strict)
        dataset = ImageFolderDataset(samples, classes, transform)
    if list(classes) == list(model_classes):
        return dataset, skipped
    unknown = [c for c in classes if c not in model_classes]
    if not unknown:
        return _Relabelled(dataset, [model_classes.index(c) for c in classes]), skipped
    if len(classes) == len(model_classes) and all(c.isdigit() for c in model_classes):
        return dataset, skipped  # no names stored: folder order is the label order
    raise ValueError(
        f"classes {unknown[:5]} in {root} are not among the model's {len(model_classes)} "
        f"classes ({', '.join(model_classes[:5])}...)"
    )


@torch.no_grad()
def predict_images(
    model: nn.Module,
    paths: list[str],
    classes: list[str],
    *,
    topk: int = 5,
    resolution: int | None = None,
    crop: float | None = None,
) -> list[dict[str, Any]]:
    """Top-``topk`` ``{"class", "index", "probability"}`` for each image file, through the
    eval transform at ``resolution`` (default the model's) with crop fraction ``crop``."""
    from effnet.data import eval_transform, load_image

    res = resolution or model.spec.resolution  # type: ignore[union-attr]
    transform = eval_transform(res, crop)
    model.eval()
    results = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"image not found: {p}")
        try:
            x = transform(load_image(p))[None]
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read image {p}: {exc}") from None
        probs = model(x).float().softmax(1)[0]
        values, indices = probs.topk(min(topk, probs.numel()))
        results.append(
            {
                "image": str(p),
                "top": [
                    {"class": classes[i], "index": int(i), "probability": float(v)}
                    for v, i in zip(values.tolist(), indices.tolist())
                ],
            }
        )
    return results
