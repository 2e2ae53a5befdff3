"""The native kernels (effnet/deploy/kernels/: 1x1 conv + bias + activation, depthwise conv +
activation + SE mean) and the modules using them: equal to PyTorch's operators, used only where
they are the faster choice, clear errors where they cannot run. Built once per test session into
a temporary cache (a C++ compiler and an AVX-512 CPU are needed; elsewhere the kernel tests are
skipped with the reason and the error tests run)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import effnet
from effnet.deploy import native
from effnet.deploy.inference import fold_batchnorm, optimize_for_inference
from effnet.deploy.native_blocks import NativeMBConv, fuse_native, pack_depthwise
from effnet.deploy.pointwise import PointwiseConv, pack_weight
from tests.conftest import randomize_batchnorm


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    """Build (into a fresh cache) and load the kernels, or skip with the reason."""
    mp = pytest.MonkeyPatch()
    mp.setenv("EFFNET_CACHE", str(tmp_path_factory.mktemp("cache")))
    why_not = native.available()
    mp.undo()
    if why_not is not None:
        pytest.skip(why_not)


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


ACTS = {"none": None, "silu": nn.SiLU(), "relu": nn.ReLU(), "relu6": nn.ReLU6()}

# (in, out, height, width, batch): out channels below, at and across the 16-lane vectors and the
# 64-channel groups; inputs deeper than one 128-channel pass; pixel counts not a multiple of 6
SHAPES = [
    (16, 96, 112, 112, 1),
    (3, 5, 7, 7, 1),
    (24, 40, 9, 11, 2),
    (300, 100, 5, 5, 1),
    (1152, 320, 7, 7, 1),
    (64, 64, 4, 4, 3),
]


def _reference(conv: nn.Conv2d, act: nn.Module | None, x: torch.Tensor) -> torch.Tensor:
    y = conv(x)
    return act(y) if act is not None else y


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_kernel_equals_conv_and_activation(kernels, one_thread, shape, act):
    cin, cout, h, w, n = shape
    conv = nn.Conv2d(cin, cout, 1, bias=True)
    nn.init.normal_(conv.weight, std=cin**-0.5)
    nn.init.normal_(conv.bias)
    x = torch.randn(n, cin, h, w) * 2
    weight, bias = pack_weight(conv)
    with torch.inference_mode():
        ref = _reference(conv, ACTS[act], x)
        code = 0 if ACTS[act] is None else {"silu": 1, "relu": 2, "relu6": 3}[act]
        out = torch.ops.effnet_native.pointwise_conv(x, weight, bias, cout, code)
        fused = PointwiseConv(conv, ACTS[act])(x.contiguous(memory_format=torch.channels_last))
    assert out.shape == ref.shape and out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * max(1.0, cin**0.5))
    torch.testing.assert_close(fused, out, rtol=0, atol=0)  # the module ran the kernel


def test_silu_in_its_tails(kernels, one_thread):
    """Large negative and positive inputs: exp's clamping gives 0 and x, not NaN or inf."""
    conv = nn.Conv2d(1, 16, 1, bias=False)
    with torch.no_grad():
        conv.weight.fill_(1.0)
    x = torch.tensor([-1e4, -100.0, -88.0, -20.0, -1e-3, 0.0, 1e-3, 20.0, 100.0, 1e4]).view(
        1, 1, 1, -1
    )
    with torch.inference_mode():
        out = PointwiseConv(conv, nn.SiLU())(x)
    torch.testing.assert_close(out, nn.functional.silu(conv(x)), rtol=1e-6, atol=1e-6)


def test_other_dtypes_use_pytorch(kernels):
    """float64 (or any non-float32, non-CPU input): the modules run PyTorch's operators."""
    conv = nn.Conv2d(32, 48, 1)
    x = torch.randn(2, 32, 5, 5)
    assert torch.ops.effnet_native.use_native(x)
    assert not torch.ops.effnet_native.use_native(x.double())
    module = PointwiseConv(conv, nn.SiLU()).double()
    with torch.inference_mode():
        assert torch.equal(module(x.double()), nn.functional.silu(conv.double()(x.double())))
    model = effnet.create_model("efficientnet_b0", num_classes=10).eval()
    randomize_batchnorm(model)
    fast = optimize_for_inference(model, native=True, script=False).double()
    x = torch.randn(1, 3, 64, 64, dtype=torch.float64)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model.double()(x))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_lite0"])
