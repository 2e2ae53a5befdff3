"""Counting and timing: parameters, multiply-adds and latency (paper Tables 2-4)."""

from __future__ import annotations

import logging

import torch
from torch import nn

from effnet.analysis.cost import Resolution, input_shape, model_cost


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, resolution: Resolution) -> int:
    """Multiply-adds for one image at ``resolution`` (the paper's "FLOPs", Table 2), counted
    by :func:`effnet.analysis.cost.model_cost`."""
    return model_cost(model, resolution).macs


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    resolution: Resolution,
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
    size = input_shape(model, resolution)
    x = torch.randn((batch_size, *size[1:]))
    model(x)  # warm-up
    timer = benchmark.Timer(
        stmt="model(x)",
        globals={"model": model, "x": x},
        num_threads=threads or torch.get_num_threads(),
    )
    return timer.blocked_autorange(min_run_time=min_run_time).median * 1e3
