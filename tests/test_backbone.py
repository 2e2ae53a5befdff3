"""effnet as a backbone: torch.fx, create_feature_extractor, TorchScript, torch.export, feature
metadata, and torchvision's detectors and segmenters using it as they are."""

import warnings

import pytest
import torch
from conftest import fill_torchvision, randomize_batchnorm
from torch import nn
from torchvision.models.detection import FCOS, FasterRCNN, RetinaNet
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.feature_extraction import create_feature_extractor
from torchvision.models.segmentation.deeplabv3 import DeepLabHead, DeepLabV3
from torchvision.models.segmentation.fcn import FCNHead
from torchvision.ops.misc import FrozenBatchNorm2d

import effnet
from effnet.deploy.export import dynamic_shapes
from effnet.weights.io import load_weights

# torchvision notes that train-mode graphs hold more nodes (drop-path) than eval-mode ones
pytestmark = pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing")
NAMES = effnet.list_models()
#: the smallest registered model of each block family: what runs for real
SMALLEST = [n for n in ("efficientnet_b0", "efficientnet_lite0", "efficientnet_v2_b0",
                        "mobilenet_v1", "mobilenet_v2", "resnet50") if n in NAMES]  # fmt: skip


@pytest.fixture(autouse=True)
def _quiet_jit():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated")
        yield


def _meta_model(name: str) -> nn.Module:
    with torch.device("meta"):
        return effnet.create_model(name).eval()


# --------------------------------------------------------------------- graph capture
@pytest.mark.parametrize("name", NAMES)
def test_feature_extractor_nodes_are_the_feature_info_modules(name):
    model = _meta_model(name)  # tracing is structural: any size is instant on meta
    info = model.feature_info
    extractor = create_feature_extractor(model, {level["module"]: str(i) for i, level in
                                                 enumerate(info)})  # fmt: skip
    maps = extractor(torch.zeros(1, 3, 64, 64, device="meta"))
    assert [m.shape[1] for m in maps.values()] == info.channels()
    assert [64 // m.shape[-1] for m in maps.values()] == info.reduction()


@pytest.mark.parametrize("name", NAMES)
def test_every_model_scripts(name):
    torch.jit.script(_meta_model(name))


@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_fx_and_script_give_the_eager_outputs_and_fx_keeps_the_input_checks(padding):
    model = effnet.create_model("efficientnet_b0", padding=padding).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        eager = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), eager)
        if padding == "symmetric":
            traced = torch.fx.symbolic_trace(model)
            torch.testing.assert_close(traced(x), eager)
            with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
                traced(torch.randn(2, 4, 64, 64))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\)"):
        model(torch.randn(2, 4, 64, 64))  # eager errors stay


@pytest.mark.parametrize("name", SMALLEST)
def test_export_with_dynamic_batch_and_size(name):
    model = effnet.create_model(name, num_classes=10).eval()
    dims = dynamic_shapes(model)
    assert set(dims["x"]) == {0, 2, 3}
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes=dims)
    for x in (torch.randn(1, 3, 64, 64), torch.randn(3, 3, 96, 72)):
        with torch.no_grad():
            torch.testing.assert_close(program.module()(x), model(x), atol=1e-5, rtol=1e-5)


def test_same_padding_exports_with_a_dynamic_batch():
    model = effnet.create_model("efficientnet_b0", num_classes=10, padding="same").eval()
    dims = dynamic_shapes(model)
    assert set(dims["x"]) == {0}  # its padding is resolved for the traced size
    program = torch.export.export(model, (torch.randn(2, 3, 64, 64),), dynamic_shapes=dims)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------- feature metadata