def test_native_fast_path_equals_eager_on_threads(kernels, name, threads):
    """Batches and thread counts where the kernels split work between threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        model = effnet.create_model(name, num_classes=10).eval()
        randomize_batchnorm(model)
        nn.init.normal_(model.classifier.weight, std=0.5)
        x = torch.randn(3, 3, 80, 80)
        fast = optimize_for_inference(model, x, native=True)  # checks 1e-4 itself
        with torch.inference_mode():
            ref, out = model(x), fast(x)
        torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_lite0"])
def test_native_fast_path_equals_eager(kernels, one_thread, name):
    model = effnet.create_model(name, num_classes=10).eval()
    randomize_batchnorm(model)
    nn.init.normal_(model.classifier.weight, std=0.5)
    x = torch.randn(2, 3, 96, 96)
    fast = optimize_for_inference(model, x, native=True)  # checks 1e-4 itself
    with torch.inference_mode(), torch.profiler.profile() as prof:
        ref, out = model(x), fast(x)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    ran = {e.key for e in prof.key_averages()}
    assert {"effnet_native::depthwise_conv", "effnet_native::pointwise_conv"} <= ran


def test_fuse_native_swaps_every_block(kernels):
    """B0: its 16 MBConv blocks (the first without an expand conv) and the head conv; no 1x1 or
    depthwise conv is left outside a native module."""
    model = effnet.create_model("efficientnet_b0").eval()
    fold_batchnorm(model)
    assert fuse_native(model) == 17
    assert sum(isinstance(m, NativeMBConv) for m in model.modules()) == 16
    assert isinstance(model.conv_head, PointwiseConv)
    for name, child in model.named_children():
        assert not isinstance(child, nn.Conv2d) or name == "conv_stem"


def test_unfolded_blocks_are_left_alone(kernels):
    model = effnet.create_model("efficientnet_b0").eval()
    assert fuse_native(model) == 0


# (channels, size, kernel, stride): channel counts across the 16-lane vectors, odd sizes, padding
DEPTHWISE = [
    (32, 17, 3, 1),
    (40, 15, 3, 2),
    (24, 9, 5, 1),
    (100, 14, 5, 2),
    (16, 6, 7, 1),
    (8, 3, 5, 1),
]


@pytest.mark.parametrize("act", list(ACTS))
@pytest.mark.parametrize("shape", DEPTHWISE, ids=lambda s: "x".join(map(str, s)))
def test_depthwise_kernel_equals_conv_activation_and_mean(kernels, one_thread, shape, act):
    c, size, k, stride = shape
    conv = nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=True)
    nn.init.normal_(conv.bias)
    x = torch.randn(2, c, size, size + 1)
    weight, bias = pack_depthwise(conv)
    code = 0 if ACTS[act] is None else {"silu": 1, "relu": 2, "relu6": 3}[act]
    with torch.inference_mode():
        ref = _reference(conv, ACTS[act], x)
        out, mean = torch.ops.effnet_native.depthwise_conv(x, weight, bias, k, stride, code, True)
        plain, none = torch.ops.effnet_native.depthwise_conv(
            x, weight, bias, k, stride, code, False
        )
    assert out.shape == ref.shape and none.numel() == 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mean, ref.mean((2, 3), keepdim=True), rtol=1e-5, atol=1e-5)
    assert torch.equal(plain, out)


def test_gate_scales_the_pointwise_input_per_image(kernels, one_thread):
    """The SE gate applied inside the project conv: images of a batch keep their own gate,
    also where a 6-pixel tile spans two images (5 x 5 planes)."""
    conv = nn.Conv2d(300, 100, 1)
    x, gate = torch.randn(3, 300, 5, 5), torch.rand(3, 300)
    weight, bias = pack_weight(conv)
    with torch.inference_mode():
        out = torch.ops.effnet_native.pointwise_conv(x, weight, bias, 100, 0, gate)
        ref = conv(x * gate[:, :, None, None])
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-4)


def test_native_refuses_compile():
    with pytest.raises(ValueError, match="not with compile"):
        optimize_for_inference(effnet.create_model("efficientnet_b0"), native=True, compile=True)


def test_packed_weight_of_another_layer_is_refused(kernels):
    x = torch.randn(1, 8, 4, 4)
    weight, bias = pack_weight(nn.Conv2d(16, 32, 1))
    with pytest.raises(RuntimeError, match="packed weight"):
        torch.ops.effnet_native.pointwise_conv(x, weight, bias, 32, 1)


# ------------------------------------------------------------------ where the kernels cannot run
def test_other_cpus_get_a_reason(monkeypatch):
    monkeypatch.setattr(native.platform, "machine", lambda: "aarch64")
    assert "x86-64" in native.cpu_supported()


def test_no_compiler_is_a_one_line_error(monkeypatch, tmp_path):
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "compiler", lambda: None)
    with pytest.raises(native.NativeKernelsUnavailable, match="no C\\+\\+ compiler"):
        native.build()


def test_failed_build_names_its_log_and_leaves_no_library(monkeypatch, tmp_path):
    if native.compiler() is None:
        pytest.skip("no C++ compiler")
    bad = tmp_path / "bad.cpp"
    bad.write_text("this is not C++;\n")
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(native, "SOURCE", bad)
    with pytest.raises(
        native.NativeKernelsUnavailable, match="building the native kernels failed"
    ) as e:
        native.build()
    log = native.library_path(native.compiler()).with_suffix(".log")
    assert str(log) in str(e.value) and log.read_text()
    assert not list((tmp_path / "cache" / "kernels").glob("*.so"))


def test_damaged_library_in_the_cache_is_a_one_line_error(monkeypatch, tmp_path):
    if native.compiler() is None or native.cpu_supported() is not None:
        pytest.skip("no C++ compiler or no AVX-512")
    monkeypatch.setenv("EFFNET_CACHE", str(tmp_path))
    monkeypatch.setattr(native, "_loaded", None)
    damaged = native.library_path(native.compiler())
    damaged.parent.mkdir(parents=True)
    damaged.write_bytes(b"not a shared library")
    with pytest.raises(native.NativeKernelsUnavailable, match="delete it to rebuild"):
        native.load()
