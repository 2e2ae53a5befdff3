"""What one trial of a search does: build its candidate, train it for each of its seeds with
a short fixed budget, report minival top-1 every epoch (so a pruner can stop it), and record
the result in the trial (paper §3.3, step 1: candidates ranked by accuracy).

An *evaluator* trains one network: ``evaluator(spec, data, epochs, seed, out, report)``
returns the minival top-1 (a float or a dict with ``"top1"`` and more) and calls
``report(epoch, top1)`` after each epoch; ``report`` raises ``optuna.TrialPruned`` when the
pruner stops the candidate.
"""

from __future__ import annotations

import contextlib
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from effnet.models.spec import NetworkSpec
from effnet.scaling.candidates import Candidate, cost_row
from effnet.train.config import TrainConfig
from effnet.train.loop import train
from effnet.train.recipe import SMALL

Report = Callable[[int, float], None]
Evaluator = Callable[[NetworkSpec, str, int, int, Path, Report], "float | dict[str, Any]"]


def evaluate_candidate(
    spec: NetworkSpec, data: str, epochs: int, seed: int, out: Path, report: Report
) -> dict[str, Any]:
    """Train ``spec`` for ``epochs`` with the ``small`` recipe at the spec's resolution and
    return ``{"top1": minival top-1, "val_top1": ...}`` (percent).

    The search ranks on minival (held out of train, paper §5.2), leaving val untouched by the
    selection. A run found half-done in ``out`` resumes from its checkpoint.
    """
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
        channels_last=True,  # the CLI's default: faster on CPU
        preload=True,  # the small recipe crops a batch at a time from decoded images
        progress=False,
        resume=(Path(out) / "last.ckpt").exists(),
    )

    def on_epoch(record: dict[str, Any]) -> None:
        if record.get("minival_top1") is not None:
            report(int(record["epoch"]), float(record["minival_top1"]))

    result = train(config, epoch_callbacks=[on_epoch])
    if result.summary is None:  # Ctrl-C or a signal: the trial is run again later, resumed
        raise KeyboardInterrupt(f"training of {spec.name} was interrupted")
    s = result.summary
    top1 = s["minival_top1"] if s.get("minival_top1") is not None else s["val_top1"]
    return {"top1": top1, "val_top1": s.get("val_top1")}


def synthetic_evaluator(
    spec: NetworkSpec, data: str, epochs: int, seed: int, out: Path, report: Report
) -> dict[str, Any]:
    """No training: a smooth made-up score peaking near (1.2, 1.1, 1.15), reported as if it
    were reached over ``epochs``, for dry runs (``effnet search --dry-run``) and tests of the
    search machinery."""
    d, w = spec.depth, spec.width
    r = spec.resolution / 64.0
    top1 = round(70.0 - 40 * ((d - 1.2) ** 2 + (w - 1.1) ** 2 + (r - 1.15) ** 2), 4)
    top1 += 0.01 * (seed % 7)
    for epoch in range(1, epochs + 1):
        report(epoch, top1 * epoch / epochs)
    return {"top1": top1, "val_top1": None}


