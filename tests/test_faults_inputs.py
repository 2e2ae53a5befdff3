"""Issue 7, inputs to the model: sizes the strides cannot handle get a clear error naming the
expected shape, and every size that works keeps working (1x1 included)."""

import pytest
import torch

import effnet

SPEC = effnet.compound("efficientnet_b0", -4).replace(resolution=32)


@pytest.fixture(scope="module")
def model() -> effnet.Network:
    return effnet.Network(SPEC, num_classes=3)


@pytest.mark.parametrize("size", [(1, 1), (1, 2), (2, 1), (1, 2000), (7, 7), (31, 33)])
@pytest.mark.parametrize("padding", ["symmetric", "same"])
def test_any_size_from_1x1_runs_in_eval(size, padding):
    net = effnet.Network(SPEC, num_classes=3, padding=padding).eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, *size))
    assert out.shape == (1, 3) and torch.isfinite(out).all()


@pytest.mark.parametrize("shape", [(1, 3, 0, 32), (2, 3, 32, 0), (1, 3, 0, 0)])
def test_empty_spatial_size_names_the_expected_shape(model, shape):
    model.eval()
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 3, H, W\) with H, W >= 1"):
        model(torch.randn(shape))


@pytest.mark.parametrize("size", [(1, 1), (32, 32), (17, 32)])
def test_training_on_one_image_with_a_1x1_final_map_is_a_clear_error(model, size):
    """BatchNorm cannot train on one value per channel; say so in terms of the input."""
    model.train()
    with pytest.raises(ValueError, match=r"too small to train on.*total stride of 32.*N >= 2"):
        model(torch.randn(1, 3, *size))


@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (1, 3, 33, 32), (1, 3, 1, 40)])
def test_training_sizes_that_work_are_not_rejected(model, shape):
    model.train()
    out = model(torch.randn(shape))
    assert out.shape == (shape[0], 3)


def test_frozen_batchnorm_trains_on_one_tiny_image(model):
    """Fine-tuning with frozen BN statistics (BN in eval mode) takes a batch of one."""
    model.train()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    out = model(torch.randn(1, 3, 8, 8))
    out.sum().backward()
    assert out.shape == (1, 3)


def test_feature_network_checks_empty_inputs_too():
    net = effnet.create_model(SPEC, num_classes=3, features_only=True).eval()
    assert len(net(torch.randn(1, 3, 1, 1))) == 5
    with pytest.raises(ValueError, match="H, W >= 1"):
        net(torch.randn(1, 3, 0, 4))


@pytest.mark.parametrize("phi", [float("nan"), float("inf"), -float("inf"), 1e6, 200.0])
def test_non_finite_phi_is_a_clear_error(phi):
    with pytest.raises(ValueError, match="finite|must be"):
        effnet.compound("efficientnet_b0", phi)
