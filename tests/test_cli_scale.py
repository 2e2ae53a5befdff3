"""``effnet scale`` and ``effnet search`` on the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from effnet.cli import main
from effnet.cli.scale import parse_number
from effnet.cli.validate import phis as parse_phis


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("400M", 400e6),
        ("2e9", 2e9),
        ("1.5G", 1.5e9),
        ("20m", 20e6),
        ("3k", 3e3),
        ("1.8B", 1.8e9),
        ("12", 12.0),
    ],
)
def test_parse_number(text: str, value: float) -> None:
    assert parse_number(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "abc", "4X", "-3", "0"])
def test_parse_number_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_number(text)


def test_parse_phis() -> None:
    assert parse_phis("0:3") == [0, 1, 2, 3]
    assert parse_phis("-1:0:0.5") == [-1, -0.5, 0]
    assert parse_phis("0,1.5,-2") == [0, 1.5, -2]
    assert parse_phis("-2..2") == parse_phis("-2:2") == [-2, -1, 0, 1, 2]  # plot's old syntax


@pytest.mark.parametrize("text", ["", "a:b", "0:1:0", "0:1:2:3", "0:99", "0:5000:0.001", "nan"])
def test_parse_phis_rejects(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_phis(text)


def test_scale_family_table_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    png = tmp_path / "law.png"
    assert main(["scale", "--base", "efficientnet_b0", "--phis", "0,1", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "| 0 | 1.000 | 1.000 | 224 | 5.29 | 0.386 |" in out
    assert png.stat().st_size > 10_000
    assert main(["scale", "--base", "mobilenet_v2", "--phis", "-1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["phi"] == -1 and rows[0]["resolution"] == 195


def test_scale_budget_json(capsys: pytest.CaptureFixture) -> None:
    code = main(
        ["scale", "--base", "efficientnet_b0", "--max-macs", "100M", "--max-params", "3M", "--json"]
    )
    assert code == 0
    got = json.loads(capsys.readouterr().out)
    assert {"phi", "depth", "width", "resolution", "params", "macs"} <= set(got)
    assert got["macs"] <= 100e6 and got["params"] <= 3e6


def test_scale_budget_with_memory_prints_it(capsys: pytest.CaptureFixture) -> None:
    assert main(["scale", "--base", "mobilenet_v1", "--max-memory-mb", "10", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["memory_mb"] <= 10


def test_scale_impossible_budget_exits_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["scale", "--base", "efficientnet_b0", "--max-macs", "1M"]) == 2
    err = capsys.readouterr().err
    assert "no model fits this budget" in err and err.count("\n") == 1


def test_scale_bad_number_and_conflicts(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["scale", "--max-macs", "lots"])
    assert exc.value.code == 2
    assert main(["scale", "--phis", "0", "--max-macs", "1G"]) == 2
    assert main(["scale", "--base", "nope_net", "--phis", "0"]) == 2
    assert "unknown model" in capsys.readouterr().err


def _search_args(out: Path, *extra: str) -> list[str]:
    return [
        "search",
        "--base",
        "efficientnet_b0",
        "--base-phi",
        "-4",
        "--resolution",
        "64",
        "--data",
        "demo",
        "--out",
        str(out),
        "--grid-step",
        "0.1",
        "--dry-run",
        *extra,
    ]


def test_search_dry_run_resumes_and_refuses_other_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(_search_args(tmp_path, "--max-candidates", "3", "--seeds", "2")) == 0
    out = capsys.readouterr().out
    assert "study 'effnet-search' created" in out and "+-" in out  # intervals over 2 seeds
    assert main(_search_args(tmp_path, "--max-candidates", "3", "--seeds", "2")) == 0
    assert "attached to study" in capsys.readouterr().out
    assert main(_search_args(tmp_path, "--max-candidates", "5", "--seeds", "2")) == 2
    err = capsys.readouterr().err
    assert "other settings" in err and "candidates" in err and "Traceback" not in err
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert 1 <= len(rows) <= 3 and all(len(r.get("seeds", [0, 1])) == 2 for r in rows)
    assert json.loads((tmp_path / "best.json").read_text())["best"]["status"] == "ok"
    assert (tmp_path / "search.png").exists() and (tmp_path / "study.db").exists()


def test_search_sweep_dry_run(tmp_path: Path) -> None:
    assert (
        main(
            [
                "search",
                "--sweep",
                "depth,compound",
                "--multipliers",
                "1,2",
                "--base",
                "mobilenet_v2",
                "--base-phi",
                "-3",
                "--resolution",
                "64",
                "--data",
                "demo",
                "--out",
                str(tmp_path),
                "--dry-run",
            ]
        )
        == 0
    )
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4
    assert (tmp_path / "sweep.png").stat().st_size > 10_000


def test_search_tpe_trains_the_number_of_trials_asked(tmp_path: Path) -> None:
    assert main(_search_args(tmp_path, "--sampler", "tpe", "--trials", "3")) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    ok = [r for r in rows if r["status"] == "ok"]
    assert 1 <= len(ok) <= 3 and all(abs(r["product"] - 2) < 0.06 for r in ok)
    assert main(_search_args(tmp_path / "b", "--sampler", "tpe")) == 2  # no --trials


def test_search_shard_and_merge_point_to_the_shared_study(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(_search_args(tmp_path, "--shard", "0/2")) == 2
    assert main(["search", "--merge", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("--storage") == 2


@pytest.mark.parametrize("url", ["postgresql://u:secret@127.0.0.1:1/db", "nonsense"])
def test_search_storage_that_cannot_open_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, url: str
) -> None:
    pytest.importorskip("psycopg")
    assert main(_search_args(tmp_path, "--storage", url)) == 2
    err = capsys.readouterr().err
    assert "cannot open the study's storage" in err and "secret" not in err
    assert "Traceback" not in err
