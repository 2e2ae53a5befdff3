"""A search's results, read from its study: one row per candidate with its mean minival
top-1 over seeds and a 95% interval, ranked; written as ``results.jsonl``, ``best.json`` and
``search.png`` / ``sweep.png`` in the search's folder by every worker after each trial."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from effnet.analysis.plots import plot_search, plot_sweep
from effnet.files import write_json, write_text
from effnet.scaling.stats import mean_interval, not_beaten

#: Study user attributes: the search's settings, the candidates' measured costs, the base's
#: multiply-adds and the candidates refused for missing their multiply-add target.
SETTINGS, COSTS, BASE_MACS, REJECTED = "settings", "costs", "base_macs", "rejected"


def trial_key(t: Any) -> str | None:
    """The candidate a trial trained (None for a trial that yielded as a duplicate)."""
    if t.user_attrs.get("duplicate"):
        return None
    return t.params.get("candidate") or t.user_attrs.get("key")


def candidate_rows(study: Any) -> list[dict[str, Any]]:
    """One row per candidate tried (grouped over its seeds' trials) plus the rejected ones."""
    from optuna.trial import TrialState

    attrs = study.user_attrs
    costs: dict[str, dict[str, Any]] = attrs.get(COSTS, {})
    groups: dict[str, list[Any]] = {}
    for t in study.get_trials(deepcopy=False):
        key = trial_key(t)
        if key is not None:
            groups.setdefault(key, []).append(t)
    rows = []
    for key, trials in groups.items():
        runs = [r for t in trials if t.state == TrialState.COMPLETE for r in t.user_attrs["runs"]]
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        errors = [t.user_attrs["error"] for t in trials if "error" in t.user_attrs]
        cost = costs.get(key) or next((t.user_attrs["cost"] for t in trials
                                       if "cost" in t.user_attrs), {})  # fmt: skip
        row: dict[str, Any] = {"key": key, **cost}
        if runs and not pruned:
            mean, half = mean_interval([r["top1"] for r in runs])
            vals = [r["val_top1"] for r in runs if r.get("val_top1") is not None]
            row.update(
                status="ok",
                top1=round(mean, 4),
                top1_ci=None if half is None else round(half, 4),
                seeds=[r["seed"] for r in runs],
                top1_runs=[r["top1"] for r in runs],
                val_top1=round(sum(vals) / len(vals), 4) if vals else None,
                seconds=round(sum(r["seconds"] for r in runs), 2),
            )
        elif pruned:
            at = [t.user_attrs.get("pruned_at_epoch") for t in pruned]
            row.update(status="pruned", top1=None, pruned_at_epoch=min((a for a in at if a),
                                                                        default=None))  # fmt: skip
        elif errors:
            row.update(status="failed", top1=None, error=errors[-1])
        else:
            continue  # running or waiting: not a result yet
        rows.append(row)
    for rejected in attrs.get(REJECTED, []):
        rows.append({**rejected, "status": "rejected", "top1": None})
    return rows


def rank(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished candidates, best first: highest top-1, then fewest multiply-adds."""
    ok = [r for r in rows if r.get("status") == "ok" and r.get("top1") is not None]
    return sorted(ok, key=lambda r: (-float(r["top1"]), int(r["macs"]), r["key"]))


def read_results(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of a ``results.jsonl``; a torn or corrupt line is skipped."""
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


def write_outputs(study: Any, out: str | os.PathLike[str], plots: bool = True) -> list[dict]:
    """Write ``results.jsonl``, ``best.json`` and the plots from ``study``; returns the ranked
    rows. ``best.json`` names the candidates the best does not beat beyond seed noise."""
    out = Path(out)
    rows = candidate_rows(study)
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    write_text(out / "results.jsonl", text)
    ranked = rank(rows)
    if not ranked:
        return ranked
    ties = not_beaten(ranked)
    write_json(
        out / "best.json",
        {
            "best": ranked[0],
            "not_beaten": [r["key"] for r in ties],
            "noise": noise_note(ranked, ties),
            "settings": study.user_attrs.get(SETTINGS),
            "base_macs": study.user_attrs.get(BASE_MACS),
        },
    )
    if plots:
        if any(r["kind"] == "grid" for r in ranked):
            plot_search(ranked, out / "search.png")
        if any(r["kind"] != "grid" for r in ranked):
            plot_sweep(ranked, out / "sweep.png")
    return ranked


def noise_note(ranked: list[dict[str, Any]], ties: list[dict[str, Any]]) -> str:
    """One sentence on how far the ranking can be trusted."""
    if ranked[0].get("top1_ci") is None:
        return (
            "one seed per candidate: no interval, the ranking may be seed noise "
            "(--seeds 3 measures it)"
        )
    if not ties:
        return "the best beats every other candidate beyond its 95% interval"
    return (
        f"the best does not beat {len(ties)} other candidate(s) beyond their 95% intervals "
        "(intervals overlap): they are listed in not_beaten"
    )
