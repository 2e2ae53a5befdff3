"""The α, β, γ search (paper §3.3, step 1) and sweeps (Figures 3 and 8) on an Optuna study.

One search is one study (:mod:`effnet.scaling.study`): SQLite in ``OUT/study.db`` unless a
storage URL is given. Any number of workers attach by running the same search (processes
here, a job array or other machines there); Optuna's grid sampler hands each its next
(candidate, seed) point, a heartbeat lets a worker take over the trial of one that died, and
a pruner can stop hopeless candidates on their per-epoch minival top-1. Each worker rewrites
``results.jsonl``, ``best.json`` and the plots from the study after every trial
(:mod:`effnet.scaling.results`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from effnet.analysis.cost import model_cost
from effnet.scaling import results
from effnet.scaling.candidates import (
    DEFAULT_SWEEP,
    SWEEP_KINDS,
    Candidate,
    base_spec,
    cost_row,
    grid,
    matched_candidates,
    select,
    sweep_candidates,
)
from effnet.scaling.objective import (
    Evaluator,
    Objective,
    evaluate_candidate,
    synthetic_evaluator,
)
from effnet.scaling.results import rank, read_results
from effnet.scaling.study import describe, make_pruner, make_sampler, open_storage, storage_url

__all__ = [
    "DEFAULT_SWEEP",
    "SWEEP_KINDS",
    "Candidate",
    "SearchSettings",
    "base_spec",
    "evaluate_candidate",
    "grid",
    "matched_candidates",
    "rank",
    "read_results",
    "run",
    "select",
    "sweep_candidates",
    "synthetic_evaluator",
]

STUDY = "effnet-search"


@dataclass(frozen=True)
class SearchSettings:
    """What every worker of one study must agree on (stored in the study)."""

    base: str
    base_phi: float
    resolution: int
    data: str
    epochs: int
    seed: int
    target: float = 2.0
    macs_tolerance: float | None = 0.25
    seeds: int = 1
    sampler: str = "grid"
    trials: int | None = None  # TPE: how many candidates
    grid_step: float = 0.05  # TPE: the α, β step
    candidates: tuple[str, ...] = field(default=())  # grid: the candidates' keys

    @property
    def seed_list(self) -> list[int]:
        return [self.seed + i for i in range(self.seeds)]


def _measure(
    candidates: Sequence[Candidate], settings: SearchSettings
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], int]:
    """Each candidate's cost (:func:`cost_row`); grid candidates whose multiply-adds miss
    ``target`` × the base's by more than ``macs_tolerance`` are rejected."""
    base = base_spec(settings.base, settings.base_phi, settings.resolution)
    base_macs = model_cost(base).macs
    costs, rejected = {}, []
    tol = settings.macs_tolerance
    for c in candidates:
        row = cost_row(c, base, base_macs)
        off = abs(row["macs_ratio"] / settings.target - 1)
        if c.kind == "grid" and tol is not None and off > tol:
            rejected.append(row)
        else:
            costs[c.key] = row
    return costs, rejected, base_macs


def _settings_dict(settings: SearchSettings) -> dict[str, Any]:
    d = asdict(settings)
    d["candidates"] = list(d["candidates"])
    return d


