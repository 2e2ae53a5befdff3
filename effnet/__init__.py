"""effnet: EfficientNet exact to the paper, and compound scaling as a method.

Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks",
ICML 2019 (arXiv 1905.11946).

The package is laid out by layer, each importing only those below it (checked by
``lint-imports``): ``models`` (the network; ``data`` beside it) -> ``weights`` (files in and
out) -> ``analysis`` / ``deploy`` -> ``train`` -> ``scaling`` (the method) -> ``cli``. This
module is the facade: the names most users need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Where each public name lives. Imported on first use (PEP 562), so ``import effnet.cli`` and
#: ``effnet --help`` do not pay for torch.
_LAZY: dict[str, str] = {
    "count_macs": "effnet.analysis.profile",
    "count_params": "effnet.analysis.profile",
    "measure_latency": "effnet.analysis.profile",
    "create_transform": "effnet.data.preprocess",
    "DataConfig": "effnet.data_config",
    "backbone_with_fpn": "effnet.deploy.backbones",
    "segmentation_backbone": "effnet.deploy.backbones",
    "optimize_for_inference": "effnet.deploy.inference",
    "quantize": "effnet.deploy.quantize",
    "predict": "effnet.deploy.predict",
    "compound": "effnet.models.compound",
    "scale": "effnet.models.compound",
    "FeatureNetwork": "effnet.models.network",
    "Network": "effnet.models.network",
    "get_spec": "effnet.models.registry",
    "list_models": "effnet.weights.tags",
    "round_filters": "effnet.models.rounding",
    "round_repeats": "effnet.models.rounding",
    "NetworkSpec": "effnet.models.spec",
    "StageSpec": "effnet.models.spec",
    "VARIANTS": "effnet.models.variants",
    "fit_budget": "effnet.scaling.budget",
    "push_to_hub": "effnet.publish.push",
    "save_pretrained": "effnet.publish.save",
    "load_pretrained": "effnet.weights.convert",
    "create_model": "effnet.weights.create",
    "WeightsMismatchError": "effnet.weights.io",
    "save_weights": "effnet.weights.io",
}

if TYPE_CHECKING:
    from effnet.analysis.profile import count_macs, count_params, measure_latency
    from effnet.data.preprocess import create_transform
    from effnet.data_config import DataConfig
    from effnet.deploy.backbones import backbone_with_fpn, segmentation_backbone
    from effnet.deploy.inference import optimize_for_inference
    from effnet.deploy.predict import predict
    from effnet.deploy.quantize import quantize
    from effnet.models.compound import compound, scale
    from effnet.models.network import FeatureNetwork, Network
    from effnet.models.registry import get_spec
    from effnet.models.rounding import round_filters, round_repeats
    from effnet.models.spec import NetworkSpec, StageSpec
    from effnet.models.variants import VARIANTS
    from effnet.publish.push import push_to_hub
    from effnet.publish.save import save_pretrained
    from effnet.scaling.budget import fit_budget
    from effnet.weights.convert import load_pretrained
    from effnet.weights.create import create_model
    from effnet.weights.io import WeightsMismatchError, save_weights
    from effnet.weights.tags import list_models

__version__ = "0.5.0"

__all__ = [
    "VARIANTS",
    "DataConfig",
    "FeatureNetwork",
    "Network",
    "NetworkSpec",
    "StageSpec",
    "WeightsMismatchError",
    "backbone_with_fpn",
    "compound",
    "count_macs",
    "count_params",
    "create_model",
    "create_transform",
    "fit_budget",
    "get_spec",
    "list_models",
    "load_pretrained",
    "measure_latency",
    "optimize_for_inference",
    "predict",
    "push_to_hub",
    "quantize",
    "round_filters",
    "round_repeats",
    "save_pretrained",
    "save_weights",
    "scale",
    "segmentation_backbone",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'effnet' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
