"""Data-parallel plumbing for ``torchrun --nproc_per_node N -m effnet train ...``.

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``; we then join the process group
(NCCL on GPU, gloo on CPU), shard data with :class:`torch.utils.data.DistributedSampler`,
sum metrics with ``all_reduce`` and let rank 0 alone write files.

Flags the host decides every step (a stop request) are agreed over a gloo group on CPU
tensors, beside the NCCL one: reading an NCCL result would make the host wait for all the
work queued on the GPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

#: The gloo group of :func:`broadcast_flag` when the default group is NCCL (else ``None``).
_host_group: Any = None


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size``, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def wants_cuda(device: str | None = None) -> bool:
    """Whether ``device`` (``"cpu"``, ``"cuda"`` or ``None``: CUDA when available) means CUDA;
    asking for CUDA where there is none is an error."""
    want = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if want and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    return want


def pick_device(device: str | None = None) -> torch.device:
    """The torch device for ``device`` in a single process (see :func:`wants_cuda`)."""
    return torch.device("cuda" if wants_cuda(device) else "cpu")


def setup(device: str | None = None) -> DistInfo:
    """Join the process group if launched by torchrun, and pick this process's device.

    ``device``: ``"cpu"``, ``"cuda"`` or ``None`` (CUDA when available).
    """
    global _host_group
    want_cuda = wants_cuda(device)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if want_cuda:
        dev = torch.device("cuda", local if world > 1 else torch.cuda.current_device())
        torch.cuda.set_device(dev)
    else:
        dev = torch.device("cpu")
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if want_cuda else "gloo")
        _host_group = dist.new_group(backend="gloo") if want_cuda else None
    return DistInfo(rank=rank, world_size=world, local_rank=local, device=dev)


def cleanup() -> None:
    """Leave the process group (if we joined one)."""
    global _host_group
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    _host_group = None


def all_reduce_sum(values: list[float], info: DistInfo) -> list[float]:
    """Sum a list of numbers across processes (a no-op on one process)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=info.device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def all_reduce_mean_(tensors: list[torch.Tensor], info: DistInfo) -> None:
    """Replace each tensor by its mean across processes, in place (a no-op on one process)."""
    if not info.enabled:
        return
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t.div_(info.world_size)


def broadcast_flag(flag: bool, info: DistInfo) -> bool:
    """True on every process if it is true on any (e.g. a stop request); host to host, so
    the GPU's queue is not drained (see the module docstring)."""
    if not info.enabled:
        return flag
    on_host = _host_group is not None or info.device.type == "cpu"
    t = torch.tensor([1.0 if flag else 0.0], device="cpu" if on_host else info.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_host_group)
    return bool(t.item() > 0)


def any_flag_(flag: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """``flag`` (a number on the device, > 0 = set) made the maximum over processes, in
    place; the host does not wait for it (a no-op on one process)."""
    if info.enabled:
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return flag


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
