"""effnet vs timm vs torchvision EfficientNet, measured in one run on one machine.

    python benchmarks/compare.py [--quick] [--batch 32] [--device cuda --amp --channels-last]

Measures (issue 5), interleaving the implementations round by round and reporting the median
of per-round medians (each from :mod:`torch.utils.benchmark` after warm-up):

* latency, batch 1, one thread (the paper's Table 4 protocol): B0 at 224 and B3 at 300, for each
  library's eager model and effnet's fast paths (:func:`effnet.optimize_for_inference`): "fast"
  (BN folded, channels_last, frozen TorchScript), "fast (eager)" (the same unscripted), "fast
  onnxrt" (``backend="onnxruntime"``: exported to ONNX in memory and run by ONNX Runtime on the
  CPU, torch tensors in and out) and, with ``--compile``, "fast+compile";
* throughput, batch 32, all cores, B0 at 224;
* training step time and peak memory, B0 at 224 (SGD with momentum, cross-entropy), each
  implementation in a fresh subprocess: on CPU the peak resident-set growth over the steps
  (``/proc/self/status`` VmHWM after resetting it, else ``getrusage`` maxrss), on GPU
  ``torch.cuda.max_memory_allocated``;
* the achieved multiply-add rate as a fraction of the machine's measured dense matmul rate.

All three libraries are configured alike: stochastic depth 0.2, dropout 0.2, random weights.
"timm channels_last" rows show what the memory-format change alone gives a peer's model.
The run ends with the targets, each MET or MISSED (:func:`targets`): among them, the "fast
onnxrt" row at most 0.45x timm eager's B0 latency and at least 3x its B0 throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils import benchmark

Row = dict[str, Any]
IMPLS = ("effnet", "timm", "torchvision")


# ----------------------------------------------------------------------------- models
def build(impl: str, name: str, *, memory_efficient: bool = False) -> nn.Module:
    """A randomly initialised EfficientNet from one library, configured like the others."""
    torch.manual_seed(0)
    if impl == "effnet":
        import effnet

        return effnet.create_model(name, drop_path_rate=0.2, memory_efficient=memory_efficient)
    if impl == "timm":
        import timm

        return timm.create_model(name, drop_path_rate=0.2)
    if impl == "torchvision":
        import torchvision

        return getattr(torchvision.models, name)()  # stochastic depth 0.2 by default
    raise ValueError(impl)


def all_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def autocast(device: str, amp: bool) -> contextlib.AbstractContextManager:
    if amp:
        return torch.autocast(device_type=device, dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ----------------------------------------------------------------------------- timing
def median_seconds(fn: Callable[[], Any], threads: int, min_run_time: float) -> float:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)
    return timer.blocked_autorange(min_run_time=min_run_time).median


def interleaved(
    fns: dict[str, Callable[[], Any]], threads: int, rounds: int, min_run_time: float
) -> dict[str, float]:
    """Median over ``rounds`` of each function's median time; the order rotates each round."""
    keys = list(fns)
    with benchmark.utils.common.set_torch_threads(threads):
        for k in keys:  # warm-up
            for _ in range(3):
                fns[k]()
    times: dict[str, list[float]] = {k: [] for k in keys}
    for r in range(rounds):
        for k in keys[r % len(keys) :] + keys[: r % len(keys)]:
            times[k].append(median_seconds(fns[k], threads, min_run_time))
    return {k: statistics.median(v) for k, v in times.items()}


