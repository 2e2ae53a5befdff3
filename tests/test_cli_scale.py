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


def test_search_dry_run_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = [
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
        str(tmp_path),
        "--grid-step",
        "0.1",
        "--dry-run",
        "--max-candidates",
        "3",
    ]
    assert main(args) == 0
    assert main(args) == 2  # exists: needs --resume
    assert "--resume" in capsys.readouterr().err
    assert main([*args[:-1], "5", "--resume"]) == 0
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert 3 < len(lines) <= 5 + 3
    assert json.loads((tmp_path / "best.json").read_text())["best"]["status"] == "ok"
    assert (tmp_path / "search.png").exists()


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


def test_search_merge(tmp_path: Path) -> None:
    common = [
        "search",
        "--base",
        "efficientnet_b0",
        "--base-phi",
        "-4",
        "--resolution",
        "64",
        "--data",
        "demo",
        "--grid-step",
        "0.1",
        "--dry-run",
        "--max-candidates",
        "4",
    ]
    for i in range(2):
        assert main([*common, "--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")]) == 0
    assert (
        main(
            [
                "search",
                "--merge",
                str(tmp_path / "s0"),
                str(tmp_path / "s1"),
                "--out",
                str(tmp_path / "all"),
            ]
        )
        == 0
    )
    assert len((tmp_path / "all" / "results.jsonl").read_text().splitlines()) == 4
