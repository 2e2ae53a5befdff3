"""The package layout: what 0.1 offered still imports, files 0.1 wrote still load, the
top level stays small. (The one-way layering itself is checked by ``lint-imports`` in CI.)"""

import importlib
import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import effnet
from effnet.analysis.cost import model_cost
from effnet.compat import MOVED
from effnet.models.weights import load_weights

LEGACY = Path(__file__).parent / "data" / "legacy_0_1"
NAMES_0_1 = json.loads((LEGACY / "public_names.json").read_text())


def test_facade_keeps_every_name_of_0_1():
    missing = [n for n in NAMES_0_1["effnet"] if not hasattr(effnet, n)]
    assert not missing
    assert set(NAMES_0_1["effnet"]) <= set(effnet.__all__)


@pytest.mark.parametrize("old", sorted(k for k in NAMES_0_1 if k != "effnet"))
def test_moved_module_paths_still_import_with_a_warning(old):
    if old in MOVED:
        for name in [m for m in sys.modules if m == old or m.startswith(old + ".")]:
            del sys.modules[name]  # a real import, through the finder, not a cached one
        with pytest.warns(DeprecationWarning, match="moved to"):
            module = importlib.import_module(old)
    else:
        module = importlib.import_module(old)  # a package that kept its path (effnet.scaling)
    missing = [n for n in NAMES_0_1[old] if not hasattr(module, n)]
    assert not missing, f"{old} lost {missing}"


def test_moved_submodule_of_a_moved_package_is_the_new_module():
    import effnet.analysis.plots.curves as new

    sys.modules.pop("effnet.plots.curves", None)
    with pytest.warns(DeprecationWarning, match="effnet.analysis.plots.curves"):
        old = importlib.import_module("effnet.plots.curves")
    assert old is new  # one module object: patching either patches both
    assert new.__spec__.name == "effnet.analysis.plots.curves"


def test_unknown_attribute_is_still_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        effnet.nope  # noqa: B018


def test_top_level_has_at_most_six_loose_modules():
    root = Path(effnet.__file__).parent
    loose = sorted(p.name for p in root.glob("*.py"))
    assert len(loose) <= 6, loose


def test_weights_written_by_0_1_load_and_give_the_same_logits():
    ref = load_file(str(LEGACY / "reference_logits.safetensors"))
    for file, key in (
        ("best.safetensors", "best_logits"),
        ("tiny_same.safetensors", "same_logits"),
    ):
        model = load_weights(LEGACY / file).eval()
        with torch.no_grad():
            torch.testing.assert_close(model(ref["input"]), ref[key], atol=1e-5, rtol=1e-5)


def test_one_cost_function_for_specs_and_built_models():
    on_meta = model_cost("efficientnet_b0", 96)
    built = effnet.create_model("efficientnet_b0")
    assert on_meta.params == effnet.count_params(built) == 5_288_548
    assert on_meta.macs == effnet.count_macs(built, 96)
    assert on_meta.module_macs[""] == on_meta.macs
    per_stage = sum(on_meta.module_macs[f"blocks.{i}"] for i in range(7))
    assert 0 < per_stage < on_meta.macs
