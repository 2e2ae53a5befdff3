"""Static int8 quantization of an exported ONNX model with ONNX Runtime's quantization tools.

The model is exported to ONNX (:func:`effnet.deploy.export.export_model`, fixed height and
width), pre-processed (``onnxruntime.quantization.quant_pre_process``: shape inference and graph
optimisation), then quantized by ``onnxruntime.quantization.quantize_static`` (ONNX Runtime
documentation, "Quantize ONNX models"): QDQ format, per-channel signed int8 weights, activations
in unsigned int8 with ranges from MinMax calibration on a folder of images, preprocessed as the
model's own eval transform (:func:`effnet.data.preprocess.create_transform`).

Weights use 7 of their 8 bits by default (``reduce_range``). On x86-64 CPUs without VNNI (AVX2,
and AVX-512 without VNNI), ONNX Runtime multiplies unsigned int8 activations by signed int8
weights with ``VPMADDUBSW``, which adds each pair of products into a *saturating* int16: two
large activations times two large weights of the same sign exceed 32767 and are clamped, and
the errors compound through the network. With weights in [-64, 64] a pair cannot overflow
(2 x 255 x 64 < 32768). The same documentation gives ``reduce_range`` (or unsigned int8
weights, which run slower there) as the fix. An int8 file is built on one machine and run on
others, so the default keeps its answers on every x86 CPU; ``reduce_range=False`` gives 8-bit
weights, a little more precise, for files that will only run where the int8 dot product does
not saturate (VNNI's ``VPDPBUSD``, ARM's ``SDOT``/``UDOT``).

``onnxruntime`` is an optional dependency: it is imported when a function here is called.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from effnet.data.folder import image_extensions
from effnet.data.image import load_image
from effnet.data.preprocess import create_transform
from effnet.deploy.export import export_model

#: Calibration images used by default (ONNX Runtime's examples calibrate on a few hundred).
DEFAULT_MAX_IMAGES = 256


def calibration_files(folder: str | os.PathLike[str], max_images: int | None = None) -> list[Path]:
    """The image files under ``folder`` (class sub-folders allowed), sorted, at most
    ``max_images`` of them spread evenly over the sorted list.

    Raises:
        ValueError: ``folder`` is not a folder, or holds no image files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"calibration folder {str(root)!r} does not exist or is not a folder")
    exts = image_extensions()
    files = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in exts
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    if not files:
        raise ValueError(f"calibration folder {str(root)!r} holds no image files")
    if max_images is not None and len(files) > max_images:
        step = len(files) / max_images
        files = [files[int(i * step)] for i in range(max_images)]
    return files


def calibration_inputs(
    model: nn.Module,
    folder: str | os.PathLike[str],
    *,
    resolution: int | None = None,
    max_images: int | None = DEFAULT_MAX_IMAGES,
) -> tuple[np.ndarray, list[Path], int]:
    """The calibration images of ``folder`` preprocessed as ``model``'s eval transform:
    ``(inputs (N, C, H, W) float32, files read, number of unreadable files skipped)``.

    Raises:
        ValueError: no image files, or none of them readable.
    """
    files = calibration_files(folder, max_images)
    transform = create_transform(model, train=False, resolution=resolution)
    tensors: list[torch.Tensor] = []
    used: list[Path] = []
    for f in files:
        try:
            tensors.append(transform(load_image(f)))
        except (OSError, ValueError):
            continue
        used.append(f)
    skipped = len(files) - len(used)
    if not tensors:
        raise ValueError(
            f"calibration folder {str(folder)!r}: none of its {len(files)} image files is readable"
        )
    return torch.stack(tensors).numpy().astype(np.float32), used, skipped


def _reader(inputs: np.ndarray, name: str) -> Any:  # noqa: ANN401 - onnxruntime's class
    from onnxruntime.quantization import CalibrationDataReader

    class _Reader(CalibrationDataReader):
        """One image per ``get_next`` call, as ONNX Runtime's calibrators expect."""

        def __init__(self) -> None:
            self._it: Iterator[np.ndarray] = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {name: x[None]}

        def rewind(self) -> None:
            self._it = iter(inputs)

    return _Reader()


def quantize(
    model: nn.Module,
    path: str | os.PathLike[str],
    calibration: str | os.PathLike[str] | np.ndarray,
    *,
    resolution: int | None = None,
    max_images: int | None = DEFAULT_MAX_IMAGES,
    per_channel: bool = True,
    reduce_range: bool = True,
    exclude: Sequence[str] = (),
) -> Path:
    """Write ``model`` to ``path`` as a statically quantized int8 ONNX model; returns the path.

    ``calibration`` is a folder of images (class sub-folders allowed; at most ``max_images``
    used, unreadable files skipped) preprocessed with ``model``'s eval transform at
    ``resolution`` (default: the model's), or an array of inputs already preprocessed
    (N, C, H, W). The graph has a dynamic batch axis and the fixed input size.
    ``exclude`` names ONNX nodes to keep in float. ``reduce_range`` (default) quantizes weights
    to 7 bits, so that x86 CPUs without VNNI, whose int8 kernels saturate int16 sums of
    8-bit products, compute what the file says (see the module docstring); ``False`` only for
    files that will run on CPUs with VNNI or on ARM.

    Raises:
        ValueError: the folder is missing or empty, holds no image, or none is readable.
    """
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    if isinstance(calibration, np.ndarray):
        inputs = calibration.astype(np.float32)
    else:
        inputs, used, skipped = calibration_inputs(
            model, calibration, resolution=resolution, max_images=max_images
        )
        if skipped:
            warnings.warn(
                f"skipped {skipped} unreadable calibration file(s) in {str(calibration)!r}; "
                f"calibrating on {len(used)}",
                stacklevel=2,
            )
    res = int(inputs.shape[-1])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="effnet-int8-") as tmp:
        fp32 = export_model(
            model, Path(tmp) / "fp32.onnx", resolution=res, dynamic_batch=True, dynamic_size=False
        )
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(path),
            _reader(inputs, "x"),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=list(exclude) or None,
        )
    return path
