"""EfficientNetV2 (Tan & Le, ICML 2021): the official tables give timm's and torchvision's
networks exactly (parameters, and logits with their weights at each model's eval size), and V2
is a base for compound scaling like V1."""

from __future__ import annotations

import math

import numpy as np
import pytest
import timm
import torch
import torchvision
from conftest import randomize_batchnorm
from PIL import Image

import effnet
from effnet.analysis.cam import image_cams
from effnet.analysis.cost import model_cost
from effnet.models.blocks import FusedConv, FusedMBConv
from effnet.scaling.law import family

V2 = effnet.list_models("efficientnet_v2_*")
#: timm's tf_efficientnetv2_* with 1000 classes; torchvision's S/M/L are the same networks.
PARAMS = {
    "efficientnet_v2_b0": 7_139_704,
    "efficientnet_v2_b1": 8_141_052,
    "efficientnet_v2_b2": 10_096_086,
    "efficientnet_v2_b3": 14_358_406,
    "efficientnet_v2_s": 21_458_488,
    "efficientnet_v2_m": 54_139_356,
    "efficientnet_v2_l": 118_515_272,
    "efficientnet_v2_xl": 208_119_808,
}
#: tens of seconds each at their eval size on 2 cores
LARGE = {"efficientnet_v2_m", "efficientnet_v2_l", "efficientnet_v2_xl"}


def _timm_name(name: str) -> str:
    return name.replace("efficientnet_v2_", "efficientnetv2_")


def _references() -> list:
    cases = []
    for name in V2:
        v = name.rsplit("_", 1)[1]
        cases.append(("timm_tf", f"tf_{_timm_name(name)}", name))
        if not v.startswith("b"):
            cases.append(("timm", _timm_name(name), name))
        if v in ("s", "m", "l"):
            cases.append(("torchvision", name, name))
    return [
        pytest.param(*c, marks=pytest.mark.slow, id=f"{c[0]}-{c[1]}") if c[2] in LARGE
        else pytest.param(*c, id=f"{c[0]}-{c[1]}")
        for c in cases
    ]  # fmt: skip


def test_every_v2_variant_is_registered():
    assert V2 == sorted(PARAMS)


@pytest.mark.parametrize("name", V2)
def test_parameter_count_equals_timm_and_torchvision(name):
    assert model_cost(name).params == PARAMS[name]  # on the meta device: shapes only
    with torch.device("meta"):
        theirs = timm.create_model(f"tf_{_timm_name(name)}")
    assert sum(p.numel() for p in theirs.parameters()) == PARAMS[name]
    if hasattr(torchvision.models, name):
        with torch.device("meta"):
            tv = getattr(torchvision.models, name)()
        assert sum(p.numel() for p in tv.parameters()) == PARAMS[name]


@pytest.mark.parametrize(("source", "theirs", "name"), _references())
def test_outputs_equal_the_reference_at_the_eval_size(source, theirs, name):
    torch.manual_seed(0)
    if source == "torchvision":
        reference = getattr(torchvision.models, theirs)().eval()
    else:
        reference = timm.create_model(theirs).eval()
    randomize_batchnorm(reference)
    state = dict(sorted(reference.state_dict().items()))  # as a safetensors file keeps them
    ours = effnet.load_pretrained(name, state, source=source)
    assert ours.padding == ("same" if source == "timm_tf" else "symmetric")
    size = ours.spec.resolution  # the official eval size: S 384, M and L 480, XL 512
    x = torch.randn(1, 3, size, size)
    with torch.no_grad():
        expected = reference(x)
        assert (ours(x) - expected).abs().max().item() <= 1e-5
    assert expected.abs().max() > 1e-2


def test_fused_stages_are_fused_mbconv_without_se():
    model = effnet.create_model("efficientnet_v2_s")
    kinds = [type(b).__name__ for b in model.blocks[0]] + [type(model.blocks[1][0]).__name__]
    assert kinds == ["FusedConv", "FusedConv", "FusedMBConv"]
    assert model.blocks[0][1].has_skip and not model.blocks[1][0].has_skip
    fused = [m for m in model.modules() if isinstance(m, (FusedConv, FusedMBConv))]
    assert len(fused) == 2 + 4 + 4 and all(not hasattr(m, "conv_dw") for m in fused)
    assert model.dropout.p == 0.2 and model.plan.head_channels == 1280


