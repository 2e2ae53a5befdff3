"""CIFAR-10 / CIFAR-100 in the published "python version" layout, read without running code.

The files are pickles; a plain ``pickle.load`` would execute whatever a crafted file asks
for. ``SafeUnpickler`` only resolves the numpy globals an ndarray pickle needs.

CIFAR-10: ``data_batch_1..5``, ``test_batch``, ``batches.meta`` (``label_names``).
CIFAR-100: ``train``, ``test``, ``meta`` (``fine_label_names``); fine labels are used.
Either may sit inside ``cifar-10-batches-py/`` or ``cifar-100-python/``.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

_RECONSTRUCT = np.ndarray(0).__reduce__()[0]  # numpy's _reconstruct, whatever module it lives in


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """``_codecs.encode`` as Python 3 protocol-2 pickles use it for bytes: latin-1 only."""
    if encoding.lower().replace("-", "") != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1", errors)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("_codecs", "encode"): _latin1_encode,
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class SafeUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals needed to rebuild a numpy array."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load global {module}.{name} from a CIFAR file"
            ) from None


def safe_load(path: Path) -> dict[str, Any]:
    """Unpickle a CIFAR file (Python 2 pickles: ``encoding="bytes"``); keys become ``str``."""
    with open(path, "rb") as f:
        obj = SafeUnpickler(f, encoding="bytes").load()
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict, got {type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


@dataclass(frozen=True)
class CifarLayout:
    """Where the files of one CIFAR variant are and which keys hold labels and names."""

    root: Path
    train_files: tuple[str, ...]
    test_file: str
    meta_file: str
    label_key: str
    names_key: str


def _cifar10(root: Path) -> CifarLayout:
    return CifarLayout(
        root,
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        "batches.meta",
        "labels",
        "label_names",
    )


def _cifar100(root: Path) -> CifarLayout:
    return CifarLayout(root, ("train",), "test", "meta", "fine_labels", "fine_label_names")


def find_cifar(directory: Path) -> CifarLayout | None:
    """The CIFAR layout in ``directory`` (or its ``cifar-10-batches-py`` /
    ``cifar-100-python`` sub-folder), ``None`` if there is none.

    Raises ``ValueError`` if some but not all files of a variant are present.
    """
    candidates = [
        _cifar10(directory),
        _cifar100(directory),
        _cifar10(directory / "cifar-10-batches-py"),
        _cifar100(directory / "cifar-100-python"),
    ]
    for layout in candidates:
        names = (*layout.train_files, layout.test_file, layout.meta_file)
        present = [n for n in names if (layout.root / n).is_file()]
        if len(present) == len(names):
            return layout
        marker = layout.meta_file  # only a meta file marks the variant unambiguously
        if marker in present:
            missing = sorted(set(names) - set(present))
            raise ValueError(f"incomplete CIFAR files in {layout.root}: missing {missing}")
    return None


def _read_batch(path: Path, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    d = safe_load(path)
    if "data" not in d or label_key not in d:
        raise ValueError(f"{path}: missing key 'data' or {label_key!r}")
    data = np.asarray(d["data"])
    labels = np.asarray(d[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(
            f"{path}: data must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (len(data),) or (
        labels.size and not (0 <= labels.min() and labels.max() < num_classes)
    ):
        raise ValueError(f"{path}: {len(labels)} labels for {len(data)} images, or out of range")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # N x C x H x W -> N x H x W x C
    return np.ascontiguousarray(images), labels


def read_cifar(
    layout: CifarLayout,
) -> tuple[list[str], tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(classes, (train_images, train_labels), (test_images, test_labels))``; images are
    uint8 N x 32 x 32 x 3."""
    meta = safe_load(layout.root / layout.meta_file)
    if layout.names_key not in meta:
        raise ValueError(f"{layout.root / layout.meta_file}: missing {layout.names_key!r}")
    classes = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[layout.names_key]]
    parts = [
        _read_batch(layout.root / f, layout.label_key, len(classes)) for f in layout.train_files
    ]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = _read_batch(layout.root / layout.test_file, layout.label_key, len(classes))
    return classes, train, test


class CifarDataset(Dataset):
    """(image tensor, label) pairs from uint8 N x 32 x 32 x 3 arrays. Picklable.

    Args:
        images: uint8 array, N x 32 x 32 x 3.
        labels: int array of length N.
        classes: class names.
        transform: applied to the RGB PIL image.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        classes: Sequence[str],
        transform: Callable[[Image.Image], torch.Tensor],
    ) -> None:
        self.images = images
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.transform = transform

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    def subset(self, indices: Sequence[int], transform: Callable) -> CifarDataset:
        """The items at ``indices`` with another transform."""
        idx = np.asarray(indices, dtype=np.int64)
        return CifarDataset(self.images[idx], self.labels[idx], self.classes, transform)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img = Image.fromarray(self.images[index])
        return self.transform(img), int(self.labels[index])
