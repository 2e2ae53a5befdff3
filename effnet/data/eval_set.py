"""An evaluation set for a trained model: a folder's images with labels in the model's order."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import Dataset

from effnet.data.cifar import CifarDataset, find_cifar, read_cifar
from effnet.data.demo import demo_root
from effnet.data.folder import ImageFolderDataset, find_classes, index_folder
from effnet.data.transforms import Transform, eval_transform


class _Relabelled(Dataset):
    """A dataset whose labels are mapped through ``mapping``."""

    def __init__(self, inner: Dataset, mapping: list[int]) -> None:
        self.inner, self.mapping = inner, mapping

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x, y = self.inner[i]
        return x, self.mapping[y] if y >= 0 else y  # -1: an undecodable image


def eval_dataset(
    data: str | os.PathLike[str],
    resolution: int,
    model_classes: list[str],
    *,
    crop: float | None = None,
    strict: bool = False,
    transform: Transform | None = None,
) -> tuple[Dataset, list[str]]:
    """An eval-transformed dataset for ``data`` with labels in the model's class order.

    ``data``: ``"demo"`` (its val split), a folder of class folders, a dataset root whose
    ``val/`` is used, or a CIFAR folder (its test set); ``crop``: the eval crop fraction
    (default the paper's); ``transform``: another eval transform (e.g. the model's,
    ``effnet.create_transform``) instead of ``eval_transform(resolution, crop)``. Returns
    ``(dataset, skipped paths)``.
    """
    transform = transform or eval_transform(resolution, crop)
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
        dataset = ImageFolderDataset(samples, classes, transform, substitute=False)
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
