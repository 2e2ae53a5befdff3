"""The official rounding rules (``round_filters`` / ``round_repeats`` in the official
``efficientnet_model.py``) and the resulting widths/depths."""

import json

import pytest

import effnet
from effnet.analysis.cost import model_cost
from effnet.models.plan import plan_network
from effnet.models.rounding import round_filters, round_repeats

# stem, stage outputs, repeats per stage, head of B0..B7 (the official code's models)
TABLE = {
    "b0": (32, [16, 24, 40, 80, 112, 192, 320], [1, 2, 2, 3, 3, 4, 1], 1280),
    "b1": (32, [16, 24, 40, 80, 112, 192, 320], [2, 3, 3, 4, 4, 5, 2], 1280),
    "b2": (32, [16, 24, 48, 88, 120, 208, 352], [2, 3, 3, 4, 4, 5, 2], 1408),
    "b3": (40, [24, 32, 48, 96, 136, 232, 384], [2, 3, 3, 5, 5, 6, 2], 1536),
    "b4": (48, [24, 32, 56, 112, 160, 272, 448], [2, 4, 4, 6, 6, 8, 2], 1792),
    "b5": (48, [24, 40, 64, 128, 176, 304, 512], [3, 5, 5, 7, 7, 9, 3], 2048),
    "b6": (56, [32, 40, 72, 144, 200, 344, 576], [3, 6, 6, 8, 8, 11, 3], 2304),
    "b7": (64, [32, 48, 80, 160, 224, 384, 640], [4, 7, 7, 10, 10, 13, 4], 2560),
    # Lite0..4 (official efficientnet_lite_builder.py, fix_head_stem=True): stem, head and the
    # first and last stages' repeats stay as in B0; the other stages scale as in B0..B4
    "lite0": (32, [16, 24, 40, 80, 112, 192, 320], [1, 2, 2, 3, 3, 4, 1], 1280),
    "lite1": (32, [16, 24, 40, 80, 112, 192, 320], [1, 3, 3, 4, 4, 5, 1], 1280),
    "lite2": (32, [16, 24, 48, 88, 120, 208, 352], [1, 3, 3, 4, 4, 5, 1], 1280),
    "lite3": (32, [24, 32, 48, 96, 136, 232, 384], [1, 3, 3, 5, 5, 6, 1], 1280),
    "lite4": (32, [24, 32, 56, 112, 160, 272, 448], [1, 4, 4, 6, 6, 8, 1], 1280),
}


@pytest.mark.parametrize("variant", sorted(TABLE))
def test_plan_matches_official_widths_and_depths(variant: str) -> None:
    stem, outs, repeats, head = TABLE[variant]
    plan = plan_network(effnet.get_spec(f"efficientnet_{variant}"))
    assert plan.stem_channels == stem
    assert plan.head_channels == head
    per_stage = [[b for b in plan.blocks if b.stage == s] for s in range(7)]
    assert [len(s) for s in per_stage] == repeats
    assert [s[-1].out_channels for s in per_stage] == outs


def test_round_filters_ten_percent_rule() -> None:
    assert round_filters(32, 1.0) == 32
    assert round_filters(40, 1.1) == 48  # 44 rounds up to 48
    assert round_filters(16, 0.5) == 8
    # 0.3 * 40 = 12 -> nearest multiple 16 (int(12 + 4) // 8 * 8)
    assert round_filters(40, 0.3) == 16
    # 0.9 rule: 0.55 * 24 = 13.2 -> 16 (nearest); 0.3 * 24 = 7.2 -> max(8, 8) = 8
    assert round_filters(24, 0.3) == 8
    # a case where the nearest multiple loses > 10%: 0.2 * 100 = 20 -> int(24)//8*8 = 24; ok
    # 1.0 * 12 = 12 -> 16; 1.0 * 11 = 11 -> int(15)//8*8 = 8 < 9.9 -> 16
    assert round_filters(11, 1.0) == 16


def test_round_repeats_uses_ceil() -> None:
    assert round_repeats(1, 1.1) == 2
    assert round_repeats(4, 3.1) == 13
    assert round_repeats(3, 0.5) == 2
    assert round_repeats(1, 0.01) == 1


def test_scale_composes_without_double_rounding() -> None:
    once = effnet.scale("efficientnet_b0", width=1.21, depth=1.44)
    twice = effnet.scale(
        effnet.scale("efficientnet_b0", width=1.1, depth=1.2), width=1.1, depth=1.2
    )
    assert plan_network(once) == plan_network(twice)


def test_compound_scales_all_three_dimensions() -> None:
    spec = effnet.compound("efficientnet_b0", 2.0)
    assert spec.depth == pytest.approx(1.2**2)
    assert spec.width == pytest.approx(1.1**2)
    assert spec.resolution == round(224 * 1.15**2)
    down = effnet.compound("efficientnet_b0", -1.5)
    assert down.width < 1 and down.depth < 1 and down.resolution < 224


def test_bad_multipliers_are_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        effnet.scale("efficientnet_b0", width=0)
    with pytest.raises(ValueError, match="unknown model"):
        effnet.scale("efficientnet_x9")


def test_spec_json_round_trip() -> None:
    spec = effnet.compound("mobilenet_v2", 0.7)
    assert effnet.NetworkSpec.from_json(spec.to_json()) == spec


def test_spec_json_round_trip_keeps_lite_fields() -> None:
    spec = effnet.compound("efficientnet_lite2", 0.5)
    again = effnet.NetworkSpec.from_json(spec.to_json())
    assert again == spec and again.fixed_depth_stages == (0, 6) and not again.scale_stem


def test_spec_json_written_before_the_lite_fields_still_loads() -> None:
    data = json.loads(effnet.get_spec("efficientnet_b3").to_json())
    del data["scale_stem"], data["fixed_depth_stages"]
    assert effnet.NetworkSpec.from_json(json.dumps(data)) == effnet.get_spec("efficientnet_b3")


def test_bad_lite_fields_are_rejected() -> None:
    lite = effnet.get_spec("efficientnet_lite0")
    with pytest.raises(ValueError, match="fixed_depth_stages"):
        lite.replace(fixed_depth_stages=(7,))
    with pytest.raises(ValueError, match="scale_head"):
        lite.replace(scale_head="sometimes")


def test_lite_is_a_base_like_any_other() -> None:
    """Scaling Lite0 by Lite3's multipliers gives Lite3, and compound scaling keeps the stem,
    the head and the first and last stages' repeats (fix_head_stem)."""
    lite3 = effnet.get_spec("efficientnet_lite3")
    scaled = effnet.scale("efficientnet_lite0", width=1.2, depth=1.4, resolution=280 / 224)
    assert plan_network(scaled) == plan_network(lite3)
    ours, theirs = model_cost(scaled), model_cost(lite3)
    assert (ours.params, ours.macs) == (theirs.params, theirs.macs)
    assert ours.params == 8_197_096
    for phi in (-2.0, 3.0):
        spec = effnet.compound("efficientnet_lite0", phi)
        plan = plan_network(spec)
        assert plan.stem_channels == 32 and plan.head_channels == 1280
        repeats = [sum(1 for b in plan.blocks if b.stage == s) for s in range(7)]
        assert repeats[0] == repeats[-1] == 1
        assert (spec.width > 1) == (phi > 0) and (spec.depth > 1) == (phi > 0)
