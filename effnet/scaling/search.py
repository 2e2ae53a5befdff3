"""The α, β, γ grid search (paper §3.3, step 1) and single-dimension sweeps (Figures 3 and 8).

Step 1 of compound scaling fixes φ = 1 and searches depth α, width β and resolution γ under
α·β²·γ² ≈ 2 (α, β, γ ≥ 1): each candidate is the base scaled by (α, β, γ), so it costs about
twice the base's multiply-adds; it is trained with a short fixed budget and ranked by accuracy.
A sweep instead scales one dimension at several multipliers (or compound φ), to compare
accuracy against multiply-adds on the user's data as in the paper's Figures 3 and 8.

Outputs in ``out/`` (one writer, the parent process):
  * ``search.json``: the settings; a resumed search must use the same ones;
  * ``results.jsonl``: one line per finished candidate, flushed and fsynced as it finishes
    (``alpha, beta, gamma, macs, params, top1`` and more); a search killed at any point resumes
    with ``resume=True`` and skips every candidate already there (a torn last line is
    ignored; a candidate's own training also resumes from its ``last.ckpt``);
  * ``best.json``: the best candidate so far (updated after each); ``search.png``/``sweep.png``.

Several machines: ``shard=(i, n)`` keeps every n-th candidate starting at i, so a job array
(Slurm ``--array=0-7`` with ``--shard $SLURM_ARRAY_TASK_ID/8``, or any scheduler's task index)
splits the grid without any coordination; :func:`merge` then combines the shards' folders.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from effnet.analysis.cost import model_cost
from effnet.files import append_line, write_json, write_text
from effnet.models.compound import ALPHA, BETA, GAMMA, compound, scale
from effnet.models.registry import get_spec
from effnet.models.spec import NetworkSpec
from effnet.train.config import TrainConfig
from effnet.train.loop import train
from effnet.train.recipe import SMALL

#: ``evaluator(spec, data, epochs, seed, out_dir) -> top1`` (a float or a dict with "top1").
Evaluator = Callable[[NetworkSpec, str, int, int, Path], "float | dict[str, Any]"]

SWEEP_KINDS = ("depth", "width", "resolution", "compound")
#: Default sweep points (paper Figure 3 uses d up to 8, w up to 5, r up to 2.5): small enough
#: to train on a CPU. For ``compound`` they are values of φ (multiply-adds about 2^φ).
DEFAULT_SWEEP = {
    "depth": (1.0, 2.0, 3.0, 4.0),
    "width": (1.0, 1.4, 1.8, 2.2),
    "resolution": (1.0, 1.3, 1.6, 2.0),
    "compound": (0.0, 1.0, 2.0, 3.0),
}
_KEY_DIGITS = 4


@dataclass(frozen=True)
class Candidate:
    """One network to train: the base scaled by ``depth``, ``width``, ``resolution``.

    ``kind`` is ``"grid"`` (an (α, β, γ) candidate at φ = 1) or a sweep kind; ``value`` is the
    swept multiplier (or φ for compound sweeps, 1 for grid candidates).
    """

    kind: str
    depth: float
    width: float
    resolution: float
    value: float = 1.0

    @property
    def key(self) -> str:
        d = _KEY_DIGITS
        return (
            f"{self.kind}:{self.depth:.{d}f}:{self.width:.{d}f}:{self.resolution:.{d}f}:"
            f"{self.value:.{d}f}"
        )

    @property
    def product(self) -> float:
        """α·β²·γ² (the multiply-add factor before rounding)."""
        return self.depth * self.width**2 * self.resolution**2

    def apply(self, base: NetworkSpec) -> NetworkSpec:
        spec = scale(base, depth=self.depth, width=self.width, resolution=self.resolution)
        return spec.replace(name=f"{base.name}-{self.kind}-{self.value:g}")


def grid(
    step: float = 0.05, tolerance: float = 0.1, target: float = 2.0, max_value: float = 2.0
) -> list[Candidate]:
    """Every (α, β, γ) on a grid of ``step`` from 1 to ``max_value`` with
    ``|α·β²·γ² - target| <= tolerance`` (paper §3.3: α·β²·γ² ≈ 2, α, β, γ ≥ 1),
    ordered by α, then β, then γ."""
    if not step > 0:
        raise ValueError(f"grid step must be > 0, got {step}")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    n = int(math.floor((max_value - 1.0) / step + 1e-9))
    values = [round(1.0 + i * step, 10) for i in range(n + 1)]
    out = []
    for a in values:
        for b in values:
            for g in values:
                if abs(a * b * b * g * g - target) <= tolerance + 1e-12:
                    out.append(Candidate("grid", a, b, g))
    return out


def sweep_candidates(
    kinds: Iterable[str],
    multipliers: Sequence[float] | None = None,
    *,
    alpha: float = ALPHA,
    beta: float = BETA,
    gamma: float = GAMMA,
) -> list[Candidate]:
    """Candidates of single-dimension (or compound) sweeps (paper Figures 3 and 8)."""
    out = []
    for kind in kinds:
        if kind not in SWEEP_KINDS:
            raise ValueError(f"unknown sweep {kind!r}; choose from {', '.join(SWEEP_KINDS)}")
        for v in multipliers or DEFAULT_SWEEP[kind]:
            if kind != "compound" and not v > 0:
                raise ValueError(f"sweep multipliers must be > 0, got {v}")
            d, w, r = {
                "depth": (v, 1.0, 1.0),
                "width": (1.0, v, 1.0),
                "resolution": (1.0, 1.0, v),
                "compound": (alpha**v, beta**v, gamma**v),
            }[kind]
            out.append(Candidate(kind, d, w, r, float(v)))
    return out


def select(
    candidates: Sequence[Candidate],
    max_candidates: int | None = None,
    shard: tuple[int, int] = (0, 1),
) -> list[Candidate]:
    """At most ``max_candidates`` spread evenly over the list, then shard ``i`` of ``n``."""
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    cands = list(candidates)
    if max_candidates is not None:
        if max_candidates < 1:
            raise ValueError(f"max candidates must be >= 1, got {max_candidates}")
        if max_candidates < len(cands):
            k = max_candidates
            idx = sorted({round(j * (len(cands) - 1) / max(1, k - 1)) for j in range(k)})
            cands = [cands[j] for j in idx]
    return cands[i::n]


# ------------------------------------------------------------------------------ evaluation
def evaluate_candidate(
    spec: NetworkSpec, data: str, epochs: int, seed: int, out: Path | None = None
) -> dict[str, Any]:
    """Train ``spec`` for ``epochs`` with the ``small`` recipe at the spec's resolution and
    return ``{"top1": minival top-1, "val_top1": ...}`` (percent).

    The search ranks on minival (held out of train, paper §5.2), leaving val untouched by the
    selection. A run found half-done in ``out`` resumes from its checkpoint.
    """
    with contextlib.ExitStack() as stack:
        if out is None:
            out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="effnet-cand-")))
        # the small recipe, shortened: warmup at most a fifth of the run
        recipe = SMALL.replace(
            epochs=epochs,
            resolution=spec.resolution,
            warmup_epochs=min(SMALL.warmup_epochs, epochs / 5),
        )
        config = TrainConfig(
            data=data,
            out=str(out),
            model=spec,
            recipe=recipe,
            seed=seed,
            workers=0,
            progress=False,
            resume=(Path(out) / "last.ckpt").exists(),
        )
        result = train(config)
    if result.summary is None:
        raise RuntimeError(f"training of {spec.name} was interrupted")
    s = result.summary
    top1 = s["minival_top1"] if s.get("minival_top1") is not None else s["val_top1"]
    return {"top1": top1, "val_top1": s.get("val_top1")}


def synthetic_evaluator(
    spec: NetworkSpec, data: str, epochs: int, seed: int, out: Path | None = None
) -> dict[str, Any]:
    """No training: a smooth made-up score peaking near (1.2, 1.1, 1.15), for dry runs
    (``effnet search --dry-run``) and tests of the search machinery."""
    d, w = spec.depth, spec.width
    r = spec.resolution / 64.0
    top1 = 70.0 - 40 * ((d - 1.2) ** 2 + (w - 1.1) ** 2 + (r - 1.15) ** 2)
    return {"top1": round(top1 + 0.01 * (seed % 7), 4), "val_top1": None}


def _worker_init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _run_one(
    cand: Candidate,
    base_json: str,
    base_macs: int,
    settings: dict[str, Any],
    evaluator: Evaluator,
    cand_dir: str,
) -> dict[str, Any]:
    """Measure and train one candidate (runs in a worker process)."""
    spec = cand.apply(NetworkSpec.from_json(base_json))
    cost = model_cost(spec)
    params, macs = cost.params, cost.macs
    row: dict[str, Any] = {
        "key": cand.key,
        "kind": cand.kind,
        "value": cand.value,
        "alpha": cand.depth,
        "beta": cand.width,
        "gamma": cand.resolution,
        "product": round(cand.product, 6),
        "depth": spec.depth,
        "width": spec.width,
        "resolution": spec.resolution,
        "macs": macs,
        "params": params,
        "macs_ratio": round(macs / base_macs, 4),
    }
    tol = settings.get("macs_tolerance")
    target = settings.get("target", 2.0)
    if cand.kind == "grid" and tol is not None and abs(macs / base_macs / target - 1) > tol:
        return {**row, "status": "rejected", "top1": None, "seconds": 0.0}
    Path(cand_dir).mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with open(Path(cand_dir) / "train.log", "a") as log, contextlib.redirect_stdout(log):
        result = evaluator(
            spec, settings["data"], settings["epochs"], settings["seed"], Path(cand_dir)
        )
    metrics = result if isinstance(result, dict) else {"top1": float(result)}
    return {**row, **metrics, "status": "ok", "seconds": round(time.perf_counter() - start, 2)}


# --------------------------------------------------------------------------- results files
def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a ``results.jsonl``; a torn or corrupt line (a killed write) is skipped."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and "key" in row:
            rows.append(row)
    return rows


def rank(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished candidates, best first: highest top-1, then fewest multiply-adds."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("top1") is not None]
    return sorted(ok, key=lambda r: (-float(r["top1"]), int(r["macs"]), r["key"]))


def _dedupe(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen.setdefault(r["key"], r)
    return list(seen.values())


# ------------------------------------------------------------------------------- the search
@dataclass(frozen=True)
class SearchSettings:
    """What must not change between a search and its resume (stored in ``search.json``)."""

    base: str
    base_phi: float
    resolution: int
    data: str
    epochs: int
    seed: int
    target: float = 2.0
    macs_tolerance: float | None = 0.25


def base_spec(
    base: str | NetworkSpec, base_phi: float = 0.0, resolution: int | None = None
) -> NetworkSpec:
    """The network the search scales: ``compound(base, base_phi)``, at ``resolution`` if
    given (e.g. B0 at φ = -4 and 64 px to search on a CPU)."""
    spec = get_spec(base)
    if base_phi:
        spec = compound(spec, base_phi)
    if resolution:
        spec = spec.replace(resolution=int(resolution))
    return spec.replace(name=f"{spec.name}" + (f"_phi{base_phi:g}" if base_phi else ""))


def run(
    candidates: Sequence[Candidate],
    settings: SearchSettings,
    out: str | os.PathLike[str],
    *,
    workers: int = 1,
    resume: bool = False,
    evaluator: Evaluator | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Evaluate ``candidates`` (skipping those already in ``out/results.jsonl`` when
    resuming), streaming results; returns all rows of the results file, ranked."""
    out = Path(out)
    results = out / "results.jsonl"
    stored = out / "search.json"
    wanted = asdict(settings)
    if results.exists() or stored.exists():
        if not resume:
            raise ValueError(
                f"{out} already holds a search; pass --resume to continue it or choose "
                "another --out"
            )
        if stored.exists():
            old = json.loads(stored.read_text())
            diff = {k: (old.get(k), v) for k, v in wanted.items() if old.get(k) != v}
            if diff:
                raise ValueError(f"cannot resume {out}: settings differ (was, now): {diff}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(stored, wanted)
    done = {r["key"] for r in read_results(results)}
    todo = [c for c in candidates if c.key not in done]
    log(
        f"{len(candidates)} candidates, {len(candidates) - len(todo)} already done, "
        f"{len(todo)} to run on {workers} worker(s)"
    )
    base = base_spec(settings.base, settings.base_phi, settings.resolution)
    base_macs = model_cost(base).macs
    evaluator = evaluator or evaluate_candidate
    s = {**wanted}

    def finished(row: dict[str, Any], n: int) -> None:
        append_line(results, json.dumps(row, sort_keys=True))
        best = rank(read_results(results))
        if best:
            write_json(
                out / "best.json", {"best": best[0], "settings": wanted, "base_macs": base_macs}
            )
        top1 = "rejected (MACs off target)" if row["status"] != "ok" else f"top1 {row['top1']:.2f}"
        log(
            f"[{n}/{len(todo)}] {row['kind']} d={row['alpha']:.3f} w={row['beta']:.3f} "
            f"r={row['gamma']:.3f} ({row['resolution']}px) {row['macs'] / 1e6:.1f}M MACs "
            f"x{row['macs_ratio']:.2f}: {top1}"
        )

    args = [
        (
            c,
            base.to_json(),
            base_macs,
            s,
            evaluator,
            str(out / "candidates" / c.key.replace(":", "_")),
        )
        for c in todo
    ]
    if workers <= 1:
        for n, a in enumerate(args, 1):
            finished(_run_one(*a), n)
    else:
        threads = max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(
            workers, mp_context=get_context("spawn"), initializer=_worker_init, initargs=(threads,)
        ) as pool:
            pending = {pool.submit(_run_one, *a) for a in args}
            n = 0
            try:
                while pending:
                    finished_now, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for f in finished_now:
                        n += 1
                        finished(f.result(), n)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    return rank(read_results(results))


def merge(dirs: Sequence[str | os.PathLike[str]], out: str | os.PathLike[str]) -> list[dict]:
    """Combine the ``results.jsonl`` of several shard folders into ``out`` (deduplicated by
    candidate), writing ``results.jsonl`` and ``best.json``; returns the ranked rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, settings = [], None
    for d in dirs:
        d = Path(d)
        if not (d / "results.jsonl").exists():
            raise FileNotFoundError(f"{d / 'results.jsonl'} not found")
        rows += read_results(d / "results.jsonl")
        if settings is None and (d / "search.json").exists():
            settings = json.loads((d / "search.json").read_text())
    rows = _dedupe(rows)
    write_text(out / "results.jsonl", "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
    if settings is not None:
        write_json(out / "search.json", settings)
    ranked = rank(rows)
    if ranked:
        write_json(out / "best.json", {"best": ranked[0], "settings": settings})
    return ranked
