"""Checkpoint averaging: the mean of several effnet weights files of one run (the weights of its
last epochs, ``--keep-last``), as timm's ``avg_checkpoints.py`` computes it, into a loadable
effnet file."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from safetensors.torch import save_file

from effnet.files import atomic_write
from effnet.weights.io import WeightsMismatchError, read_metadata, read_tensors

#: The weights files ``--keep-last`` writes: ``epoch-<N>.safetensors``.
EPOCH_PATTERN = "epoch-*.safetensors"


def epoch_files(run: str | os.PathLike[str]) -> list[Path]:
    """A run's ``epoch-<N>.safetensors`` files, oldest first."""
    return sorted(Path(run).glob(EPOCH_PATTERN), key=lambda p: int(p.stem.split("-")[1]))


def average_weights(paths: Sequence[Path], out: str | os.PathLike[str]) -> Path:
    """Write the element-wise mean of ``paths`` (effnet files of one architecture) to ``out``
    with the metadata of the last one; integer buffers (BN's step counters) are the last's.
    Files that disagree in keys or shapes are an error naming the first difference."""
    if not paths:
        raise ValueError("no weights files to average")
    first = read_tensors(Path(paths[0]))
    sums = {k: v.double() if v.is_floating_point() else v for k, v in first.items()}
    for path in paths[1:]:
        tensors = read_tensors(Path(path))
        if tensors.keys() != sums.keys():
            diff = sorted(set(tensors) ^ set(sums))[:3]
            raise WeightsMismatchError(f"{path} and {paths[0]} hold other tensors: {diff}")
        for k, v in tensors.items():
            if v.shape != sums[k].shape:
                raise WeightsMismatchError(
                    f"{path}: {k} is {tuple(v.shape)}, not {tuple(sums[k].shape)}"
                )
            sums[k] = sums[k] + v.double() if v.is_floating_point() else v
    meta = {**read_metadata(paths[-1]), "averaged": ", ".join(Path(p).name for p in paths)}
    averaged = {
        k: (v / len(paths)).to(first[k].dtype).contiguous() if first[k].is_floating_point() else v
        for k, v in sums.items()
    }
    atomic_write(out, lambda tmp: save_file(averaged, str(tmp), metadata=meta))
    return Path(out)
