"""Export to ONNX, TorchScript and ``torch.export`` programs.

Every exported graph is traced at a fixed input size (the model's resolution by default):
TF "SAME" padding depends on the input size, so it is resolved to constants at that size.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from effnet.types import ExportFormat


def example_input(model: nn.Module, resolution: int | None = None, batch: int = 1) -> torch.Tensor:
    res = resolution or model.spec.resolution
    return torch.randn(batch, getattr(model, "in_chans", 3), res, res)


def export_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    format: ExportFormat = "onnx",
    resolution: int | None = None,
    dynamic_batch: bool = True,
) -> Path:
    """Write ``model`` (in eval mode) to ``path`` in the given format; returns the path.

    ``onnx`` uses the ``torch.export``-based exporter (opset 18, dynamic batch axis),
    ``torchscript`` traces the model, ``exported`` saves a :func:`torch.export.export`
    program (``.pt2``) loadable with :func:`torch.export.load`.
    """
    model = model.eval()
    x = example_input(model, resolution, batch=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        if format == "onnx":
            dims = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
            program = torch.onnx.export(
                model,
                (x,),
                dynamic_shapes=dims,
                input_names=["x"],
                output_names=["logits"],
                opset_version=18,
                dynamo=True,
                verbose=False,
            )
            program.save(str(path))
        elif format == "torchscript":
            torch.jit.trace(model, x).save(str(path))
        elif format == "exported":
            dims = {"x": {0: torch.export.Dim("batch", min=1, max=1024)}} if dynamic_batch else None
            torch.export.save(torch.export.export(model, (x,), dynamic_shapes=dims), str(path))
        else:
            raise ValueError(
                f"unknown export format {format!r}; expected onnx, torchscript or exported"
            )
    return path
