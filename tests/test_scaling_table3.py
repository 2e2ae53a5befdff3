"""Paper Table 3 (scaling MobileNetV1/V2, ResNet-50) and Table 7 (scaling B0): multiply-adds.

Measured with :func:`effnet.scaling_law.spec_cost` (the built model on the meta device, counted
by FlopCounterMode exactly as :func:`effnet.count_macs`; one row is cross-checked on a real
model). Depth scaling is the official rule for every base: ``ceil(d * repeats)`` per stage.

Rows the paper's figures do not support within 6% under that rule are pinned as strict
``xfail`` with the measured value, so a change of behaviour shows up:
  * ResNet-50 d=4 / w=2: measured 14.57B / 16.12B vs paper 16.2B / 14.7B. Each agrees within
    1% with the *other* row's figure; the paper's two numbers look swapped.
  * B0 d=4 / w=2 / r=2 (Table 7): measured 1.58B / 1.45B / 1.54B vs paper 1.8 / 1.8 / 1.9B.
    Pure d=4, w=2 or r=2 scaling of a 0.39B network cannot exceed ~4x = 1.6B; the paper's
    figures are 4.6-4.9x the baseline, so they cannot be reached by these multipliers.
  * MobileNetV1 compound d=1.4 w=1.2 r=1.3: 2.47B vs 2.3B (+7.4%): ceil per stage turns 13
    blocks into 20 (x1.54, not x1.4).
"""

from __future__ import annotations

import pytest

import effnet
from effnet.scaling.law import spec_cost

TOL = 0.06

# (base, multipliers, paper GMACs)
ROWS = [
    ("mobilenet_v1", {}, 0.6),
    ("mobilenet_v1", {"width": 2.0}, 2.2),
    ("mobilenet_v1", {"resolution": 2.0}, 2.2),
    ("mobilenet_v2", {}, 0.3),
    ("mobilenet_v2", {"depth": 4.0}, 1.2),
    ("mobilenet_v2", {"width": 2.0}, 1.1),
    ("mobilenet_v2", {"resolution": 2.0}, 1.2),
    ("resnet50", {}, 4.1),
    ("resnet50", {"resolution": 2.0}, 16.4),
    ("efficientnet_b0", {}, 0.4),
    ("efficientnet_b0", {"depth": 1.4, "width": 1.2, "resolution": 1.3}, 1.8),
]

# (base, multipliers, paper GMACs, measured GMACs) that miss 6%: see the module docstring.
MISSES = [
    ("mobilenet_v1", {"depth": 1.4, "width": 1.2, "resolution": 1.3}, 2.3, 2.470),
    ("resnet50", {"depth": 4.0}, 16.2, 14.571),
    ("resnet50", {"width": 2.0}, 14.7, 16.117),
    ("efficientnet_b0", {"depth": 4.0}, 1.8, 1.575),
    ("efficientnet_b0", {"width": 2.0}, 1.8, 1.450),
    ("efficientnet_b0", {"resolution": 2.0}, 1.9, 1.538),
]


def _gmacs(base: str, mult: dict[str, float]) -> float:
    return spec_cost(effnet.scale(base, **mult))[1] / 1e9


@pytest.mark.parametrize(("base", "mult", "paper"), ROWS, ids=lambda v: str(v))
def test_table3_macs_within_6_percent(base: str, mult: dict, paper: float) -> None:
    got = _gmacs(base, mult)
    assert abs(got - paper) <= TOL * paper, f"{base} {mult}: {got:.3f}B vs paper {paper}B"


@pytest.mark.parametrize(("base", "mult", "paper", "measured"), MISSES, ids=lambda v: str(v))
def test_table3_rows_off_by_more_than_6_percent(
    base: str, mult: dict, paper: float, measured: float
) -> None:
    got = _gmacs(base, mult)
    assert got == pytest.approx(measured, abs=0.001)  # pinned: what the rules give
    assert abs(got - paper) > TOL * paper  # and still outside 6% of the paper


def test_resnet50_depth_and_width_rows_match_each_others_paper_figure() -> None:
    assert _gmacs("resnet50", {"depth": 4.0}) == pytest.approx(14.7, rel=0.01)
    assert _gmacs("resnet50", {"width": 2.0}) == pytest.approx(16.2, rel=0.01)


def test_meta_count_equals_real_count() -> None:
    spec = effnet.scale("mobilenet_v2", width=2.0)
    model = effnet.create_model(spec)
    assert spec_cost(spec) == (effnet.count_params(model), effnet.count_macs(model, 224))
