"""Top-1 / top-5 accuracy (in percent) over a loader, exact across processes.

The counts are summed on the device and read once at the end, so the host queues batches
without waiting for each one.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from effnet.train.distributed import DistInfo, all_reduce_sum


def amp_dtype(amp: str | bool | None, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``--amp``: ``"bf16"``, ``"fp16"`` (CUDA only), or ``None`` /
    ``False`` for none."""
    if amp is None or amp is False:
        return None
    if amp == "fp16" and device.type != "cuda":
        raise ValueError("--amp fp16 needs a CUDA device; use --amp bf16 on CPU")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``dtype`` (``None``: a no-op context)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device | str = "cpu",
    info: DistInfo | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    per_class: bool = False,
    num_classes: int | None = None,
) -> dict[str, Any]:
    """Accuracy of ``model`` on ``loader``.

    Images labelled -1 (undecodable files, see :class:`effnet.data.folder.ImageFolderDataset`)
    are left out of every figure. Returns ``{"top1": %, "top5": %, "n": images, "loss": mean
    CE}`` and with ``per_class``
    also ``"per_class": [% per class index]`` (``None`` for classes with no images). Under DDP
    every process evaluates its shard and the counts are summed, so all ranks get the totals.
    """
    info = info or DistInfo()
    device = torch.device(device)
    was_training = model.training
    model.eval()
    k = num_classes or getattr(model, "num_classes", None) or 0
    # correct top-1, correct top-5, summed loss, images: float64, as Python floats summed them
    sums = torch.zeros(4, dtype=torch.float64, device=device)
    cls_correct = torch.zeros(max(k, 1), dtype=torch.float64, device=device)
    cls_total = torch.zeros(max(k, 1), dtype=torch.float64, device=device)
    for images, targets in loader:
        images = images.to(device, non_blocking=True)
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        targets = targets.to(device, non_blocking=True)
        with autocast(device, amp_dtype):
            logits = model(images)
        logits = logits.float()
        # label -1: an image that could not be decoded (ImageFolderDataset, substitute=False)
        valid = targets >= 0
        loss = nn.functional.cross_entropy(logits, targets, reduction="sum", ignore_index=-1)
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        hit = top == targets[:, None]  # never true for -1
        sums += torch.stack(
            [t.double() for t in (hit[:, 0].sum(), hit.any(dim=1).sum(), loss, valid.sum())]
        )
        if per_class:
            if cls_total.numel() < logits.shape[1]:
                cls_total = torch.zeros(logits.shape[1], dtype=torch.float64, device=device)
                cls_correct = torch.zeros(logits.shape[1], dtype=torch.float64, device=device)
            index = targets.clamp(min=0)
            cls_total.index_add_(0, index, valid.double())
            cls_correct.index_add_(0, index, hit[:, 0].double())
    correct1, correct5, loss_sum, count = all_reduce_sum(sums.tolist(), info)
    model.train(was_training)
    result: dict[str, Any] = {
        "top1": 100.0 * correct1 / count if count else 0.0,
        "top5": 100.0 * correct5 / count if count else 0.0,
        "n": int(count),
        "loss": loss_sum / count if count else float("nan"),
    }
    if per_class:
        totals = all_reduce_sum(cls_total.tolist(), info)
        hits = all_reduce_sum(cls_correct.tolist(), info)
        result["per_class"] = [100.0 * h / t if t else None for h, t in zip(hits, totals)]
    return result
