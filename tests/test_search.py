"""The α, β, γ search on an Optuna study (paper §3.3 step 1) with injected evaluators (no
training): streaming results, resume, several workers on one study, a worker killed
mid-trial, pruning, seeds with intervals; SQLite, and PostgreSQL when ``.ci/run`` starts one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from effnet.analysis.cost import model_cost
from effnet.scaling import search
from effnet.scaling.candidates import cost_row
from effnet.scaling.stats import mean_interval, not_beaten, t_quantile_975

optuna = pytest.importorskip("optuna")

SETTINGS = search.SearchSettings(
    base="efficientnet_b0",
    base_phi=-4.0,
    resolution=64,
    data="demo",
    epochs=2,
    seed=0,
    macs_tolerance=None,
)
CANDS = search.select(search.grid(0.1, 0.1), 4)


def fake(spec, data, epochs, seed, out, report):  # noqa: ANN001, ANN201
    for epoch in range(1, epochs + 1):
        report(epoch, spec.depth * 10 * epoch / epochs)
    return {"top1": spec.depth * 10 + seed, "val_top1": 50.0}


def quiet(_: str) -> None:
    pass


def test_grid_respects_constraint_and_contains_papers_point() -> None:
    cands = search.grid(0.05, 0.1)
    assert cands and all(abs(c.product - 2) <= 0.1 + 1e-9 for c in cands)
    assert all(min(c.depth, c.width, c.resolution) >= 1 for c in cands)
    assert any((c.depth, c.width, c.resolution) == (1.2, 1.1, 1.15) for c in cands)


def test_grid_errors_and_select() -> None:
    with pytest.raises(ValueError, match="step"):
        search.grid(0)
    with pytest.raises(ValueError, match="tolerance"):
        search.grid(0.1, -1)
    cands = search.grid(0.05, 0.1)
    picked = search.select(cands, 5)
    assert len(picked) == 5 and picked[0] == cands[0] and picked[-1] == cands[-1]
    with pytest.raises(ValueError, match="max candidates"):
        search.select(cands, 0)


def test_matched_candidates_hit_their_multiply_add_ratio() -> None:
    base = search.base_spec("efficientnet_b0", -4.0, 64)
    (width,) = search.matched_candidates(base, ["width"], [2.0])
    assert width.kind == "width" and width.depth == 1 and width.resolution == 1
    ratio = cost_row(width, base, model_cost(base).macs)["macs_ratio"]
    assert ratio == pytest.approx(2.0, rel=0.1)
    with pytest.raises(ValueError, match="ratios"):
        search.matched_candidates(base, ["depth"], [0.5])


def test_run_ranks_streams_and_resumes_without_training_again(tmp_path: Path) -> None:
    calls: list[str] = []

    def counted(spec, data, epochs, seed, out, report):  # noqa: ANN001, ANN202
        calls.append(str(out))
        return fake(spec, data, epochs, seed, out, report)

    ranked = search.run(CANDS, SETTINGS, tmp_path, evaluator=counted, log=quiet)
    assert len(calls) == 4 and len(set(calls)) == 4
    assert [r["top1"] for r in ranked] == sorted((r["top1"] for r in ranked), reverse=True)
    assert ranked[0]["alpha"] == max(c.depth for c in CANDS)
    rows = search.read_results(tmp_path / "results.jsonl")
    assert {r["key"] for r in rows} == {c.key for c in CANDS}
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["best"]["key"] == ranked[0]["key"] and "one seed" in best["noise"]
    assert (tmp_path / "search.png").stat().st_size > 10_000
    # the same search again: attaches, trains nothing
    again = search.run(CANDS, SETTINGS, tmp_path, evaluator=counted, log=quiet)
    assert len(calls) == 4 and [r["key"] for r in again] == [r["key"] for r in ranked]
    # other settings on the same study: refused, naming what differs
    with pytest.raises(ValueError, match="epochs"):
        search.run(CANDS, search.SearchSettings(**{**SETTINGS.__dict__, "epochs": 3}),
                   tmp_path, evaluator=counted, log=quiet)  # fmt: skip


def test_seeds_give_intervals_and_the_candidates_not_beaten(tmp_path: Path) -> None:
    noisy = {0: 0.0, 1: 3.0, 2: -3.0}

    def seeded(spec, data, epochs, seed, out, report):  # noqa: ANN001, ANN202
        return {"top1": 50 + 5 * (spec.depth > 1.5) + noisy[seed]}

    settings = search.SearchSettings(**{**SETTINGS.__dict__, "seeds": 3})
    ranked = search.run(CANDS, settings, tmp_path, evaluator=seeded, log=quiet)
    assert all(sorted(r["seeds"]) == [0, 1, 2] for r in ranked)
    mean, half = mean_interval([50.0, 53.0, 47.0])
    low = ranked[-1]
    assert low["top1"] == pytest.approx(mean) and low["top1_ci"] == pytest.approx(half, abs=1e-4)
    assert half == pytest.approx(4.303 * 3.0 / 3**0.5)
    best = json.loads((tmp_path / "best.json").read_text())
    assert set(best["not_beaten"]) == {r["key"] for r in not_beaten(ranked)}
    assert best["not_beaten"]  # 5 points apart with ± 7.45 intervals: noise


def test_stats_edges() -> None:
    assert mean_interval([4.0]) == (4.0, None)
    assert t_quantile_975(1) == 12.706 and t_quantile_975(1000) == 1.96
    with pytest.raises(ValueError):
        mean_interval([])
    rows = [{"top1": 60, "top1_ci": 1.0}, {"top1": 58.5, "top1_ci": 1.0},
            {"top1": 50, "top1_ci": 1.0}]  # fmt: skip
    assert not_beaten(rows) == [rows[1]]
    assert not_beaten([{"top1": 60, "top1_ci": None}]) == []


def test_pruner_stops_a_planted_bad_candidate(tmp_path: Path) -> None:
    started: list[int] = []

    def planted(spec, data, epochs, seed, out, report):  # noqa: ANN001, ANN202
        started.append(1)
        bad = len(started) == 3  # after two finished trials, the median pruner may act
        for epoch in range(1, epochs + 1):
            report(epoch, 1.0 if bad else 60.0 + epoch)
        return {"top1": 1.0 if bad else 60.0 + epochs}

    settings = search.SearchSettings(**{**SETTINGS.__dict__, "epochs": 4})
    search.run(CANDS, settings, tmp_path, pruner="median", evaluator=planted, log=quiet)
    rows = search.read_results(tmp_path / "results.jsonl")
    pruned = [r for r in rows if r["status"] == "pruned"]
    assert len(pruned) == 1 and pruned[0]["pruned_at_epoch"] == 1
    assert sum(r["status"] == "ok" for r in rows) == 3


def test_a_failing_candidate_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    def broken(spec, data, epochs, seed, out, report):  # noqa: ANN001, ANN202
        if float(Path(out).parent.name.split("_")[1]) > 1.5:  # the folder names alpha
            raise RuntimeError("planted failure")
        return fake(spec, data, epochs, seed, out, report)

    search.run(CANDS, SETTINGS, tmp_path, evaluator=broken, log=quiet)
    rows = search.read_results(tmp_path / "results.jsonl")
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("planted failure" in r["error"] for r in failed)
    assert len(rows) == 4 and len(failed) < 4


# ------------------------------------------------------------------ several worker processes
WORKER = """
import os, sys, time
from pathlib import Path
from effnet.scaling import search

