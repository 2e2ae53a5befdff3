"""The 2^φ law (paper §3.3) for B0 with α=1.2, β=1.1, γ=1.15, and scaling properties.

Measured/(2^φ·base) for φ = 0..7 is 1.000 1.286 1.173 1.053 1.024 0.921 0.814 0.803: the
unrounded law is (α·β²·γ²)^φ = 1.9203^φ, which drifts below 2^φ by 0.96^φ, and rounding
(ceil repeats, multiples of 8, integer pixels) pushes small φ up. Within a factor 0.80..1.29
of 2^φ, and within 0.95..1.35 of 1.9203^φ.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import effnet
from effnet.analysis.plots import plot_scaling
from effnet.models.plan import plan_network
from effnet.scaling.law import family, format_table, official_variants


@pytest.mark.slow
def test_two_to_the_phi_law_for_b0(tmp_path) -> None:
    rows = family("efficientnet_b0", range(8), alpha=1.2, beta=1.1, gamma=1.15)
    law2 = [r.law_2 for r in rows]
    lawc = [r.law_c for r in rows]
    assert law2[0] == 1.0
    assert all(0.78 <= x <= 1.30 for x in law2), law2
    assert all(0.95 <= x <= 1.35 for x in lawc), lawc
    macs = [r.macs for r in rows]
    assert all(b > a for a, b in zip(macs, macs[1:]))  # monotone
    # each step of φ multiplies MACs by 1.5 .. 2.6 (2 on average)
    steps = [b / a for a, b in zip(macs, macs[1:])]
    assert all(1.5 <= s <= 2.6 for s in steps), steps
    assert 1.8 <= math.exp(sum(map(math.log, steps)) / len(steps)) <= 2.0
    assert rows[0].macs == 385_814_752 and rows[0].params == 5_288_548
    table = format_table(rows)
    assert table.count("\n") == 9
    official = official_variants("efficientnet_b0", [r.phi for r in rows])
    assert [o[0][-2:] for o in official] == [f"b{i}" for i in range(1, 8)]
    assert official[0][3] == 7_794_184  # B1's exact parameter count
    assert official_variants("mobilenet_v2", [0, 3]) == []
    png = plot_scaling(rows, tmp_path / "law.png", official=official)
    assert png.stat().st_size > 10_000


def test_negative_and_fractional_phi() -> None:
    rows = family("efficientnet_b0", [-2, -0.5, 0.5])
    assert [r.resolution for r in rows] == [169, 209, 240]
    assert rows[0].macs < rows[1].macs < rows[2].macs


@settings(max_examples=40, deadline=None)
@given(
    phi=st.floats(-3, 4),
    alpha=st.floats(1, 2),
    beta=st.floats(1, 2),
    gamma=st.floats(1, 2),
    base=st.sampled_from(
        ["efficientnet_b0", "efficientnet_v2_b0", "mobilenet_v1", "mobilenet_v2", "resnet50"]
    ),
)
def test_any_compound_spec_is_valid(
    phi: float, alpha: float, beta: float, gamma: float, base: str
) -> None:
    spec = effnet.compound(base, phi, alpha=alpha, beta=beta, gamma=gamma)
    assert spec == effnet.NetworkSpec.from_json(spec.to_json())
    assert spec.resolution >= 8
    plan = plan_network(spec)
    assert plan.stem_channels % 8 == 0
    assert plan.head_channels % 8 == 0
    assert all(b.out_channels % 8 == 0 and b.in_channels % 8 == 0 for b in plan.blocks)
    stages = {b.stage for b in plan.blocks}
    assert stages == set(range(len(spec.stages)))  # every stage keeps >= 1 block
    for i, stage in enumerate(spec.stages):
        n = sum(1 for b in plan.blocks if b.stage == i)
        assert n == max(1, math.ceil(stage.repeats * alpha**phi))
