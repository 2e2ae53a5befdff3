"""A small train split decoded once into memory and augmented a whole batch at a time.

The per-image path decodes a file and runs PIL crops for every image of every epoch; for a few
thousand small images that is a sizeable share of a CPU epoch, and the decoding competes with
the training threads. :class:`PreloadedImages` decodes each image once (its shorter side
reduced to :func:`storage_side`), keeps them in one uint8 tensor, and draws the recipe's
train augmentation for a batch in three tensor operations: the random-area crop (Inception's
``distorted_bounding_box_crop`` in the official ``preprocessing.py``, drawn as torchvision's
``RandomResizedCrop``: 10 tries of area and log-aspect, else the whole image) resampled with
:func:`torchvision.ops.roi_align` (bilinear, several samples per output pixel: an area-averaging
downscale), a horizontal flip of half the batch, and the ImageNet normalisation. The tensor can
live on the training device, where the augmentation then runs too.

Only the random-area crop + flip policy (``augment="none"``) is batched; AutoAugment and
RandAugment stay per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torchvision.ops import roi_align

from effnet.constants import IMAGENET_MEAN, IMAGENET_STD
from effnet.data.cifar import CifarDataset
from effnet.data.folder import ImageFolderDataset
from effnet.data.image import load_image

#: Preload only when the stored images take at most this many bytes.
DEFAULT_MAX_BYTES = 2 * 1024**3
_RATIO = (3 / 4, 4 / 3)  # aspect range of the random-area crop (Inception's)
_TRIES = 10  # torchvision's RandomResizedCrop draws up to 10 crops before the fallback


def storage_side(resolution: int, crop_scale: tuple[float, float]) -> int:
    """The shorter side images are stored at: the smallest random-area crop (``crop_scale[0]``
    of the area) still has ``resolution`` pixels across, so no crop is upsampled by storage."""
    return math.ceil(resolution / math.sqrt(crop_scale[0]))


class PreloadedImages(torch.utils.data.Dataset):
    """Images held as one uint8 tensor, cropped and flipped a batch at a time.

    Args:
        images: uint8, N x 3 x H x W; image ``i`` fills ``images[i, :, :h_i, :w_i]``.
        sizes: int64, N x 2: each image's ``(h, w)``.
        labels: int64, N.
        classes: class names, indexed by label.
        resolution: side of the crops :meth:`crops` returns (``resolution=`` overrides it).
        crop_scale: area range of the random crop, as a fraction of the image.
        mean, std: normalisation of 0..1 pixels.
    """

    def __init__(
        self,
        images: torch.Tensor,
        sizes: torch.Tensor,
        labels: torch.Tensor,
        classes: Sequence[str],
        resolution: int,
        crop_scale: tuple[float, float],
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"images must be uint8 N x 3 x H x W, got {images.dtype} {images.shape}"
            )
        if not len(images) == len(sizes) == len(labels):
            raise ValueError("images, sizes and labels must have the same length")
        self.images = images
        self.sizes = sizes.to(torch.int64)
        self.labels = labels.to(torch.int64)
        self.classes = list(classes)
        self.resolution = resolution
        self.crop_scale = crop_scale
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)

    @property
    def targets(self) -> list[int]:
        return self.labels.tolist()

    @property
    def nbytes(self) -> int:
        return self.images.numel()

    def to(self, device: torch.device | str) -> PreloadedImages:
        """Keep the images on ``device`` (the crops are then computed there)."""
        self.images = self.images.to(device)
        return self

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        x, y = self.crops(torch.tensor([index]))
        return x[0], int(y[0])

    def crop_boxes(self, indices: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """``(x1, y1, x2, y2)`` of a random-area crop for each index (K x 4, float, pixels)."""
        hw = self.sizes[indices].to(torch.float64)
        h, w = hw[:, 0:1], hw[:, 1:2]
        k = len(indices)
        lo, hi = self.crop_scale
        area = (
            h
            * w
            * (lo + (hi - lo) * torch.rand(k, _TRIES, generator=generator, dtype=torch.float64))
        )
        log_r = math.log(_RATIO[0]) + (math.log(_RATIO[1]) - math.log(_RATIO[0])) * torch.rand(
            k, _TRIES, generator=generator, dtype=torch.float64
        )
        ratio = log_r.exp()
        cw = (area * ratio).sqrt().round()
        ch = (area / ratio).sqrt().round()
        fits = (cw > 0) & (ch > 0) & (cw <= w) & (ch <= h)
        first = fits.to(torch.int8).argmax(1, keepdim=True)  # the first try that fits
        any_fit = fits.any(1, keepdim=True)
        # none fits: the whole image, cut to the aspect range (torchvision's fallback)
        in_ratio = w / h
        fw = torch.where(in_ratio > _RATIO[1], (h * _RATIO[1]).round(), w)
        fh = torch.where(in_ratio < _RATIO[0], (w / _RATIO[0]).round(), h)
        cw = torch.where(any_fit, cw.gather(1, first), fw)
        ch = torch.where(any_fit, ch.gather(1, first), fh)
        u = torch.rand(k, 2, generator=generator, dtype=torch.float64)
        top = torch.where(any_fit, (u[:, :1] * (h - ch + 1)).floor(), ((h - ch) / 2).round())
        left = torch.where(any_fit, (u[:, 1:] * (w - cw + 1)).floor(), ((w - cw) / 2).round())
        return torch.cat([left, top, left + cw, top + ch], 1).to(torch.float32)

    def crops(
        self,
        indices: torch.Tensor | Sequence[int],
        generator: torch.Generator | None = None,
        resolution: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: a random-area crop of each image resized to ``resolution`` (default
        :attr:`resolution`), flipped left-right with probability 1/2, normalised; float32
        K x 3 x res x res on the images' device. Random numbers come from ``generator``
        (CPU; the global one if ``None``)."""
        idx = torch.as_tensor(indices, dtype=torch.int64)
        res = resolution or self.resolution
        boxes = self.crop_boxes(idx, generator)
        flip = torch.rand(len(idx), generator=generator) < 0.5
        device = self.images.device
        batch = self.images[idx.to(device)].float()
        rois = torch.cat([torch.arange(len(idx), dtype=torch.float32)[:, None], boxes], 1)
        x = roi_align(
            batch, rois.to(device), (res, res), spatial_scale=1.0, sampling_ratio=-1, aligned=True
        )
        x = torch.where(flip.to(device)[:, None, None, None], x.flip(3), x)
        scale = 1.0 / (255.0 * self.std.to(device))
        x = x * scale - (self.mean / self.std).to(device)
        return x, self.labels[idx].to(device)