def test_feature_info_and_out_indices():
    model = effnet.create_model("efficientnet_b0")
    info = model.feature_info
    assert info.channels() == [16, 24, 40, 112, 320]
    assert info.reduction() == [2, 4, 8, 16, 32]
    assert info.module_name() == ["blocks.0", "blocks.1", "blocks.2", "blocks.4", "blocks.6"]
    feats = effnet.create_model("efficientnet_b0", features_only=True, out_indices=(2, 4))
    assert feats.out_indices == (2, 4)
    assert feats.feature_info.channels() == [40, 320] and feats.feature_strides == [8, 32]
    maps = feats.eval()(torch.randn(1, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(1, 40, 8, 8), (1, 320, 2, 2)]
    early = effnet.create_model("efficientnet_b0", features_only=True, out_indices=(0, 1))
    assert len(early.blocks) == 2  # stages past the last level asked for are not kept


@pytest.mark.parametrize("bad", [(5,), (-1,), (2, 1), (1, 1), ()])
def test_bad_out_indices_are_refused(bad):
    with pytest.raises(ValueError, match="out_indices"):
        effnet.create_model("efficientnet_b0", features_only=True, out_indices=bad)


def test_out_indices_without_features_only_is_refused():
    with pytest.raises(ValueError, match="features_only"):
        effnet.create_model("efficientnet_b0", out_indices=(1, 2))


# -------------------------------------------------------------------- backbone options
def test_backbone_freezes_bn_and_early_levels():
    backbone = effnet.backbone_with_fpn("efficientnet_b0")  # trainable_layers=3, frozen BN
    body = backbone.body
    assert not any(isinstance(m, nn.BatchNorm2d) for m in body.modules())
    assert any(isinstance(m, FrozenBatchNorm2d) for m in body.modules())
    assert not body.conv_stem.weight.requires_grad
    assert not any(p.requires_grad for p in body.blocks[1].parameters())  # level 1 (stride 4)
    assert all(p.requires_grad for p in body.blocks[2].parameters())  # level 2 (stride 8)
    assert all(p.requires_grad for p in backbone.fpn.parameters())
    trained = effnet.backbone_with_fpn("efficientnet_b0", trainable_layers=5, norm="batch")
    assert all(p.requires_grad for p in trained.parameters())
    assert any(isinstance(m, nn.BatchNorm2d) for m in trained.body.modules())
    with pytest.raises(ValueError, match="trainable_layers"):
        effnet.backbone_with_fpn("efficientnet_b0", trainable_layers=6)


def test_backbone_loads_weights_and_keeps_their_features(tmp_path):
    weights = tmp_path / "tiny.safetensors"
    tiny = effnet.compound("efficientnet_b0", -8).replace(name="tiny", resolution=32)
    network = effnet.create_model(tiny, num_classes=3)
    randomize_batchnorm(network)  # frozen BN must keep real statistics, not identity ones
    effnet.save_weights(network, weights)
    network = load_weights(weights).eval()
    backbone = effnet.backbone_with_fpn("tiny", weights=weights, out_indices=(0, 1, 2)).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = effnet.FeatureNetwork(network, (0, 1, 2))(x)
        for got, want in zip(backbone.body(x), expected):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)  # frozen BN: same maps
    maps = backbone(x)
    assert list(maps) == ["0", "1", "2", "pool"]
    assert all(m.shape[1] == backbone.out_channels == 256 for m in maps.values())


# ----------------------------------------------------------------- torchvision clients
def _images_and_targets(n=2, size=128):
    g = torch.Generator().manual_seed(0)
    images = [torch.rand(3, size, size, generator=g) for _ in range(n)]
    targets = [
        {"boxes": torch.tensor([[10.0, 12.0, 70.0, 90.0], [60.0, 20.0, 120.0, 60.0]]),
         "labels": torch.tensor([1, 2])}
        for _ in range(n)
    ]  # fmt: skip
    return images, targets


def _train_two_steps_then_eval(detector):
    images, targets = _images_and_targets()
    params = [p for p in detector.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    detector.train()
    for _ in range(2):
        losses = detector(images, targets)
        total = sum(losses.values())
        assert torch.isfinite(total), losses
        opt.zero_grad()
        total.backward()
        opt.step()
    detector.eval()
    with torch.no_grad():
        out = detector(images)
    assert len(out) == 2 and {"boxes", "scores", "labels"} <= set(out[0])


@pytest.mark.slow
def test_retinanet_on_an_effnet_backbone():
    backbone = effnet.backbone_with_fpn("efficientnet_b0", out_indices=(2, 3, 4), extra="p6p7")
    _train_two_steps_then_eval(RetinaNet(backbone, num_classes=3, min_size=128, max_size=128))


@pytest.mark.slow
def test_faster_rcnn_on_an_effnet_backbone():
    backbone = effnet.backbone_with_fpn("efficientnet_b0")  # strides 4..32 + pool
    detector = FasterRCNN(backbone, num_classes=3, min_size=128, max_size=128)
    _train_two_steps_then_eval(detector)


@pytest.mark.slow
def test_fcos_on_an_effnet_backbone():
    backbone = effnet.backbone_with_fpn("efficientnet_b0", out_indices=(2, 3, 4), extra="p6p7")
    anchors = AnchorGenerator(
        sizes=((8,), (16,), (32,), (64,), (128,)), aspect_ratios=((1.0,),) * 5
    )
    detector = FCOS(backbone, num_classes=3, min_size=128, max_size=128, anchor_generator=anchors)
    _train_two_steps_then_eval(detector)


@pytest.mark.slow
def test_deeplabv3_on_an_effnet_backbone():
    backbone = effnet.segmentation_backbone("efficientnet_b0", aux=True)
    model = DeepLabV3(
        backbone, DeepLabHead(backbone.out_channels, 4), FCNHead(backbone.aux_channels, 4)
    )
    x = torch.randn(2, 3, 64, 64)
    masks = torch.randint(0, 4, (2, 64, 64), generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(model.parameters(), lr=1e-2, momentum=0.9)
    model.train()
    for _ in range(2):
        out = model(x)
        loss = nn.functional.cross_entropy(out["out"], masks)
        loss = loss + 0.5 * nn.functional.cross_entropy(out["aux"], masks)
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        assert model(x)["out"].shape == (2, 4, 64, 64)


def test_backbone_from_published_weights(torch_home, no_network, tv_b0):
    fill_torchvision(torch_home, tv_b0)  # torchvision's cache, filled offline
    backbone = effnet.backbone_with_fpn("efficientnet_b0", pretrained="torchvision").eval()
    reference = effnet.create_model("efficientnet_b0", pretrained="torchvision").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        want = effnet.FeatureNetwork(reference, (1, 2, 3, 4))(x)
        for got, expected in zip(backbone.body(x), want):
            torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    with pytest.raises(ValueError, match="not both"):
        effnet.backbone_with_fpn("efficientnet_b0", pretrained="torchvision", weights="w.pth")