@dataclass
class Objective:
    """One trial: its candidate (grid: the ``candidate`` and ``seed`` parameters the grid
    sampler sets; TPE: ``alpha`` and ``beta`` on the grid step, γ from α·β²·γ² = target, all
    seeds in turn)."""

    base: NetworkSpec
    keys: list[str]
    base_macs: int
    seeds: list[int]
    data: str
    epochs: int
    out: Path
    evaluator: Evaluator
    sampler: str = "grid"
    grid_step: float = 0.05
    target: float = 2.0

    def __call__(self, trial: Any) -> float:
        import optuna

        cand, seeds = self._suggest(trial)
        if _duplicate(trial, cand.key, seeds):
            trial.set_user_attr("duplicate", True)
            raise optuna.TrialPruned("another worker runs this candidate")
        trial.set_user_attr("key", cand.key)
        trial.set_user_attr("cost", cost_row(cand, self.base, self.base_macs))
        if self.sampler == "grid" and _sibling_pruned(trial, cand.key):
            trial.set_user_attr("pruned_reason", "another seed of this candidate was pruned")
            raise optuna.TrialPruned("another seed of this candidate was pruned")
        spec = cand.apply(self.base)
        runs: list[dict[str, Any]] = []
        for i, seed in enumerate(seeds):
            # the first seed decides (seed noise must not prune a good candidate's later runs)
            decides = self.sampler != "grid" or seed == self.seeds[0]

            def report(
                epoch: int, top1: float, offset: int = i * self.epochs, decides: bool = decides
            ) -> None:
                trial.report(top1, offset + epoch)
                if decides and trial.should_prune():
                    trial.set_user_attr("pruned_at_epoch", epoch)
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")

            runs.append(self._train(trial, spec, seed, report))
            trial.set_user_attr("runs", runs)
        return sum(r["top1"] for r in runs) / len(runs)

    def _suggest(self, trial: Any) -> tuple[Candidate, list[int]]:
        if self.sampler == "grid":
            key = trial.suggest_categorical("candidate", self.keys)
            return Candidate.from_key(key), [int(trial.suggest_categorical("seed", self.seeds))]
        step = self.grid_step
        top = 1.0 + step * int((self.target - 1.0) / step + 1e-9)
        alpha = trial.suggest_float("alpha", 1.0, top, step=step)
        room = (self.target / alpha) ** 0.5  # β ≤ sqrt(target / α) keeps γ ≥ 1
        beta = trial.suggest_float("beta", 1.0, 1.0 + step * int((room - 1) / step + 1e-9),
                                   step=step)  # fmt: skip
        gamma = round((self.target / (alpha * beta * beta)) ** 0.5, 4)
        return Candidate("grid", round(alpha, 4), round(beta, 4), gamma), list(self.seeds)

    def _train(self, trial: Any, spec: NetworkSpec, seed: int, report: Report) -> dict[str, Any]:
        import optuna

        key = trial.user_attrs["key"]
        folder = self.out / "candidates" / key.replace(":", "_") / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            with open(folder / "train.log", "a") as log, contextlib.redirect_stdout(log):
                result = self.evaluator(spec, self.data, self.epochs, seed, folder, report)
        except (optuna.TrialPruned, KeyboardInterrupt):
            raise
        except Exception as exc:  # recorded in the trial: this candidate failed for good
            trial.set_user_attr("error", f"{type(exc).__name__}: {exc}"[:500])
            with open(folder / "train.log", "a") as log:
                traceback.print_exc(file=log)
            raise
        metrics = result if isinstance(result, dict) else {"top1": float(result)}
        return {
            "seed": seed,
            "top1": float(metrics["top1"]),
            "val_top1": metrics.get("val_top1"),
            "seconds": round(time.perf_counter() - start, 2),
        }


def _same_point(t: Any, key: str, seeds: list[int]) -> bool:
    if t.user_attrs.get("duplicate"):
        return False
    params = t.params
    if "candidate" in params:
        return params["candidate"] == key and [int(params.get("seed", -1))] == seeds
    return t.user_attrs.get("key") == key


def _duplicate(trial: Any, key: str, seeds: list[int]) -> bool:
    """Another worker has run, or runs since earlier, the same candidate and seed: this trial
    yields (two workers can draw the same grid point at the very end of a grid)."""
    from optuna.trial import TrialState

    me = trial.study._storage.get_trial(trial._trial_id)
    for t in trial.study.get_trials(deepcopy=False):
        if t.number == trial.number or not _same_point(t, key, seeds):
            continue
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            return True
        if t.state == TrialState.RUNNING and (t.datetime_start, t.number) < (
            me.datetime_start,
            me.number,
        ):
            return True
    return False


def _sibling_pruned(trial: Any, key: str) -> bool:
    from optuna.trial import TrialState

    return any(
        t.state == TrialState.PRUNED
        and not t.user_attrs.get("duplicate")
        and t.params.get("candidate") == key
        and t.number != trial.number
        for t in trial.study.get_trials(deepcopy=False)
    )
