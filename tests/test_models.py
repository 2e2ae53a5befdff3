"""The model family: exact parameter counts, multiply-adds, and a forward/backward for every
registered model."""

import pytest
import torch
from torch import nn

import effnet
from effnet.analysis.cost import model_cost
from effnet.models.layers import DropPath, SqueezeExcite, same_padding

# exact parameter counts with 1000 classes (torchvision; the official code's released checkpoints)
PARAMS = {
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
    "efficientnet_b5": 30_389_784,
    "efficientnet_b6": 43_040_704,
    "efficientnet_b7": 66_347_960,
    # EfficientNet-Lite (official efficientnet_lite_builder.py); timm's efficientnet_liteN and
    # tf_efficientnet_liteN have exactly these counts
    "efficientnet_lite0": 4_652_008,
    "efficientnet_lite1": 5_416_680,
    "efficientnet_lite2": 6_092_072,
    "efficientnet_lite3": 8_197_096,
    "efficientnet_lite4": 13_006_568,
    # torchvision's mobilenet_v2 and resnet50 have exactly these counts
    "mobilenet_v2": 3_504_872,
    "resnet50": 25_557_032,
}
# GMACs at the native resolution, counted on torchvision's models
GMACS = {
    "efficientnet_b0": 0.386,
    "efficientnet_b1": 0.687,
    "efficientnet_b2": 0.994,
    "efficientnet_b3": 1.827,
    "efficientnet_b4": 4.394,
    "efficientnet_b5": 10.266,
    "efficientnet_b6": 19.068,
    "efficientnet_b7": 37.746,
}
#: B4 and up take tens of seconds each on 2 cores: marked slow
LARGE = {f"efficientnet_b{i}" for i in range(4, 9)}
SMALL_GRAD_MODELS = [
    pytest.param(m, marks=pytest.mark.slow) if m in LARGE else m
    for m in effnet.list_models()
    if m not in ("efficientnet_l2",)
]


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count_is_exact(name: str) -> None:
    assert model_cost(name).params == PARAMS[name]  # built on the meta device: shapes only


@pytest.mark.parametrize("name", sorted(GMACS))
def test_multiply_adds_at_native_resolution(name: str) -> None:
    macs = model_cost(name).macs  # at the variant's resolution, on the meta device
    assert macs / 1e9 == pytest.approx(GMACS[name], rel=0.03)


def test_meta_device_counts_equal_a_real_forward() -> None:
    model = effnet.create_model("efficientnet_b0")
    assert effnet.count_params(model) == model_cost("efficientnet_b0").params
    assert effnet.count_macs(model, 224) == model_cost("efficientnet_b0", 224).macs


def test_every_efficientnet_variant_is_registered() -> None:
    names = effnet.list_models()
    for i in range(8):
        assert f"efficientnet_b{i}" in names
    for i in range(5):
        assert f"efficientnet_lite{i}" in names


def test_lite_has_no_se_and_relu6_everywhere() -> None:
    model = effnet.create_model("efficientnet_lite2")
    assert not [m for m in model.modules() if isinstance(m, SqueezeExcite)]
    acts = {type(m) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6, nn.SiLU))}
    assert acts == {nn.ReLU6}
    assert model.dropout.p == 0.3 and model.spec.resolution == 260


@pytest.mark.parametrize("name", SMALL_GRAD_MODELS)
def test_forward_backward_every_parameter_gets_a_gradient(name: str) -> None:
    model = effnet.create_model(name, num_classes=7).train()
    x = torch.randn(2, 3, 40, 48)
    out = model(x)
    assert out.shape == (2, 7)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"parameters without gradient: {missing[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.slow
def test_largest_variant_builds_and_runs() -> None:
    model = effnet.create_model("efficientnet_l2", num_classes=3).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 3) and torch.isfinite(out).all()


def test_head_api_and_reset_classifier() -> None:
    model = effnet.create_model("efficientnet_b0").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (1, 1280, 2, 2)
        assert model.forward_head(feats, pre_logits=True).shape == (1, 1280)
        assert torch.equal(model.forward_head(feats), model(x))
    model.reset_classifier(5)
    assert model(x).shape == (1, 5) and model.num_classes == 5
    model.reset_classifier(0)
    assert model(x).shape == (1, 1280)


