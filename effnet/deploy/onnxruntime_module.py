"""A network run by ONNX Runtime behind the ``nn.Module`` interface: torch tensors in and out.

The eval network is exported to ONNX in memory (:func:`effnet.deploy.export.onnx_program`) and
handed to an ``onnxruntime.InferenceSession`` as bytes, so no file is written. The session runs
on ONNX Runtime's CPU execution provider with every graph optimisation enabled
(``ORT_ENABLE_ALL``: constant folding, Conv + activation fusion, the blocked NCHWc layout for
convolutions; ONNX Runtime documentation, "Graph optimizations").

``onnxruntime``, ``onnx`` and ``onnxscript`` (the exporter's) are optional dependencies: they
are imported when a session is built.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from effnet.deploy.export import onnx_program

INSTALL_HINT = "pip install onnxruntime onnx onnxscript"


def _require_onnxruntime() -> Any:  # noqa: ANN401 - the onnxruntime module
    try:
        import onnx  # noqa: F401 - needed by the exporter
        import onnxruntime
        import onnxscript  # noqa: F401 - needed by the exporter
    except ImportError as e:
        raise ImportError(
            f"backend='onnxruntime' needs ONNX Runtime and the ONNX exporter ({e.name} is "
            f"missing): {INSTALL_HINT}"
        ) from e
    return onnxruntime


class OnnxRuntimeModule(nn.Module):
    """Runs an ONNX model with one input ``x`` in an ONNX Runtime session.

    ``forward`` takes a float tensor of any memory format or device, feeds ONNX Runtime a
    contiguous float32 NCHW array and returns the outputs as tensors on the input's device: one
    tensor, or a list for models with several outputs (feature pyramids). Not differentiable;
    the session cannot be deep-copied or pickled (build another from the model instead).
    """

    def __init__(self, session: Any, *, as_list: bool) -> None:  # noqa: ANN401 - ORT's class
        super().__init__()
        self.session = session
        self.as_list = as_list
        self.input_name = session.get_inputs()[0].name
        #: the input's axes: an int where the graph fixes it, a name where it is dynamic
        self.input_shape = tuple(session.get_inputs()[0].shape)
        self.train(False)

    def train(self, mode: bool = True) -> OnnxRuntimeModule:
        """Eval only: ONNX Runtime runs the frozen inference graph, so ``mode`` is ignored."""
        return super().train(False)

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a one-line ``ValueError`` for an input the graph cannot take."""
        fits = x.dim() == len(self.input_shape) and all(
            not isinstance(want, int) or got == want for got, want in zip(x.shape, self.input_shape)
        )
        if not fits:
            expected = ", ".join(str(d) if isinstance(d, int) else "*" for d in self.input_shape)
            raise ValueError(
                f"expected an input of shape ({expected}) (* any size), got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        self.check_input(x)
        feed = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        outs = [torch.from_numpy(o) for o in self.session.run(None, {self.input_name: feed})]
        if x.device.type != "cpu":
            outs = [o.to(x.device) for o in outs]
        return outs if self.as_list else outs[0]


def onnxruntime_module(model: nn.Module, example: torch.Tensor) -> OnnxRuntimeModule:
    """``model`` (in eval mode, left unchanged) exported to ONNX at ``example``'s shape and run
    by ONNX Runtime.

    The batch axis is dynamic; height and width too unless the model uses TF "SAME" padding or
    ``example`` is smaller than :data:`~effnet.deploy.export.MIN_DYNAMIC_SIDE` (see
    :func:`~effnet.deploy.export.dynamic_shapes`). The session uses
    ``torch.get_num_threads()`` intra-op threads, read now: call :func:`torch.set_num_threads`
    before building, as ONNX Runtime cannot change a session's thread pool later.

    Raises:
        ValueError: ``model`` returns something other than a tensor or a list of tensors, or
            the ONNX exporter cannot take it.
        ImportError: ``onnxruntime``, ``onnx`` or ``onnxscript`` is not installed.
    """
    ort = _require_onnxruntime()
    # a batch of 2: torch.export specialises a traced batch of 1 to a constant
    x = torch.randn(2, *example.shape[1:], dtype=torch.float32)
    with torch.no_grad():
        out = model(x)
    if isinstance(out, torch.Tensor):
        names, as_list = ["logits"], False
    elif isinstance(out, (list, tuple)) and out and all(isinstance(o, torch.Tensor) for o in out):
        names, as_list = [f"features{i}" for i in range(len(out))], True
    else:
        raise ValueError(
            "backend='onnxruntime' needs a model returning a tensor or a list of tensors, "
            f"got {type(out).__name__}"
        )
    try:
        program = onnx_program(model, x, output_names=names)
    except Exception as e:  # noqa: BLE001 - any exporter failure, reported in one line
        raise ValueError(
            f"cannot export {type(model).__name__} to ONNX for backend='onnxruntime' "
            f"({type(e).__name__}); use backend='torch'"
        ) from e
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = torch.get_num_threads()
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        program.model_proto.SerializeToString(), opts, providers=["CPUExecutionProvider"]
    )
    return OnnxRuntimeModule(session, as_list=as_list)
