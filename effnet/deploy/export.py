"""Export to ONNX, TorchScript and ``torch.export`` programs.

Every exported graph is traced at a fixed input size (the model's resolution by default):
TF "SAME" padding depends on the input size, so it is resolved to constants at that size.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from effnet.models.layers import Conv2dSame
from effnet.types import ExportFormat


def example_input(model: nn.Module, resolution: int | None = None, batch: int = 1) -> torch.Tensor:
    res = resolution or model.spec.resolution
    return torch.randn(batch, getattr(model, "in_chans", 3), res, res)


#: Smallest dynamic side: below 33 px the final map of a stride-32 network is 1x1, a case torch
#: specialises on, so a dynamic range must start above it.
MIN_DYNAMIC_SIDE = 33


def dynamic_shapes(
    model: nn.Module, *, batch: bool = True, size: bool | None = None, traced_side: int = 224
) -> dict[str, dict[int, torch.export.Dim]] | None:
    """``dynamic_shapes`` for :func:`torch.export.export` of ``model``'s input ``x``: a dynamic
    batch, and dynamic height and width (``size``; default: unless the model uses TF "SAME"
    padding, whose padding depends on the input size and is resolved at export time, or the
    example traced, of side ``traced_side``, is below :data:`MIN_DYNAMIC_SIDE`)."""
    if size is None:
        same = any(isinstance(m, Conv2dSame) for m in model.modules())
        size = not same and traced_side >= MIN_DYNAMIC_SIDE
    dims: dict[int, torch.export.Dim] = {}
    if batch:
        dims[0] = torch.export.Dim("batch", min=1, max=1024)
    if size:
        dims[2] = torch.export.Dim("height", min=MIN_DYNAMIC_SIDE, max=4096)
        dims[3] = torch.export.Dim("width", min=MIN_DYNAMIC_SIDE, max=4096)
    return {"x": dims} if dims else None


def onnx_program(
    model: nn.Module,
    x: torch.Tensor,
    *,
    dynamic_batch: bool = True,
    dynamic_size: bool | None = None,
    output_names: Sequence[str] = ("logits",),
) -> torch.onnx.ONNXProgram:
    """``model`` (already in eval mode) traced on ``x`` by the ``torch.export``-based ONNX
    exporter (opset 18), input named ``x``; dynamic axes as :func:`dynamic_shapes` (``x`` should
    have a batch of 2 or more: ``torch.export`` specialises a traced size of 1)."""
    dims = dynamic_shapes(
        model, batch=dynamic_batch, size=dynamic_size, traced_side=min(x.shape[-2:])
    )
    with torch.no_grad():
        return torch.onnx.export(
            model,
            (x,),
            dynamic_shapes=None if dims is None else (dims["x"],),  # by position: any arg name
            input_names=["x"],
            output_names=list(output_names),
            opset_version=18,
            dynamo=True,
            verbose=False,
        )


def script_model(model: nn.Module) -> torch.jit.ScriptModule:
    """``torch.jit.script(model)``: control flow kept, no tracer warnings. TorchScript is
    deprecated upstream in favour of ``torch.export``; its per-function deprecation warnings are
    muted here (the format stays for ``torch.jit.load`` and C++ users)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch\.jit")
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated")
        try:
            return torch.jit.script(model)
        except Exception as e:  # noqa: BLE001 - any TorchScript failure, reported in one line
            raise RuntimeError(
                f"cannot script {type(model).__name__} ({type(e).__name__}: "
                f"{str(e).strip().splitlines()[0] if str(e).strip() else ''})"
            ) from e


def export_model(
    model: nn.Module,
    path: str | os.PathLike[str],
    *,
    format: ExportFormat = "onnx",
    resolution: int | None = None,
    dynamic_batch: bool = True,
    dynamic_size: bool | None = None,
) -> Path:
    """Write ``model`` (in eval mode) to ``path`` in the given format; returns the path.

    ``onnx`` uses the ``torch.export``-based exporter (opset 18), ``torchscript`` scripts the
    model (:func:`script_model`), ``exported`` saves a :func:`torch.export.export` program
    (``.pt2``) loadable with :func:`torch.export.load`. ``onnx`` and ``exported`` have a
    dynamic batch axis (``dynamic_batch``) and dynamic height and width (``dynamic_size``, see
    :func:`dynamic_shapes`; default for models with symmetric padding).
    """
    model = model.eval()
    x = example_input(model, resolution, batch=2)
    side = min(x.shape[-2:])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        if format == "onnx":
            program = onnx_program(model, x, dynamic_batch=dynamic_batch, dynamic_size=dynamic_size)
            program.save(str(path))
        elif format == "torchscript":
            script_model(model).save(str(path))
        elif format == "exported":
            dims = dynamic_shapes(model, batch=dynamic_batch, size=dynamic_size, traced_side=side)
            torch.export.save(torch.export.export(model, (x,), dynamic_shapes=dims), str(path))
        else:
            raise ValueError(
                f"unknown export format {format!r}; expected onnx, torchscript or exported"
            )
    return path
