"""int8 (ONNX Runtime static quantization) against float ONNX: latency, and agreement.

    python benchmarks/int8.py --models efficientnet_b0,efficientnet_lite0 --calibration DIR

Latency: ONNX Runtime CPU, one intra-op thread, batch 1, median over interleaved repeats
(float, int8, float, ...) so that both see the same machine state. Random-init weights are fine
for latency; agreement is meaningful only with trained ``--weights``.
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

from effnet.deploy.export import export_model
from effnet.deploy.quantize import calibration_inputs, quantize
from effnet.models.create import create_model


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="efficientnet_b0,efficientnet_lite0")
    p.add_argument("--calibration", required=True, help="folder of calibration images")
    p.add_argument("--max-images", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--runs", type=int, default=5, help="inferences per timed repeat")
    args = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = create_model(name).eval()
            x, _, _ = calibration_inputs(model, args.calibration, max_images=args.max_images)
            res = x.shape[-1]
            fp = export_model(model, Path(tmp) / f"{name}.onnx", resolution=res, dynamic_size=False)
            q = quantize(model, Path(tmp) / f"{name}.int8.onnx", x)
            sessions = {"fp32": _session(fp), "int8": _session(q)}
            one = x[:1]
            for s in sessions.values():
                _once(s, one, 3)  # warm-up
            times: dict[str, list[float]] = {k: [] for k in sessions}
            for _ in range(args.repeats):
                for k, s in sessions.items():
                    times[k].append(_once(s, one, args.runs))
            med = {k: statistics.median(v) for k, v in times.items()}
            f = np.concatenate(
                [sessions["fp32"].run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))]
            )
            g = np.concatenate(
                [sessions["int8"].run(None, {"x": x[i : i + 1]})[0] for i in range(len(x))]
            )
            agree = float((f.argmax(1) == g.argmax(1)).mean())
            print(
                f"{name} @ {res}: fp32 {med['fp32']:.2f} ms, int8 {med['int8']:.2f} ms "
                f"(x{med['int8'] / med['fp32']:.2f}); size {fp.stat().st_size / 1e6:.1f} -> "
                f"{q.stat().st_size / 1e6:.1f} MB; top-1 agreement {agree:.3f}"
            )


if __name__ == "__main__":
    main()
