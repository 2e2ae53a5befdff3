"""The inference fast path: BN folding + channels_last equal the eager model within 1e-4."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import effnet
from effnet.deploy.inference import fold_batchnorm, optimize_for_inference


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small inputs: one thread is fastest, and immune to OpenMP spin on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomize_bn(model: nn.Module, seed: int = 0) -> None:
    """Non-trivial running statistics and affine parameters, so folding is really tested."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def assert_equal_outputs(out: torch.Tensor, ref: torch.Tensor, tol: float = 1e-4) -> None:
    """Within ``tol`` absolutely and relative to the output's scale (random-init EfficientNets
    give tiny logits, so an absolute bound alone would prove little)."""
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol * max(1.0, ref.abs().max().item()))
    assert (out - ref).abs().max() <= tol * ref.abs().max()


CASES = [
    ("efficientnet_b0", "symmetric", (64, 64)),
    ("efficientnet_b0", "same", (57, 83)),  # TF SAME padding, odd non-square input
    ("efficientnet_b3", "same", (64, 48)),
    ("mobilenet_v1", "symmetric", (48, 80)),
    ("mobilenet_v2", "symmetric", (48, 80)),
    ("resnet50", "symmetric", (64, 64)),
]


@pytest.mark.parametrize(
    "name,padding,size,channels_last",
    [(*case, True) for case in CASES] + [("efficientnet_b0", "same", (57, 83), False)],
)
def test_fast_path_matches_eager(name, padding, size, channels_last):
    torch.manual_seed(0)
    model = effnet.create_model(name, padding=padding, num_classes=10).eval()
    _randomize_bn(model)
    x = torch.randn(2, 3, *size)
    scripted = optimize_for_inference(model, x, channels_last=channels_last)
    assert isinstance(scripted, torch.jit.ScriptModule)
    fast = optimize_for_inference(model, x, channels_last=channels_last, script=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    with torch.no_grad():
        assert_equal_outputs(scripted(x), model(x))
        other = torch.randn(3, 3, 40, 56)  # another batch and size than the example
        assert_equal_outputs(scripted(other), fast(other))
        assert_equal_outputs(fast(x), model(x))
        # features too (the pre-hook only converts forward's input)
        feats = fast.forward_features(x.contiguous(memory_format=torch.channels_last))
        assert_equal_outputs(feats, model.forward_features(x))


def test_caller_model_untouched():
    model = effnet.create_model("efficientnet_b0", num_classes=10).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = optimize_for_inference(model, torch.randn(1, 3, 64, 64), script=False)
    assert model.training and not fast.training
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 49
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
        assert v.is_contiguous(), k
    assert all(not p.requires_grad for p in fast.parameters())


def test_fold_counts_every_bn():
    model = effnet.create_model("efficientnet_b0").eval()
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert fold_batchnorm(model) == n_bn == 49


def test_fast_path_features_only():
    model = effnet.create_model("efficientnet_b0", features_only=True).eval()
    _randomize_bn(model)
    x = torch.randn(1, 3, 64, 64)
    for script in (True, False):
        fast = optimize_for_inference(model, script=script)
        with torch.no_grad():
            for a, b in zip(fast(x), model(x), strict=True):
                assert_equal_outputs(a, b)


def test_unscriptable_model_is_one_clear_error():
    class Odd(nn.Module):
        def forward(self, x, *rest):  # varargs: TorchScript refuses
            return x

    with pytest.raises(RuntimeError, match="script=False"):
        optimize_for_inference(Odd())
    assert isinstance(optimize_for_inference(Odd(), script=False), nn.Module)


# ----------------------------------------------------------------- backend="onnxruntime"
@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_lite0", "efficientnet_v2_b0"])
def test_onnxruntime_backend_matches_eager(name):
    torch.manual_seed(0)
    small = effnet.compound(name, -4)  # every block kind of the family, fewer blocks to export
    model = effnet.create_model(small, num_classes=10).train()
    _randomize_bn(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(2, 3, 64, 64)
    fast = optimize_for_inference(model, x, backend="onnxruntime")
    assert isinstance(fast, nn.Module) and not fast.training
    assert model.training  # the caller's model untouched
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert fast.session.get_session_options().intra_op_num_threads == torch.get_num_threads()
    model.eval()
    # one module, several batch sizes (and, with symmetric padding, another input size)
    for shape in [(1, 3, 64, 64), (3, 3, 64, 64), (3, 3, 80, 48)]:
        other = torch.randn(*shape)
        with torch.no_grad():
            out, ref = fast(other), model(other)
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
        assert_equal_outputs(out, ref)
    # channels_last and float64 inputs are converted, not misread
    cl = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        assert_equal_outputs(fast(cl), model(x))
        assert_equal_outputs(fast(x.double()), model(x))


@pytest.mark.slow
def test_onnxruntime_backend_features_only():
    small = effnet.compound("efficientnet_b0", -4)  # fewer blocks: a quicker export
    model = effnet.create_model(small, features_only=True).eval()
    _randomize_bn(model)
    x = torch.randn(1, 3, 64, 64)
    fast = optimize_for_inference(model, x, backend="onnxruntime")
    with torch.no_grad():
        outs, refs = fast(x), model(x)
    assert isinstance(outs, list) and len(outs) == len(refs) == 5
    for a, b in zip(outs, refs, strict=True):
        assert_equal_outputs(a, b)


@pytest.mark.parametrize(
    "options,match",
    [
        ({"compile": True}, "compile=True is a torch-backend option"),
        ({"script": True}, "script=True is a torch-backend option"),
        ({"script": False}, "script=False is a torch-backend option"),
        ({"backend": "tensorrt"}, "unknown backend 'tensorrt'"),
    ],
)
def test_onnxruntime_backend_contradictory_options(options, match):
    model = effnet.create_model("efficientnet_b0", num_classes=10)
    options = {"backend": "onnxruntime", **options}
    with pytest.raises(ValueError, match=match):
        optimize_for_inference(model, **options)


def test_onnxruntime_backend_unsupported_models():
    class Dict(nn.Module):
        def forward(self, x):
            return {"logits": x}

    with pytest.raises(ValueError, match="returning a tensor or a list of tensors, got dict"):
        optimize_for_inference(Dict(), torch.randn(1, 3, 8, 8), backend="onnxruntime")
    with pytest.raises(ValueError, match="needs example_input for a Dict"):
        optimize_for_inference(Dict(), backend="onnxruntime")

    class Svd(nn.Module):  # no ONNX operator for an SVD
        def forward(self, x):
            return torch.linalg.svd(x)[1]

    with pytest.raises(ValueError, match="cannot export Svd to ONNX") as info:
        optimize_for_inference(Svd(), torch.randn(1, 3, 8, 8), backend="onnxruntime")
    assert "\n" not in str(info.value)


def test_onnxruntime_missing_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    model = effnet.create_model("efficientnet_b0", num_classes=10)
    with pytest.raises(ImportError, match="pip install onnxruntime onnx onnxscript") as info:
        optimize_for_inference(model, backend="onnxruntime")
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_onnxruntime_backend_wrong_input_is_one_line():
    small = effnet.compound("efficientnet_b0", -4)
    model = effnet.create_model(small, num_classes=3, padding="same").eval()
    fast = optimize_for_inference(model, torch.randn(1, 3, 64, 64), backend="onnxruntime")
    for bad in (torch.randn(1, 4, 64, 64), torch.randn(3, 64, 64), torch.randn(1, 3, 48, 64)):
        with pytest.raises(ValueError, match=r"expected an input of shape \(\*, 3, 64, 64\)"):
            fast(bad)
    assert fast(torch.randn(5, 3, 64, 64)).shape == (5, 3)  # any batch