def open_search(
    candidates: Sequence[Candidate],
    settings: SearchSettings,
    out: str | os.PathLike[str],
    *,
    storage: str | None = None,
    study_name: str = STUDY,
    pruner: str = "none",
    heartbeat: float = 60.0,
    log: Callable[[str], None] = print,
) -> tuple[Any, str]:
    """Create the study, or attach to it after checking its settings equal ``settings``;
    returns ``(study, storage URL)``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = storage_url(storage, out)
    Path(out).mkdir(parents=True, exist_ok=True)
    try:
        store = open_storage(url, heartbeat)
    except ImportError:
        raise ValueError(
            f"storage {describe(url)}: its database driver is not installed "
            "(PostgreSQL: pip install effnet[postgres])"
        ) from None
    except Exception as exc:  # a bad URL, a server down or refusing us
        reason = " ".join(str(exc).split("\n")[0].split())[:300]
        raise ValueError(f"cannot open the study's storage {describe(url)}: {reason}") from None
    study = optuna.create_study(
        study_name=study_name,
        storage=store,
        load_if_exists=True,
        direction="maximize",
    )
    wanted = _settings_dict(settings)
    old = study.user_attrs.get(results.SETTINGS)
    if old is None:
        costs, rejected, base_macs = _measure(candidates, settings)
        study.set_user_attr(results.COSTS, costs)
        study.set_user_attr(results.REJECTED, rejected)
        study.set_user_attr(results.BASE_MACS, base_macs)
        study.set_user_attr(results.SETTINGS, wanted)
        log(f"study {study_name!r} created in {describe(url)}")
    elif old != wanted:
        diff = {k: (old.get(k), v) for k, v in wanted.items() if old.get(k) != v}
        raise ValueError(
            f"study {study_name!r} in {describe(url)} holds a search with other settings "
            f"(was, now): {diff}; use the same settings, another --out or another --study"
        )
    else:
        log(f"attached to study {study_name!r} in {describe(url)}")
    study = optuna.load_study(
        study_name=study_name,
        storage=store,
        sampler=_sampler(settings, _accepted(study, settings)),
        pruner=make_pruner(pruner, settings.epochs * settings.seeds),
    )
    return study, url


def _accepted(study: Any, settings: SearchSettings) -> list[str]:
    """The grid's candidates that were not rejected for their multiply-adds."""
    costs = study.user_attrs.get(results.COSTS, {})
    return [k for k in settings.candidates if k in costs]


def _sampler(settings: SearchSettings, keys: list[str]) -> Any:
    space = None
    if settings.sampler == "grid":
        if not keys:
            raise ValueError("every candidate missed its multiply-add target: nothing to train")
        space = {"candidate": keys, "seed": settings.seed_list}
    return make_sampler(settings.sampler, space)


def _points(study: Any, settings: SearchSettings) -> tuple[int, int, list[dict[str, Any]]]:
    """``(points to start, points running, failed points to queue again)``.

    A grid point is done once a trial of it completed, was pruned or failed with an error of
    its own; a trial that stopped without one (Ctrl-C, or failed by the heartbeat) is queued
    again with the same parameters if Optuna's retry callback has not done so.
    """
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False) if results.trial_key(t)]
    if settings.sampler == "tpe":
        live = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)
        counted = [t for t in trials if t.state in live or "error" in t.user_attrs]
        running = sum(t.state == TrialState.RUNNING for t in trials)
        return max(0, (settings.trials or 0) - len(counted)), running, []
    status: dict[tuple[str, int], str] = {}
    stopped: dict[tuple[str, int], dict[str, Any]] = {}
    order = {TrialState.RUNNING: "running", TrialState.WAITING: "waiting"}
    for t in trials:
        point = (t.params.get("candidate"), int(t.params.get("seed", -1)))
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED) or "error" in t.user_attrs:
            status[point] = "done"
        elif t.state in order and status.get(point) != "done":
            status[point] = order[t.state]
        elif t.state == TrialState.FAIL:
            stopped.setdefault(point, dict(t.params))
    total = len(_accepted(study, settings)) * settings.seeds
    running = sum(s == "running" for s in status.values())
    requeue = [p for k, p in stopped.items() if k not in status]
    todo = total - len(status)
    return todo, running, requeue