def _reduced(img: Image.Image, side: int) -> Image.Image:
    """``img`` with its shorter side at most ``side`` (bicubic with PIL's reducing gap)."""
    w, h = img.size
    if min(w, h) <= side:
        return img
    scale = side / min(w, h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=3.0)


def estimated_bytes(count: int, side: int) -> int:
    """A lower bound on the bytes :func:`preload` needs for ``count`` images (square ones)."""
    return count * 3 * side * side


def preload(
    dataset: ImageFolderDataset | CifarDataset,
    *,
    resolution: int,
    crop_scale: tuple[float, float],
    max_bytes: int = DEFAULT_MAX_BYTES,
    on_skip: Callable[[str, str], None] | None = None,
    progress: bool = False,
) -> PreloadedImages | None:
    """``dataset``'s images decoded once into a :class:`PreloadedImages`, each with its shorter
    side reduced to :func:`storage_side` (smaller images are kept as they are); ``None`` when
    they would take more than ``max_bytes``. A file that cannot be decoded is left out and
    passed to ``on_skip(path, reason)``.
    """
    side = storage_side(resolution, crop_scale)
    if isinstance(dataset, CifarDataset):
        arrays = torch.from_numpy(dataset.images).permute(0, 3, 1, 2).contiguous()
        if arrays.numel() > max_bytes:
            return None
        h, w = arrays.shape[2:]
        sizes = torch.tensor([[h, w]] * len(arrays))
        return PreloadedImages(
            arrays, sizes, torch.from_numpy(dataset.labels), dataset.classes, resolution, crop_scale
        )
    if estimated_bytes(len(dataset), side) > max_bytes:
        return None
    from tqdm import tqdm

    tensors: list[torch.Tensor] = []
    labels: list[int] = []
    total = 0
    for path, label in tqdm(dataset.samples, desc="preload", unit="img", disable=not progress):
        try:
            img = _reduced(load_image(path, max_pixels=dataset.max_pixels), side)
        except (OSError, ValueError) as e:
            if on_skip is not None:
                on_skip(path, f"{type(e).__name__}: {e}")
            continue
        t = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1)
        total += t.numel()
        if total > max_bytes:
            return None
        tensors.append(t)
        labels.append(label)
    if not tensors:
        raise ValueError("no readable training image to preload")
    height = max(t.shape[1] for t in tensors)
    width = max(t.shape[2] for t in tensors)
    if len(tensors) * 3 * height * width > max_bytes:
        return None
    images = torch.zeros(len(tensors), 3, height, width, dtype=torch.uint8)
    for i, t in enumerate(tensors):
        images[i, :, : t.shape[1], : t.shape[2]] = t
    sizes = torch.tensor([[t.shape[1], t.shape[2]] for t in tensors])
    return PreloadedImages(
        images, sizes, torch.tensor(labels), dataset.classes, resolution, crop_scale
    )