@pytest.mark.parametrize(
    ("name", "channels"),
    [
        ("efficientnet_b0", [16, 24, 40, 112, 320]),
        ("efficientnet_b3", [24, 32, 48, 136, 384]),
        ("resnet50", [64, 256, 512, 1024, 2048]),
    ],
)
def test_features_only_gives_maps_at_strides_2_to_32(name: str, channels: list[int]) -> None:
    model = effnet.create_model(name, features_only=True).eval()
    assert model.feature_strides == [2, 4, 8, 16, 32]
    assert model.feature_channels == channels
    with torch.no_grad():
        maps = model(torch.randn(1, 3, 64, 96))
    assert [m.shape[1] for m in maps] == channels
    assert [(m.shape[2], m.shape[3]) for m in maps] == [
        (64 // s, 96 // s) for s in (2, 4, 8, 16, 32)
    ]


def test_variant_dropout_and_drop_path_defaults() -> None:
    b0, b7 = effnet.create_model("efficientnet_b0"), effnet.create_model("efficientnet_b7")
    assert b0.dropout.p == 0.2 and b7.dropout.p == 0.5
    rates = [m.rate for m in b0.modules() if isinstance(m, DropPath)]
    # linear in the global block index i of 16; only identity-skip blocks carry one, and the
    # last block (192 -> 320 channels) has no skip, so the largest rate is block 14's
    assert max(rates) == pytest.approx(0.2 * 14 / 16)
    assert min(rates) == pytest.approx(0.2 * 2 / 16)  # block 2: the first with a skip
    assert effnet.create_model("efficientnet_b0", drop_rate=0.0).dropout.p == 0.0


def test_drop_path_keeps_expectation_and_is_identity_in_eval() -> None:
    layer = DropPath(0.3)
    x = torch.ones(20000, 1)
    y = layer.train()(x)
    values = y.unique()
    assert len(values) == 2 and values[0] == 0.0
    assert values[1].item() == pytest.approx(1 / 0.7)
    assert y.mean().item() == pytest.approx(1.0, abs=0.03)
    assert torch.equal(layer.eval()(x), x)


def test_squeeze_width_comes_from_block_input_channels() -> None:
    model = effnet.create_model("efficientnet_b0")
    block = model.blocks[1][0]  # 16 -> 24, expanded to 96
    assert block.se.conv_reduce.out_channels == 4  # 0.25 * 16, not 0.25 * 96
    assert block.se.conv_reduce.in_channels == 96


def test_batchnorm_is_tf_configured() -> None:
    bn = effnet.create_model("efficientnet_b0").bn1
    assert bn.eps == 1e-3 and bn.momentum == 0.01


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "expected"),
    [(224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (7, 5, 1, (2, 2)), (8, 5, 2, (1, 2))],
)
def test_tf_same_padding_puts_the_extra_pixel_after(size, kernel, stride, expected) -> None:
    assert same_padding(size, kernel, stride) == expected


def test_same_padding_model_differs_from_symmetric_and_handles_non_square() -> None:
    sym = effnet.create_model("efficientnet_b0").eval()
    same = effnet.create_model("efficientnet_b0", padding="same").eval()
    same.load_state_dict(sym.state_dict())
    x = torch.randn(1, 3, 71, 50)
    with torch.no_grad():
        a, b = sym(x), same(x)
    assert a.shape == b.shape == (1, 1000)
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (torch.randn(3, 64, 64), "shape"),
        (torch.randn(1, 1, 64, 64), "shape"),
        (torch.zeros(1, 3, 64, 64, dtype=torch.uint8), "floating"),
    ],
)
def test_bad_inputs_get_clear_errors(bad: torch.Tensor, message: str) -> None:
    model = effnet.create_model("efficientnet_b0").eval()
    with pytest.raises((ValueError, TypeError), match=message):
        model(bad)


def test_in_chans() -> None:
    model = effnet.create_model("efficientnet_b0", in_chans=1, num_classes=2).eval()
    assert model(torch.randn(1, 1, 32, 32)).shape == (1, 2)


def test_unknown_model_suggests_close_names() -> None:
    with pytest.raises(ValueError, match="did you mean efficientnet_b0"):
        effnet.create_model("efficientnet-b0")


def test_list_models_takes_timm_wildcards() -> None:
    assert effnet.list_models("*lite*") == [f"efficientnet_lite{i}" for i in range(5)]
    assert effnet.list_models(["mobilenet*", "resnet50"]) == [
        "mobilenet_v1",
        "mobilenet_v2",
        "resnet50",
    ]
    assert effnet.list_models("nothing*") == []
    assert effnet.list_models() == effnet.list_models("")


def test_get_classifier_and_grad_checkpointing_as_timm() -> None:
    torch.manual_seed(0)
    tiny = effnet.compound("efficientnet_b0", -8).replace(resolution=32)
    model = effnet.create_model(tiny, num_classes=3, drop_rate=0.0, drop_path_rate=0.0)
    assert model.get_classifier() is model.classifier and model.get_classifier().out_features == 3
    x = torch.randn(2, 3, 32, 32)
    plain = model(x).sum()
    plain.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    keys = list(model.state_dict())
    model.set_grad_checkpointing(True)
    assert model.memory_efficient and list(model.state_dict()) == keys
    model.zero_grad()
    model(x).sum().backward()
    for before, p in zip(grads, model.parameters()):
        torch.testing.assert_close(p.grad, before, atol=1e-5, rtol=1e-4)
    model.set_grad_checkpointing(False)
    assert not model.memory_efficient
    assert all(type(stage) is nn.Sequential for stage in model.blocks)
