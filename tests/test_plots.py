"""Charts: files are produced, are PNGs of the documented size, and read the right numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from effnet import count_macs, count_params
from effnet.analysis.plots import (
    DPI,
    load_accuracy_point,
    plot_accuracy,
    plot_curves,
    plot_profile,
    read_metrics,
)
from effnet.cli import main
from effnet.models.compound import compound
from effnet.models.network import Network
from effnet.weights.io import load_weights, save_weights


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        assert img.format == "PNG"
        img.load()
        return img.size


def make_run(root: Path, name: str, phi: float, top1: float, res: int = 64) -> Path:
    """A run folder as ``effnet train`` leaves it: summary.json, best.safetensors, metrics."""
    run = root / name
    run.mkdir()
    model = Network(compound("efficientnet_b0", phi), num_classes=10)
    save_weights(model, run / "best.safetensors", metadata={"train_resolution": str(res)})
    summary = {
        "val_top1": top1,
        "minival_top1": top1 + 1,
        "model": model.spec.name,
        "resolution": res,
        "classes": 10,
        "epochs": 3,
    }
    (run / "summary.json").write_text(json.dumps(summary))
    records = [
        {
            "epoch": e,
            "step": 10 * e,
            "lr": 0.01 / e,
            "train_loss": 2.0 / e,
            "train_top1": 20.0 * e,
            "minival_top1": 15.0 * e if e > 1 else None,
            "minival_loss": 2.2 / e,
            "seconds": 1.0,
        }
        for e in (1, 2, 3)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    return run


def test_accuracy_points_from_runs_and_eval_json(tmp_path: Path) -> None:
    small = make_run(tmp_path, "small", -4, 61.5)
    point = load_accuracy_point(small)
    model = load_weights(small / "best.safetensors")
    assert point.label == "small" and point.top1 == 61.5 and point.family == "efficientnet"
    assert point.params == count_params(model) and point.macs == count_macs(model, 64)
    # `effnet eval --json > RUN/eval.json`: only top1/top5/n; the weights beside it say the rest
    (small / "eval.json").write_text(json.dumps({"top1": 60.0, "top5": 90.0, "n": 600}))
    assert load_accuracy_point(small / "eval.json").macs == point.macs
    # a file naming a registered model, and one giving the numbers
    other = tmp_path / "b0.json"
    other.write_text(json.dumps({"model": "efficientnet_b0", "top1": 77.1}))
    assert load_accuracy_point(other).params == 5_288_548
    lite = tmp_path / "lite.json"
    lite.write_text(json.dumps({"model": "efficientnet_lite2", "top1": 77.6}))
    assert load_accuracy_point(lite).family == "efficientnet_lite"  # not one with the B's
    assert load_accuracy_point(lite).params == 6_092_072
    given = tmp_path / "given.json"
    given.write_text(
        json.dumps({"model": "x_b1", "top1": 1.0, "macs": 10, "params": 20, "family": "mine"})
    )
    pt = load_accuracy_point(given, label="g")
    assert (pt.label, pt.macs, pt.params, pt.family) == ("g", 10, 20, "mine")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": "efficientnet_b0"}))
    with pytest.raises(ValueError, match="top-1"):
        load_accuracy_point(bad)
    (tmp_path / "lost").mkdir()
    (tmp_path / "lost" / "e.json").write_text(json.dumps({"top1": 3.0}))
    with pytest.raises(ValueError, match="which model"):
        load_accuracy_point(tmp_path / "lost" / "e.json")


def test_plot_accuracy_and_cli(tmp_path: Path, capsys) -> None:
    runs = [make_run(tmp_path, f"phi{p}", p, 50.0 + 5 * p) for p in (-4, -3)]
    out = plot_accuracy([load_accuracy_point(r) for r in runs], tmp_path / "a.png", x="params")
    assert png_size(out) == (7 * DPI, 5 * DPI)
    for x in ("macs", "params"):
        png = tmp_path / f"cli-{x}.png"
        assert main(["plot", "accuracy", *map(str, runs), "--x", x, "--out", str(png)]) == 0
        assert png_size(png) == (7 * DPI, 5 * DPI)
    assert "phi-4: efficientnet_b0" in capsys.readouterr().out
    assert main(["plot", "accuracy", str(tmp_path / "nope"), "--out", str(tmp_path / "n.png")]) == 2
    assert capsys.readouterr().err.startswith("effnet plot: error:")


def test_plot_curves(tmp_path: Path) -> None:
    run = make_run(tmp_path, "r", -4, 50.0)
    records = read_metrics(run)
    assert len(records) == 3
    assert png_size(plot_curves(records, tmp_path / "c.png")) == (1320, 380)
    out = tmp_path / "cli.png"
    assert main(["plot", "curves", str(run), "--out", str(out)]) == 0
    assert png_size(out) == (1320, 380)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ValueError, match="no records"):
        read_metrics(tmp_path / "empty.jsonl")


def test_scaling_law_rows_and_cli(tmp_path: Path) -> None:
    from effnet.scaling.law import family

    rows = family("efficientnet_b0", [0, 3])
    assert [r.resolution for r in rows] == [224, 341]
    per_step = (rows[1].macs / rows[0].macs) ** (1 / 3)  # alpha beta^2 gamma^2 = 1.92, rounded
    assert 1.7 < per_step < 2.3 and rows[1].params > rows[0].params
    out = tmp_path / "s.png"
    assert main(["plot", "scaling", "--phis=-1..1", "--out", str(out)]) == 0
    assert png_size(out) == (1100, 450)
    with pytest.raises(SystemExit) as refused:  # refused while parsing
        main(["plot", "scaling", "--phis", "a..b", "--out", str(out)])
    assert refused.value.code == 2
    assert main(["plot", "scaling", "--base", "nope", "--out", str(out)]) == 2


def test_plot_profile(tmp_path: Path) -> None:
    rows = [
        {
            "model": "efficientnet_b0",
            "resolution": 224,
            "params": 5_288_548,
            "macs": 385_814_752,
            "latency_ms": None,
        },
        {
            "model": "efficientnet_b1",
            "resolution": 240,
            "params": 7_794_184,
            "macs": 690_000_000,
            "latency_ms": None,
        },
    ]
    out = plot_profile(rows, tmp_path / "p.png")
    assert png_size(out) == (700, 420)  # two panels (no latency measured) of 3.5 in
    with pytest.raises(ValueError):
        plot_profile([], tmp_path / "q.png")


def test_cli_profile_plot(tmp_path: Path) -> None:
    out = tmp_path / "profile.png"
    args = [
        "profile",
        "--models",
        "efficientnet_b0,mobilenet_v2",
        "--resolution",
        "32",
        "--no-latency",
        "--json",
        "--plot",
        str(out),
    ]
    assert main(args) == 0
    assert png_size(out) == (700, 420)