@pytest.mark.slow
def test_two_to_the_phi_law_on_a_v2_base():
    rows = family("efficientnet_v2_b0", range(5), alpha=1.2, beta=1.1, gamma=1.15)
    law2 = [r.law_2 for r in rows]
    assert law2[0] == 1.0 and all(0.78 <= x <= 1.30 for x in law2), law2
    assert all(0.95 <= r.law_c <= 1.35 for r in rows), [r.law_c for r in rows]
    steps = [b.macs / a.macs for a, b in zip(rows, rows[1:])]
    assert all(1.5 <= s <= 2.6 for s in steps), steps
    assert 1.8 <= math.exp(sum(map(math.log, steps)) / len(steps)) <= 2.1
    assert rows[0].params == PARAMS["efficientnet_v2_b0"]
    spec = effnet.compound("efficientnet_v2_b0", 2)
    kinds = [s.block for s in spec.stages]
    assert kinds[:3] == ["fused"] * 3 and kinds[3:] == ["mbconv"] * 3  # scaled, not replaced


def test_v2_goes_where_v1_goes(tmp_path):
    torch.manual_seed(0)
    model = effnet.create_model(effnet.compound("efficientnet_v2_b0", -3), num_classes=4).eval()
    randomize_batchnorm(model)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        eager = model(x)
        torch.testing.assert_close(effnet.optimize_for_inference(model, x)(x), eager)
    feats = effnet.create_model("efficientnet_v2_s", features_only=True).eval()
    assert feats.feature_info.reduction() == [2, 4, 8, 16, 32]
    assert feats.feature_info.channels() == [24, 48, 64, 160, 256]
    fpn = effnet.backbone_with_fpn("efficientnet_v2_b0", trainable_layers=5).eval()
    with torch.no_grad():
        assert [m.shape[1] for m in fpn(torch.randn(1, 3, 64, 64)).values()] == [256] * 5
    image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 80, 3), np.uint8))
    (cam,) = image_cams(model, [image], method="cam", resolution=64, crop=1.0)
    assert cam.heatmap.shape == (64, 80) and 0 <= cam.heatmap.min() <= cam.heatmap.max() <= 1


def test_zero_init_residual_makes_fused_blocks_identities():
    model = effnet.create_model("efficientnet_v2_s").eval()
    block = model.blocks[1][1]  # a Fused-MBConv with a skip
    block.zero_init_last()
    x = torch.randn(1, 48, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(block(x), x)


def test_published_v2_weights_with_their_preprocessing(
    torch_home, no_network, tmp_path, monkeypatch
):
    import huggingface_hub.constants
    from safetensors.torch import save_file
    from torchvision.models import get_weight

    from effnet.weights.published import TORCHVISION_WEIGHTS

    cache = tmp_path / "hf"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    torch.manual_seed(0)
    tv = torchvision.models.efficientnet_v2_s().eval()
    randomize_batchnorm(tv)
    weights = get_weight(TORCHVISION_WEIGHTS["efficientnet_v2_s"])
    path = torch_home / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(tv.state_dict(), path)
    tm = timm.create_model("tf_efficientnetv2_b0").eval()
    randomize_batchnorm(tm)
    snapshot = cache / "models--timm--tf_efficientnetv2_b0.in1k" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    save_file(
        {k: v.contiguous() for k, v in tm.state_dict().items()}, snapshot / "model.safetensors"
    )

    image = Image.fromarray(np.random.default_rng(1).integers(0, 256, (375, 500, 3), np.uint8))
    x = torch.randn(1, 3, 96, 96)
    ours = effnet.create_model("efficientnet_v2_s", pretrained="torchvision").eval()
    with torch.no_grad():
        assert (ours(x) - tv(x)).abs().max().item() <= 1e-5
    torch.testing.assert_close(
        effnet.create_transform(ours)(image), weights.transforms()(image), atol=1e-6, rtol=0
    )
    ours = effnet.create_model("efficientnet_v2_b0.in1k", pretrained=True).eval()
    with torch.no_grad():
        assert (ours(x) - tm(x)).abs().max().item() <= 1e-5
    config = timm.data.resolve_data_config({}, model=tm, use_test_size=True)
    assert config["input_size"] == (3, 224, 224)  # V2 evaluates larger than it trains (192)
    reference = timm.data.create_transform(**config)(image)
    torch.testing.assert_close(effnet.create_transform(ours)(image), reference, atol=1e-6, rtol=0)


def test_v2_trains_and_fits_a_budget(tmp_path):
    import json

    from conftest import make_image_folder

    from effnet.cli import main

    data = make_image_folder(tmp_path / "data")
    out = tmp_path / "run"
    args = ["--model", "efficientnet_v2_b0", "--phi", "-4", "--epochs", "1", "--resolution", "32"]
    common = ["-b", "8", "--workers", "0", "--no-progress", "--data", str(data), "--out", str(out)]
    assert main(["train", *args, *common]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"].startswith("efficientnet_v2_b0") and summary["val_images"] == 18
    spec = effnet.fit_budget("efficientnet_v2_b0", max_macs=2e9)
    assert 1e9 < model_cost(spec).macs <= 2e9 and spec.stages[0].block == "fused"
