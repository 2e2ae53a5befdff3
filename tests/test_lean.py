"""Memory-lean training (per-block activation checkpointing): identical outputs, gradients,
BN running statistics and state_dict keys to the normal mode, with far fewer saved tensors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import effnet
from effnet.models.lean import CheckpointSequential, make_memory_efficient


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small inputs: one thread is fastest, and immune to OpenMP spin on a busy 2-core box."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _pair(name: str, **kw) -> tuple[nn.Module, nn.Module]:
    normal = effnet.create_model(name, num_classes=10, **kw)
    lean = effnet.create_model(name, num_classes=10, memory_efficient=True, **kw)
    lean.load_state_dict(normal.state_dict())
    return normal, lean


def _step(model: nn.Module, x: torch.Tensor, seed: int) -> torch.Tensor:
    model.train()
    torch.manual_seed(seed)  # same drop-path / dropout draws in both modes
    out = model(x)
    (out.square().mean() + out.mean()).backward()
    return out


@pytest.mark.parametrize(
    "name,padding",
    [("efficientnet_b0", "symmetric"), ("efficientnet_b1", "same"), ("mobilenet_v2", "symmetric")],
)
def test_lean_gradients_identical(name, padding):
    normal, lean = _pair(name, padding=padding, drop_path_rate=0.3)
    assert normal.state_dict().keys() == lean.state_dict().keys()
    x = torch.randn(3, 3, 48, 40)
    for seed in (1, 2):  # two steps: the second sees the running stats of the first
        out_n, out_l = _step(normal, x, seed), _step(lean, x, seed)
        torch.testing.assert_close(out_l, out_n, rtol=1e-5, atol=1e-6)
    grads = dict(normal.named_parameters())
    for k, p in lean.named_parameters():
        torch.testing.assert_close(p.grad, grads[k].grad, rtol=1e-5, atol=1e-6, msg=k)
    # BN running statistics are updated once per step, not again in the recomputation
    ref = normal.state_dict()
    for k, v in lean.state_dict().items():
        torch.testing.assert_close(v, ref[k], rtol=1e-5, atol=1e-7, msg=k)


def test_lean_saves_less():
    normal, lean = _pair("efficientnet_b0")
    x = torch.randn(2, 3, 96, 96)

    def saved_bytes(model: nn.Module) -> int:
        storages: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model.train()(x)
        return sum(storages.values())

    assert saved_bytes(lean) < 0.25 * saved_bytes(normal)


def test_lean_eval_and_no_grad_are_plain():
    normal, lean = _pair("efficientnet_b0")
    assert all(isinstance(s, CheckpointSequential) for s in lean.blocks)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(lean.eval()(x), normal.eval()(x))


def test_make_memory_efficient_keeps_weights(tmp_path):
    model = effnet.create_model("efficientnet_b0", num_classes=10)
    keys = list(model.state_dict())
    params = [p.data_ptr() for p in model.parameters()]
    make_memory_efficient(model)
    assert list(model.state_dict()) == keys
    assert [p.data_ptr() for p in model.parameters()] == params
    path = tmp_path / "w.safetensors"
    effnet.save_weights(model, path)
    again = effnet.create_model("efficientnet_b0", weights=path, memory_efficient=True)
    assert isinstance(again.blocks[0], CheckpointSequential)
    with pytest.raises(TypeError):
        make_memory_efficient(nn.Linear(2, 2))
