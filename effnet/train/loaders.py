"""Samplers and DataLoaders: sharded across processes, reproducible, resumable mid-epoch.

The training order of epoch ``e`` is a pure function of ``(seed, e)``
(:class:`torch.utils.data.DistributedSampler` shuffles with ``seed + e``), so a resumed run
sees the same images in the same order; a run stopped after ``k`` batches of an epoch skips
exactly those ``k`` batches when it resumes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Sampler

from effnet.data.preload import PreloadedImages
from effnet.train.distributed import DistInfo


class ResumableSampler(Sampler[int]):
    """A :class:`DistributedSampler` (one shard per process) that can skip its first samples."""

    def __init__(self, dataset: Dataset, info: DistInfo, seed: int, batch_size: int) -> None:
        self.inner = DistributedSampler(
            dataset, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
        )
        self.batch_size = batch_size
        self.skip_batches = 0

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Order for ``epoch``; the first ``skip_batches`` batches are left out (resume)."""
        self.inner.set_epoch(epoch)
        self.skip_batches = skip_batches

    def __iter__(self) -> Iterator[int]:
        indices = list(self.inner)
        return iter(indices[self.skip_batches * self.batch_size :])

    def __len__(self) -> int:
        return max(0, len(self.inner) - self.skip_batches * self.batch_size)


class ShardSampler(Sampler[int]):
    """Every ``world_size``-th index starting at ``rank``: no padding, so sums are exact."""

    def __init__(self, n: int, info: DistInfo) -> None:
        self.indices = list(range(info.rank, n, info.world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the OS has one, as
    under a batch scheduler or ``taskset``; else all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def local_processes() -> int:
    """Processes sharing this machine: ``LOCAL_WORLD_SIZE`` under torchrun, else 1."""
    return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def default_workers(
    device: torch.device | str, *, cores: int | None = None, processes: int | None = None
) -> int:
    """DataLoader workers per process when none are asked for, from the cores each process has
    (``cores // processes``: :func:`available_cores` shared by the :func:`local_processes`).

    On GPU, all of a process's cores but the one its main thread uses (decoding and augmenting
    feed the GPU), at least 1, at most 16. On CPU, 0 up to 2 cores, where a worker process
    competes with the training threads (the demo trains at ~370 images/s with none and ~300 with
    one or two on 2 cores), else a quarter of them, at most 4.
    """
    cores = available_cores() if cores is None else cores
    processes = local_processes() if processes is None else processes
    per_process = max(1, cores // max(1, processes))
    if torch.device(device).type == "cuda":
        return min(16, max(1, per_process - 1))
    return 0 if per_process <= 2 else min(4, max(1, per_process // 4))


def _loader_kwargs(
    workers: int, device: torch.device, persistent: bool = True
) -> dict[str, object]:
    kwargs: dict[str, object] = {"num_workers": workers, "pin_memory": device.type == "cuda"}
    if workers > 0:
        kwargs["persistent_workers"] = persistent
        kwargs["prefetch_factor"] = 4
    return kwargs


def train_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    info: DistInfo,
    seed: int,
    workers: int,
    persistent: bool = True,
) -> DataLoader | PreloadedLoader:
    """Batches of ``batch_size`` (per process); incomplete last batches are dropped
    (BatchNorm needs more than one sample) unless the shard is smaller than one batch.
    A preloaded dataset is batched by :class:`PreloadedLoader` (no worker processes).
    ``persistent=False`` starts the workers anew each epoch, with the dataset as it is then."""
    if isinstance(dataset, PreloadedImages):
        return PreloadedLoader(dataset, batch_size=batch_size, info=info, seed=seed)
    sampler = ResumableSampler(dataset, info, seed, batch_size)
    drop_last = len(sampler.inner) >= batch_size
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=drop_last,
        generator=generator,
        **_loader_kwargs(workers, info.device, persistent),  # type: ignore[arg-type]
    )


def eval_loader(dataset: Dataset, *, batch_size: int, info: DistInfo, workers: int) -> DataLoader:
    """This process's shard of ``dataset``, in order, nothing dropped or repeated."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), info),  # type: ignore[arg-type]
        **_loader_kwargs(workers, info.device),  # type: ignore[arg-type]
    )


class PreloadedLoader:
    """Training batches cropped from a :class:`~effnet.data.preload.PreloadedImages` (held on
    ``info.device``) in the main process, in :class:`ResumableSampler`'s order.

    Batch ``b`` of epoch ``e`` draws its crops from a generator seeded by ``(seed, rank, e,
    b)``: a resumed run gets the same crops. ``resolution`` (settable per epoch, for
    progressive resizing) is the side of the batches.
    """

    def __init__(
        self, dataset: PreloadedImages, *, batch_size: int, info: DistInfo, seed: int
    ) -> None:
        self.dataset = dataset.to(info.device)
        self.sampler = ResumableSampler(dataset, info, seed, batch_size)
        self.batch_size = batch_size
        self.drop_last = len(self.sampler.inner) >= batch_size
        self.seed = seed
        self.rank = info.rank
        self.resolution = dataset.resolution

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        indices = torch.tensor(list(self.sampler), dtype=torch.int64)
        epoch, first = self.sampler.inner.epoch, self.sampler.skip_batches
        for b in range(len(self)):
            batch = indices[b * self.batch_size : (b + 1) * self.batch_size]
            key = np.random.SeedSequence([self.seed, self.rank, epoch, first + b])
            generator = torch.Generator().manual_seed(int(key.generate_state(1)[0]))
            yield self.dataset.crops(batch, generator, self.resolution)