LOG = Path(sys.argv[2])

def evaluator(spec, data, epochs, seed, out, report):
    pid = os.getpid()
    if (out / "partial").exists():
        (out / "resumed").write_text(str(pid))
    with open(LOG, "a") as f:
        f.write(f"start {out} {pid}\\n")
    for epoch in range(1, epochs + 1):
        time.sleep(float(sys.argv[4]))
        (out / "partial").write_text(str(epoch))
        with open(LOG, "a") as f:
            f.write(f"epoch {out} {pid}\\n")
        report(epoch, 10.0 * spec.depth)
    with open(LOG, "a") as f:
        f.write(f"done {out} {pid}\\n")
    return {"top1": 10.0 * spec.depth}

settings = search.SearchSettings(base="efficientnet_b0", base_phi=-4.0, resolution=64,
                                 data="demo", epochs=2, seed=0, macs_tolerance=None, seeds=2)
search.run(search.select(search.grid(0.1, 0.1), 4), settings, sys.argv[1],
           storage=sys.argv[3] or None, study_name=sys.argv[5], heartbeat=1.0,
           evaluator=evaluator, log=lambda s: None)
"""


def _start_workers(tmp_path: Path, storage: str, n: int, pause: float) -> list:
    (tmp_path / "worker.py").write_text(textwrap.dedent(WORKER))
    study = f"test-{uuid.uuid4().hex[:8]}"
    args = [str(tmp_path / "out"), str(tmp_path / "log.txt"), storage, str(pause), study]
    return [
        subprocess.Popen([sys.executable, str(tmp_path / "worker.py"), *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for _ in range(n)
    ]  # fmt: skip


def _log(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "log.txt"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def _check_grid_done_once(tmp_path: Path) -> list[list[str]]:
    lines = _log(tmp_path)
    done = [folder for what, folder, _ in lines if what == "done"]
    assert len(done) == 8 and len(set(done)) == 8  # 4 candidates x 2 seeds, each once
    rows = search.read_results(tmp_path / "out" / "results.jsonl")
    assert len(rows) == 4 and all(r["status"] == "ok" and len(r["seeds"]) == 2 for r in rows)
    return lines


def _two_workers_share_the_grid(tmp_path: Path, storage: str) -> None:
    procs = _start_workers(tmp_path, storage, 2, 0.2)
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    lines = _check_grid_done_once(tmp_path)
    assert len({pid for what, _, pid in lines if what == "done"}) == 2  # both worked


def test_two_workers_on_one_sqlite_study_train_every_candidate_once(tmp_path: Path) -> None:
    _two_workers_share_the_grid(tmp_path, "")


def test_a_worker_killed_mid_trial_is_taken_over_and_its_run_resumes(tmp_path: Path) -> None:
    procs = _start_workers(tmp_path, "", 2, 1.0)
    victim = procs[0]
    deadline = time.time() + 120
    while time.time() < deadline:  # kill it after an epoch of a trial, before its end
        mine = [(w, f) for w, f, pid in _log(tmp_path) if pid == str(victim.pid)]
        if mine and mine[-1][0] == "epoch":
            break
        time.sleep(0.05)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed_in = mine[-1][1]
    _, err = procs[1].communicate(timeout=300)
    assert procs[1].returncode == 0, err[-2000:]
    _check_grid_done_once(tmp_path)
    assert (Path(killed_in) / "resumed").read_text() == str(procs[1].pid)


@pytest.mark.skipif(
    not os.environ.get("EFFNET_TEST_POSTGRES"),
    reason="no PostgreSQL server: .ci/run starts one and sets EFFNET_TEST_POSTGRES",
)
def test_two_workers_on_one_postgresql_study(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    _two_workers_share_the_grid(tmp_path, os.environ["EFFNET_TEST_POSTGRES"])


def test_optuna_dashboard_reads_the_study(tmp_path: Path) -> None:
    dashboard = pytest.importorskip("optuna_dashboard")
    search.run(CANDS, SETTINGS, tmp_path, evaluator=fake, log=quiet)
    app = dashboard.wsgi(f"sqlite:///{tmp_path / 'study.db'}")
    status: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/studies", "QUERY_STRING": "",
               "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
               "wsgi.input": __import__("io").BytesIO(), "wsgi.errors": sys.stderr}  # fmt: skip
    body = b"".join(app(environ, lambda s, h, *a: status.append(s)))
    assert status[0].startswith("200")
    (study,) = json.loads(body)["study_summaries"]
    assert study["study_name"] == search.STUDY and study["directions"] == ["maximize"]


def test_a_journal_file_holds_the_study_too(tmp_path: Path) -> None:
    storage = f"journal:{tmp_path / 'shared' / 'search.journal'}"
    ranked = search.run(CANDS, SETTINGS, tmp_path / "out", storage=storage, evaluator=fake,
                        log=quiet)  # fmt: skip
    assert len(ranked) == 4 and (tmp_path / "shared" / "search.journal").stat().st_size > 0
    assert not (tmp_path / "out" / "study.db").exists()
