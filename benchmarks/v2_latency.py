"""EfficientNetV2 inference: effnet against timm and torchvision, measured in one run.

    python benchmarks/v2_latency.py [--rounds 3] [--min-run-time 1.0]

Batch 1, one thread (the V1 paper's Table 4 protocol), random weights, eval mode, each
library's eager model and effnet's fast path (:func:`effnet.optimize_for_inference`: BN
folded, channels_last, frozen TorchScript). V2-B0 at 224 against timm's
``tf_efficientnetv2_b0`` (timm has V2-B0 only as a port, with TF "SAME" padding: effnet's is
timed with both paddings); V2-S at 384 against timm's ``efficientnetv2_s`` and torchvision's
``efficientnet_v2_s``. Implementations are interleaved round by round
(:func:`compare.interleaved`); the median of per-round medians is reported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import interleaved  # noqa: E402
from machine import describe  # noqa: E402

import effnet  # noqa: E402

CASES = {  # effnet name, size, {label: (library, name)}, the first label the reference
    "V2-B0": ("efficientnet_v2_b0", 224, {
        "timm tf_efficientnetv2_b0": ("timm", "tf_efficientnetv2_b0"),
    }),
    "V2-S": ("efficientnet_v2_s", 384, {
        "timm efficientnetv2_s": ("timm", "efficientnetv2_s"),
        "torchvision efficientnet_v2_s": ("torchvision", "efficientnet_v2_s"),
    }),
}  # fmt: skip


def reference(library: str, name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if library == "timm":
        import timm

        return timm.create_model(name).eval()
    import torchvision

    return getattr(torchvision.models, name)().eval()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--min-run-time", type=float, default=1.0)
    args = p.parse_args(argv)
    print(f"machine: {describe()}")
    print("| model | implementation | ms (batch 1, 1 thread) | vs first reference |")
    print("|---|---|---:|---:|")
    for case, (name, size, refs) in CASES.items():
        x = torch.randn(1, 3, size, size)
        torch.manual_seed(0)
        ours = effnet.create_model(name).eval()
        models = {f"effnet {name}": ours}
        if case == "V2-B0":
            same = effnet.create_model(name, padding="same").eval()
            models[f"effnet {name}, SAME padding"] = same
        # no example check: V2's activations at random initialisation reach 1e4 (timm's too),
        # where BN folding moves logits by more than its 1e-4 tolerance
        models[f"effnet {name} fast"] = effnet.optimize_for_inference(ours)
        models.update({label: reference(*spec) for label, spec in refs.items()})
        fns = {k: (lambda m=m, x=x: m(x)) for k, m in models.items()}
        with torch.no_grad():
            times = interleaved(fns, 1, args.rounds, args.min_run_time)
        first = times[next(iter(refs))]
        for label, seconds in times.items():
            print(f"| {case} at {size} | {label} | {seconds * 1e3:.1f} | {seconds / first:.2f}x |")


if __name__ == "__main__":
    main()
