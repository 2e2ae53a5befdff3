"""The machine a benchmark ran on, in one line: CPU model, AVX-512 or not, cores, torch."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def describe() -> str:
    model, flags = platform.processor() or platform.machine(), ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("", platform.machine()):
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = value
    simd = (
        "AVX-512"
        if "avx512f" in flags.split()
        else "AVX2, no AVX-512"
        if "avx2" in flags.split()
        else "no AVX2"
    )
    import torch

    return f"{model} ({simd}), {os.cpu_count()} cores, torch {torch.__version__}"
