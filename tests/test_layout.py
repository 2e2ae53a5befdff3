"""The package layout: the top level stays small, one cost function. (The one-way layering
itself is checked by ``lint-imports`` in CI.)"""

from pathlib import Path

import effnet
from effnet.analysis.cost import model_cost


def test_top_level_has_at_most_six_loose_modules():
    root = Path(effnet.__file__).parent
    loose = sorted(p.name for p in root.glob("*.py"))
    assert len(loose) <= 6, loose


def test_facade_names_resolve_and_the_version_is_the_packages():
    from importlib.metadata import version

    missing = [n for n in effnet.__all__ if not hasattr(effnet, n)]
    assert not missing
    assert effnet.__version__ == version("effnet")


def test_one_cost_function_for_specs_and_built_models():
    on_meta = model_cost("efficientnet_b0", 96)
    built = effnet.create_model("efficientnet_b0")
    assert on_meta.params == effnet.count_params(built) == 5_288_548
    assert on_meta.macs == effnet.count_macs(built, 96)
    assert on_meta.module_macs[""] == on_meta.macs
    per_stage = sum(on_meta.module_macs[f"blocks.{i}"] for i in range(7))
    assert 0 < per_stage < on_meta.macs
