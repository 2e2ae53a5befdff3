"""``effnet export``: ONNX, TorchScript or ``torch.export`` files, checked against eager."""

from __future__ import annotations

import argparse

from effnet.cli.validate import nonnegative_int, resolution
from effnet.types import ExportFormat, Padding, choices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX, TorchScript or torch.export",
        description="Export a model and check the exported outputs against the eager model.",
    )
    p.add_argument("--model", required=True, help="registered model name")
    p.add_argument("--weights", default=None, help="effnet .safetensors weights")
    p.add_argument("--format", choices=choices(ExportFormat), default="onnx")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument(
        "--resolution", type=resolution, default=None, help="input size (default: model's)"
    )
    p.add_argument("--padding", choices=choices(Padding), default="symmetric")
    p.add_argument("--num-classes", type=nonnegative_int, default=1000)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from effnet import create_model
    from effnet.deploy.export import example_input, export_model

    if args.resolution is not None and args.resolution < 8:
        raise ValueError(f"--resolution must be at least 8, got {args.resolution}")
    if args.weights:
        model = create_model(args.model, weights=args.weights)
    else:
        model = create_model(args.model, num_classes=args.num_classes, padding=args.padding)
    model.eval()
    path = export_model(model, args.out, format=args.format, resolution=args.resolution)
    x = example_input(model, args.resolution, batch=2)
    with torch.no_grad():
        expected = model(x)
        got = _run_exported(path, args.format, x)
    diff = (got - expected).abs().max().item()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); max |exported - eager| = {diff:.2e}")
    return 0


def _run_exported(path, fmt: str, x):  # noqa: ANN001, ANN202 - small local helper
    import torch

    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            print("onnxruntime is not installed: skipping the check against eager")
            return torch.full((1,), float("nan"))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {"x": x.numpy()})[0])
    if fmt == "torchscript":
        return torch.jit.load(str(path))(x)
    return torch.export.load(str(path)).module()(x)
