"""Image-folder datasets: ``ROOT/<class>/**/<image>``, classes are the sorted folder names.

Indexing checks every file once (``image.check_image``) and skips the
unreadable ones with a warning; items are then loaded without re-checking.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from effnet.data.image import DEFAULT_MAX_PIXELS, check_image, load_image

Sample = tuple[str, int]
_SHOW = 20  # paths named in a warning / error message before "and N more"


def image_extensions() -> frozenset[str]:
    """Lower-case file extensions PIL can open (jpg, png, webp, bmp, gif, tiff, ...)."""
    Image.init()
    return frozenset(
        ext.lower() for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN
    )


def _visible(name: str) -> bool:
    # .DS_Store, AppleDouble ._files, .ipynb_checkpoints, zip tools' __MACOSX
    return not name.startswith(".") and name != "__MACOSX"


def find_classes(root: Path) -> list[str]:
    """Sorted names of the (non-hidden) sub-folders of ``root``."""
    with os.scandir(root) as it:
        return sorted(e.name for e in it if e.is_dir() and _visible(e.name))


def _list_images(folder: Path, exts: frozenset[str]) -> list[str]:
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if _visible(d))
        for name in sorted(filenames):
            if _visible(name) and os.path.splitext(name)[1].lower() in exts:
                found.append(os.path.join(dirpath, name))
    return found


def describe_paths(paths: Sequence[str]) -> str:
    """The first few paths, one per line, then a count of the rest."""
    shown = "\n  ".join(paths[:_SHOW])
    more = f"\n  ... and {len(paths) - _SHOW} more" if len(paths) > _SHOW else ""
    return f"  {shown}{more}"


def index_folder(
    root: Path,
    classes: Sequence[str],
    *,
    strict: bool = False,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> tuple[list[Sample], list[str]]:
    """Index ``root/<class>/`` for each of ``classes``; returns ``(samples, skipped)``.

    Raises ``ValueError`` for a missing or empty class folder, for a class left with no
    readable image, and (when ``strict``) for any unreadable image. Otherwise unreadable
    images (corrupt, truncated, not an image, over ``max_pixels``) are skipped with a warning.
    """
    exts = image_extensions()
    per_class: list[list[str]] = []
    for name in classes:
        folder = root / name
        if not folder.is_dir():
            raise ValueError(f"class folder {folder} is missing")
        files = _list_images(folder, exts)
        if not files:
            raise ValueError(f"class folder {folder} contains no image files")
        per_class.append(files)

    paths = [p for files in per_class for p in files]
    with warnings.catch_warnings():  # the pixel cap is ours; PIL's bomb warning is noise here
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        reasons = [check_image(p, max_pixels=max_pixels) for p in paths]
    bad = {p: r for p, r in zip(paths, reasons) if r is not None}
    if bad:
        listing = [f"{p} ({r})" for p, r in bad.items()]
        if strict:
            raise ValueError(
                f"{len(bad)} unreadable image(s) under {root}:\n" + describe_paths(listing)
            )
        warnings.warn(
            f"skipping {len(bad)} unreadable image(s) under {root}:\n" + describe_paths(listing),
            stacklevel=3,
        )

    samples: list[Sample] = []
    for label, (name, files) in enumerate(zip(classes, per_class)):
        good = [p for p in files if p not in bad]
        if not good:
            raise ValueError(f"class folder {root / name} has no readable image")
        samples.extend((p, label) for p in good)
    return samples, list(bad)


class ImageFolderDataset(Dataset):
    """(image tensor, label) pairs from an indexed list of files. Picklable.

    Args:
        samples: ``(path, label)`` pairs, as returned by ``index_folder``.
        classes: class names; ``label`` indexes this list.
        transform: applied to the RGB PIL image.
        max_pixels: pixel cap re-checked (from the header) when an item is loaded.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        classes: Sequence[str],
        transform: Callable[[Image.Image], torch.Tensor],
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> None:
        self.samples = list(samples)
        self.classes = list(classes)
        self.transform = transform
        self.max_pixels = max_pixels

    @property
    def targets(self) -> list[int]:
        return [label for _, label in self.samples]

    def subset(self, indices: Sequence[int], transform: Callable) -> ImageFolderDataset:
        """The items at ``indices`` with another transform."""
        return ImageFolderDataset(
            [self.samples[i] for i in indices], self.classes, transform, self.max_pixels
        )

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[index]
        try:
            img = load_image(path, max_pixels=self.max_pixels)
        except OSError as e:  # changed on disk since indexing: say which file
            raise OSError(f"cannot read {path}: {e}") from e
        return self.transform(img), label
