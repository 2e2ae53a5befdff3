"""Start-up of the command line: ``effnet --help`` and ``effnet VERB --help`` vs ``import torch``.

The parser is built without importing torch or torchvision (the verbs import them when they
run), so help is fast. Measures, in one run and interleaved, the median wall time of each
command over ``--repeats`` runs, and the ratio to ``python -c "import torch"``.

    python benchmarks/cli_startup.py [--repeats 7] [--json out.json]

This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import describe

TARGET = 0.5  # effnet's help at most this fraction of importing torch (`effnet list` is shown,
# not held to it: it reads the model registry, which imports torch)


def commands() -> dict[str, list[str]]:
    effnet = shutil.which("effnet")
    cli = [effnet] if effnet else [sys.executable, "-c", "from effnet.cli import main; main()"]
    return {
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "effnet --help": [*cli, "--help"],
        "effnet train --help": [*cli, "train", "--help"],
        "effnet predict --help": [*cli, "predict", "--help"],
        "effnet list": [*cli, "list"],
    }


def measure(repeats: int) -> dict[str, float]:
    cmds = commands()
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for cmd in cmds.values():  # warm the page cache once
        subprocess.run(cmd, check=True, capture_output=True)
    for _ in range(repeats):
        for name, cmd in cmds.items():
            tic = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - tic)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7, help="runs of each command (default: 7)")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    medians = measure(args.repeats)
    torch_s = medians["python -c 'import torch'"]
    print(f"machine: {describe()}")
    print(f"{'command':<28} {'median s':>9} {'x import torch':>15}")
    for name, seconds in medians.items():
        print(f"{name:<28} {seconds:>9.3f} {seconds / torch_s:>15.2f}")
    worst = max(s for n, s in medians.items() if n.endswith("--help")) / torch_s
    verdict = "met" if worst <= TARGET else "MISSED"
    print(f"{verdict}: slowest effnet help / import torch = {worst:.2f} (<= {TARGET})")
    if args.json:
        Path(args.json).write_text(
            json.dumps({"medians_s": medians, "worst_ratio": worst}, indent=2)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
