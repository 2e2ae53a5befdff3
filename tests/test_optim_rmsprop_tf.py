"""RMSpropTF follows TensorFlow's RMSProp update step by step (paper §5.2), and torch's does not."""

import numpy as np
import pytest
import torch

import effnet.train.optim
from effnet.train.optim import RMSpropTF, build_optimizer, param_groups


def tf_rmsprop_reference(p0, grads, lrs, rho=0.9, momentum=0.9, eps=1e-3, wd=0.0):
    """tf.compat.v1.train.RMSPropOptimizer (ApplyRMSProp), written out in numpy float64."""
    p = p0.astype(np.float64).copy()
    ms = np.ones_like(p)  # TF initialises the mean square to 1
    mom = np.zeros_like(p)
    out = []
    for g, lr in zip(grads, lrs):
        g = g + wd * p  # L2 regularisation added to the gradient
        ms = rho * ms + (1 - rho) * g * g
        mom = momentum * mom + lr * g / np.sqrt(ms + eps)
        p = p - mom
        out.append(p.copy())
    return out


def test_matches_tf_rule_step_by_step():
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(4, 3))
    grads = [rng.normal(size=(4, 3)) * s for s in (1.0, 0.1, 3.0, 0.01, 1.0, 0.5)]
    lrs = [0.0, 0.004, 0.008, 0.016, 0.016, 0.0155]  # warmup then decay, as the schedule does
    wd = 1e-2
    ref = tf_rmsprop_reference(p0, grads, lrs, wd=wd)
    param = torch.nn.Parameter(torch.tensor(p0, dtype=torch.float64))
    opt = RMSpropTF([param], lr=lrs[0], weight_decay=wd)
    for g, lr, expected in zip(grads, lrs, ref):
        for group in opt.param_groups:
            group["lr"] = lr
        param.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(param.detach().numpy(), expected, rtol=1e-12, atol=1e-12)


def test_differs_from_torch_rmsprop():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(10))
    b = torch.nn.Parameter(a.detach().clone())
    ours = RMSpropTF([a], lr=0.01)
    theirs = torch.optim.RMSprop([b], lr=0.01, alpha=0.9, eps=1e-3, momentum=0.9)
    g = torch.randn(10) * 0.01
    a.grad, b.grad = g.clone(), g.clone()
    ours.step()
    theirs.step()
    # torch: ms starts at 0 and eps is outside the sqrt -> a ~3x larger first step for small g
    step_ours = (a - b.detach()).abs().max().item()
    assert step_ours > 1e-4
    assert not torch.allclose(a, b)


def test_public_import_and_state_dict_roundtrip():
    assert effnet.train.RMSpropTF is RMSpropTF
    p = torch.nn.Parameter(torch.ones(3))
    opt = RMSpropTF([p], lr=0.1)
    p.grad = torch.ones(3)
    opt.step()
    opt2 = RMSpropTF([torch.nn.Parameter(p.detach().clone())], lr=0.1)
    opt2.load_state_dict(opt.state_dict())
    st = opt2.state_dict()["state"][0]
    assert torch.allclose(st["square_avg"], torch.full((3,), 0.9 + 0.1))
    with pytest.raises(ValueError):
        RMSpropTF([p], lr=-1)


def test_weight_decay_groups_skip_bn_and_bias():
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, bias=False),
        torch.nn.BatchNorm2d(4),
        torch.nn.Conv2d(4, 4, 1, bias=True),
        torch.nn.Flatten(),
        torch.nn.LazyLinear(2),
    )
    model(torch.zeros(2, 3, 5, 5))
    groups = param_groups(model, 1e-5)
    decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    plain = {id(p) for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    assert decayed == {id(model[0].weight), id(model[2].weight), id(model[4].weight)}
    assert plain == {id(model[1].weight), id(model[1].bias), id(model[2].bias), id(model[4].bias)}
    opt = build_optimizer("rmsprop_tf", groups, 0.016)
    assert isinstance(opt, RMSpropTF)
    assert {g["weight_decay"] for g in opt.param_groups} == {0.0, 1e-5}


def test_backbone_lr_scale_groups():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 2))
    head = {id(p) for p in model[1].parameters()}
    opt = build_optimizer(
        "adamw", param_groups(model, 0.05, head_params=head, backbone_lr_scale=0.1), 1e-3
    )
    lrs = {round(g["lr"], 8) for g in opt.param_groups}
    assert lrs == {1e-3, 1e-4}
