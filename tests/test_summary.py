"""The per-layer table: its totals are count_params / count_macs, its shapes are the model's."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from effnet import compound, count_macs, count_params, create_model
from effnet.analysis.summary import summarize
from effnet.cli import main


@pytest.mark.parametrize(
    ("name", "resolution"),
    [
        ("efficientnet_b0", 64),
        ("efficientnet_b2", (64, 96)),
        ("efficientnet_lite0", 64),
        ("mobilenet_v1", 64),
        ("mobilenet_v2", 72),
        ("resnet50", 64),
    ],
)
def test_totals_equal_count_params_and_count_macs(name: str, resolution) -> None:
    model = create_model(name, num_classes=10)
    table = summarize(model, resolution)
    assert table.total_params == count_params(model)
    assert table.total_macs == count_macs(model, resolution)
    assert all(r.params >= 0 and r.macs >= 0 for r in table.rows)
    assert not any(r.name == "(other)" for r in table.rows)


def test_rows_follow_the_network() -> None:
    model = create_model("efficientnet_b0").eval()
    table = summarize(model, 96)
    blocks = [r for r in table.rows if r.stage.isdigit()]
    assert len(blocks) == len(model.plan.blocks) == 16
    assert table.rows[0].stage == "stem" and table.rows[0].output_shape == (32, 48, 48)
    assert [r.stage for r in table.rows[-2:]] == ["head", "classifier"]
    with torch.no_grad():
        features = model.forward_features(torch.zeros(1, 3, 96, 96))
    assert table.rows[-2].output_shape == tuple(features.shape[1:])
    assert table.rows[-1].output_shape == (1000,)
    assert blocks[1].kind == "MBConv6 k3x3 s2 SE" and blocks[1].output_shape == (24, 24, 24)
    assert [r.block for r in blocks[:3]] == [0, 0, 1]


def test_meta_build_for_names_and_scaled_specs() -> None:
    """A name or a spec is counted on the meta device, with the same result."""
    spec = compound("efficientnet_b0", -1.5)
    model = create_model(spec)
    table = summarize(spec)
    assert table.resolution == (spec.resolution, spec.resolution)
    assert table.total_params == count_params(model)
    assert table.total_macs == count_macs(model, spec.resolution)
    b7 = summarize("efficientnet_b7")  # no memory, no compute: instant
    assert round(b7.total_params / 1e6, 1) == 66.3 and round(b7.total_macs / 1e9) == 38


def test_generic_module_and_text() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(512, 5))
    table = summarize(model, 16)
    assert table.total_params == count_params(model)
    assert table.total_macs == count_macs(model, 16)
    assert table.rows[0].output_shape == (8, 8, 8)
    text = table.to_text()
    assert f"{table.total_params:,}" in text and f"{table.total_macs:,}" in text
    json.dumps(table.to_dict())
    with pytest.raises(ValueError):
        summarize(model)


def cli(args: list[str]) -> int:
    """``effnet`` exit status; argparse's own errors exit through SystemExit."""
    try:
        return main(args)
    except SystemExit as exc:
        return int(exc.code or 0)


def test_cli_summary(capsys) -> None:
    assert main(["summary", "efficientnet_b0", "--resolution", "64", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    model = create_model("efficientnet_b0")
    assert data["total_params"] == count_params(model)
    assert data["total_macs"] == count_macs(model, 64)
    assert data["resolution"] == [64, 64] and len(data["layers"]) == 19
    assert main(["summary", "efficientnet_b0", "--phi", "1", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "width x1.1, depth x1.2" in out and "258x258" in out
    assert cli(["summary", "efficientnet_b99"]) == 2
    assert cli(["summary", "efficientnet_b0", "--resolution", "4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("effnet summary: error:") for e in err)


def test_cli_summary_of_a_scaled_lite(capsys) -> None:
    assert main(["summary", "efficientnet_lite0", "--phi", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    spec = compound("efficientnet_lite0", 1)
    table = summarize(spec)
    assert data["total_params"] == table.total_params and data["total_macs"] == table.total_macs
    assert data["resolution"] == [spec.resolution] * 2
    assert table.rows[0].output_shape[0] == 32  # the stem is not scaled (fix_head_stem)
    assert not any(r.kind.endswith("SE") for r in table.rows)
