"""EMA BN recalibration: running statistics recomputed from training batches."""

import pytest
import torch
from torch import nn

from effnet.train.ema import recalibrate_bn


def _model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    bn = model[1]
    bn.running_mean.fill_(100.0)  # statistics that belong to other weights
    bn.running_var.fill_(1e-4)
    return model.eval()


def _batches(n=3, size=8):
    g = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 3, 6, 6, generator=g) * 2 + 1, torch.zeros(size)) for _ in range(n)]


def test_statistics_are_the_plain_average_over_the_first_batches():
    model, batches = _model(), _batches()
    conv, bn = model
    with torch.no_grad():
        feats = [conv(x) for x, _ in batches[:2]]
    means = torch.stack([f.mean((0, 2, 3)) for f in feats])
    variances = torch.stack([f.transpose(0, 1).flatten(1).var(1, unbiased=True) for f in feats])
    assert recalibrate_bn(model, batches, max_batches=2) == 16
    torch.testing.assert_close(bn.running_mean, means.mean(0))
    torch.testing.assert_close(bn.running_var, variances.mean(0))
    assert bn.momentum == 0.1 and not model.training


def test_channels_last_gives_the_same_statistics():
    a, b = _model(), _model().to(memory_format=torch.channels_last)
    recalibrate_bn(a, _batches(), max_batches=3)
    recalibrate_bn(b, _batches(), max_batches=3, channels_last=True)
    torch.testing.assert_close(a[1].running_mean, b[1].running_mean)
    torch.testing.assert_close(a[1].running_var, b[1].running_var)


@pytest.mark.parametrize("batches, max_batches", [([], 3), (_batches(), 0)])
def test_no_batches_keeps_the_statistics(batches, max_batches):
    model = _model()
    assert recalibrate_bn(model, batches, max_batches=max_batches) == 0
    assert torch.all(model[1].running_mean == 100.0) and torch.all(model[1].running_var == 1e-4)


def test_a_failing_batch_source_keeps_the_statistics():
    def broken():
        raise OSError("disk gone")
        yield  # pragma: no cover

    model = _model()
    with pytest.raises(OSError):
        recalibrate_bn(model, broken(), max_batches=2)
    assert torch.all(model[1].running_mean == 100.0) and model[1].momentum == 0.1


def test_ema_updates_as_averaged_model_does_without_reading_the_device(monkeypatch):
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    from effnet.train.ema import build_ema

    model = _model().train()
    reference = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9), use_buffers=True)
    ema = build_ema(model, 0.9)
    g = torch.Generator().manual_seed(2)

    def train_step():
        model(torch.randn(4, 3, 6, 6, generator=g))  # BN statistics move too
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g))

    train_step()
    reference.update_parameters(model)
    ema.update_parameters(model)  # the first update reads n_averaged, once

    def no_reads(self, *args):
        raise AssertionError("the EMA update read a tensor on the host")

    for _ in range(3):
        train_step()
        reference.update_parameters(model)
        with monkeypatch.context() as m:
            for name in ("item", "__bool__", "tolist", "__int__", "__float__"):
                m.setattr(torch.Tensor, name, no_reads)
            ema.update_parameters(model)
    for (k, a), (_, b) in zip(reference.state_dict().items(), ema.state_dict().items()):
        assert torch.equal(a, b), k
    resumed = build_ema(model, 0.9)
    resumed.load_state_dict(ema.state_dict())  # averages on, it does not copy again
    train_step()
    reference.update_parameters(model)
    resumed.update_parameters(model)
    for (k, a), (_, b) in zip(reference.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
