"""Counting and timing: parameters, multiply-adds, latency and memory (paper Tables 2-4)."""

from __future__ import annotations

import logging

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _input_size(model: nn.Module, resolution: int | tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = (resolution, resolution) if isinstance(resolution, int) else resolution
    return (1, getattr(model, "in_chans", 3), h, w)


@torch.no_grad()
def count_macs(model: nn.Module, resolution: int | tuple[int, int]) -> int:
    """Multiply-adds for one image at ``resolution`` (the paper's "FLOPs", facts §1).

    Counted by :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix
    products; it reports 2 FLOPs per multiply-add).
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(_input_size(model, resolution))
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() // 2


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    resolution: int | tuple[int, int],
    *,
    batch_size: int = 1,
    threads: int | None = None,
    min_run_time: float = 1.0,
) -> float:
    """Median forward latency in milliseconds (eval mode, after warm-up), via
    :mod:`torch.utils.benchmark`. ``threads=1`` is the paper's Table 4 protocol."""
    # torch.utils.benchmark imports cpp_extension, which warns about CUDA on CPU-only machines
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    from torch.utils import benchmark

    model.eval()
    size = _input_size(model, resolution)
    x = torch.randn((batch_size, *size[1:]))
    model(x)  # warm-up
    timer = benchmark.Timer(
        stmt="model(x)",
        globals={"model": model, "x": x},
        num_threads=threads or torch.get_num_threads(),
    )
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
