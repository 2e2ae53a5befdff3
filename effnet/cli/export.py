"""``effnet export``: ONNX, TorchScript or ``torch.export`` files, checked against eager; with
``--int8 --calibration DIR``, a statically quantized ONNX model (:mod:`effnet.deploy.quantize`)
checked for top-1 agreement with the float model on the calibration images."""

from __future__ import annotations

import argparse

from effnet.cli.options import add_weights_options, names_published
from effnet.cli.validate import nonnegative_int, positive_int, resolution
from effnet.types import ExportFormat, Padding, choices


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a model to ONNX, TorchScript or torch.export",
        description="Export a model and check the exported outputs against the eager model.",
    )
    add_weights_options(
        p,
        model_help="registered model name (effnet list); optional with effnet --weights (the "
        "file names its architecture); NAME.TAG names published weights; without weights: "
        "random initialisation",
    )
    p.add_argument(
        "--format",
        choices=choices(ExportFormat),
        default="onnx",
        help="onnx (opset 18, dynamic batch), torchscript (scripted) or exported "
        "(torch.export .pt2)",
    )
    p.add_argument("--out", required=True, help="output file")
    p.add_argument(
        "--resolution", type=resolution, default=None, help="input size (default: model's)"
    )
    p.add_argument(
        "--padding",
        choices=choices(Padding),
        default=None,
        help="without weights only (weights fix it): symmetric (default) or TF 'same'",
    )
    p.add_argument(
        "--num-classes",
        type=nonnegative_int,
        default=None,
        help="without weights only (weights fix it): classifier outputs (default: 1000)",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="statically quantize to int8 (ONNX only; needs --calibration)",
    )
    p.add_argument(
        "--calibration",
        default=None,
        metavar="DIR",
        help="folder of calibration images for --int8 (class sub-folders allowed)",
    )
    p.add_argument(
        "--max-images",
        type=positive_int,
        default=256,
        help="calibration images used at most, spread over the folder",
    )
    p.set_defaults(run=run, parser=p)


def run(args: argparse.Namespace) -> int:
    import torch

    from effnet.deploy.export import example_input, export_model

    if args.int8 and args.format != "onnx":
        args.parser.error(f"--int8 needs --format onnx, got --format {args.format}")
    if args.int8 and not args.calibration:
        args.parser.error("--int8 needs --calibration DIR (a folder of images)")
    if args.calibration and not args.int8:
        args.parser.error("--calibration is only used with --int8")
    if args.resolution is not None and args.resolution < 8:
        raise ValueError(f"--resolution must be at least 8, got {args.resolution}")
    model = _model(args)
    model.eval()
    if args.int8:
        return _run_int8(model, args)
    path = export_model(model, args.out, format=args.format, resolution=args.resolution)
    x = example_input(model, args.resolution, batch=2)
    with torch.no_grad():
        expected = model(x)
        got = _run_exported(path, args.format, x)
    diff = (got - expected).abs().max().item()
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB); max |exported - eager| = {diff:.2e}")
    return 0


def _model(args: argparse.Namespace):  # noqa: ANN202 - a Network
    """The model the weight options name; flags the weights would override are refused."""
    from effnet.weights.create import create_model
    from effnet.weights.loading import load_model

    tagged = names_published(args.model)
    if args.weights or args.pretrained or tagged:
        for flag, value in (("--num-classes", args.num_classes), ("--padding", args.padding)):
            if value is not None:
                args.parser.error(f"{flag} {value}: the weights fix it; leave {flag} out")
        return load_model(
            args.weights, model=args.model, source=args.source, pretrained=args.pretrained
        )[0]
    if args.model is None:
        args.parser.error("give --model NAME, --weights FILE or --pretrained with --model")
    if args.source != "effnet":
        args.parser.error("--source names the layout of --weights: give --weights too")
    return create_model(
        args.model,
        num_classes=1000 if args.num_classes is None else args.num_classes,
        padding=args.padding or "symmetric",
    )


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


def _run_int8(model, args: argparse.Namespace) -> int:  # noqa: ANN001 - a Network
    import numpy as np
    import onnxruntime as ort
    import torch

    from effnet.deploy.quantize import calibration_inputs, quantize

    inputs, used, skipped = calibration_inputs(
        model, args.calibration, resolution=args.resolution, max_images=args.max_images
    )
    if skipped:
        print(f"skipped {skipped} unreadable calibration file(s); calibrating on {len(used)}")
    path = quantize(model, args.out, inputs)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = np.concatenate(
        [session.run(None, {"x": inputs[i : i + 32]})[0] for i in range(0, len(inputs), 32)]
    )
    with torch.no_grad():
        expected = model(torch.from_numpy(inputs)).numpy()
    agree = float((got.argmax(1) == expected.argmax(1)).mean())
    diff = float(np.abs(got - expected).max())
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, int8); on the {len(used)} "
        f"calibration images: top-1 agreement with float = {agree:.3f}, "
        f"max |int8 - float| logit = {diff:.2e}"
    )
    return 0