def matmul_macs_per_s(device: str, threads: int, dtype: torch.dtype, n: int) -> float:
    """The measured dense matmul rate (multiply-adds per second): the physical ceiling."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)

    def mm() -> None:
        torch.mm(a, b)
        sync(device)

    with benchmark.utils.common.set_torch_threads(threads):
        mm()
    return n**3 / median_seconds(mm, threads, 1.0)


# ----------------------------------------------------------------------------- inference
def inference_fns(
    name: str, res: int, batch: int, args: argparse.Namespace, threads: int
) -> tuple[dict[str, Callable[[], Any]], dict[str, int]]:
    """Callables running one batch through each implementation, and MACs per image."""
    from effnet import optimize_for_inference
    from effnet.analysis.profile import count_macs

    dev, fns, macs = args.device, {}, {}
    x = torch.randn(batch, 3, res, res, device=dev)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def runner(model: nn.Module, inp: torch.Tensor) -> Callable[[], Any]:
        def run() -> None:
            with torch.inference_mode(), autocast(dev, args.amp):
                model(inp)
            sync(dev)

        return run

    eager = {impl: build(impl, name).eval() for impl in IMPLS}
    for impl, model in eager.items():
        macs[impl] = count_macs(model, res)
        model.to(dev)
        if args.device == "cuda" and args.channels_last:
            model.to(memory_format=torch.channels_last)
            fns[f"{impl} eager"] = runner(model, x_cl)
        else:
            fns[f"{impl} eager"] = runner(model, x)
    fast = optimize_for_inference(eager["effnet"], x)  # folded, channels_last, frozen script
    fns["effnet fast"], macs["effnet fast"] = runner(fast, x), macs["effnet"]
    folded = optimize_for_inference(eager["effnet"], x, script=False)
    fns["effnet fast (eager)"], macs["effnet fast (eager)"] = runner(folded, x), macs["effnet"]
    if args.compile:
        compiled = optimize_for_inference(eager["effnet"], x, compile=True)
        fns["effnet fast+compile"], macs["effnet fast+compile"] = (
            runner(compiled, x),
            macs["effnet"],
        )
    if args.device == "cpu":
        timm_cl = build("timm", name).eval().to(memory_format=torch.channels_last)
        fns["timm channels_last"], macs["timm channels_last"] = runner(timm_cl, x_cl), macs["timm"]
        if not args.no_onnx:
            # the session's thread pool is sized from torch's thread count when it is built
            with (
                benchmark.utils.common.set_torch_threads(threads),
                contextlib.redirect_stdout(sys.stderr),
            ):
                ort = optimize_for_inference(eager["effnet"], x, backend="onnxruntime")
            fns["effnet fast onnxrt"], macs["effnet fast onnxrt"] = runner(ort, x), macs["effnet"]
    for k in list(macs):
        if k in IMPLS:
            macs[f"{k} eager"] = macs.pop(k)
    return fns, macs


def inference_rows(
    section: str, name: str, res: int, batch: int, threads: int, args, peak: float
) -> list[Row]:
    fns, macs = inference_fns(name, res, batch, args, threads)
    secs = interleaved(fns, threads, args.rounds, args.min_run_time)
    rows = []
    for impl, s in secs.items():
        throughput = section.startswith("throughput")
        rows.append(
            {
                "section": section,
                "impl": impl,
                "value": batch / s if throughput else s * 1e3,
                "unit": "img/s" if throughput else "ms",
                "higher_is_better": throughput,
                "mac_util": macs[impl] * batch / s / peak,
            }
        )
    return rows


# ----------------------------------------------------------------------------- training
def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(field)


def train_worker(cfg: dict[str, Any]) -> dict[str, Any]:
    """One implementation's training steps in this (fresh) process; returns time and memory."""
    import resource

    dev, amp = cfg["device"], cfg["amp"]
    if dev == "cpu":
        torch.set_num_threads(cfg["threads"])
    model = build(cfg["impl"], cfg["name"], memory_efficient=cfg["lean"]).to(dev).train()
    x = torch.randn(cfg["batch"], 3, cfg["res"], cfg["res"], device=dev)
    y = torch.randint(0, 1000, (cfg["batch"],), device=dev)
    if cfg["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    fwd = torch.compile(model) if cfg["compile"] else model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with autocast(dev, amp):
            loss = loss_fn(fwd(x), y)
        loss.backward()
        opt.step()
        sync(dev)

    sync(dev)
    reset_ok = False
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    else:
        base = _rss_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # reset VmHWM (peak RSS) to the current RSS
            reset_ok = True
        except OSError:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(cfg["warmup"]):
        t0 = time.perf_counter()
        step()
        one = time.perf_counter() - t0  # the last warm-up step (the first may compile)
    if cfg["steps"]:
        seconds = median_seconds(step, cfg["threads"], min_run_time=one * cfg["steps"])
    else:  # memory only
        step()
        seconds = float("nan")
    if dev == "cuda":
        peak_mib = torch.cuda.max_memory_allocated() / 2**20
    elif reset_ok:
        peak_mib = (_rss_kib("VmHWM") - base) / 1024
    else:
        peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    return {"seconds": seconds, "peak_mib": peak_mib}


TRAIN_CONFIGS = [(impl, False) for impl in IMPLS] + [("effnet", True)]


def run_training(
    args: argparse.Namespace, threads: int, rounds: int, steps: int, env: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Each (implementation, lean) configuration in a fresh subprocess, ``rounds`` times."""
    results: dict[str, list[dict[str, Any]]] = {}
    configs = TRAIN_CONFIGS
    for r in range(rounds):
        for impl, lean in configs[r % 4 :] + configs[: r % 4]:
            cfg = {
                "impl": impl, "lean": lean, "name": "efficientnet_b0", "res": 224,
                "batch": args.batch, "device": args.device, "amp": args.amp,
                "channels_last": args.channels_last,
                "compile": args.compile and args.device == "cuda",
                "threads": threads, "warmup": 2 if args.compile else 1, "steps": steps,
            }  # fmt: skip
            out = subprocess.run(
                [sys.executable, __file__, "--_train-worker", json.dumps(cfg)],
                capture_output=True, text=True, check=False, env={**os.environ, **env},
            )  # fmt: skip
            if out.returncode != 0:
                raise RuntimeError(f"training worker {impl} failed:\n{out.stderr[-3000:]}")
            key = f"{impl} lean" if lean else f"{impl}"
            results.setdefault(key, []).append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  train {key} {env}: {results[key][-1]}", file=sys.stderr, flush=True)
    return results


def training_rows(args: argparse.Namespace, threads: int, peak: float) -> list[Row]:
    from effnet.analysis.profile import count_macs

    results = run_training(args, threads, args.train_rounds, 2, {})
    macs = 3 * count_macs(build("effnet", "efficientnet_b0"), 224) * args.batch  # fwd + 2x bwd
    rows = []
    mem = "peak max_memory_allocated" if args.device == "cuda" else "peak RSS growth"
    for key, runs in results.items():
        s = statistics.median(r["seconds"] for r in runs)
        rows.append(
            {"section": f"train step B0@224 bs{args.batch}", "impl": key, "value": s * 1e3,
             "unit": "ms", "higher_is_better": False, "mac_util": macs / s / peak}
        )  # fmt: skip
        rows.append(
            {"section": f"train {mem} B0@224 bs{args.batch}", "impl": key,
             "value": statistics.median(r["peak_mib"] for r in runs), "unit": "MiB",
             "higher_is_better": False, "mac_util": None}
        )  # fmt: skip
    if args.device == "cpu" and args.mmap_threshold:
        # glibc raises its mmap threshold as large blocks are freed, then serves later blocks
        # from a heap that fragments and is never returned: the peak RSS then measures the
        # allocator as much as the model. A fixed threshold (same for all) shows the tensors.
        env = {"MALLOC_MMAP_THRESHOLD_": str(args.mmap_threshold)}
        fixed = run_training(args, threads, 1, 0, env)
        for key, runs in fixed.items():
            rows.append(
                {"section": f"train {mem} B0@224 bs{args.batch} {env_label(env)}", "impl": key,
                 "value": statistics.median(r["peak_mib"] for r in runs), "unit": "MiB",
                 "higher_is_better": False, "mac_util": None}
            )  # fmt: skip
    return rows


def env_label(env: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in env.items())


# ----------------------------------------------------------------------------- report
def ratio(rows: list[Row], row: Row, ref: str) -> float | None:
    for other in rows:
        if other["section"] == row["section"] and other["impl"].split()[0] == ref:
            if other["impl"] in (f"{ref} eager", ref):
                return row["value"] / other["value"]
    return None


def table(rows: list[Row]) -> str:
    lines = [
        "| measurement | implementation | value | x timm | x torchvision | MAC util |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        rt, rv = ratio(rows, row, "timm"), ratio(rows, row, "torchvision")
        util = "" if row["mac_util"] is None else f"{100 * row['mac_util']:.1f}%"
        lines.append(
            f"| {row['section']} | {row['impl']} | {row['value']:.1f} {row['unit']} | "
            f"{'' if rt is None else f'{rt:.2f}'} | {'' if rv is None else f'{rv:.2f}'} | {util} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row]) -> list[str]:
    def find(section: str, impl: str) -> Row | None:
        return next((r for r in rows if r["section"] == section and r["impl"] == impl), None)

    fast = ("effnet fast", "effnet fast+compile")
    ort = "effnet fast onnxrt"
    checks = [
        *(("latency B0@224", f, "timm eager", "<=", 0.5) for f in fast),
        ("latency B0@224", ort, "timm eager", "<=", 0.45),
        *(("latency B3@300", f, "timm eager", "<=", 0.5) for f in (*fast, ort)),
        *(("throughput B0@224", f, "timm eager", ">=", 2.5) for f in fast),
        ("throughput B0@224", ort, "timm eager", ">=", 3.0),
        ("train peak", "effnet lean", "timm", "<=", 0.6),
        ("train step", "effnet", "timm", "<=", 1.0),
    ]
    out = []
    for section, impl, ref, op, bound in checks:
        for row in rows:
            if row["section"].startswith(section) and row["impl"] == impl:
                section = row["section"]
                break
        a, b = find(section, impl), find(section, ref)
        if a is None or b is None:
            continue
        r = a["value"] / b["value"]
        ok = r <= bound if op == "<=" else r >= bound
        out.append(
            f"{'MET ' if ok else 'MISSED'} {section}: {impl} / {ref} = {r:.2f} ({op} {bound})"
        )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--quick", action="store_true", help="short runs (one round, small batch)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--batch", type=int, default=None, help="training batch (default 32; quick 8)")
    p.add_argument("--throughput-batch", type=int, default=32)
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    p.add_argument("--train-rounds", type=int, default=None, help="default 2 (quick 1)")
    p.add_argument("--min-run-time", type=float, default=None, help="seconds per measurement")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (GPU)")
    p.add_argument("--channels-last", action="store_true", help="NHWC for every library (GPU)")
    p.add_argument(
        "--compile", action="store_true",
        help="add a compiled fast-path row (and, on GPU, compile every library's training step)",
    )  # fmt: skip
    p.add_argument(
        "--no-onnx", action="store_true",
        help="skip the ONNX Runtime row (optimize_for_inference(backend='onnxruntime'))",
    )  # fmt: skip
    p.add_argument("--skip-train", action="store_true")
    p.add_argument(
        "--mmap-threshold", type=int, default=131072,
        help="also measure training RSS with glibc's MALLOC_MMAP_THRESHOLD_ fixed (0: skip)",
    )  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="also write the rows here")
    p.add_argument("--_train-worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args._train_worker:
        print(json.dumps(train_worker(json.loads(args._train_worker))))
        return
    args.batch = args.batch or (8 if args.quick else 32)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.train_rounds = args.train_rounds or (1 if args.quick else 2)
    args.min_run_time = args.min_run_time or (0.3 if args.quick else 1.5)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device")
    cores = all_cores() if args.device == "cpu" else 1
    dtype = torch.bfloat16 if args.amp else torch.float32
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    n = 8192 if args.device == "cuda" else 1024 if args.quick else 2048
    peak1 = matmul_macs_per_s(args.device, 1, dtype, n if args.device == "cuda" else n // 2)
    peak_all = matmul_macs_per_s(args.device, cores, dtype, n if args.device == "cuda" else n)
    torch.set_num_threads(cores)
    if args.device == "cuda":
        machine = torch.cuda.get_device_name()
    else:
        machine = f"{cores} CPU cores"
    print(
        f"# {machine}; torch {torch.__version__}; dense {dtype} matmul "
        f"{peak1 / 1e9:.1f} GMAC/s (1 thread), {peak_all / 1e9:.1f} GMAC/s ({cores} threads)",
        flush=True,
    )
    rows: list[Row] = []
    one = 1 if args.device == "cpu" else cores
    for name, res in (("efficientnet_b0", 224), ("efficientnet_b3", 300)):
        section = f"latency {name.split('_')[1].upper()}@{res} bs1"
        section += " 1 thread" if args.device == "cpu" else ""
        rows += inference_rows(section, name, res, 1, one, args, peak1)
        print(f"  done: {section}", file=sys.stderr, flush=True)
    bs = args.throughput_batch
    section = f"throughput B0@224 bs{bs} {cores} threads"
    rows += inference_rows(section, "efficientnet_b0", 224, bs, cores, args, peak_all)
    print(table(rows), file=sys.stderr, flush=True)  # partial results, in case training fails
    if not args.skip_train:
        rows += training_rows(args, cores, peak_all)
    # the ceiling: re-measure at the end (the machine may have been busier at the start)
    again1 = matmul_macs_per_s(args.device, 1, dtype, n if args.device == "cuda" else n // 2)
    again_all = matmul_macs_per_s(args.device, cores, dtype, n)
    for row in rows:
        if row["mac_util"] is not None:
            single = "1 thread" in row["section"]
            row["mac_util"] *= (
                (peak1 / max(peak1, again1)) if single else (peak_all / max(peak_all, again_all))
            )
    peak1, peak_all = max(peak1, again1), max(peak_all, again_all)
    print(
        f"# dense matmul ceiling (max of start and end): {peak1 / 1e9:.1f} GMAC/s (1 thread), "
        f"{peak_all / 1e9:.1f} GMAC/s ({cores} threads)"
    )
    print(table(rows))
    print()
    print("\n".join(targets(rows)))
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
