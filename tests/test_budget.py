"""The budget solver (paper eq. 2 with α, β, γ fixed): one test per limit, and impossible ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import effnet
from effnet.analysis.memory import peak_memory_bytes
from effnet.scaling import budget
from effnet.scaling.budget import fit_budget, solve_budget
from effnet.scaling.law import spec_cost


def test_max_macs_is_met_and_tight() -> None:
    r = solve_budget("efficientnet_b0", max_macs=100e6)
    m = r.measurement
    assert m.macs <= 100e6 and m.phi < 0
    assert m.latency_ms is None and m.memory_mb is None
    # MACs never fall as φ grows, so a step past the answer breaks the limit
    assert spec_cost(effnet.compound("efficientnet_b0", m.phi + 1 / 32))[1] > 100e6
    assert spec_cost(r.spec) == (m.params, m.macs)


@pytest.mark.slow
def test_max_params_and_exported_fit_budget() -> None:
    spec = effnet.fit_budget("mobilenet_v2", max_params=3e6)
    assert isinstance(spec, effnet.NetworkSpec)
    params = effnet.count_params(effnet.create_model(spec))
    assert params <= 3e6
    phi = solve_budget("mobilenet_v2", max_params=3e6).measurement.phi
    assert -3 < phi < 0
    assert spec_cost(effnet.compound("mobilenet_v2", phi + 1 / 32))[0] > 3e6


@pytest.mark.slow
def test_two_limits_take_the_tighter() -> None:
    only_params = solve_budget("efficientnet_b0", max_params=4e6).measurement
    both = solve_budget("efficientnet_b0", max_params=4e6, max_macs=50e6).measurement
    assert both.phi < only_params.phi and both.macs <= 50e6 and both.params <= 4e6


def test_peak_memory_of_a_known_network() -> None:
    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU())
    params, peak = peak_memory_bytes(net, 16)
    assert params == 8 * 3 * 9 * 4
    # input (3x16x16) + conv output (8x16x16) + ReLU output, all float32, alive together
    assert peak == (3 + 8 + 8) * 16 * 16 * 4


def test_max_memory_mb() -> None:
    m = solve_budget("mobilenet_v1", max_memory_mb=8).measurement
    assert m.memory_mb is not None and m.memory_mb <= 8
    assert m.memory_mb > 5  # the solver went as far as the limit allows
    assert m.params * 4 / 2**20 < m.memory_mb


def test_max_latency_ms(monkeypatch: pytest.MonkeyPatch) -> None:
    # deterministic stand-in: 1 ms per 10M MACs (the solver's logic, not this machine's noise)
    import effnet.scaling.budget as budget

    def fake_latency(model: nn.Module, resolution: int, **_: object) -> float:
        return effnet.count_macs(model, resolution) / 10e6

    monkeypatch.setattr(budget, "measure_latency", fake_latency)
    m = solve_budget("mobilenet_v1", max_latency_ms=20).measurement
    assert m.latency_ms <= 20 and m.macs <= 200e6 and m.macs > 100e6


def test_real_latency_is_measured() -> None:
    m = budget.measure(effnet.compound("mobilenet_v1", -3), -3, latency=True, memory=True)
    assert m.latency_ms is not None and 0 < m.latency_ms < 5000
    assert m.memory_mb is not None and m.memory_mb > m.params * 4 / 2**20


def test_impossible_budget_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no model fits this budget.*max_macs"):
        fit_budget("efficientnet_b0", max_macs=1e6)
    with pytest.raises(ValueError, match="at least one limit"):
        fit_budget("efficientnet_b0")
    with pytest.raises(ValueError, match="positive"):
        fit_budget("efficientnet_b0", max_params=-1)


def test_generous_budget_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "MAX_PHI", 2.0)
    m = solve_budget("mobilenet_v1", max_params=1e12).measurement
    assert m.phi == 2.0
    assert torch.get_num_threads() >= 1


def test_lite_is_a_base_for_the_solver() -> None:
    r = solve_budget("efficientnet_lite0", max_params=4e6, tol=1 / 8)
    m = r.measurement
    assert m.params <= 4e6 and m.phi < 0
    assert r.spec.scale_head == "never" and r.spec.fixed_depth_stages == (0, 6)
    assert spec_cost(effnet.compound("efficientnet_lite0", m.phi + 1 / 8))[0] > 4e6
