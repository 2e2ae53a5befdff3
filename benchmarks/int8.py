"""int8 (ONNX Runtime static quantization) against float ONNX: latency, agreement, accuracy.

    python benchmarks/int8.py --models efficientnet_b0,efficientnet_lite0 --calibration DIR
    python benchmarks/int8.py --weights b0.safetensors,lite0.safetensors --calibration demo \
        --eval demo --max-images 100
    python benchmarks/int8.py --models efficientnet_lite0 --calibration demo --reduce-range both

Latency: ONNX Runtime CPU, one intra-op thread, batch 1, median over interleaved repeats
(float, int8, float, ...) so that both see the same machine state. Random-init weights are fine
for latency; agreement is meaningful only with trained ``--weights`` (effnet files: their own
architecture, resolution and eval crop). ``--eval DIR`` (class folders, a dataset root whose
``val/`` is used, or ``demo``) adds float and int8 top-1 on those labelled images, which must
not be the calibration images; ``--calibration demo`` takes the demo's train split.
``--reduce-range`` picks the int8 file's weights: 7-bit (``on``, :func:`effnet.quantize`'s
default, exact on x86 CPUs without VNNI), 8-bit (``off``), or ``both`` side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from effnet.data.demo import demo_root
from effnet.deploy.export import export_model
from effnet.deploy.quantize import calibration_inputs, quantize
from effnet.weights.create import create_model


def _session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _once(session: ort.InferenceSession, x: np.ndarray, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        session.run(None, {"x": x})
    return (time.perf_counter() - t) / n * 1e3


def _folder(arg: str, split: str) -> Path:
    """``demo`` -> the demo's ``split``; a dataset root with ``split/`` -> that; else ``arg``."""
    root = demo_root() if arg == "demo" else Path(arg)
    return root / split if (root / split).is_dir() else root


def _logits(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return np.concatenate([session.run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))])


def _labelled(model: torch.nn.Module, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Eval-preprocessed images of ``folder``'s class sub-folders and their class indices."""
    x, files, _ = calibration_inputs(model, folder, max_images=None)
    classes = list(model.pretrained_cfg["classes"])  # type: ignore[index]
    unknown = sorted({f.parent.name for f in files} - set(classes))
    if unknown:
        raise SystemExit(f"{folder}: folders {unknown} are not classes of the model {classes}")
    return x, np.array([classes.index(f.parent.name) for f in files])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="efficientnet_b0,efficientnet_lite0")
    p.add_argument(
        "--weights", default=None, help="comma-separated effnet weights files (replace --models)"
    )
    p.add_argument("--calibration", required=True, help="folder of calibration images, or 'demo'")
    p.add_argument("--eval", default=None, help="labelled images for top-1 (or 'demo')")
    p.add_argument("--max-images", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--runs", type=int, default=5, help="inferences per timed repeat")
    p.add_argument(
        "--reduce-range", choices=["on", "off", "both"], default="on",
        help="int8 weights in 7 bits (on: the default), 8 bits (off), or both files",
    )  # fmt: skip
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        names = (args.weights or args.models).split(",")
        for name in names:
            if args.weights:
                model = create_model(None, weights=name).eval()  # type: ignore[arg-type]
                name = f"{Path(name).parent.name}/{Path(name).name}"
            else:
                model = create_model(name).eval()
            calibration = _folder(args.calibration, "train")
            x, _, _ = calibration_inputs(model, calibration, max_images=args.max_images)
            res = x.shape[-1]
            stem = Path(tmp) / name.replace("/", "_")
            fp = export_model(model, f"{stem}.onnx", resolution=res, dynamic_size=False)
            ranges = {"on": [True], "off": [False], "both": [True, False]}[args.reduce_range]
            files = {
                f"int8{'' if r else ' 8-bit'}": quantize(
                    model, f"{stem}.int8{'' if r else '.8bit'}.onnx", x, reduce_range=r
                )
                for r in ranges
            }
            sessions = {"fp32": _session(fp)} | {k: _session(q) for k, q in files.items()}
            one = x[:1]
            for s in sessions.values():
                _once(s, one, 3)  # warm-up
            times: dict[str, list[float]] = {k: [] for k in sessions}
            for _ in range(args.repeats):
                for k, s in sessions.items():
                    times[k].append(_once(s, one, args.runs))
            med = {k: statistics.median(v) for k, v in times.items()}
            f = _logits(sessions["fp32"], x)
            print(f"{name} @ {res}: fp32 {med['fp32']:.2f} ms, {fp.stat().st_size / 1e6:.1f} MB")
            for k, q in files.items():
                g = _logits(sessions[k], x)
                agree = float((f.argmax(1) == g.argmax(1)).mean())
                corr = float(np.corrcoef(f.ravel(), g.ravel())[0, 1])
                print(
                    f"  {k}: {med[k]:.2f} ms (x{med[k] / med['fp32']:.2f}), "
                    f"{q.stat().st_size / 1e6:.1f} MB; on {len(x)} calibration images: top-1 "
                    f"agreement {agree:.3f}, logit correlation {corr:.4f}"
                )
            if args.eval:
                ex, labels = _labelled(model, _folder(args.eval, "val"))
                f = _logits(sessions["fp32"], ex).argmax(1)
                print(f"  {len(ex)} labelled images: fp32 top-1 {(f == labels).mean():.2%}")
                for k in files:
                    g = _logits(sessions[k], ex).argmax(1)
                    print(
                        f"    {k} top-1 {(g == labels).mean():.2%}, agreement {(f == g).mean():.2%}"
                    )


if __name__ == "__main__":
    main()
