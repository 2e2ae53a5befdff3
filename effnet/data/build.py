"""``build_datasets``: one call from a path (or ``"demo"``) to train / minival / val datasets.

Accepted layouts of ``data``:
  * ``"demo"``: the generated demo set (``effnet.data.demo``);
  * ``DIR/train/<class>/*`` and optionally ``DIR/val/<class>/*`` (image folders);
  * CIFAR-10 / CIFAR-100 python files in ``DIR`` (or ``DIR/cifar-10-batches-py``,
    ``DIR/cifar-100-python``); the CIFAR test set is the val split;
  * ``DIR/<class>/*``: class folders directly, taken as the train split (no val).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from effnet.data.augment import parse_augment
from effnet.data.cifar import CifarDataset, find_cifar, read_cifar
from effnet.data.demo import demo_root
from effnet.data.folder import ImageFolderDataset, find_classes, report_problems, scan_folder
from effnet.data.image import DEFAULT_MAX_PIXELS
from effnet.data.preload import DEFAULT_MAX_BYTES, preload
from effnet.data.split import stratified_split
from effnet.data.transforms import eval_transform, train_transform
from effnet.types import AugmentName

LAYOUTS = (
    "'demo'; DIR/train/<class>/* (+ optional DIR/val/<class>/*); CIFAR-10 python files "
    "(data_batch_1..5, test_batch, batches.meta) or CIFAR-100 (train, test, meta) in DIR, "
    "DIR/cifar-10-batches-py or DIR/cifar-100-python; or DIR/<class>/* (class folders only)"
)


@dataclass
class DataBundle:
    """The datasets a training run needs; items are ``(float tensor 3 x res x res, label)``.

    Attributes:
        train: the train split minus minival, with train transforms.
        minival: held out of train (seeded, stratified), with eval transforms (paper §5.2).
        val: ``DIR/val`` or the CIFAR test set with eval transforms; ``None`` if absent.
        classes: class names, indexed by label.
        skipped: paths of unusable images skipped when indexing (headers; every file decoded
            with ``strict``); ``skip_reasons`` maps each to why. Files that fail to decode
            later are skipped when loaded (see :meth:`log_load_skips`).
    """

    train: Dataset
    minival: Dataset
    val: Dataset | None
    classes: list[str]
    skipped: list[str] = field(default_factory=list)
    skip_reasons: dict[str, str] = field(default_factory=dict)

    def log_load_skips(self, path: str | os.PathLike) -> None:
        """Have every split append the files it skips while loading (decode failures) to
        ``path``; call before loader workers start."""
        for split in (self.train, self.minival, self.val):
            if isinstance(split, ImageFolderDataset):
                split.skip_log = str(path)


_Pool = ImageFolderDataset | CifarDataset


def _folders(
    train_dir: Path,
    val_dir: Path | None,
    transform: Callable,
    verify: bool,
    max_pixels: int | None,
) -> tuple[_Pool, _Pool | None, dict[str, str]]:
    classes = find_classes(train_dir)
    if not classes:
        raise ValueError(f"{train_dir} has no class folders; accepted layouts: {LAYOUTS}")
    samples, problems = scan_folder(train_dir, classes, verify=verify, max_pixels=max_pixels)
    train = ImageFolderDataset(samples, classes, transform, max_pixels)
    if val_dir is None:
        return train, None, problems
    val_classes = find_classes(val_dir)
    unknown = sorted(set(val_classes) - set(classes))
    if unknown:
        raise ValueError(f"{val_dir} has class folders not in {train_dir}: {unknown[:10]}")
    if not val_classes:
        raise ValueError(f"{val_dir} has no class folders")
    val_samples, val_problems = scan_folder(
        val_dir, val_classes, verify=verify, max_pixels=max_pixels
    )
    to_train_label = [classes.index(c) for c in val_classes]
    val_samples = [(p, to_train_label[y]) for p, y in val_samples]
    val = ImageFolderDataset(val_samples, classes, transform, max_pixels, substitute=False)
    return train, val, {**problems, **val_problems}


def check_data(data: str | os.PathLike) -> None:
    """``ValueError`` unless ``data`` is ``"demo"`` or a directory (its layout is checked when
    it is read)."""
    if not (isinstance(data, str) and data == "demo") and not Path(data).expanduser().is_dir():
        raise ValueError(f"data {str(data)!r} is not a directory; accepted layouts: {LAYOUTS}")


def find_pools(
    data: str | os.PathLike, transform: Callable, verify: bool, max_pixels: int | None
) -> tuple[_Pool, _Pool | None, dict[str, str]]:
    """(train pool, val, problems: skipped file -> reason) for any accepted layout."""
    check_data(data)
    if isinstance(data, str) and data == "demo":
        root = demo_root()
        return _folders(root / "train", root / "val", transform, verify, max_pixels)
    root = Path(data).expanduser()
    if (root / "train").is_dir():
        val = root / "val" if (root / "val").is_dir() else None
        return _folders(root / "train", val, transform, verify, max_pixels)
    layout = find_cifar(root)
    if layout is not None:
        classes, (x, y), (xt, yt) = read_cifar(layout)
        return (
            CifarDataset(x, y, classes, transform),
            CifarDataset(xt, yt, classes, transform),
            {},
        )
    if (root / "val").is_dir():
        raise ValueError(f"{root} has val/ but no train/; accepted layouts: {LAYOUTS}")
    if find_classes(root):
        return _folders(root, None, transform, verify, max_pixels)
    raise ValueError(f"{root} matches no accepted dataset layout: {LAYOUTS}")


def load_pools(
    data: str | os.PathLike, transform: Callable, strict: bool, max_pixels: int | None
) -> tuple[_Pool, _Pool | None, dict[str, str]]:
    """:func:`find_pools` as training uses it: unusable files skipped with a warning naming
    each, or (``strict``: every file decoded first) refused with a ``ValueError``."""
    pool, val, problems = find_pools(data, transform, strict, max_pixels)
    report_problems(problems, f"in {data}", strict=strict)
    return pool, val, problems


def build_datasets(
    data: str | os.PathLike,
    *,
    resolution: int,
    minival_size: int | float = 0.1,
    augment: AugmentName = "autoaugment",
    reprob: float = 0.0,
    seed: int = 0,
    strict: bool = False,
    crop_scale: tuple[float, float] = (0.08, 1.0),
    eval_crop: float | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    preload_train: bool = False,
    max_preload_bytes: int = DEFAULT_MAX_BYTES,
    progress: bool = False,
) -> DataBundle:
    """Index ``data`` and split off minival; see the module docstring for the layouts.

    Args:
        data: ``"demo"`` or a dataset directory.
        resolution: image side fed to the network.
        minival_size: fraction (< 1) or count (>= 1) of train held out, stratified by class
            (the paper held out 25,000 ImageNet images, §5.2).
        augment: a policy of :func:`effnet.data.augment.parse_augment` (``"autoaugment"``,
            ``"rand-m9-n2"``, ``"trivialaugment"``, ``"augmix"``, ``"none"``, ...).
        reprob: random-erasing probability of train images (after normalisation).
        seed: seed of the minival split.
        strict: raise on unreadable images instead of skipping them with a warning.
        crop_scale: area range of the random crop (paper: 0.08..1).
        eval_crop: centre-crop fraction of minival / val (default the paper's res/(res+32)).
        max_pixels: images with more pixels are treated as unreadable (decompression bombs).
        preload_train: with ``augment="none"``, decode the train split once into memory and
            augment it a batch at a time (:mod:`effnet.data.preload`), when it fits in
            ``max_preload_bytes``; otherwise, and for other policies, images are read per item.
        progress: a progress bar while preloading.

    Raises:
        ValueError: unknown layout, empty class folder or dataset, val class not in train,
            unreadable image with ``strict``, or a minival that would empty a class.
    """
    parse_augment(augment)  # a clear error before any file is read
    train_tf = train_transform(resolution, augment, crop_scale=crop_scale, reprob=reprob)
    eval_tf = eval_transform(resolution, eval_crop)
    pool, val, skipped = load_pools(data, eval_tf, strict, max_pixels)
    if len(pool) == 0:
        raise ValueError(f"no training images found in {data!r}")
    train_idx, minival_idx = stratified_split(pool.targets, minival_size, seed)
    minival = pool.subset(minival_idx, eval_tf)
    if isinstance(minival, ImageFolderDataset):
        minival.substitute = False  # evaluated: an undecodable image is left out, not replaced
    train = pool.subset(train_idx, train_tf)
    if preload_train and augment == "none" and not reprob:
        unreadable: dict[str, str] = {}
        loaded = preload(
            train,
            resolution=resolution,
            crop_scale=crop_scale,
            max_bytes=max_preload_bytes,
            on_skip=unreadable.__setitem__,
            progress=progress,
        )
        if unreadable:
            report_problems(unreadable, f"in {data}", strict=strict)
            skipped = {**skipped, **unreadable}
        train = loaded if loaded is not None else train
    return DataBundle(
        train=train,
        minival=minival,
        val=val,
        classes=list(pool.classes),
        skipped=list(skipped),
        skip_reasons=skipped,
    )
