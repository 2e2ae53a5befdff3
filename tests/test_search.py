"""The α, β, γ search machinery (paper §3.3 step 1) with injected evaluators (no training)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from effnet.analysis.plots import plot_search, plot_sweep
from effnet.scaling import search

SETTINGS = search.SearchSettings(
    base="efficientnet_b0",
    base_phi=-4.0,
    resolution=64,
    data="demo",
    epochs=1,
    seed=0,
    macs_tolerance=None,
)


def fake(spec, data, epochs, seed, out):  # noqa: ANN001, ANN201
    return {"top1": round(spec.depth * 10 + spec.width + spec.resolution / 100, 4)}


def test_grid_respects_constraint_and_contains_papers_point() -> None:
    cands = search.grid(0.05, 0.1)
    assert len(cands) == 109
    for c in cands:
        assert min(c.depth, c.width, c.resolution) >= 1
        assert abs(c.product - 2) <= 0.1 + 1e-9
    assert (1.2, 1.1, 1.15) in {(c.depth, c.width, c.resolution) for c in cands}
    assert len({c.key for c in cands}) == len(cands)


def test_grid_errors() -> None:
    with pytest.raises(ValueError, match="step"):
        search.grid(0, 0.1)
    assert search.grid(0.3, 0.01) == []


def test_select_spreads_and_shards() -> None:
    cands = search.grid(0.1, 0.1)
    picked = search.select(cands, 5)
    assert len(picked) == 5 and picked[0] == cands[0] and picked[-1] == cands[-1]
    shards = [search.select(cands, None, (i, 3)) for i in range(3)]
    assert sorted(c.key for s in shards for c in s) == sorted(c.key for c in cands)
    with pytest.raises(ValueError, match="shard"):
        search.select(cands, None, (3, 3))


def test_run_streams_ranks_and_resumes(tmp_path: Path) -> None:
    cands = search.select(search.grid(0.1, 0.1), 4)
    calls: list[str] = []

    def flaky(spec, data, epochs, seed, out):  # noqa: ANN001, ANN202
        calls.append(spec.name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third candidate
        return fake(spec, data, epochs, seed, out)

    with pytest.raises(KeyboardInterrupt):
        search.run(cands, SETTINGS, tmp_path, evaluator=flaky, log=lambda s: None)
    rows = search.read_results(tmp_path / "results.jsonl")
    assert len(rows) == 2
    assert {"alpha", "beta", "gamma", "macs", "params", "top1"} <= set(rows[0])
    with pytest.raises(ValueError, match="--resume"):
        search.run(cands, SETTINGS, tmp_path, evaluator=fake, log=lambda s: None)
    with pytest.raises(ValueError, match="settings differ"):
        other = search.SearchSettings(**{**SETTINGS.__dict__, "epochs": 2})
        search.run(cands, other, tmp_path, resume=True, evaluator=fake, log=lambda s: None)
    calls.clear()
    ranked = search.run(cands, SETTINGS, tmp_path, resume=True, evaluator=flaky, log=lambda s: None)
    assert len(calls) == 2  # only the two unfinished candidates ran
    assert len(ranked) == 4
    assert [r["top1"] for r in ranked] == sorted((r["top1"] for r in ranked), reverse=True)
    best = json.loads((tmp_path / "best.json").read_text())["best"]
    assert best["key"] == ranked[0]["key"]
    assert plot_search(ranked, tmp_path / "search.png").stat().st_size > 10_000


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(
        json.dumps({"key": "a", "top1": 1.0, "status": "ok", "macs": 1}) + "\n" + '{"key": "b", "to'
    )
    assert [r["key"] for r in search.read_results(path)] == ["a"]


def test_macs_check_rejects_off_target_candidates(tmp_path: Path) -> None:
    settings = search.SearchSettings(**{**SETTINGS.__dict__, "macs_tolerance": 0.1})
    cands = search.grid(0.1, 0.1)
    rows = search.run(cands[:6], settings, tmp_path, evaluator=fake, log=lambda s: None)
    every = search.read_results(tmp_path / "results.jsonl")
    assert len(every) == 6
    for r in every:
        ok = abs(r["macs_ratio"] / 2 - 1) <= 0.1
        assert (r["status"] == "ok") == ok
    assert len(rows) == sum(r["status"] == "ok" for r in every)


@pytest.mark.slow
def test_parallel_workers_and_merge(tmp_path: Path) -> None:
    cands = search.select(search.grid(0.1, 0.1), 6)
    for i in range(2):
        search.run(
            search.select(cands, None, (i, 2)),
            SETTINGS,
            tmp_path / f"shard-{i}",
            workers=2 - i,  # shard 0 in worker processes, shard 1 in-process
            evaluator=search.synthetic_evaluator,
            log=lambda s: None,
        )
    ranked = search.merge([tmp_path / "shard-0", tmp_path / "shard-1"], tmp_path / "all")
    assert sorted(r["key"] for r in ranked) == sorted(c.key for c in cands)
    assert (tmp_path / "all" / "best.json").exists()


def test_sweep_candidates_and_plot(tmp_path: Path) -> None:
    cands = search.sweep_candidates(["depth", "compound"], None)
    assert [c.value for c in cands] == [1, 2, 3, 4, 0, 1, 2, 3]
    assert cands[5].depth == pytest.approx(1.2) and cands[5].resolution == pytest.approx(1.15)
    with pytest.raises(ValueError, match="unknown sweep"):
        search.sweep_candidates(["height"])
    rows = search.run(
        search.sweep_candidates(["width", "resolution"], [1.0, 1.5]),
        SETTINGS,
        tmp_path,
        evaluator=fake,
        log=lambda s: None,
    )
    assert len(rows) == 4
    assert plot_sweep(rows, tmp_path / "sweep.png").stat().st_size > 10_000


SLOW_EVALUATOR = """
import time
def slow(spec, data, epochs, seed, out):
    time.sleep(0.5)
    return {"top1": spec.depth * 10}
"""


@pytest.mark.slow
def test_search_killed_with_sigkill_resumes(tmp_path: Path) -> None:
    (tmp_path / "slowmod.py").write_text(SLOW_EVALUATOR)
    out = tmp_path / "run"
    code = textwrap.dedent(f"""
        from effnet.scaling import search
        from slowmod import slow
        settings = search.SearchSettings(base="efficientnet_b0", base_phi=-4.0, resolution=64,
                                         data="demo", epochs=1, seed=0, macs_tolerance=None)
        cands = search.select(search.grid(0.1, 0.1), 8)
        search.run(cands, settings, {str(out)!r}, resume=True, evaluator=slow)
    """)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.getcwd()}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    results = out / "results.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and len(search.read_results(results)) < 2:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(search.read_results(results))
    assert 2 <= done_before < 8
    sys.path.insert(0, str(tmp_path))
    try:
        from slowmod import slow

        ranked = search.run(
            search.select(search.grid(0.1, 0.1), 8),
            SETTINGS,
            out,
            resume=True,
            evaluator=slow,
            log=lambda s: None,
        )
    finally:
        sys.path.remove(str(tmp_path))
    rows = search.read_results(results)
    assert len(rows) == 8 and len({r["key"] for r in rows}) == 8  # nothing ran twice
    assert len(ranked) == 8