def work(
    study: Any,
    settings: SearchSettings,
    objective: Objective,
    out: Path,
    *,
    poll: float = 5.0,
    log: Callable[[str], None] = print,
) -> None:
    """Run trials until the study has none left, then wait for the other workers' running
    trials (taking over any whose worker stops beating)."""
    from optuna.storages import fail_stale_trials
    from optuna.storages._heartbeat import is_heartbeat_enabled

    def after(study: Any, trial: Any) -> None:
        _log_trial(trial, log)
        results.write_outputs(study, out)

    attempts = 0
    while True:
        fail_stale_trials(study)
        todo, running, requeue = _points(study, settings)
        for params in requeue:
            study.enqueue_trial(params, user_attrs={"requeued": True}, skip_if_exists=True)
        if todo > 0 and attempts < 3 * max(1, todo + running) + 10:
            attempts += 1
            study.optimize(objective, n_trials=1, catch=(Exception,), callbacks=[after])
            continue
        if running and is_heartbeat_enabled(study._storage):
            time.sleep(poll)
            continue
        return


def _log_trial(trial: Any, log: Callable[[str], None]) -> None:
    from optuna.trial import TrialState

    if trial.user_attrs.get("duplicate"):
        return
    key = results.trial_key(trial) or "?"
    cand = Candidate.from_key(key) if key != "?" else None
    what = (
        f"{cand.kind} d={cand.depth:.3f} w={cand.width:.3f} r={cand.resolution:.3f}"
        if cand
        else key
    )
    seeds = [r["seed"] for r in trial.user_attrs.get("runs", [])] or [trial.params.get("seed")]
    if trial.state == TrialState.COMPLETE:
        outcome = f"top1 {trial.value:.2f}"
    elif trial.state == TrialState.PRUNED:
        outcome = trial.user_attrs.get("pruned_reason") or (
            f"pruned at epoch {trial.user_attrs.get('pruned_at_epoch')}"
        )
    else:
        outcome = f"failed: {trial.user_attrs.get('error', 'stopped')}"
    log(f"trial {trial.number}: {what} seed {','.join(map(str, seeds))}: {outcome}")


def _work_process(args: tuple[Any, ...]) -> None:
    """One worker process of ``run(workers=N)``."""
    (candidates, settings, out, storage, study_name, pruner, heartbeat, evaluator, threads) = args
    import torch

    torch.set_num_threads(threads)
    run(candidates, settings, out, workers=1, storage=storage, study_name=study_name,
        pruner=pruner, heartbeat=heartbeat, evaluator=evaluator)  # fmt: skip


def run(
    candidates: Sequence[Candidate],
    settings: SearchSettings,
    out: str | os.PathLike[str],
    *,
    workers: int = 1,
    storage: str | None = None,
    study_name: str = STUDY,
    pruner: str = "none",
    heartbeat: float = 60.0,
    evaluator: Evaluator | None = None,
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the search: attach ``workers`` worker processes (1: this one) to the study and
    train its candidates; returns the ranked candidates with finished results.

    ``settings.candidates`` is filled from ``candidates`` when empty. Running the same call
    again, here or on another machine with the same ``storage``, joins or resumes the study.
    """
    if settings.sampler == "grid" and not settings.candidates:
        settings = SearchSettings(**{**asdict(settings),
                                     "candidates": tuple(c.key for c in candidates)})  # fmt: skip
    out = Path(out)
    study, url = open_search(candidates, settings, out, storage=storage,
                             study_name=study_name, pruner=pruner, heartbeat=heartbeat,
                             log=log)  # fmt: skip
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        args = (candidates, settings, out, url, study_name, pruner, heartbeat, evaluator, threads)
        ctx = get_context("spawn")
        procs = [ctx.Process(target=_work_process, args=(args,)) for _ in range(workers)]
        for p in procs:
            p.start()
        try:
            for p in procs:
                p.join()
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
    else:
        objective = Objective(
            base=base_spec(settings.base, settings.base_phi, settings.resolution),
            keys=_accepted(study, settings),
            base_macs=int(study.user_attrs[results.BASE_MACS]),
            seeds=settings.seed_list,
            data=settings.data,
            epochs=settings.epochs,
            out=out,
            evaluator=evaluator or evaluate_candidate,
            sampler=settings.sampler,
            grid_step=settings.grid_step,
            target=settings.target,
        )
        work(study, settings, objective, out, poll=min(5.0, heartbeat / 2), log=log)
    return results.write_outputs(study, out)
